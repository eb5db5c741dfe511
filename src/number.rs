//! The one rule for the daemon's integer fields (`subSequenceNumber`,
//! `approximateArrivalTimestamp`, `millisBehindLatest`), shared by both parsers.
//!
//! The fast path ([`crate::fast`]) and the general `serde_json` path used to decide on
//! their own, and disagreed: `-0` was zero to one and a float, refused, to the other. Both
//! now hand the number's text to [`integer`], so a value means the same whichever path
//! reads it, and the only thing the fast path decides is how fast.

/// Why an integer field's value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IntegerError {
    /// Not written the way JSON writes an integer.
    #[error("not an integer (expected an optional '-' and digits, without a leading zero, fraction or exponent)")]
    NotInteger,
    /// An integer the field cannot hold.
    #[error("out of range for {0}")]
    OutOfRange(&'static str),
}

/// The value of `token`, the whole text of one JSON value, as an integer of type `T`.
///
/// The rule: an optional `-`, then `0` or a digit from 1 to 9 followed by any digits.
/// Nothing else: no fraction or exponent (`1.0`, `1e3`), because the daemon's Jackson
/// writes a Java `long` as plain digits, and accepting them would mean truncating or
/// rounding (`1.5`) somewhere; no leading zero, `+`, whitespace or quotes, which JSON or
/// Jackson never produce either. `-0` is zero: it is an integer in JSON's grammar, and
/// there is no negative zero among integers. The value must fit `T`, and its magnitude
/// 64 bits (no field is wider), else [`IntegerError::OutOfRange`].
pub(crate) fn integer<T: TryFrom<i128>>(token: &[u8]) -> Result<T, IntegerError> {
    let (negative, digits) = match token {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, token),
    };
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return Err(IntegerError::NotInteger);
    }
    // One pass that checks and adds up the digits. A magnitude past `u64::MAX` fits no
    // field; the digits after it are still checked, so that what is not a number at all
    // is always reported as such.
    let mut magnitude = Some(0u64);
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(IntegerError::NotInteger);
        }
        magnitude = magnitude
            .and_then(|m| m.checked_mul(10))
            .and_then(|m| m.checked_add(u64::from(d)));
    }
    let out_of_range = || IntegerError::OutOfRange(std::any::type_name::<T>());
    let magnitude = i128::from(magnitude.ok_or_else(out_of_range)?);
    T::try_from(if negative { -magnitude } else { magnitude }).map_err(|_| out_of_range())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_json_writes_them_and_nothing_else() {
        let ok: [(&str, i128); 10] = [
            ("0", 0),
            ("-0", 0),
            ("7", 7),
            ("-7", -7),
            ("10", 10),
            ("1700000000123", 1_700_000_000_123),
            ("9223372036854775807", i128::from(i64::MAX)),
            ("-9223372036854775808", i128::from(i64::MIN)),
            ("18446744073709551615", i128::from(u64::MAX)),
            ("-18446744073709551615", -i128::from(u64::MAX)),
        ];
        for (token, value) in ok {
            assert_eq!(integer::<i128>(token.as_bytes()), Ok(value), "{token}");
        }
        let long = "1".repeat(400);
        // No field is wider than 64 bits: a magnitude past them is out of range for any.
        for token in [
            "18446744073709551616",
            "99999999999999999999",
            "100000000000000000000",
            "-100000000000000000000",
            &long,
        ] {
            assert!(
                matches!(
                    integer::<i128>(token.as_bytes()),
                    Err(IntegerError::OutOfRange(_))
                ),
                "{token}"
            );
        }
        let not = [
            "", "-", "--1", "+1", "01", "-01", "00", "1.0", "1.", ".5", "0.5", "-0.0", "1e3",
            "1E3", "0e0", "1e-3", " 1", "1 ", "\"1\"", "null", "true", "0x1", "1_000", "١",
        ];
        for token in not {
            assert_eq!(
                integer::<i128>(token.as_bytes()),
                Err(IntegerError::NotInteger),
                "{token:?}"
            );
        }
    }

    #[test]
    fn the_range_is_the_field_type_s() {
        assert_eq!(integer::<u64>(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            integer::<u64>(b"18446744073709551616"),
            Err(IntegerError::OutOfRange("u64"))
        );
        assert_eq!(integer::<u64>(b"-1"), Err(IntegerError::OutOfRange("u64")));
        assert_eq!(integer::<u64>(b"-0"), Ok(0));
        assert_eq!(integer::<i64>(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(
            integer::<i64>(b"9223372036854775808"),
            Err(IntegerError::OutOfRange("i64"))
        );
        assert_eq!(integer::<i64>(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            integer::<i64>(b"-9223372036854775809"),
            Err(IntegerError::OutOfRange("i64"))
        );
        assert_eq!(
            IntegerError::OutOfRange("u64").to_string(),
            "out of range for u64"
        );
    }

    /// Both parsers, fed the same values: the fast path on lines as Jackson writes them,
    /// serde on the same lines with their keys reordered (which the fast path never takes),
    /// in a whole line and streamed record by record.
    mod both_parsers {
        use std::io::Cursor;

        use crate::error::{ProtocolError, RunError};
        use crate::fast::test_records::{fields, seen, Seen};
        use crate::fast::{self, HEADER};
        use crate::lines::{LineBuf, LineReader};
        use crate::message::{parse_message, Message};
        use crate::stream::{stream_records, StreamEnd};

        /// The batch path: the fast path if it takes the line, else serde.
        fn batch(line: &str) -> Result<Seen, String> {
            match parse_message(line.as_bytes()).map_err(|e| e.to_string())? {
                Message::ProcessRecords {
                    records,
                    millis_behind_latest,
                } => seen(&records, millis_behind_latest),
                other => Err(format!("not a batch: {other:?}")),
            }
        }

        /// The fast path alone: `None` where it leaves the line to serde.
        fn fast_only(line: &str) -> Option<Seen> {
            match fast::process_records(line.as_bytes())? {
                Message::ProcessRecords {
                    records,
                    millis_behind_latest,
                } => Some(seen(&records, millis_behind_latest).expect("decodes")),
                other => panic!("not a batch: {other:?}"),
            }
        }

        /// The streamed path, as the run loop takes a line that starts as Jackson's do.
        fn streamed(line: &str) -> Result<Seen, String> {
            let mut input = LineReader::new(Cursor::new(line.as_bytes().to_vec()));
            let mut window = LineBuf::default();
            input.peek_line(&mut window, HEADER.len()).unwrap();
            assert!(window.line().starts_with(HEADER), "{line}");
            let mut arena = Vec::new();
            let mut records = Vec::new();
            let end = stream_records(&mut input, &mut window, &mut arena, |r| {
                records.push(fields(r));
                Ok(())
            })
            .map_err(|e| e.to_string())?;
            match end {
                StreamEnd::Done(batch) => Ok((records, batch.millis_behind_latest)),
                StreamEnd::Eof { .. } => panic!("the line ended early: {line}"),
            }
        }

        /// One record's fields, as the line holds them (strings quoted).
        struct Rec<'a> {
            seq: &'a str,
            ts: &'a str,
            sub: &'a str,
        }

        const SEQ: &str = "49590338271490256608559692538361571095921575989136588898";

        /// The three shapes of one batch: as Jackson writes it, with the record's keys
        /// reordered (still streamed, record by serde), and with every key reordered.
        fn lines(r: &Rec<'_>, millis: &str) -> [String; 3] {
            let jackson = format!(
                r#"{{"data":"aGk=","partitionKey":"pk","sequenceNumber":{},"approximateArrivalTimestamp":{},"subSequenceNumber":{},"action":"record"}}"#,
                r.seq, r.ts, r.sub
            );
            let reordered = format!(
                r#"{{"action":"record","subSequenceNumber":{},"approximateArrivalTimestamp":{},"sequenceNumber":{},"partitionKey":"pk","data":"aGk="}}"#,
                r.sub, r.ts, r.seq
            );
            [
                format!(
                    r#"{{"action":"processRecords","records":[{jackson}],"millisBehindLatest":{millis}}}"#
                ),
                format!(
                    r#"{{"action":"processRecords","records":[{reordered}],"millisBehindLatest":{millis}}}"#
                ),
                format!(
                    r#"{{"millisBehindLatest":{millis},"records":[{reordered}],"action":"processRecords"}}"#
                ),
            ]
            .map(|l| l + "\n")
        }

        /// Checks every path on the three shapes against `want`; `fast_takes` says whether
        /// the fast path must take the Jackson-shaped line itself (rather than leave it).
        fn check(what: &str, shapes: &[String; 3], want: &Result<Seen, ()>, fast_takes: bool) {
            let want = want.as_ref().map_err(|_| ());
            for line in shapes {
                let got = batch(line);
                assert_eq!(got.as_ref().map_err(|_| ()), want, "{what}: {line}");
            }
            for line in &shapes[..2] {
                let got = streamed(line);
                assert_eq!(
                    got.as_ref().map_err(|_| ()),
                    want,
                    "{what}, streamed: {line}"
                );
            }
            match fast_only(&shapes[0]) {
                Some(fast) => assert_eq!(Ok(&fast), want, "{what}: the fast path"),
                None => assert!(!fast_takes, "{what}: the fast path left it to serde"),
            }
        }

        /// What a number means, written out by hand.
        #[derive(Clone, Copy, Debug)]
        enum Means {
            Int(i128),
            /// An integer no field can hold.
            Huge,
            Null,
            /// Not an integer at all.
            Not,
        }

        #[test]
        fn numbers_mean_the_same_on_every_path() {
            let long = format!("1{}", "0".repeat(400));
            let numbers: Vec<(&str, Means)> = vec![
                ("0", Means::Int(0)),
                ("-0", Means::Int(0)),
                ("7", Means::Int(7)),
                ("-7", Means::Int(-7)),
                ("1700000000123", Means::Int(1_700_000_000_123)),
                // The fast path's inline case ends at 15 digits.
                ("999999999999999", Means::Int(999_999_999_999_999)),
                ("1000000000000000", Means::Int(1_000_000_000_000_000)),
                ("9223372036854775807", Means::Int((1 << 63) - 1)),
                ("9223372036854775808", Means::Int(1 << 63)),
                ("18446744073709551615", Means::Int((1 << 64) - 1)),
                ("18446744073709551616", Means::Int(1 << 64)),
                ("-9223372036854775808", Means::Int(-(1 << 63))),
                ("-9223372036854775809", Means::Int(-(1 << 63) - 1)),
                ("-18446744073709551616", Means::Int(-(1 << 64))),
                ("123456789012345678901234567890", Means::Huge),
                (&long, Means::Huge),
                ("1e3", Means::Not),
                ("1E3", Means::Not),
                ("1e+3", Means::Not),
                ("1e-3", Means::Not),
                ("0e0", Means::Not),
                ("1.0", Means::Not),
                ("1.5", Means::Not),
                ("0.5", Means::Not),
                ("-0.0", Means::Not),
                ("-0e0", Means::Not),
                ("01", Means::Not),
                ("-01", Means::Not),
                ("00", Means::Not),
                ("+1", Means::Not),
                ("-", Means::Not),
                ("\"5\"", Means::Not),
                ("true", Means::Not),
                ("[1]", Means::Not),
                ("null", Means::Null),
                // Whitespace is JSON, not Jackson's: serde reads these.
                (" 5", Means::Int(5)),
                ("5 ", Means::Int(5)),
            ];
            let fits = |v: i128, min: i128, max: i128| (min..=max).contains(&v);
            let (u64_max, i64_min, i64_max) = (
                i128::from(u64::MAX),
                i128::from(i64::MIN),
                i128::from(i64::MAX),
            );
            let record = |sub: u64, ts: Option<i64>| format!("[104, 105]|pk|{SEQ}|{sub}|{ts:?}");
            let seq = format!("\"{SEQ}\"");
            let mut fast_took = 0;
            for &(text, means) in &numbers {
                // The fast path takes what the rule accepts, as long as it fits its i64 and
                // the line is Jackson's; everything else it leaves to serde.
                let plain = !text.contains(' ');
                let in_fast = |v: i128, min: i128| plain && fits(v, min, i64_max);
                // As the sub-sequence number.
                let r = Rec {
                    seq: &seq,
                    ts: "1700000000123",
                    sub: text,
                };
                let (want, fast) = match means {
                    Means::Int(v) if fits(v, 0, u64_max) => (
                        Ok((vec![record(v as u64, Some(1_700_000_000_123))], Some(5))),
                        in_fast(v, 0),
                    ),
                    // Absent or null: not from an aggregate.
                    Means::Null => (
                        Ok((vec![record(0, Some(1_700_000_000_123))], Some(5))),
                        false,
                    ),
                    _ => (Err(()), false),
                };
                fast_took += usize::from(fast);
                check(
                    &format!("subSequenceNumber {text}"),
                    &lines(&r, "5"),
                    &want,
                    fast,
                );
                // As the arrival time.
                let r = Rec {
                    seq: &seq,
                    ts: text,
                    sub: "0",
                };
                let (want, fast) = match means {
                    Means::Int(v) if fits(v, i64_min, i64_max) => (
                        Ok((vec![record(0, Some(v as i64))], Some(5))),
                        in_fast(v, i64_min),
                    ),
                    Means::Null => (Ok((vec![record(0, None)], Some(5))), true),
                    _ => (Err(()), false),
                };
                fast_took += usize::from(fast);
                check(
                    &format!("approximateArrivalTimestamp {text}"),
                    &lines(&r, "5"),
                    &want,
                    fast,
                );
                // As millisBehindLatest.
                let r = Rec {
                    seq: &seq,
                    ts: "1700000000123",
                    sub: "0",
                };
                let (want, fast) = match means {
                    Means::Int(v) if fits(v, 0, u64_max) => (
                        Ok((vec![record(0, Some(1_700_000_000_123))], Some(v as u64))),
                        in_fast(v, 0),
                    ),
                    Means::Null => (Ok((vec![record(0, Some(1_700_000_000_123))], None)), true),
                    _ => (Err(()), false),
                };
                fast_took += usize::from(fast);
                check(
                    &format!("millisBehindLatest {text}"),
                    &lines(&r, text),
                    &want,
                    fast,
                );
            }
            assert!(
                fast_took > 20,
                "the fast path decided only {fast_took} cases itself"
            );
        }

        #[test]
        fn sequence_numbers_that_are_not_decimal_are_refused_on_every_path() {
            let long = "9".repeat(300);
            let good: [(&str, &str); 6] = [
                ("\"0\"", "0"),
                ("\"7\"", "7"),
                ("\"007\"", "007"),
                (&format!("\"{SEQ}\""), SEQ),
                (&format!("\"{long}\""), &long),
                // An escape spelling a digit is a digit (serde reads it).
                ("\"4\\u0032\"", "42"),
            ];
            for (text, value) in good {
                let r = Rec {
                    seq: text,
                    ts: "1700000000123",
                    sub: "0",
                };
                let want = Ok((
                    vec![format!("[104, 105]|pk|{value}|0|Some(1700000000123)")],
                    Some(5),
                ));
                check(
                    &format!("sequenceNumber {text}"),
                    &lines(&r, "5"),
                    &want,
                    !text.contains('\\'),
                );
            }
            let bad = [
                "\"\"",
                "\"-5\"",
                "\"+5\"",
                "\"-0\"",
                "\"TRIM_HORIZON\"",
                "\"LATEST\"",
                "\"AT_TIMESTAMP\"",
                "\"SHARD_END\"",
                "\"5a\"",
                "\"a5\"",
                "\" 5\"",
                "\"5 \"",
                "\"5\\n\"",
                "\"1e3\"",
                "\"1.0\"",
                "\"٣\"",
                "\"５\"",
            ];
            for text in bad {
                let r = Rec {
                    seq: text,
                    ts: "1700000000123",
                    sub: "0",
                };
                let shapes = lines(&r, "5");
                check(&format!("sequenceNumber {text}"), &shapes, &Err(()), false);
                // Refused for what it is, naming it, on both paths.
                for line in &shapes {
                    let err = parse_message(line.as_bytes()).unwrap_err();
                    assert!(
                        matches!(err, ProtocolError::InvalidSequenceNumber { .. }),
                        "{line}: {err:?}"
                    );
                    assert!(
                        err.to_string()
                            .contains("must be a non-negative decimal number"),
                        "{err}"
                    );
                }
                let mut input = LineReader::new(Cursor::new(shapes[0].as_bytes().to_vec()));
                let mut window = LineBuf::default();
                input.peek_line(&mut window, HEADER.len()).unwrap();
                let mut arena = Vec::new();
                let err =
                    stream_records(&mut input, &mut window, &mut arena, |_| Ok(())).unwrap_err();
                assert!(
                    matches!(
                        err,
                        RunError::Protocol(ProtocolError::InvalidSequenceNumber { .. })
                    ),
                    "{err:?}"
                );
            }
            // Numbers (Jackson would coerce them) are not strings of digits here.
            for text in ["5", "-5", "null"] {
                let r = Rec {
                    seq: text,
                    ts: "1700000000123",
                    sub: "0",
                };
                check(
                    &format!("sequenceNumber {text}"),
                    &lines(&r, "5"),
                    &Err(()),
                    false,
                );
            }
        }
    }
}
