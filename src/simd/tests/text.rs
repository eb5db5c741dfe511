//! Differential tests of the text kernels: the scan for the first byte to escape (SSE2,
//! AVX2 in front of it, SWAR, and the dispatch), and the AVX-512 scan and escaping copy
//! that also stop at bytes that are not ASCII, each against [`portable::text`].

use std::sync::OnceLock;

use crate::simd::portable;
use crate::simd::testing::{all_strings, run_or_skip, GuardPage, Rng};
#[cfg(target_arch = "x86_64")]
use crate::simd::x86_64::{avx2, avx512, sse2};
use crate::simd::{detected, text};

/// The bytes besides those below 0x20 that the logging rules pass: the Text scan (DEL, and
/// 0xC2 which starts a C1 control), the Text stops (DEL only), JSON's.
const ALSO: [[u8; 2]; 3] = [[0x7f, 0xc2], [0x7f, 0x7f], [b'"', b'\\']];

/// Every kind of byte for the kernels: plain, space, the edges of the controls, every
/// `also` byte, the first and last that are not ASCII, and the bytes of a C1 control.
const ALPHABET: &[u8] = &[
    b'a', b' ', 0x00, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xc2, 0x9b, 0xff,
];

/// A scan for the first byte below 0x20 or in `also`.
type Scan = fn(&[u8], [u8; 2]) -> Option<usize>;

/// Every variant of the first-special scan this machine runs, by name; an instruction set
/// it lacks is reported as skipped.
fn scans() -> Vec<(&'static str, Scan)> {
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut v: Vec<(&'static str, Scan)> = vec![
        ("dispatch", text::first_special),
        ("portable SWAR", portable::text::first_special_swar),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        v.push(("sse2", |b, also| sse2::text::first_special(b, 0, also)));
        run_or_skip("avx2 text", detected().avx2, || {
            v.push(("avx2 then sse2", |b, also| {
                // SAFETY: only pushed where `detected` found AVX2.
                let from = unsafe { avx2::text::clean_prefix(b, also) };
                sse2::text::first_special(b, from, also)
            }));
        });
    }
    v
}

/// Checks every scan on `b` against the reference, and the clean prefixes of the wide
/// scans: every whole step before the one holding the first special byte, so nothing
/// special in them and no step given up too early.
fn check_scans(scans: &[(&str, Scan)], b: &[u8], also: [u8; 2]) {
    let want = portable::text::first_special(b, also);
    for (name, scan) in scans {
        assert_eq!(scan(b, also), want, "{name} {also:x?} {b:x?}");
    }
    let first = want.unwrap_or(b.len());
    let steps_before = |step: usize| (first / step * step).min(b.len() / step * step);
    let swar = portable::text::clean_prefix_swar(b, also);
    assert_eq!(swar, steps_before(8), "SWAR prefix {also:x?} {b:x?}");
    #[cfg(target_arch = "x86_64")]
    if detected().avx2 {
        // SAFETY: AVX2 was detected.
        let prefix = unsafe { avx2::text::clean_prefix(b, also) };
        assert_eq!(prefix, steps_before(32), "AVX2 prefix {also:x?} {b:x?}");
    }
}

/// A spelling per ASCII byte for the copy, of different lengths (`<0>` to `<127>`), so that
/// a byte spelled wrong or in the wrong place shows.
fn spell(c: u8) -> &'static [u8] {
    static TABLE: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    &TABLE.get_or_init(|| (0..128).map(|c| format!("<{c}>").into_bytes()).collect())[usize::from(c)]
}

/// The AVX-512 kernels on `s` against the reference: the stop, and the copy (after what
/// `out` held already) with where it stopped.
#[cfg(target_arch = "x86_64")]
fn check_avx512(s: &[u8], also: [u8; 2]) {
    let want_stop = portable::text::first_stop(s, also);
    let mut want = b"before".to_vec();
    let want_done = portable::text::copy_ascii_escaped(&mut want, s, also, spell);
    // SAFETY: the callers run this only through `run_or_skip` on `detected().avx512_text`:
    // AVX-512F, AVX-512BW and BMI1.
    let (stop, done, got) = unsafe {
        let stop = avx512::text::first_stop(s, also);
        let mut got = b"before".to_vec();
        let done = avx512::text::copy_ascii_escaped(&mut got, s, also, spell);
        (stop, done, got)
    };
    assert_eq!(stop, want_stop, "first_stop {also:x?} {s:x?}");
    assert_eq!(done, want_done, "copy stopped {also:x?} {s:x?}");
    assert_eq!(got, want, "copy {also:x?} {s:x?}");
}

#[cfg(not(target_arch = "x86_64"))]
fn check_avx512(_: &[u8], _: [u8; 2]) {}

/// Clean text for the scans (no byte below 0x20 or in any `also`, some not ASCII), or for
/// the stops (ASCII only).
fn clean(rng: &mut Rng, len: usize, ascii: bool) -> Vec<u8> {
    let plain: &[u8] = if ascii {
        b"abcxyz 019:~{}"
    } else {
        b"abcxyz 019:~{}\x80\xc3\xff"
    };
    rng.bytes_from(plain, len)
}

/// Lengths for the large inputs: every one up to 300, around the AVX2 threshold and the
/// steps, and random ones up to 5,000.
fn lengths(rng: &mut Rng) -> Vec<usize> {
    let mut v: Vec<usize> = (0..=300).collect();
    v.extend([
        511, 512, 513, 1023, 1024, 1025, 1055, 1056, 1057, 2047, 4096, 4100, 5000,
    ]);
    v.extend((0..100).map(|_| 300 + rng.below(4700)));
    v
}

/// Small strings on their own and after a clean run, so that they also straddle the
/// 16- and 32-byte steps and fall in the overlapping last load of the SSE2 scan.
fn small_inputs() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for s in all_strings(ALPHABET, 5) {
        for pad in [0, 14, 30] {
            let mut v = vec![b'q'; pad];
            v.extend_from_slice(&s);
            out.push(v);
        }
    }
    out
}

#[test]
fn first_special_scans_match_the_reference_on_all_small_strings() {
    let scans = scans();
    for v in small_inputs() {
        for also in ALSO {
            check_scans(&scans, &v, also);
        }
    }
}

#[test]
fn first_special_scans_match_the_reference_on_random_large_inputs() {
    let scans = scans();
    let mut rng = Rng::new(0x7e57_0001);
    for len in lengths(&mut rng) {
        for also in ALSO {
            let mut v = clean(&mut rng, len, false);
            check_scans(&scans, &v, also);
            // A few special bytes at random places; the first one decides.
            for _ in 0..3 {
                if len == 0 {
                    break;
                }
                let at = rng.below(len);
                v[at] = ALPHABET[2 + rng.below(5)];
                check_scans(&scans, &v, also);
            }
        }
    }
    // A special byte at every offset, each byte that is one, with a second one after.
    for len in [100, 1100, 5000] {
        for also in ALSO {
            let base = clean(&mut rng, len, false);
            for at in 0..len {
                let mut v = base.clone();
                v[at] = [0x00, 0x1f, b'\n', also[0], also[1]][at % 5];
                if at + 40 < len {
                    v[at + 40] = b'\t';
                }
                check_scans(&scans, &v, also);
            }
        }
    }
}

#[test]
fn first_special_scans_stop_at_a_page_boundary() {
    let scans = scans();
    let mut page = GuardPage::new();
    let mut rng = Rng::new(0x7e57_0002);
    for len in 0..=200 {
        for also in ALSO {
            let clean_text = clean(&mut rng, len, false);
            check_scans(&scans, page.tail(&clean_text), also);
            let mut last = clean_text.clone();
            if let Some(b) = last.last_mut() {
                *b = also[0];
            }
            check_scans(&scans, page.tail(&last), also);
            let random = rng.bytes_from(ALPHABET, len);
            check_scans(&scans, page.tail(&random), also);
        }
    }
}

/// The escaping rules' old test of the scan, kept: clean text at lengths around every
/// step, then each kind of byte at chosen offsets, special or not.
#[test]
fn first_special_finds_the_first_byte_to_escape_at_any_length() {
    let scans = scans();
    for also in [[0x7f, 0xc2], [b'"', b'\\']] {
        for len in [
            0usize, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1023, 1024, 1025, 2047, 4100,
        ] {
            let clean: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(text::first_special(&clean, also), None, "{len}");
            check_scans(&scans, &clean, also);
            let mut spots = vec![0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 1000, 1023, 1024, 2040];
            spots.extend([
                len.saturating_sub(17),
                len.saturating_sub(16),
                len.saturating_sub(1),
            ]);
            for at in spots.into_iter().filter(|&at| at < len) {
                // Bytes that are never escaped beside the ones that are: high bytes
                // (negative as signed) and the neighbours of each.
                for bad in [
                    b'\n', 0x00, 0x1f, also[0], also[1], 0x20, 0x80, 0xc1, 0xc3, 0xff,
                ] {
                    let mut v = clean.clone();
                    v[at] = bad;
                    // A second one later must not matter.
                    if at + 40 < len {
                        v[at + 40] = b'\t';
                    }
                    let special = bad < 0x20 || also.contains(&bad);
                    if special {
                        assert_eq!(text::first_special(&v, also), Some(at), "{len} {at}");
                    }
                    check_scans(&scans, &v, also);
                }
            }
        }
    }
}

#[test]
fn portable_stop_and_copy_follow_their_definitions() {
    // The references themselves, against the scan they extend: a stop is a special byte
    // or one that is not ASCII, and the copy is the text escaped up to the first of those.
    for v in all_strings(ALPHABET, 4) {
        for also in ALSO {
            let ascii_end = v.iter().position(|&c| c >= 0x80).unwrap_or(v.len());
            let special = portable::text::first_special(&v[..ascii_end], also);
            let stop = portable::text::first_stop(&v, also);
            assert_eq!(stop, special.or((ascii_end < v.len()).then_some(ascii_end)));
            let mut out = Vec::new();
            let done = portable::text::copy_ascii_escaped(&mut out, &v, also, spell);
            assert_eq!(done, ascii_end, "{v:x?}");
            let want: Vec<u8> = v[..ascii_end]
                .iter()
                .flat_map(|&c| {
                    let special = c < 0x20 || also.contains(&c);
                    if special {
                        spell(c).to_vec()
                    } else {
                        vec![c]
                    }
                })
                .collect();
            assert_eq!(out, want, "{v:x?}");
        }
    }
}

#[test]
fn avx512_stop_and_copy_match_the_reference_on_all_small_strings_or_skipped() {
    run_or_skip("avx512 text", detected().avx512_text, || {
        for v in small_inputs() {
            for also in ALSO {
                check_avx512(&v, also);
            }
        }
    });
}

#[test]
fn avx512_stop_and_copy_match_the_reference_on_random_large_inputs_or_skipped() {
    run_or_skip("avx512 text", detected().avx512_text, || {
        let mut rng = Rng::new(0x7e57_0003);
        for len in lengths(&mut rng) {
            for also in ALSO {
                let mut v = clean(&mut rng, len, true);
                check_avx512(&v, also);
                // Specials and bytes that are not ASCII at random places: the copy goes on
                // past each special byte and stops at the first that is not ASCII.
                for _ in 0..4 {
                    if len == 0 {
                        break;
                    }
                    let at = rng.below(len);
                    v[at] = ALPHABET[2 + rng.below(ALPHABET.len() - 2)];
                    check_avx512(&v, also);
                }
            }
        }
        for len in [100, 1100, 5000] {
            for also in ALSO {
                let base = clean(&mut rng, len, true);
                for at in 0..len {
                    let mut v = base.clone();
                    v[at] = [0x00, 0x1f, also[0], also[1], 0x80, 0xc2, 0xff][at % 7];
                    if at + 40 < len {
                        v[at + 40] = b'\t';
                    }
                    check_avx512(&v, also);
                }
            }
        }
    });
}

#[test]
fn avx512_stop_and_copy_stay_before_a_page_boundary_or_skipped() {
    run_or_skip("avx512 text", detected().avx512_text, || {
        let mut page = GuardPage::new();
        let mut rng = Rng::new(0x7e57_0004);
        for len in 0..=200 {
            for also in ALSO {
                let clean_text = clean(&mut rng, len, true);
                check_avx512(page.tail(&clean_text), also);
                let mut last = clean_text.clone();
                if let Some(b) = last.last_mut() {
                    *b = also[1];
                }
                check_avx512(page.tail(&last), also);
                let random = rng.bytes_from(ALPHABET, len);
                check_avx512(page.tail(&random), also);
            }
        }
    });
}
