//! Large lines, written from their pieces or copied: the same bytes as small lines.

use super::{
    assert_same_bytes, check_large_line, file_bytes, plain, small_line, sprinkled, temp_log,
};
use crate::logging::escape::{line_pieces, Escaping, MAX_PIECES};
use crate::logging::file::SCRATCH_KEEP;
use crate::logging::{LogFormat, DIRECT_BYTES};

#[test]
fn large_lines_are_the_bytes_small_lines_would_be() {
    let specials = [
        '\n', '\t', '\u{1}', '\u{7f}', '"', '\\', '\r', '\u{1f}', '\u{1b}', '\u{9b}', '\u{85}',
    ];
    for len in [100_000, 1 << 20] {
        let body = plain(len);
        let few = format!(
            "\t{}\r\n{}\u{7f}{}\u{0}\"\\{}\n\n",
            &body[..len / 4],
            &body[len / 4..len / 2],
            &body[len / 2..3 * len / 4],
            &body[3 * len / 4..]
        );
        let written_from_pieces = [
            ("no escape", body.clone()),
            (
                "a JSON record ending in a newline",
                format!("{{\"data\":\"{body}\"}}\n"),
            ),
            ("one control character first", format!("\u{1b}{body}")),
            ("one control character last", format!("{body}\n")),
            ("a few escapes, two in a row", few),
            ("200 escapes", sprinkled(len, len / 200, &specials)),
        ];
        for format in [LogFormat::Text, LogFormat::Json] {
            for (what, text) in &written_from_pieces {
                let what = format!("{len} bytes, {what}");
                assert!(!check_large_line(format, text, &what), "{what}: not copied");
            }
        }
        let copied = [
            ("an escape every 100 bytes", sprinkled(len, 100, &specials)),
            (
                "every byte escaped",
                (0..len).map(|i| specials[i % specials.len()]).collect(),
            ),
        ];
        for format in [LogFormat::Text, LogFormat::Json] {
            for (what, text) in &copied {
                let what = format!("{len} bytes, {what}");
                assert!(check_large_line(format, text, &what), "{what}: copied");
            }
        }
    }
    // Either side of the size that makes a line large.
    for len in [DIRECT_BYTES - 1, DIRECT_BYTES] {
        let text = format!("{}\n", &"x".repeat(len - 1));
        assert_eq!(text.len(), len);
        for format in [LogFormat::Text, LogFormat::Json] {
            check_large_line(format, &text, &format!("{len} bytes"));
        }
    }
}

#[test]
fn pieces_up_to_the_budget_and_one_more() {
    // A prefix, then (run, escape) pairs, then the tail: exactly MAX_PIECES.
    let pair = format!("{}\n", "a".repeat(300));
    let at_budget = pair.repeat((MAX_PIECES - 2) / 2);
    assert!(at_budget.len() >= DIRECT_BYTES);
    let cases = [
        (at_budget.clone(), true),
        // One piece more in the run after the last escape, or in one more escape.
        (format!("{at_budget}a"), false),
        (format!("{at_budget}\n"), false),
    ];
    for format in [LogFormat::Text, LogFormat::Json] {
        let escaping = Escaping::of(format);
        for (text, fits) in &cases {
            let what = format!("{format:?} {} bytes", text.len());
            let mut pieces = Vec::new();
            let result = line_pieces(&mut pieces, b"PREFIX ", text.as_bytes(), escaping, |s| {
                escaping.find(s)
            });
            let mut line = pieces.concat();
            match result {
                Ok(()) => {
                    assert!(fits, "{what}: too many pieces");
                    assert_eq!(pieces.len(), MAX_PIECES, "{what}");
                }
                Err(rest) => {
                    assert!(!fits, "{what}: should fit");
                    escaping.escape_into(&mut line, rest);
                    line.extend_from_slice(escaping.tail());
                }
            }
            assert_same_bytes(&line, &small_line(format, b"PREFIX ", text), &what);
            let size = format!("{} bytes", text.len());
            assert_eq!(check_large_line(format, text, &size), !fits, "{what}");
        }
    }
}

#[test]
fn the_scratch_buffer_is_kept_only_up_to_its_bound() {
    let (dir, log) = temp_log(LogFormat::Text);
    let mut lines = log.info_lines("module", "function");
    let dense = "\u{1}".repeat(1 << 20);
    lines.info(&dense).unwrap();
    let kept = log.lock().scratch.capacity();
    assert!(kept >= 6 * dense.len() && kept <= SCRATCH_KEEP, "{kept}");
    // The next such line reuses it: no new pages to fault in.
    let at = log.lock().scratch.as_ptr();
    lines.info(&dense).unwrap();
    assert_eq!(log.lock().scratch.capacity(), kept);
    assert_eq!(log.lock().scratch.as_ptr(), at);
    let huge = "\u{1}".repeat(SCRATCH_KEEP / 6 + 1);
    lines.info(&huge).unwrap();
    assert_eq!(
        log.lock().scratch.capacity(),
        0,
        "freed after a line past the bound"
    );
    log.flush().unwrap();
    let mut want = small_line(LogFormat::Text, &lines.prefix, &dense).repeat(2);
    want.extend(small_line(LogFormat::Text, &lines.prefix, &huge));
    assert_same_bytes(&file_bytes(&dir), &want, "dense lines");
}
