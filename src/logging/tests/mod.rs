//! The logging module's tests, by what they test; here the helpers they share, among them
//! the escaping rules written plainly ([`reference_escape`]), which every path that writes
//! a message is checked against, in the SIMD build and in the `force-portable` one alike.

mod clock;
mod escape;
mod faults;
mod file;
mod info_lines;
mod large_lines;
mod layer;

use std::fmt::Write as _;
use std::fs;

use tracing::Level;

use super::bytes::Bytes;
use super::escape::{Escaping, JsonInner, OneLine};
use super::{LogConfig, LogFile, LogFormat, CHUNK_BYTES, DIRECT_BYTES};

/// The escaping rules as first written, one character at a time with `format!`: what
/// the tables of spellings and every search for what to escape must agree with.
fn reference_escape(escaping: Escaping, s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match (escaping, c) {
            (_, '\n') => out.push_str("\\n"),
            (_, '\r') => out.push_str("\\r"),
            (_, '\t') => out.push_str("\\t"),
            // C0, DEL and C1: every control character of Unicode's Cc category.
            (Escaping::Text, c) if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            (Escaping::Json, '"') => out.push_str("\\\""),
            (Escaping::Json, '\\') => out.push_str("\\\\"),
            (Escaping::Json, c) if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            (_, c) => out.push(c),
        }
    }
    out
}

fn temp_log(format: LogFormat) -> (tempfile::TempDir, LogFile) {
    let dir = tempfile::tempdir().unwrap();
    let log = LogFile::open(&LogConfig {
        path: dir.path().join("test.log"),
        max_bytes: 0,
        backups: 0,
        format,
        level: Level::INFO,
    })
    .unwrap();
    (dir, log)
}

fn file_bytes(dir: &tempfile::TempDir) -> Vec<u8> {
    fs::read(dir.path().join("test.log")).unwrap()
}

/// The line the small-line path makes of `text`: the message through `OneLine` or
/// `JsonInner` into a buffer. Checked against [`reference_escape`], so that every test
/// comparing a path with this line compares it with the rules written plainly too.
fn small_line(format: LogFormat, prefix: &[u8], text: &str) -> Vec<u8> {
    let mut v = prefix.to_vec();
    match format {
        LogFormat::Text => OneLine(&mut Bytes(&mut v)).write_str(text).unwrap(),
        LogFormat::Json => {
            JsonInner(&mut Bytes(&mut v)).write_str(text).unwrap();
            v.extend_from_slice(b"\"}");
        }
    }
    v.push(b'\n');
    let mut want = prefix.to_vec();
    want.extend_from_slice(reference_escape(Escaping::of(format), text).as_bytes());
    want.extend_from_slice(Escaping::of(format).tail());
    assert_same_bytes(
        &v,
        &want,
        &format!("{format:?}: the small-line path and the rules"),
    );
    v
}

/// `assert_eq!` on megabytes would print them all.
fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let around = |b: &[u8]| {
        String::from_utf8_lossy(&b[at.saturating_sub(20)..b.len().min(at + 20)]).into_owned()
    };
    panic!(
        "{what}: {} bytes written, {} expected, first difference at {at}: {:?} instead of {:?}",
        got.len(),
        want.len(),
        around(got),
        around(want)
    );
}

/// Text of at least `len` bytes with no byte to escape in either format, not all ASCII.
fn plain(len: usize) -> String {
    // `©` and `°` start with 0xC2 as C1 controls do: the search stops there and goes on.
    let words = [
        "lorem ",
        "ipsum-",
        "é",
        "😀",
        "0123456789",
        ",dolor:",
        "ü_",
        "©°",
    ];
    let mut s = String::with_capacity(len + 16);
    for w in words.iter().cycle() {
        if s.len() >= len {
            break;
        }
        s.push_str(w);
    }
    s
}

/// Plain text with `specials` in turn after every `every` bytes of it.
fn sprinkled(len: usize, every: usize, specials: &[char]) -> String {
    let text = plain(len);
    let mut s = String::with_capacity(len * 2);
    let mut specials = specials.iter().cycle();
    for (i, c) in text.chars().enumerate() {
        s.push(c);
        if i % every == every - 1 {
            s.push(*specials.next().unwrap());
        }
    }
    s
}

/// Writes `text` as one large line between two small ones and checks the file holds
/// exactly what the small-line path gives; returns whether the large line was copied.
fn check_large_line(format: LogFormat, text: &str, what: &str) -> bool {
    let (dir, log) = temp_log(format);
    let mut lines = log.info_lines("module", "function");
    lines.info("before").unwrap();
    lines.info(text).unwrap();
    lines.info("after \"\u{1}").unwrap();
    lines.publish().unwrap();
    log.flush().unwrap();
    let prefix = lines.prefix.clone();
    let mut want = small_line(format, &prefix, "before");
    want.extend(small_line(format, &prefix, text));
    want.extend(small_line(format, &prefix, "after \"\u{1}"));
    let got = file_bytes(&dir);
    assert_same_bytes(&got, &want, &format!("{format:?} {what}"));
    if format == LogFormat::Json {
        let line = got.split(|&b| b == b'\n').nth(1).unwrap();
        let value: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert!(
            value["message"] == text,
            "{what}: the JSON message is the text"
        );
    }
    let inner = log.lock();
    if text.len() >= DIRECT_BYTES {
        // The pending chunk never held the large line.
        assert!(inner.pending.capacity() <= CHUNK_BYTES, "{what}");
    }
    inner.scratch.capacity() > 0
}
