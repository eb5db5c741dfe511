//! A fast path for the one message that is hot: `processRecords` exactly as the daemon's
//! Jackson writes it (fixed key order, no whitespace, no escapes in the strings we borrow).
//!
//! Anything else — another key order, whitespace, an escape, a number out of range — makes
//! it give up, and the general serde parser takes the line (or, when streaming, the
//! record). So this only ever decides how fast a line is read, never what it means; the
//! tests check both agree.

use std::borrow::Cow;

use crate::message::{Message, WireRecord};

/// Why the parser stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The bytes ran out before the value did: with more of the line it may parse.
    More,
    /// Not this shape: leave it to the general parser.
    Other,
}

type Step<T> = Result<T, Stop>;

/// The start of every Jackson-shaped `processRecords` line, up to its first record.
pub(crate) const HEADER: &[u8] = br#"{"action":"processRecords","records":["#;

/// Parses a Jackson-shaped `processRecords` line, or returns `None`.
pub(crate) fn process_records(line: &[u8]) -> Option<Message<'_>> {
    let mut p = Cursor { bytes: line, at: 0 };
    if !line.starts_with(HEADER) {
        return None;
    }
    p.at = HEADER.len();
    let mut records = Vec::new();
    if !p.eat(b']').ok()? {
        loop {
            records.push(p.record().ok()?);
            if p.eat(b',').ok()? {
                continue;
            }
            p.literal(b"]").ok()?;
            break;
        }
    }
    p.literal(br#","millisBehindLatest":"#).ok()?;
    let millis_behind_latest = p.optional_number().ok()?;
    p.literal(b"}").ok()?;
    match &p.bytes[p.at..] {
        b"" | b"\n" | b"\r\n" => Some(Message::ProcessRecords {
            records,
            millis_behind_latest: match millis_behind_latest {
                None => None,
                Some(n) => Some(u64::try_from(n).ok()?),
            },
        }),
        _ => None,
    }
}

/// Parses one Jackson-shaped record object at the start of `bytes`, returning it and the
/// number of bytes it took. [`Stop::More`] means `bytes` ends inside the record.
///
/// Optimistic about `data`: it is taken up to the first quote, without looking for
/// escapes or newlines, so the caller must parse the record exactly (serde) when its data
/// does not decode. `data_scanned` carries, across calls for the same record, how far the
/// data is known to hold no quote, so a large record growing in the window is searched once.
///
/// The flag says whether the sequence number is all digits, which the parse learns for
/// free and the running maximum would otherwise check again.
pub(crate) fn record_at<'a>(
    bytes: &'a [u8],
    data_scanned: &mut usize,
) -> Result<(WireRecord<'a>, usize, bool), Stop> {
    let mut p = Cursor { bytes, at: 0 };
    let (record, digits) = p.record_with_data(|p| p.data_to_quote(data_scanned))?;
    Ok((record, p.at, digits))
}

/// Parses the rest of a Jackson-shaped record from the closing quote of its data (which
/// `bytes` starts with), for data decoded piece by piece as it arrived. The record has no
/// `data`; the number of bytes taken and the all-digits flag are as for [`record_at`].
pub(crate) fn fields_at(bytes: &[u8]) -> Result<(WireRecord<'_>, usize, bool), Stop> {
    let mut p = Cursor { bytes, at: 0 };
    p.literal(b"\"")?;
    let (record, digits) = p.fields(None)?;
    Ok((record, p.at, digits))
}

/// For a short string (a partition key, a sequence number) whose opening quote is
/// consumed: the length of its printable-ASCII content if its closing quote comes before
/// any other byte that needs a look (a backslash, a control character, a non-ASCII byte,
/// the end of `b`). One pass, eight bytes at a time; `None` sends the caller to the exact
/// checks, so this only decides speed.
fn printable_until_quote(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
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

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A fixed key or punctuation. Its length is a constant, so the comparison compiles
    /// to a few loads instead of a `memcmp` call: six of these per record.
    #[inline(always)]
    fn literal<const N: usize>(&mut self, lit: &[u8; N]) -> Step<()> {
        let rest = &self.bytes[self.at..];
        match rest.first_chunk::<N>() {
            Some(head) if head == lit => {
                self.at += N;
                Ok(())
            }
            Some(_) => Err(Stop::Other),
            None if lit.starts_with(rest) => Err(Stop::More),
            None => Err(Stop::Other),
        }
    }

    fn eat(&mut self, b: u8) -> Step<bool> {
        let next = *self.bytes.get(self.at).ok_or(Stop::More)?;
        let hit = next == b;
        self.at += usize::from(hit);
        Ok(hit)
    }

    fn record(&mut self) -> Step<WireRecord<'a>> {
        // Base64 is checked by its decoder: no UTF-8 or control-character pass over what is
        // most of the line.
        self.record_with_data(Self::raw_string)
            .map(|(record, _)| record)
    }

    /// A record, with `data` read by `data` (its opening quote consumed).
    #[inline(always)]
    fn record_with_data(
        &mut self,
        data: impl FnOnce(&mut Self) -> Step<&'a [u8]>,
    ) -> Step<(WireRecord<'a>, bool)> {
        self.literal(br#"{"data":""#)?;
        let data = data(self)?;
        self.fields(Some(data))
    }

    /// The rest of a record after its data (whose closing quote is consumed).
    #[inline(always)]
    fn fields(&mut self, data: Option<&'a [u8]>) -> Step<(WireRecord<'a>, bool)> {
        self.literal(br#","partitionKey":""#)?;
        let partition_key = self.text_string()?;
        self.literal(br#","sequenceNumber":""#)?;
        let (sequence_number, digits) = self.sequence_string()?;
        self.literal(br#","approximateArrivalTimestamp":"#)?;
        let approximate_arrival_timestamp = self.optional_number()?;
        self.literal(br#","subSequenceNumber":"#)?;
        let sub_sequence_number =
            u64::try_from(self.optional_number()?.ok_or(Stop::Other)?).map_err(|_| Stop::Other)?;
        self.literal(br#","action":"record"}"#)?;
        let record = WireRecord {
            data: data.map(Cow::Borrowed),
            partition_key: Some(Cow::Borrowed(partition_key)),
            sequence_number: Some(Cow::Borrowed(sequence_number)),
            sub_sequence_number: Some(sub_sequence_number),
            approximate_arrival_timestamp,
        };
        Ok((record, digits))
    }

    /// A sequence number, and whether it is all digits (as the daemon's always are).
    fn sequence_string(&mut self) -> Step<(&'a str, bool)> {
        let rest = &self.bytes[self.at..];
        let n = leading_digits(rest);
        if n > 0 && rest.get(n) == Some(&b'"') {
            self.at += n + 1;
            // SAFETY: digits are ASCII.
            return Ok((unsafe { std::str::from_utf8_unchecked(&rest[..n]) }, true));
        }
        Ok((self.text_string()?, false))
    }

    /// The bytes up to the next quote, searching from `*scanned` bytes on (see
    /// [`record_at`]): one needle instead of three over what is most of the line.
    fn data_to_quote(&mut self, scanned: &mut usize) -> Step<&'a [u8]> {
        let rest = &self.bytes[self.at..];
        let from = (*scanned).min(rest.len());
        let Some(i) = memchr::memchr(b'"', &rest[from..]) else {
            *scanned = rest.len();
            return Err(Stop::More);
        };
        let end = from + i;
        self.at += end + 1;
        Ok(&rest[..end])
    }

    /// The bytes of a string whose opening quote is consumed; [`Stop::Other`] if it has an
    /// escape or a raw newline (a streamed line must never run on into the next message).
    fn raw_string(&mut self) -> Step<&'a [u8]> {
        let rest = &self.bytes[self.at..];
        let end = memchr::memchr3(b'"', b'\\', b'\n', rest).ok_or(Stop::More)?;
        if rest[end] != b'"' {
            return Err(Stop::Other);
        }
        self.at += end + 1;
        Ok(&rest[..end])
    }

    /// A string as text; [`Stop::Other`] if it has an escape, a raw control character
    /// (which JSON forbids: let serde report it) or bytes that are not UTF-8.
    fn text_string(&mut self) -> Step<&'a str> {
        let rest = &self.bytes[self.at..];
        if let Some(end) = printable_until_quote(rest) {
            self.at += end + 1;
            // SAFETY: every byte before the quote is printable ASCII, so they are UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(&rest[..end]) });
        }
        // Not all printable ASCII (that was taken above): a control character, or UTF-8.
        let raw = self.raw_string()?;
        if raw.iter().any(|&b| b < 0x20) {
            return Err(Stop::Other);
        }
        simdutf8::basic::from_utf8(raw).map_err(|_| Stop::Other)
    }

    /// `null`, or an integer that fits an `i64`.
    fn optional_number(&mut self) -> Step<Option<i64>> {
        let rest = &self.bytes[self.at..];
        if rest.first() == Some(&b'n') {
            return self.literal(b"null").map(|()| None);
        }
        let negative = self.eat(b'-')?;
        let rest = &self.bytes[self.at..];
        let digits = leading_digits(rest);
        // A number is never the last thing in a line: running out means "read more".
        if digits == rest.len() {
            return Err(Stop::More);
        }
        // No leading zeros (not JSON), no more digits than an i64 surely holds.
        if digits == 0 || digits > 18 || (digits > 1 && rest[0] == b'0') {
            return Err(Stop::Other);
        }
        let n = parse_digits(&rest[..digits]) as i64;
        self.at += digits;
        Ok(Some(if negative { -n } else { n }))
    }
}

/// How many ASCII digits `b` starts with; eight bytes at a time.
fn leading_digits(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
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

/// The value of 1 to 18 ASCII digits.
fn parse_digits(d: &[u8]) -> u64 {
    const POW10: [u64; 9] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
    ];
    match d.len() {
        8 => parse_eight(d.try_into().unwrap_or_default()),
        // Two overlapping groups of eight. The second's leading digits, which the first
        // already has, are turned to zeros (no division: a `%` by a variable costs more
        // than the rest of the parse).
        9..=16 => {
            let tail = d.len() - 8;
            let high = parse_eight(d[..8].try_into().unwrap_or_default());
            let word = u64::from_le_bytes(d[tail..].try_into().unwrap_or_default());
            let seen = (1u64 << (8 * (8 - tail))) - 1;
            let low = (word & !seen) | (0x3030_3030_3030_3030 & seen);
            high * POW10[tail] + parse_eight(low.to_le_bytes())
        }
        _ => d
            .iter()
            .fold(0u64, |n, &c| n * 10 + u64::from(c.wrapping_sub(b'0'))),
    }
}

/// The value of eight ASCII digits, most significant first, in a few multiplies: pairs,
/// then groups of four, then all eight.
fn parse_eight(d: [u8; 8]) -> u64 {
    let v = u64::from_le_bytes(d).wrapping_sub(0x3030_3030_3030_3030);
    let v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    (v * 10_000 + (v >> 32)) & 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{decode_records, parse_message};

    /// The general parser's view of a line, for comparison with the fast path's.
    fn via_serde(line: &str) -> Option<(Vec<String>, Option<u64>)> {
        // A trailing space defeats the fast path (it accepts no whitespace).
        let spaced = format!("{} ", line.trim_end());
        summary(parse_message(spaced.as_bytes()).ok()?)
    }

    fn summary(m: Message<'_>) -> Option<(Vec<String>, Option<u64>)> {
        let Message::ProcessRecords {
            records,
            millis_behind_latest,
        } = m
        else {
            return None;
        };
        let mut arena = Vec::new();
        let recs = decode_records(&records, &mut arena).ok()?;
        Some((
            recs.iter()
                .map(|r| {
                    format!(
                        "{:?}|{}|{}|{}|{:?}",
                        r.data,
                        r.partition_key,
                        r.sequence_number,
                        r.sub_sequence_number,
                        r.approximate_arrival_timestamp
                    )
                })
                .collect(),
            millis_behind_latest,
        ))
    }

    fn record(data: &str, pk: &str, seq: &str, ts: &str, sub: &str) -> String {
        format!(
            r#"{{"data":"{data}","partitionKey":"{pk}","sequenceNumber":"{seq}","approximateArrivalTimestamp":{ts},"subSequenceNumber":{sub},"action":"record"}}"#
        )
    }

    fn line(records: &[String], millis: &str) -> String {
        format!(
            r#"{{"action":"processRecords","records":[{}],"millisBehindLatest":{millis}}}"#,
            records.join(",")
        )
    }

    #[test]
    fn takes_jackson_shaped_lines_and_agrees_with_serde() {
        let cases = [
            line(&[], "null"),
            line(
                &[record(
                    "aGVsbG8=",
                    "pk-1",
                    "49590338271490256608559692538361571095921575989136588898",
                    "1700000000123",
                    "0",
                )],
                "0",
            ),
            line(
                &[
                    record("", "", "1", "null", "7"),
                    record("AP8KDQ==", "é✓😀", "2", "-5", "18446744073"),
                ],
                "123456789",
            ),
        ];
        for case in &cases {
            for ending in ["", "\n", "\r\n"] {
                let text = format!("{case}{ending}");
                let fast = process_records(text.as_bytes())
                    .unwrap_or_else(|| panic!("fast path refused {text}"));
                assert_eq!(summary(fast), via_serde(case), "{text}");
            }
        }
    }

    #[test]
    fn digits_are_counted_and_parsed_exactly() {
        let mut n: u64 = 0;
        for len in 1..=18 {
            n = n * 10 + (len as u64 * 7) % 10;
            let text = format!("{n:0len$}");
            for end in ["", ",", "\"", "}x", "9"] {
                let with = format!("{text}{end}");
                let expected = len + usize::from(end == "9");
                assert_eq!(leading_digits(with.as_bytes()), expected, "{with}");
            }
            assert_eq!(parse_digits(text.as_bytes()), n, "{text}");
        }
        for x in [
            0u64,
            9,
            10,
            99_999_999,
            100_000_000,
            1_700_000_000_123,
            999_999_999_999_999_999,
        ] {
            assert_eq!(parse_digits(x.to_string().as_bytes()), x);
        }
        for bad in [b'/', b':', b' ', 0x80, 0xb0, 0xff, 0x00] {
            for at in 0..20 {
                let mut v = vec![b'5'; 20];
                v[at] = bad;
                assert_eq!(leading_digits(&v), at, "{bad:#x} at {at}");
            }
        }
    }

    #[test]
    fn printable_until_quote_finds_the_quote_or_gives_up() {
        for len in 0..40 {
            let text = "k".repeat(len);
            let closed = format!("{text}\",\"more\"");
            assert_eq!(
                printable_until_quote(closed.as_bytes()),
                Some(len),
                "{closed}"
            );
            assert_eq!(
                printable_until_quote(text.as_bytes()),
                None,
                "no quote: {text}"
            );
            for at in 0..len {
                for bad in [b'\\', b'\n', 0x01, 0x1f, 0x80, 0xc3, 0xff] {
                    let mut v = closed.clone().into_bytes();
                    v[at] = bad;
                    assert_eq!(printable_until_quote(&v), None, "{len} {at} {bad:#x}");
                }
                // A quote inside: the string ends there.
                let mut v = closed.clone().into_bytes();
                v[at] = b'"';
                assert_eq!(printable_until_quote(&v), Some(at));
            }
        }
        assert_eq!(printable_until_quote(b" ~\x7f!\""), Some(4));
    }

    #[test]
    fn leaves_everything_else_to_serde() {
        let r = record("YQ==", "k", "1", "1", "0");
        let refused = [
            // Another key order, whitespace, escapes, odd numbers, extra or missing keys.
            r#"{"records":[],"action":"processRecords","millisBehindLatest":null}"#.to_string(),
            r#"{"action":"processRecords", "records":[],"millisBehindLatest":null}"#.to_string(),
            line(&[record("YQ==", "k\\\"", "1", "1", "0")], "0"),
            line(&[record("YQ==", "k", "1", "01", "0")], "0"),
            line(&[record("YQ==", "k", "1", "1.5", "0")], "0"),
            line(&[record("YQ==", "k", "1", "1e3", "0")], "0"),
            line(&[record("YQ==", "k", "1", "1", "null")], "0"),
            line(&[record("YQ==", "k", "1", "1", "-1")], "0"),
            line(
                &[record("YQ==", "k", "1", "99999999999999999999", "0")],
                "0",
            ),
            line(std::slice::from_ref(&r), "-1"),
            line(std::slice::from_ref(&r), "0")
                .replace(r#","action":"record"}"#, r#","action":"record","extra":1}"#),
            line(std::slice::from_ref(&r), "0").replace(r#""data":"YQ==","#, ""),
            format!("{} ", line(std::slice::from_ref(&r), "0")),
            format!("{}x", line(std::slice::from_ref(&r), "0")),
            line(&[record("YQ==", "a\u{1}b", "1", "1", "0")], "0"),
        ];
        for case in &refused {
            assert!(
                process_records(case.as_bytes()).is_none(),
                "fast path took {case}"
            );
        }
        // Invalid UTF-8 anywhere: refused (serde's path repairs it).
        let mut bad = line(std::slice::from_ref(&r), "0").into_bytes();
        bad.insert(bad.len() - 3, 0xff);
        assert!(process_records(&bad).is_none());
    }
}
