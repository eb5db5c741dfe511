//! Differential tests of the fields kernel: every variant (SSE2 on x86_64, and the
//! dispatch as this build compiles it) against the portable kernel, and the portable
//! kernel against the plain definitions below.

use crate::simd::portable::fields as portable;
use crate::simd::testing::{all_strings, GuardPage, Rng};

/// One implementation of the kernel's three functions.
struct Variant {
    name: &'static str,
    printable_until_quote: fn(&[u8]) -> Option<usize>,
    leading_digits: fn(&[u8]) -> usize,
    digits_in_block: fn(&[u8; 16]) -> usize,
}

/// Every variant other than the portable one that this machine runs.
fn variants() -> Vec<Variant> {
    let dispatch = Variant {
        name: "dispatch",
        printable_until_quote: crate::simd::fields::printable_until_quote,
        leading_digits: crate::simd::fields::leading_digits,
        digits_in_block: crate::simd::fields::digits_in_block,
    };
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    let sse2 = {
        use crate::simd::x86_64::sse2::fields as sse2;
        Some(Variant {
            name: "sse2",
            printable_until_quote: sse2::printable_until_quote,
            leading_digits: sse2::leading_digits,
            digits_in_block: sse2::digits_in_block,
        })
    };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    let sse2 = None;
    [Some(dispatch), sse2].into_iter().flatten().collect()
}

/// What `printable_until_quote` means, byte by byte.
fn printable_until_quote_spec(b: &[u8]) -> Option<usize> {
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'"' => return Some(i),
            b'\\' | 0..=0x1f | 0x80.. => return None,
            _ => {}
        }
    }
    None
}

/// What `leading_digits` means.
fn leading_digits_spec(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Checks the portable kernel against the definitions, and every variant against it, on
/// `b` (and on its first sixteen bytes as a block, if it has that many).
fn check(variants: &[Variant], b: &[u8]) {
    let quote = portable::printable_until_quote(b);
    let digits = portable::leading_digits(b);
    assert_eq!(
        quote,
        printable_until_quote_spec(b),
        "portable on {:?}",
        b.escape_ascii()
    );
    assert_eq!(
        digits,
        leading_digits_spec(b),
        "portable on {:?}",
        b.escape_ascii()
    );
    let block = b.first_chunk::<16>();
    let in_block = block.map(portable::digits_in_block);
    if let Some(block) = block {
        assert_eq!(in_block, Some(leading_digits_spec(block)), "portable block");
    }
    for v in variants {
        let at = || format!("{} on {:?}", v.name, b.escape_ascii());
        assert_eq!((v.printable_until_quote)(b), quote, "{}", at());
        assert_eq!((v.leading_digits)(b), digits, "{}", at());
        assert_eq!(block.map(v.digits_in_block), in_block, "{}", at());
    }
}

/// Bytes each function stops at, and their neighbours: digits' edges (`/`, `:`), the
/// quote and backslash, a control byte, the last ASCII byte and high bytes.
const EDGES: &[u8] = b"09/:\"\\\x1f\x7f\x80\xff";

/// Neither kind of stop: a digit, which is also printable.
const FILLER: u8 = b'5';

#[test]
fn all_variants_match_portable_on_every_short_string_at_every_block_offset() {
    let variants = variants();
    for s in all_strings(EDGES, 5) {
        // Alone (the tail code), and after filler that puts it at the start, middle and
        // across the end of a sixteen-byte block, with and without filler after it.
        for prefix in [0, 13, 16] {
            for suffix in [0, 20] {
                let mut b = vec![FILLER; prefix];
                b.extend_from_slice(&s);
                b.resize(b.len() + suffix, FILLER);
                check(&variants, &b);
            }
        }
    }
}

#[test]
fn all_variants_match_portable_on_every_byte_at_every_position_of_a_block() {
    let variants = variants();
    for byte in 0..=u8::MAX {
        for at in 0..40 {
            for len in [at + 1, 16.max(at + 1), 40, 41] {
                let mut b = vec![FILLER; len];
                b[at] = byte;
                check(&variants, &b);
                // A quote at the end: the string is closed unless `byte` stops it first.
                *b.last_mut().unwrap() = b'"';
                check(&variants, &b);
            }
        }
    }
}

/// Random filler (digits, so neither function stops early) of `len` bytes.
fn digits(rng: &mut Rng, len: usize) -> Vec<u8> {
    rng.bytes_from(b"0123456789", len)
}

#[test]
fn all_variants_match_portable_on_random_inputs_with_a_stop_anywhere() {
    let variants = variants();
    let mut rng = Rng::new(0x5eed_f1e1);
    for len in 0..300 {
        // Random bytes of every kind, and digits with a stop at every position.
        let b = rng.bytes_from(&(0..=u8::MAX).collect::<Vec<_>>(), len);
        check(&variants, &b);
        let b = rng.bytes_from(b"0123456789abc\"\\\x01", len);
        check(&variants, &b);
        let clean = digits(&mut rng, len);
        check(&variants, &clean);
        for at in 0..len {
            let mut b = clean.clone();
            b[at] = EDGES[rng.below(EDGES.len())];
            check(&variants, &b);
        }
    }
    for len in [1000, 4095, 4096, 4097, 32 * 1024 + 7, 64 * 1024] {
        let clean = digits(&mut rng, len);
        check(&variants, &clean);
        // Every position of the first, a middle and the last whole block, and the tail.
        let middle = len / 32 * 16;
        let last = len / 16 * 16;
        let positions = (0..16)
            .chain(middle..middle + 16)
            .chain(last.saturating_sub(16)..len);
        for at in positions {
            for stop in [b'"', b'\\', b':', 0x80] {
                let mut b = clean.clone();
                b[at] = stop;
                check(&variants, &b);
            }
        }
    }
}

#[test]
fn all_variants_stay_inside_inputs_that_end_at_an_unmapped_page() {
    let variants = variants();
    let mut guard = GuardPage::new();
    let mut rng = Rng::new(0x9a9e);
    for len in 0..=130 {
        let clean = digits(&mut rng, len);
        // No stop: every function reads to the very last byte.
        check(&variants, guard.tail(&clean));
        for at in 0..len {
            for stop in [b'"', b'\\', 0xff] {
                let mut b = clean.clone();
                b[at] = stop;
                check(&variants, guard.tail(&b));
            }
        }
        // A block that ends at the page.
        if len >= 16 {
            let tail = guard.tail(&clean);
            let block: &[u8; 16] = tail[len - 16..].try_into().unwrap();
            for v in &variants {
                assert_eq!((v.digits_in_block)(block), 16, "{}", v.name);
            }
        }
    }
}

/// Cases the fast path's tests spelled out before the kernel moved here.
#[test]
fn all_variants_count_digits_and_find_quotes_in_the_cases_that_matter() {
    let mut cases: Vec<Vec<u8>> = vec![b" ~\x7f!\"".to_vec()];
    let mut n: u64 = 0;
    for len in 1..=18 {
        n = n * 10 + (len as u64 * 7) % 10;
        for end in ["", ",", "\"", "}x", "9"] {
            cases.push(format!("{n:0len$}{end}").into_bytes());
        }
    }
    for len in 0..40 {
        cases.push(format!("{}\",\"more\"", "k".repeat(len)).into_bytes());
    }
    let mut variants = variants();
    variants.push(Variant {
        name: "portable",
        printable_until_quote: portable::printable_until_quote,
        leading_digits: portable::leading_digits,
        digits_in_block: portable::digits_in_block,
    });
    for b in &cases {
        for v in &variants {
            let at = || format!("{} on {:?}", v.name, b.escape_ascii());
            assert_eq!(
                (v.printable_until_quote)(b),
                printable_until_quote_spec(b),
                "{}",
                at()
            );
            assert_eq!((v.leading_digits)(b), leading_digits_spec(b), "{}", at());
        }
    }
}
