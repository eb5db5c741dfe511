//! The text kernels written plainly: the reference every other variant is tested against,
//! and (with [`clean_prefix_swar`] in front of [`first_special`]) what arm64 and the
//! `force-portable` build run.
//!
//! A *special* byte is one below 0x20 or equal to one of the two bytes `also` (which
//! `also` is, and how each byte is spelled, are the escaping rules of `crate::logging`).
//! A *stop* is a special byte or one that is not ASCII.

/// Whether `c` is below 0x20 or one of `also`.
#[inline(always)]
fn is_special(c: u8, also: [u8; 2]) -> bool {
    c < 0x20 || c == also[0] || c == also[1]
}

/// The index of the first special byte of `b`.
#[inline(always)]
pub(crate) fn first_special(b: &[u8], also: [u8; 2]) -> Option<usize> {
    b.iter().position(|&c| is_special(c, also))
}

/// [`first_special`] with the clean words skipped eight bytes at a time first: what runs
/// where there is no SSE2.
#[inline(always)]
pub(crate) fn first_special_swar(b: &[u8], also: [u8; 2]) -> Option<usize> {
    let i = clean_prefix_swar(b, also);
    first_special(&b[i..], also).map(|p| p + i)
}

/// How many leading bytes of `b`, in whole eight-byte words, hold nothing special: the
/// word where it stops (if any) holds the first special byte.
#[inline]
pub(crate) fn clean_prefix_swar(b: &[u8], also: [u8; 2]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has = |x: u64, c: u8| {
        let y = x ^ (ONES * u64::from(c));
        y.wrapping_sub(ONES) & !y & HIGH
    };
    let mut i = 0;
    // Eight bytes at a time: most log text has nothing to escape at all.
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        if below_space | has(x, also[0]) | has(x, also[1]) != 0 {
            break;
        }
        i += 8;
    }
    i
}

/// The index of the first stop of `s`: a special byte, or one that is not ASCII. Only the
/// tests (and the fuzz targets) run it: without the AVX-512 kernel, text is checked for UTF-8 and then escaped.
#[cfg(any(test, fuzzing))]
pub(crate) fn first_stop(s: &[u8], also: [u8; 2]) -> Option<usize> {
    s.iter().position(|&c| c >= 0x80 || is_special(c, also))
}

/// Copies `s` onto `out` while it is ASCII, each special byte `c` as `spell(c)`. Returns
/// how far it got: `s.len()`, or the index of the first byte that is not ASCII (everything
/// before it is copied). Only the tests run it, as [`first_stop`].
#[cfg(any(test, fuzzing))]
pub(crate) fn copy_ascii_escaped(
    out: &mut Vec<u8>,
    s: &[u8],
    also: [u8; 2],
    spell: impl Fn(u8) -> &'static [u8],
) -> usize {
    for (i, &c) in s.iter().enumerate() {
        if c >= 0x80 {
            return i;
        }
        if is_special(c, also) {
            out.extend_from_slice(spell(c));
        } else {
            out.push(c);
        }
    }
    s.len()
}
