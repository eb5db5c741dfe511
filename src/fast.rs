//! A fast path for the one message that is hot: `processRecords` exactly as the daemon's
//! Jackson writes it (fixed key order, no whitespace, no escapes in the strings we borrow).
//!
//! Anything else — another key order, whitespace, an escape, a number out of range, a
//! sequence number that is not digits — makes it give up, and the general serde parser
//! takes the line (or, when streaming, the record). Numbers are read by the rule serde's
//! path uses too ([`crate::number::integer`]). So this only ever decides how fast a line is
//! read, never what it means; the tests check both agree (`number::tests::both_parsers`).

use std::borrow::Cow;

use crate::message::{Message, WireRecord};
use crate::simd::fields::{digits_in_block, leading_digits, printable_until_quote};

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
    let mut p = Cursor {
        rest: line.strip_prefix(HEADER)?,
    };
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
    match p.rest {
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
/// A record it returns has a sequence number of digits only (see
/// [`Cursor::sequence_string`]).
pub(crate) fn record_at<'a>(
    bytes: &'a [u8],
    data_scanned: &mut usize,
) -> Result<(WireRecord<'a>, usize), Stop> {
    let mut p = Cursor { rest: bytes };
    let record = p.record_with_data(|p| p.data_to_quote(data_scanned))?;
    Ok((record, bytes.len() - p.rest.len()))
}

/// Parses the rest of a Jackson-shaped record from the closing quote of its data (which
/// `bytes` starts with), for data decoded piece by piece as it arrived. The record has no
/// `data`; the number of bytes taken and the sequence number are as for [`record_at`].
pub(crate) fn fields_at(bytes: &[u8]) -> Result<(WireRecord<'_>, usize), Stop> {
    let mut p = Cursor { rest: bytes };
    p.literal(b"\"")?;
    let record = p.fields(None)?;
    Ok((record, bytes.len() - p.rest.len()))
}

/// What is left of the input. A slice rather than an index into the whole, so that a
/// step taking a prefix whose length it has just checked needs no other bounds check.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A fixed key or punctuation. Its length is a constant, so the comparison compiles
    /// to a few loads instead of a `memcmp` call: six of these per record.
    #[inline(always)]
    fn literal<const N: usize>(&mut self, lit: &[u8; N]) -> Step<()> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, tail)) if head == lit => {
                self.rest = tail;
                Ok(())
            }
            Some(_) => Err(Stop::Other),
            None if lit.starts_with(self.rest) => Err(Stop::More),
            None => Err(Stop::Other),
        }
    }

    fn eat(&mut self, b: u8) -> Step<bool> {
        let (&next, tail) = self.rest.split_first().ok_or(Stop::More)?;
        let hit = next == b;
        if hit {
            self.rest = tail;
        }
        Ok(hit)
    }

    fn record(&mut self) -> Step<WireRecord<'a>> {
        // Base64 is checked by its decoder: no UTF-8 or control-character pass over what is
        // most of the line.
        self.record_with_data(Self::raw_string)
    }

    /// A record, with `data` read by `data` (its opening quote consumed).
    #[inline(always)]
    fn record_with_data(
        &mut self,
        data: impl FnOnce(&mut Self) -> Step<&'a [u8]>,
    ) -> Step<WireRecord<'a>> {
        self.literal(br#"{"data":""#)?;
        let data = data(self)?;
        self.fields(Some(data))
    }

    /// The rest of a record after its data (whose closing quote is consumed).
    #[inline(always)]
    fn fields(&mut self, data: Option<&'a [u8]>) -> Step<WireRecord<'a>> {
        self.literal(br#","partitionKey":""#)?;
        let partition_key = self.text_string()?;
        self.literal(br#","sequenceNumber":""#)?;
        let sequence_number = self.sequence_string()?;
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
        Ok(record)
    }

    /// A sequence number: one or more digits, as the daemon's always are. Anything else
    /// (`TRIM_HORIZON`, `-5`, an empty string, an escape) is [`Stop::Other`]: serde then
    /// reads the record, and refuses it unless an escape spelled digits. This is the only
    /// check of the digits on this path, so a non-decimal sequence number costs nothing
    /// here and can never become a checkpoint position.
    #[inline(always)]
    fn sequence_string(&mut self) -> Step<&'a str> {
        let rest = self.rest;
        let n = leading_digits(rest);
        match rest.split_at(n) {
            (digits @ [_, ..], [b'"', tail @ ..]) => {
                self.rest = tail;
                // SAFETY: digits are ASCII.
                Ok(unsafe { std::str::from_utf8_unchecked(digits) })
            }
            (_, []) => Err(Stop::More),
            _ => Err(Stop::Other),
        }
    }

    /// The bytes up to the next quote, searching from `*scanned` bytes on (see
    /// [`record_at`]): one needle instead of three over what is most of the line.
    fn data_to_quote(&mut self, scanned: &mut usize) -> Step<&'a [u8]> {
        let rest = self.rest;
        let from = (*scanned).min(rest.len());
        let Some(i) = memchr::memchr(b'"', &rest[from..]) else {
            *scanned = rest.len();
            return Err(Stop::More);
        };
        let end = from + i;
        self.rest = &rest[end + 1..];
        Ok(&rest[..end])
    }

    /// The bytes of a string whose opening quote is consumed; [`Stop::Other`] if it has an
    /// escape or a raw newline (a streamed line must never run on into the next message).
    fn raw_string(&mut self) -> Step<&'a [u8]> {
        let rest = self.rest;
        let end = memchr::memchr3(b'"', b'\\', b'\n', rest).ok_or(Stop::More)?;
        if rest[end] != b'"' {
            return Err(Stop::Other);
        }
        self.rest = &rest[end + 1..];
        Ok(&rest[..end])
    }

    /// A string as text; [`Stop::Other`] if it has an escape, a raw control character
    /// (which JSON forbids: let serde report it) or bytes that are not UTF-8.
    #[inline(always)]
    fn text_string(&mut self) -> Step<&'a str> {
        let rest = self.rest;
        if let Some(end) = printable_until_quote(rest) {
            self.rest = &rest[end + 1..];
            // SAFETY: every byte before the quote is printable ASCII, so they are UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(&rest[..end]) });
        }
        let (text, rest) = Self::text_string_exact(rest)?;
        self.rest = rest;
        Ok(text)
    }

    /// [`Self::text_string`] for what is not all printable ASCII (that was taken
    /// already): a control character, or UTF-8. It takes and gives back the rest of the
    /// input rather than `&mut self`, so that the cursor of the inlined hot path can live
    /// in registers instead of being stored at every step for this call.
    #[cold]
    #[inline(never)]
    fn text_string_exact(rest: &'a [u8]) -> Step<(&'a str, &'a [u8])> {
        let mut p = Cursor { rest };
        let raw = p.raw_string()?;
        if raw.iter().any(|&b| b < 0x20) {
            return Err(Stop::Other);
        }
        let text = simdutf8::basic::from_utf8(raw).map_err(|_| Stop::Other)?;
        Ok((text, p.rest))
    }

    /// `null`, or an integer that fits an `i64`, as [`crate::number::integer`] reads one.
    ///
    /// Inlined for its common case, an unsigned number of up to 15 digits with the byte
    /// after it in one 16-byte block (a timestamp, a sub-sequence number): no loop, no
    /// call. Everything else goes to [`Self::number_exact`], which decides alone what a
    /// number is; this only takes what it would take, with the same value.
    #[inline(always)]
    fn optional_number(&mut self) -> Step<Option<i64>> {
        if let Some(block) = self.rest.first_chunk::<16>() {
            let n = digits_in_block(block);
            if (1..16).contains(&n) && (n == 1 || block[0] != b'0') {
                self.rest = &self.rest[n..];
                return Ok(Some(parse_prefix(block, n) as i64));
            }
        }
        let (number, rest) = Self::number_exact(self.rest)?;
        self.rest = rest;
        Ok(number)
    }

    /// [`Self::optional_number`] in full. Like [`Self::text_string_exact`], it takes and
    /// gives back the rest of the input, not `&mut self`.
    #[cold]
    #[inline(never)]
    fn number_exact(rest: &'a [u8]) -> Step<(Option<i64>, &'a [u8])> {
        let mut p = Cursor { rest };
        if p.rest.first() == Some(&b'n') {
            return p.literal(b"null").map(|()| (None, p.rest));
        }
        // The number as far as it is a minus and digits. A fraction or an exponent after
        // them fails the literal that must follow, which leaves the line to serde, and
        // serde hands the whole number to the same rule.
        let sign = usize::from(rest.first() == Some(&b'-'));
        let end = sign + leading_digits(&rest[sign..]);
        // A number is never the last thing in a line: running out means "read more".
        if end == rest.len() {
            return Err(Stop::More);
        }
        // What the rule refuses, serde refuses too, with the reason.
        let n = crate::number::integer::<i64>(&rest[..end]).map_err(|_| Stop::Other)?;
        Ok((Some(n), &rest[end..]))
    }
}

/// The value of the first `n` (1 to 16) bytes of `block`, which are ASCII digits.
///
/// Branch-light: the digits are shifted to the top of a word (or two), so the bytes after
/// them fall out and zeros come in ahead of them, and the word is parsed as eight digits.
/// A borrow in the subtraction only moves up from a byte below `'0'`, and such bytes come
/// after the digits, so it falls out with them.
#[inline(always)]
fn parse_prefix(block: &[u8; 16], n: usize) -> u64 {
    debug_assert!((1..=16).contains(&n));
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let (high, low) = block.split_at(8);
    let high = u64::from_le_bytes(high.try_into().unwrap_or_default()).wrapping_sub(ZEROS);
    match n {
        // One digit, as the sub-sequence number of every record not from an aggregate
        // has: no multiplies.
        1 => high & 0xFF,
        2..=8 => eight(high << (8 * (8 - n))),
        _ => {
            let low = u64::from_le_bytes(low.try_into().unwrap_or_default()).wrapping_sub(ZEROS);
            eight(high) * POW10[n - 8] + eight(low << (8 * (16 - n)))
        }
    }
}

/// Powers of ten up to eight digits.
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

/// The value of eight decimal digit values (0 to 9), one a byte, the most significant in
/// the lowest byte, in a few multiplies: pairs, then groups of four, then all eight.
#[inline(always)]
fn eight(v: u64) -> u64 {
    // Each step is `v * k + (v >> s)` as one multiply (by `k << s | 1`) and a shift: the
    // product's bits lost above 64 only reach bytes the mask (or the final shift) drops.
    let v = (v.wrapping_mul(10 << 8 | 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    v.wrapping_mul(10_000 << 32 | 1) >> 32
}

/// What the tests of both parsers (here and in [`crate::number`]) compare: a batch as
/// its records' fields, decoded.
#[cfg(test)]
pub(crate) mod test_records {
    use crate::message::{decode_records, WireRecord};
    use crate::record::Record;

    /// A batch: each record's fields on one line, and `millisBehindLatest`.
    pub(crate) type Seen = (Vec<String>, Option<u64>);

    /// One record's fields, on one line.
    pub(crate) fn fields(r: &Record<'_>) -> String {
        format!(
            "{:?}|{}|{}|{}|{:?}",
            r.data,
            r.partition_key,
            r.sequence_number,
            r.sub_sequence_number,
            r.approximate_arrival_timestamp
        )
    }

    /// A batch's records decoded, as [`Seen`]; the decoding error as text.
    pub(crate) fn seen(records: &[WireRecord<'_>], millis: Option<u64>) -> Result<Seen, String> {
        let mut arena = Vec::new();
        let records = decode_records(records, &mut arena).map_err(|e| e.to_string())?;
        Ok((records.iter().map(fields).collect(), millis))
    }
}

#[cfg(test)]
mod tests {
    use super::test_records::{seen, Seen};
    use super::*;
    use crate::message::parse_message;

    /// The general parser's view of a line, for comparison with the fast path's.
    fn via_serde(line: &str) -> Option<Seen> {
        // A trailing space defeats the fast path (it accepts no whitespace).
        let spaced = format!("{} ", line.trim_end());
        summary(parse_message(spaced.as_bytes()).ok()?)
    }

    fn summary(m: Message<'_>) -> Option<Seen> {
        let Message::ProcessRecords {
            records,
            millis_behind_latest,
        } = m
        else {
            return None;
        };
        seen(&records, millis_behind_latest).ok()
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

    /// A small deterministic generator (xorshift), so the randomised tests need no crate
    /// and fail the same way every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// `optional_number` on `bytes`: its result and how many bytes it took.
    fn number(bytes: &[u8]) -> (Step<Option<i64>>, usize) {
        let mut p = Cursor { rest: bytes };
        let got = p.optional_number();
        (got, bytes.len() - p.rest.len())
    }

    /// What `optional_number` means, written plainly: `null`, or an optional minus and
    /// digits without leading zeros whose value fits an `i64`, which must not reach the end
    /// of `bytes`.
    fn number_reference(bytes: &[u8]) -> (Step<Option<i64>>, usize) {
        if bytes.first() == Some(&b'n') {
            return match bytes.get(..4) {
                Some(b"null") => (Ok(None), 4),
                None if b"null".starts_with(bytes) => (Err(Stop::More), 0),
                _ => (Err(Stop::Other), 0),
            };
        }
        let sign = usize::from(bytes.first() == Some(&b'-'));
        let digits = bytes[sign..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if sign + digits == bytes.len() {
            return (Err(Stop::More), 0);
        }
        if digits == 0 || (digits > 1 && bytes[sign] == b'0') {
            return (Err(Stop::Other), 0);
        }
        // `str::parse` reads "-0" as 0, and says whether the value fits an i64.
        let text = std::str::from_utf8(&bytes[..sign + digits]).unwrap();
        match text.parse() {
            Ok(n) => (Ok(Some(n)), sign + digits),
            Err(_) => (Err(Stop::Other), 0),
        }
    }

    /// Checks `optional_number` against the reference and against the exact path alone
    /// (what it did before it had a fast path), on `bytes` and on every cut of it.
    fn check_number(bytes: &[u8]) {
        for end in 0..=bytes.len() {
            let b = &bytes[..end];
            let got = number(b);
            let want = number_reference(b);
            // Where it fails, how far it got does not matter.
            let same = match (got, want) {
                ((Ok(g), gn), (Ok(w), wn)) => g == w && gn == wn,
                ((g, _), (w, _)) => g == w,
            };
            assert!(same, "{:?}: got {got:?}, want {want:?}", b.escape_ascii());
            let exact = Cursor::number_exact(b).map(|(n, rest)| (n, b.len() - rest.len()));
            assert_eq!(
                got.0.map(|n| (n, got.1)),
                exact,
                "fast and exact paths differ on {:?}",
                b.escape_ascii()
            );
        }
    }

    #[test]
    fn numbers_of_every_length_before_every_kind_of_byte() {
        // Bytes after a number: JSON that may follow it, bytes just below and above the
        // digits, high bytes (negative as signed), and the ones that make it not a number.
        let after: &[u8] = &[
            b',', b'}', b']', b'"', b' ', b'\n', b'.', b'e', b'E', b'/', b':', b'-', b'+', b'n',
            b'a', 0x00, 0x1f, 0x7f, 0x80, 0xb0, 0xb9, 0xff,
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for len in 1..=20 {
            // All nines, a one and zeros, a leading zero, and random digits.
            let mut shapes = vec![
                "9".repeat(len),
                format!("1{}", "0".repeat(len - 1)),
                format!("0{}", "5".repeat(len - 1)),
            ];
            for _ in 0..8 {
                let mut d: String = (0..len)
                    .map(|_| char::from(b'0' + rng.below(10) as u8))
                    .collect();
                if len > 1 && d.starts_with('0') {
                    d.replace_range(..1, "3");
                }
                shapes.push(d);
            }
            for digits in &shapes {
                for sign in ["", "-"] {
                    for &next in after {
                        // A short tail leaves the number to the exact path; a long one lets
                        // the fast path take it.
                        for tail in [&b""[..], b",\"subSequenceNumber\":0"] {
                            let mut bytes = format!("{sign}{digits}").into_bytes();
                            bytes.push(next);
                            bytes.extend_from_slice(tail);
                            check_number(&bytes);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn numbers_at_the_edges_are_exact() {
        let cases = [
            "0",
            "00",
            "01",
            "-0",
            "-01",
            "7",
            "10",
            "99999999",
            "100000000",
            "1700000000000",
            "999999999999999",
            "1000000000000000",
            "9999999999999999",
            "99999999999999999",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "null",
            "nul",
            "nulL",
            "-null",
            "--1",
            "-",
            "",
        ];
        for case in cases {
            for tail in [
                "",
                ",",
                "}",
                ",\"subSequenceNumber\":0,\"action\":\"record\"}",
            ] {
                check_number(format!("{case}{tail}").as_bytes());
            }
        }
        let mut p = Cursor {
            rest: b"1700000000123,\"subSequenceNumber\":0",
        };
        assert_eq!(p.optional_number(), Ok(Some(1_700_000_000_123)));
        assert_eq!(p.rest, b",\"subSequenceNumber\":0");
    }

    #[test]
    fn random_bytes_parse_as_numbers_exactly() {
        let alphabet = b"0123456789000-n,\"}./:\x80\xff";
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let len = rng.below(40);
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            check_number(&bytes);
        }
    }

    #[test]
    fn prefixes_of_a_block_parse_exactly() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for n in 1..=16 {
            for round in 0..200 {
                let mut block = [0u8; 16];
                for (i, b) in block.iter_mut().enumerate() {
                    *b = match (round, i < n) {
                        (0, true) => b'9',
                        (1, true) => b'0',
                        (_, true) => b'0' + rng.below(10) as u8,
                        // Whatever follows, including bytes below '0' that borrow.
                        (_, false) => rng.below(256) as u8,
                    };
                }
                let text = std::str::from_utf8(&block[..n]).unwrap();
                assert_eq!(
                    parse_prefix(&block, n),
                    text.parse::<u64>().unwrap(),
                    "{:?}",
                    block.escape_ascii()
                );
            }
        }
    }

    /// `sequence_string` on `bytes`: the text and how many bytes it took.
    fn sequence(bytes: &[u8]) -> Step<(String, usize)> {
        let mut p = Cursor { rest: bytes };
        let s = p.sequence_string()?;
        Ok((s.to_string(), bytes.len() - p.rest.len()))
    }

    /// What `sequence_string` means, written plainly: one or more digits and the closing
    /// quote; more bytes needed while there are only digits; anything else is not for it.
    fn sequence_reference(bytes: &[u8]) -> Step<(String, usize)> {
        let n = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
        match bytes.get(n) {
            None => Err(Stop::More),
            Some(b'"') if n > 0 => Ok((String::from_utf8(bytes[..n].to_vec()).unwrap(), n + 1)),
            Some(_) => Err(Stop::Other),
        }
    }

    #[test]
    fn sequence_numbers_of_every_length_with_a_bad_byte_anywhere() {
        let after = b",\"approximateArrivalTimestamp\":1700000000000";
        let bad: &[u8] = &[
            b'/', b':', b'a', b' ', b'-', b'"', b'\\', b'\n', 0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xff,
        ];
        let mut rng = Rng(0x0bad_5eed_0bad_5eed);
        for len in 1..=80 {
            let digits: Vec<u8> = (0..len).map(|_| b'0' + rng.below(10) as u8).collect();
            let mut whole = digits.clone();
            whole.push(b'"');
            whole.extend_from_slice(after);
            for end in 0..=whole.len() {
                let b = &whole[..end];
                assert_eq!(sequence(b), sequence_reference(b), "{:?}", b.escape_ascii());
            }
            assert_eq!(
                sequence(&whole),
                Ok((String::from_utf8(digits.clone()).unwrap(), len + 1))
            );
            for at in 0..len {
                for &byte in bad {
                    let mut b = whole.clone();
                    b[at] = byte;
                    assert_eq!(
                        sequence(&b),
                        sequence_reference(&b),
                        "{byte:#x} at {at} of {len}"
                    );
                    // Cut just after the bad byte too: the string may not be over.
                    let cut = &b[..at + 1];
                    assert_eq!(sequence(cut), sequence_reference(cut), "{byte:#x} at {at}");
                }
            }
        }
        // What is not a decimal number is never taken: serde reads it, and refuses it.
        for refused in [
            &b"\","[..],
            b"TRIM_HORIZON\"",
            b"SHARD_END\"",
            b"-5\"",
            b"+5\"",
            b"5a\"",
            b" 5\"",
            b"\\u0035\"",
        ] {
            assert_eq!(sequence(refused), Err(Stop::Other), "{refused:?}");
        }
    }
}
