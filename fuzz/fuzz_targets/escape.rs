//! Record text in the log: what `InfoLines::info_if_text` writes after the line's head,
//! against escaping rules written out plainly here, one character at a time.
//!
//! Text format: `\n`, `\r`, `\t` as those two characters; every other control character
//! (C0 below 0x20, DEL, and the C1 controls U+0080 to U+009F) as `\u{hex}` in lower case
//! without leading zeros; everything else, backslash included, as it is; the line ends in
//! `\n`. JSON format: the inside of a JSON string (`\"`, `\\`, `\n`, `\r`, `\t`, other C0
//! controls as `\u00hh`; DEL and C1 as they are), then `"}` and `\n`. Bytes that are not
//! UTF-8 are not text: nothing is written, and the call says so.
//!
//! Input: one byte of options, then the text. Options 0xff repeat the text to past 64 KiB,
//! where the log writes a line from its pieces instead of copying it (rarely: with the
//! coverage instrumentation such a line costs a few hundred small ones, and the fuzzer
//! keeps coming back to it once it has found it).
#![no_main]

use std::fmt::Write as _;

use kcl_multilang::fuzz_api::{escape_json, escape_text, text_kernels_match_portable};
use libfuzzer_sys::fuzz_target;

/// Lines from this size on are written from their pieces (`DIRECT_BYTES` in the log).
const LARGE: usize = 64 << 10;

fn text_reference(s: &str) -> Vec<u8> {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if ('\0'..'\u{20}').contains(&c) || ('\u{7f}'..='\u{9f}').contains(&c) => {
                write!(out, "\\u{{{:x}}}", u32::from(c)).unwrap();
            }
            c => out.push(c),
        }
    }
    out.push('\n');
    out.into_bytes()
}

fn json_reference(s: &str) -> Vec<u8> {
    let mut out = String::with_capacity(s.len() + 3);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < '\u{20}' => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
            c => out.push(c),
        }
    }
    out.push_str("\"}\n");
    out.into_bytes()
}

/// Shows where two long lines part.
fn check(what: &str, got: Option<Vec<u8>>, want: &Option<Vec<u8>>, input: &[u8]) {
    if got.as_ref() == want.as_ref() {
        return;
    }
    let (g, w) = (got.unwrap_or_default(), want.clone().unwrap_or_default());
    let at = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    let around = |b: &[u8]| {
        b[at.saturating_sub(24)..b.len().min(at + 24)]
            .escape_ascii()
            .to_string()
    };
    panic!(
        "{what}: {} bytes written where {} were expected (None: nothing), first difference at {at}: {:?} instead of {:?}; input {} bytes, starting {:?}",
        g.len(),
        w.len(),
        around(&g),
        around(&w),
        input.len(),
        input[..input.len().min(200)].escape_ascii().to_string()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, text)) = data.split_first() else {
        return;
    };
    let large;
    let text = if options == 0xff && !text.is_empty() {
        large = text.repeat(LARGE / text.len() + 1);
        &large[..]
    } else {
        text
    };
    let utf8 = std::str::from_utf8(text).ok();
    let want_text = utf8.map(text_reference);
    check("text format", escape_text(text), &want_text, text);
    if let Err(diff) = text_kernels_match_portable(text) {
        panic!("a text kernel differs from its portable reference: {diff}\ninput: {text:?}");
    }
    let want_json = utf8.map(json_reference);
    let got_json = escape_json(text);
    check("JSON format", got_json.clone(), &want_json, text);
    if let (Some(s), Some(json)) = (utf8, got_json) {
        // The message reads back as the text.
        let inner = &json[..json.len() - 3];
        let mut quoted = Vec::with_capacity(inner.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(inner);
        quoted.push(b'"');
        let back: String = serde_json::from_slice(&quoted).expect("the JSON message parses");
        assert_eq!(back, s, "the JSON message reads back as the text");
    }
});
