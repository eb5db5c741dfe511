//! Kinesis sequence numbers and checkpoint positions.
//!
//! Sequence numbers are decimal strings of up to 128 bits (56 digits in practice), too
//! large for `u64` and unsafe in `f64`, and `"9" > "10"` as strings. They are kept as the
//! daemon sent them and compared by numeric value, digit by digit.

use std::cmp::Ordering;
use std::fmt;

/// Compares two decimal sequence numbers by numeric value.
///
/// Leading zeros are not significant. Non-numeric strings (the daemon's sentinels such as
/// `TRIM_HORIZON`) order before every number, and among themselves as strings, so that a
/// real position always wins over a sentinel when taking a maximum.
pub fn compare_sequence_numbers(a: &str, b: &str) -> Ordering {
    match (is_numeric(a), is_numeric(b)) {
        (true, true) => compare_numeric(a, b),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

/// Compares two strings already known to be all digits.
fn compare_numeric(a: &str, b: &str) -> Ordering {
    let (a, b) = (trim_zeros(a.as_bytes()), trim_zeros(b.as_bytes()));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Leading zeros are not significant (byte-wise: the strings are digits).
fn trim_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&c| c != b'0').unwrap_or(b.len());
    &b[first..]
}

/// Whether `s` is a decimal sequence number (one or more ASCII digits, nothing else).
pub fn is_numeric(s: &str) -> bool {
    const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    let b = s.as_bytes();
    let mut chunks = b.chunks_exact(8);
    // Eight bytes at a time: each is a digit iff its high nibble is 3, and stays 3 when 6
    // is added to its low nibble (0x39 + 6 = 0x3F, 0x3A + 6 = 0x40). No carry crosses bytes
    // once the high nibbles are known to be 3.
    let words_ok = chunks.by_ref().all(|c| {
        let x = u64::from_le_bytes(c.try_into().unwrap_or_default());
        x & NIBBLES == THREES && (x + SIXES) & NIBBLES == THREES
    });
    !b.is_empty() && words_ok && chunks.remainder().iter().all(u8::is_ascii_digit)
}

/// The index of the largest of `positions` (the first of equals), comparing as
/// [`compare_positions`] does but checking each sequence number for digits only once. The
/// general form, for any position: the reference the tests hold the run loop's forms to.
#[cfg(test)]
pub(crate) fn index_of_max<'a>(
    positions: impl IntoIterator<Item = (&'a str, u64)>,
) -> Option<usize> {
    let mut best: Option<((&'a str, u64), bool, usize)> = None;
    for (i, p) in positions.into_iter().enumerate() {
        let numeric = is_numeric(p.0);
        if best.is_none_or(|(b, b_numeric, _)| greater(p, numeric, b, b_numeric)) {
            best = Some((p, numeric, i));
        }
    }
    best.map(|(_, _, i)| i)
}

/// [`index_of_max`] for sequence numbers known to be decimal, as every record the parsers
/// let through has (they refuse any other): no digit check per record, which would be a
/// second pass over digits the parse has already looked at.
pub(crate) fn index_of_max_numeric<'a>(
    positions: impl IntoIterator<Item = (&'a str, u64)>,
) -> Option<usize> {
    let mut best: Option<((&'a str, u64), usize)> = None;
    for (i, p) in positions.into_iter().enumerate() {
        debug_assert!(is_numeric(p.0), "{:?} reached the maximum", p.0);
        if best.is_none_or(|(b, _)| greater(p, true, b, true)) {
            best = Some((p, i));
        }
    }
    best.map(|(_, i)| i)
}

/// The largest of a run of positions, offered one at a time (a streamed batch), kept in
/// one buffer that is reused rather than allocated per record.
#[derive(Debug, Default)]
pub(crate) struct RunningMax {
    max: Option<Position>,
}

impl RunningMax {
    /// Offers a position whose sequence number is decimal (see [`index_of_max_numeric`]).
    pub(crate) fn offer(&mut self, seq: &str, sub: u64) {
        debug_assert!(is_numeric(seq), "{seq:?} reached the maximum");
        let Some(max) = &mut self.max else {
            self.max = Some(Position::new(seq, sub));
            return;
        };
        let current = (max.sequence_number.as_str(), max.sub_sequence_number);
        if greater((seq, sub), true, current, true) {
            max.sequence_number.clear();
            max.sequence_number.push_str(seq);
            max.sub_sequence_number = sub;
        }
    }

    pub(crate) fn get(&self) -> Option<&Position> {
        self.max.as_ref()
    }
}

/// Whether `p` is larger than `b`, given whether each is numeric.
fn greater(p: (&str, u64), p_numeric: bool, b: (&str, u64), b_numeric: bool) -> bool {
    let order = if p_numeric && b_numeric {
        compare_numeric(p.0, b.0).then(p.1.cmp(&b.1))
    } else {
        compare_positions(p, b)
    };
    order == Ordering::Greater
}

/// A position in a shard: a sequence number and, for records de-aggregated from a KPL
/// aggregate, the index of the user record within it.
///
/// Positions order numerically on `(sequence_number, sub_sequence_number)`.
#[derive(Clone, Debug)]
pub struct Position {
    /// The decimal sequence number, exactly as the daemon sent it.
    pub sequence_number: String,
    /// The sub-sequence number (0 for records that were not aggregated).
    pub sub_sequence_number: u64,
}

impl Position {
    /// A position from its two parts.
    pub fn new(sequence_number: impl Into<String>, sub_sequence_number: u64) -> Self {
        Self {
            sequence_number: sequence_number.into(),
            sub_sequence_number,
        }
    }

    /// Compares this position with a borrowed `(sequence, sub-sequence)` pair.
    pub fn cmp_parts(&self, sequence_number: &str, sub_sequence_number: u64) -> Ordering {
        compare_positions(
            (&self.sequence_number, self.sub_sequence_number),
            (sequence_number, sub_sequence_number),
        )
    }
}

/// Compares two `(sequence, sub-sequence)` pairs numerically.
pub fn compare_positions(a: (&str, u64), b: (&str, u64)) -> Ordering {
    compare_sequence_numbers(a.0, b.0).then(a.1.cmp(&b.1))
}

impl PartialEq for Position {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Position {}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Position {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_parts(&other.sequence_number, other.sub_sequence_number)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.sequence_number, self.sub_sequence_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_order_not_string_order() {
        assert_eq!(compare_sequence_numbers("9", "10"), Ordering::Less);
        assert_eq!(compare_sequence_numbers("10", "9"), Ordering::Greater);
        assert_eq!(compare_sequence_numbers("007", "7"), Ordering::Equal);
        assert_eq!(compare_sequence_numbers("0", "000"), Ordering::Equal);
    }

    #[test]
    fn beyond_u128() {
        let a = "49590338271490256608559692538361571095921575989136588898";
        let b = "49590338271490256608559692538361571095921575989136588899";
        assert!(a.len() > 39, "longer than any u128");
        assert_eq!(compare_sequence_numbers(a, b), Ordering::Less);
        assert_eq!(compare_sequence_numbers(b, a), Ordering::Greater);
        // Differ only in a digit that f64 cannot represent.
        let c = "49590338271490256608559692538361571095921575989136588898";
        let d = "49590338271490256608559692538361571095921575989136588908";
        assert_eq!(compare_sequence_numbers(c, d), Ordering::Less);
    }

    #[test]
    fn digits_only() {
        for len in 1..40 {
            let digits: String = (0..len)
                .map(|i| char::from(b'0' + (i % 10) as u8))
                .collect();
            assert!(is_numeric(&digits), "{digits}");
            for at in 0..len {
                for bad in ['/', ':', 'a', 'Z', '\u{0}', '\u{ff}', ' ', '?', '@', 'é'] {
                    let mut s: Vec<char> = digits.chars().collect();
                    s[at] = bad;
                    let s: String = s.into_iter().collect();
                    assert!(!is_numeric(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn sentinels_sort_before_numbers() {
        assert_eq!(
            compare_sequence_numbers("TRIM_HORIZON", "1"),
            Ordering::Less
        );
        assert_eq!(compare_sequence_numbers("1", "LATEST"), Ordering::Greater);
        assert!(!is_numeric(""));
        assert!(!is_numeric("12a"));
        assert!(is_numeric("0123"));
    }

    #[test]
    fn positions_order_on_pairs() {
        let p = |s: &str, n| Position::new(s, n);
        assert!(p("9", 5) < p("10", 0));
        assert!(p("10", 1) < p("10", 2));
        assert!(p("10", 10) > p("10", 9));
        assert_eq!(p("010", 3), p("10", 3));
        assert_eq!(
            [p("10", 2), p("9", 100), p("10", 0)].iter().max(),
            Some(&p("10", 2))
        );
        assert_eq!(p("10", 2).to_string(), "10:2");
        assert_eq!(
            index_of_max([
                ("9", 7),
                ("10", 0),
                ("TRIM_HORIZON", 9),
                ("10", 1),
                ("010", 0)
            ]),
            Some(3)
        );
        assert_eq!(index_of_max([("LATEST", 0), ("AT_TIMESTAMP", 0)]), Some(0));
        assert_eq!(
            index_of_max([("9", 7), ("10", 0), ("10", 1), ("010", 1), ("2", 5)]),
            Some(2)
        );
        assert_eq!(index_of_max(std::iter::empty()), None);
    }

    #[test]
    fn running_max_agrees_with_index_of_max() {
        let seqs = [
            "0",
            "10",
            "9",
            "010",
            "10",
            "49590338271490256608559692538361571095921575989136588898",
            "49590338271490256608559692538361571095921575989136588897",
            "000",
            "49590338271490256608559692538361571095921575989136588898",
        ];
        let subs = [0, 3, 9, 4, 2, 1, 7, 5, 0];
        for n in 1..=seqs.len() {
            // Every prefix, forwards and backwards.
            for order in [false, true] {
                let mut positions: Vec<(&str, u64)> = seqs[..n].iter().copied().zip(subs).collect();
                if order {
                    positions.reverse();
                }
                let mut running = RunningMax::default();
                for &(seq, sub) in &positions {
                    running.offer(seq, sub);
                }
                let at = index_of_max(positions.iter().copied()).unwrap();
                assert_eq!(
                    index_of_max_numeric(positions.iter().copied()),
                    Some(at),
                    "{positions:?}"
                );
                let expected = positions[at];
                let got = running.get().unwrap();
                assert_eq!(
                    compare_positions((&got.sequence_number, got.sub_sequence_number), expected),
                    Ordering::Equal,
                    "{positions:?}: {got:?} vs {expected:?}"
                );
            }
        }
    }
}
