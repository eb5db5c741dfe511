//! The escaping rules: what is found to escape, and how it is spelled.

use std::fmt::Write as _;

use super::super::bytes::Bytes;
use super::super::escape::{push_json_str, Escaping, JsonInner, OneLine};
use super::reference_escape;

#[test]
fn bytes_to_escape_found_at_every_offset() {
    let cases: [(Escaping, &[&str]); 2] = [
        (
            Escaping::Text,
            &["\0", "\n", "\u{1f}", "\u{7f}", "\u{80}", "\u{9b}", "\u{9f}"],
        ),
        (Escaping::Json, &["\0", "\n", "\"", "\\"]),
    ];
    for (escaping, specials) in cases {
        for len in 0..40 {
            for at in 0..len {
                for c in specials {
                    let mut v = "a".repeat(len).into_bytes();
                    v.splice(at..at + 1, c.bytes());
                    let found = escaping.find(&v).map(|f| (f.at, f.len));
                    assert_eq!(
                        found,
                        Some((at, c.len())),
                        "{escaping:?} len {len} at {at} {c:?}"
                    );
                    // Text that only looks like it: the same bytes after another lead
                    // byte, and 0xC2 before the bytes that are not C1 controls.
                    for lookalike in ["\u{201b}", "\u{a0}", "\u{bf}", "\u{109b}", "é"] {
                        let mut v = "a".repeat(len).into_bytes();
                        v.splice(at..at + 1, lookalike.bytes());
                        assert_eq!(escaping.find(&v), None, "{escaping:?} {lookalike:?}");
                        v.extend(c.bytes());
                        let found = escaping.find(&v).map(|f| (f.at, f.len));
                        assert_eq!(
                            found,
                            Some((v.len() - c.len(), c.len())),
                            "{lookalike:?} then {c:?}"
                        );
                    }
                }
            }
            let clean: Vec<u8> = (0..len)
                .map(|i| b' ' + (i % 95) as u8)
                .map(|c| {
                    if escaping == Escaping::Json && (c == b'"' || c == b'\\') {
                        b'x'
                    } else {
                        c
                    }
                })
                .collect();
            assert_eq!(escaping.find(&clean), None, "{escaping:?} len {len}");
            assert_eq!(escaping.find("é😀ü".repeat(len).as_bytes()), None);
        }
    }
    // The other format's specials are plain text: JSON keeps C1 controls, exact.
    assert_eq!(Escaping::Text.find(b"\"\\"), None);
    assert_eq!(Escaping::Json.find(&[0x7f; 20]), None);
    assert_eq!(Escaping::Json.find("\u{9b}\u{80}".as_bytes()), None);
    // A lone 0xC2 at the very end (not UTF-8, but never read past).
    assert_eq!(Escaping::Text.find(b"ab\xc2"), None);
}

#[test]
fn escaping() {
    let mut v = Vec::new();
    write!(
        OneLine(&mut Bytes(&mut v)),
        "a\nb\r\tc\u{1b}d é\u{7f} \u{9b}31m\u{80}\u{9f}\u{a0}©"
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(v).unwrap(),
        "a\\nb\\r\\tc\\u{1b}d é\\u{7f} \\u{9b}31m\\u{80}\\u{9f}\u{a0}©"
    );
    let mut v = Vec::new();
    push_json_str(&mut Bytes(&mut v), "q\"b\\n\n\u{1}é");
    let s = String::from_utf8(v).unwrap();
    assert_eq!(s, r#""q\"b\\n\n\u0001é""#);
    assert_eq!(
        serde_json::from_str::<String>(&s).unwrap(),
        "q\"b\\n\n\u{1}é"
    );
}

#[test]
fn every_spelling_follows_the_rules() {
    // Every character up to U+0100 (C0, ASCII, DEL, C1, Latin-1), and a few beyond.
    let all: String = (0u8..=0xff)
        .map(char::from)
        .chain("é😀\u{201b}\u{109b}".chars())
        .collect();
    for s in all.chars().map(String::from).chain([all.clone()]) {
        let mut v = Vec::new();
        write!(OneLine(&mut Bytes(&mut v)), "{s}").unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            reference_escape(Escaping::Text, &s)
        );
        let mut v = Vec::new();
        write!(JsonInner(&mut Bytes(&mut v)), "{s}").unwrap();
        let json = String::from_utf8(v).unwrap();
        assert_eq!(json, reference_escape(Escaping::Json, &s));
        assert_eq!(
            serde_json::from_str::<String>(&format!("\"{json}\"")).unwrap(),
            s
        );
    }
}
