//! The fields kernel eight bytes at a time (SWAR): the scans the `processRecords` fast
//! path ([`crate::fast`]) makes over short strings and numbers. Whole inputs here; the
//! SSE2 variant calls them for the last few bytes of its input.

/// Each byte of a word set to one.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of each byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// For a string whose opening quote is consumed: the length of its printable-ASCII
/// content if its closing quote comes before any other byte that needs a look (a
/// backslash, a control character, a non-ASCII byte, the end of `b`); `None` otherwise.
pub(crate) fn printable_until_quote(b: &[u8]) -> Option<usize> {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut words = b.chunks_exact(8);
    for (n, word) in words.by_ref().enumerate() {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        // Each test's lowest flagged byte is exact (a borrow only flags bytes above a true
        // hit), so the lowest flag of all of them is the first byte to look at.
        let flags = ((x.wrapping_sub(ONES * 0x20) | x) & HIGH)
            | has_zero(x ^ (ONES * u64::from(b'"')))
            | has_zero(x ^ (ONES * u64::from(b'\\')));
        if flags != 0 {
            let at = n * 8 + (flags.trailing_zeros() / 8) as usize;
            return (b[at] == b'"').then_some(at);
        }
    }
    let done = b.len() - words.remainder().len();
    for (i, &c) in words.remainder().iter().enumerate() {
        match c {
            b'"' => return Some(done + i),
            b'\\' => return None,
            0x20..=0x7f => {}
            _ => return None,
        }
    }
    None
}

/// How many ASCII digits `b` starts with.
pub(crate) fn leading_digits(b: &[u8]) -> usize {
    let mut words = b.chunks_exact(8);
    for (n, word) in words.by_ref().enumerate() {
        let t = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ (ONES * 0x30);
        // A byte is a digit iff t <= 9 there: adding 0x76 sets its high bit otherwise. A
        // carry out of a byte only comes from one already flagged, so the lowest flag is
        // exact.
        let flags = (t.wrapping_add(ONES * 0x76) | t) & HIGH;
        if flags != 0 {
            return n * 8 + (flags.trailing_zeros() / 8) as usize;
        }
    }
    let done = b.len() - words.remainder().len();
    done + words
        .remainder()
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// How many ASCII digits (0 to 16) `block` starts with.
#[inline]
pub(crate) fn digits_in_block(block: &[u8; 16]) -> usize {
    leading_digits(block)
}
