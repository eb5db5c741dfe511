//! [`InfoLines`](crate::logging::InfoLines): its chunks, and `info_if_text` against the
//! rules.

use super::{assert_same_bytes, file_bytes, reference_escape, small_line, temp_log};
use crate::logging::escape::Escaping;
use crate::logging::{LogFormat, CHUNK_BYTES, DIRECT_BYTES};

#[test]
fn info_lines_reach_the_file_in_chunks_at_publish_and_on_drop() {
    let (dir, log) = temp_log(LogFormat::Text);
    let mut lines = log.info_lines("module", "function");
    let mut want = Vec::new();
    lines.info("first").unwrap();
    want.extend(small_line(LogFormat::Text, &lines.prefix, "first"));
    log.flush().unwrap();
    assert!(file_bytes(&dir).is_empty(), "gathered, not yet handed over");
    lines.publish().unwrap();
    log.flush().unwrap();
    assert_same_bytes(&file_bytes(&dir), &want, "published");
    // A chunk's worth goes to the file by itself.
    let text = "x".repeat(1000);
    while want.len() < 2 * CHUNK_BYTES {
        lines.info(&text).unwrap();
        want.extend(small_line(LogFormat::Text, &lines.prefix, &text));
    }
    assert!(file_bytes(&dir).len() >= CHUNK_BYTES, "written at a chunk");
    // Interleaved with an event written straight to the file, and handed over on drop.
    lines.info("last").unwrap();
    let prefix = lines.prefix.clone();
    drop(lines);
    log.write_line("direct").unwrap();
    log.flush().unwrap();
    want.extend(small_line(LogFormat::Text, &prefix, "last"));
    want.extend(b"direct\n");
    assert_same_bytes(&file_bytes(&dir), &want, "dropped");
}

/// On a CPU with AVX-512BW `info_if_text` takes its own paths (the masked copy, and for
/// large lines the search that checks UTF-8 on the way); elsewhere it checks UTF-8
/// first and then escapes as `info` does. Either way, its lines must be the rules'.
#[test]
fn info_if_text_writes_what_info_writes_and_nothing_for_non_utf8() {
    let inserts: [&[u8]; 16] = [
        b"\n",
        b"\x01",
        b"\"",
        b"\\",
        b"\x7f",
        b"\x1f",
        "é".as_bytes(),
        "😀".as_bytes(),
        b" ",
        // C1 controls (the 8-bit CSI, NEL, the first and last), and characters whose
        // bytes look like them: 0xC2 then 0xA0, and 0x9B after another lead byte.
        "\u{9b}".as_bytes(),
        "\u{85}".as_bytes(),
        "\u{80}".as_bytes(),
        "\u{9f}".as_bytes(),
        "\u{a0}".as_bytes(),
        "\u{201b}".as_bytes(),
        "\u{9b}[31m\u{9b}".as_bytes(),
    ];
    let invalid: [&[u8]; 7] = [
        b"\xff",
        b"\x80",
        b"\xe2\x82",
        b"\xc0\x80",
        b"\xed\xa0\x80",
        // Half a C1 control: its lead byte alone, its second byte alone.
        b"\xc2",
        b"\x9b",
    ];
    let mut lengths: Vec<usize> = (0..=100).collect();
    lengths.extend([127, 128, 129, 200, 1000, DIRECT_BYTES - 1]);
    // Large lines: the search's last, masked step at every length modulo 64 there is.
    lengths.extend((0..=64).map(|n| DIRECT_BYTES + n));
    for format in [LogFormat::Text, LogFormat::Json] {
        let (dir, log) = temp_log(format);
        let mut lines = log.info_lines("module", "function");
        let escaping = Escaping::of(format);
        let mut want = Vec::new();
        // `before` and `after` hold nothing to escape, so the line the rules make of
        // the whole is theirs with only `insert` put through the reference: thousands of
        // 64 KiB lines would take minutes through it.
        let mut check = |before: &[u8], insert: &[u8], after: &[u8], what: &str| {
            let bytes = [before, insert, after].concat();
            let text = std::str::from_utf8(insert).ok();
            assert_eq!(
                lines.info_if_text(&bytes).unwrap(),
                text.is_some(),
                "{format:?} {what}"
            );
            if let Some(text) = text {
                want.extend_from_slice(&lines.prefix);
                want.extend_from_slice(before);
                want.extend_from_slice(reference_escape(escaping, text).as_bytes());
                want.extend_from_slice(after);
                want.extend_from_slice(escaping.tail());
            }
        };
        for &len in &lengths {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            check(&base, b"", b"", &format!("plain {len}"));
            // Something at every position of short texts, at a few of long ones: some
            // steps in, and in and around the last step.
            let at: Vec<usize> = if len > 200 {
                vec![
                    0,
                    1,
                    63,
                    64,
                    len / 2,
                    len - 65,
                    len - 64,
                    len - 63,
                    len - 1,
                    len,
                ]
            } else {
                (0..=len).collect()
            };
            for at in at {
                for (n, insert) in inserts.iter().chain(&invalid).enumerate() {
                    let what = format!("{len} at {at} insert {n}");
                    check(&base[..at], insert, &base[at..], &what);
                }
            }
        }
        // Past the writev's piece budget (copied from there on), then not UTF-8.
        let dense = "a\n".repeat(DIRECT_BYTES / 2);
        for tail in [&b"\xff"[..], "é".as_bytes(), b"ok", "\u{9b}".as_bytes()] {
            check(b"", &[dense.as_bytes(), tail].concat(), b"", "dense");
        }
        lines.publish().unwrap();
        log.flush().unwrap();
        assert_same_bytes(&file_bytes(&dir), &want, &format!("{format:?}"));
    }
}
