//! The daemon's messages (one JSON object a line) and this side's replies.
//!
//! Incoming lines are parsed leniently: unknown fields are ignored, nulls are accepted where
//! the daemon may send them, and an action this crate does not know is reported as
//! [`Message::Unknown`] so the run loop can answer it. Outgoing messages are written as
//! ASCII-only JSON with exactly the keys the daemon accepts (it skips a `status` line that
//! carries any extra key and then waits forever).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{excerpt, ProtocolError};
use crate::record::Record;

/// What `initialize` carries: the shard and the lease's current checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitializeInput {
    /// The shard this process is responsible for, e.g. `shardId-000000000001`.
    pub shard_id: String,
    /// The checkpoint: a decimal sequence number, or a sentinel such as `TRIM_HORIZON`
    /// for a fresh lease; `None` if the daemon sent null.
    pub sequence_number: Option<String>,
    /// The checkpoint's sub-sequence number, if any.
    pub sub_sequence_number: Option<u64>,
}

/// The daemon's answer to a checkpoint request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CheckpointReply {
    /// The requested sequence number, echoed.
    pub sequence_number: Option<String>,
    /// The requested sub-sequence number, echoed.
    pub sub_sequence_number: Option<u64>,
    /// The Java simple class name of the exception, or `None` on success.
    pub error: Option<String>,
}

/// Why a KCL 1.x daemon sent the legacy `shutdown` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShutdownReason {
    /// The shard ended (behaves like `shardEnded`).
    Terminate,
    /// The lease was lost (behaves like `leaseLost`).
    Zombie,
}

/// A record as it travels on the wire: data still base64-encoded.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct WireRecord<'a> {
    /// Standard base64 with padding, as bytes: the decoder rejects anything that is not
    /// base64, so the text never needs a UTF-8 check of its own.
    #[serde(borrow, default, deserialize_with = "borrowed_bytes")]
    pub data: Option<Cow<'a, [u8]>>,
    /// The partition key.
    #[serde(
        rename = "partitionKey",
        borrow,
        default,
        deserialize_with = "borrowed_str"
    )]
    pub partition_key: Option<Cow<'a, str>>,
    /// The sequence number.
    #[serde(
        rename = "sequenceNumber",
        borrow,
        default,
        deserialize_with = "borrowed_str"
    )]
    pub sequence_number: Option<Cow<'a, str>>,
    /// The sub-sequence number.
    #[serde(
        rename = "subSequenceNumber",
        default,
        deserialize_with = "sub_sequence_number"
    )]
    pub sub_sequence_number: Option<u64>,
    /// Arrival time in epoch milliseconds.
    #[serde(
        rename = "approximateArrivalTimestamp",
        default,
        deserialize_with = "arrival_timestamp"
    )]
    pub approximate_arrival_timestamp: Option<i64>,
}

/// One message from the daemon.
#[derive(Clone, Debug)]
pub(crate) enum Message<'a> {
    /// Start of a shard lease.
    Initialize(InitializeInput),
    /// A batch of records.
    ProcessRecords {
        /// The records, still encoded.
        records: Vec<WireRecord<'a>>,
        /// How far behind the tip of the stream this batch is, if known.
        millis_behind_latest: Option<u64>,
    },
    /// The lease was lost: no checkpointing is possible any more.
    LeaseLost,
    /// The shard has ended: the processor must checkpoint (SHARD_END).
    ShardEnded,
    /// The daemon is shutting down or handing the lease over: checkpoint what is done.
    ShutdownRequested,
    /// A reply to a checkpoint request.
    Checkpoint(CheckpointReply),
    /// The KCL 1.x `shutdown` action.
    Shutdown(ShutdownReason),
    /// An action this crate does not know (answered with a status, for forward compatibility).
    Unknown(String),
}

/// Every field any action carries; each action takes what it needs.
#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    action: Option<Cow<'a, str>>,
    #[serde(rename = "shardId", borrow, default, deserialize_with = "borrowed_str")]
    shard_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "sequenceNumber",
        default,
        deserialize_with = "string_or_number"
    )]
    sequence_number: Option<String>,
    #[serde(
        rename = "subSequenceNumber",
        default,
        deserialize_with = "sub_sequence_number"
    )]
    sub_sequence_number: Option<u64>,
    #[serde(
        rename = "millisBehindLatest",
        default,
        deserialize_with = "millis_behind_latest"
    )]
    millis_behind_latest: Option<u64>,
    #[serde(borrow, default)]
    records: Option<Vec<WireRecord<'a>>>,
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    error: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    reason: Option<Cow<'a, str>>,
}

/// Only the action, for lines whose other fields do not fit [`RawMessage`].
#[derive(Deserialize)]
struct ActionOnly<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    action: Option<Cow<'a, str>>,
}

/// Borrows a string from the line when it has no escapes (serde's own `Cow` support does
/// not borrow inside an `Option`, which would cost three allocations per record).
fn borrowed_str<'de: 'a, 'a, D>(d: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct CowStr<'a>(Cow<'a, str>);
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = CowStr<'de>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(CowStr(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(CowStr(Cow::Owned(v.to_string())))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(CowStr(Cow::Owned(v)))
        }
    }
    impl<'de> Deserialize<'de> for CowStr<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(Visitor)
        }
    }
    Ok(Option::<CowStr<'de>>::deserialize(d)?.map(|c| c.0))
}

/// [`borrowed_str`]'s bytes.
fn borrowed_bytes<'de: 'a, 'a, D>(d: D) -> Result<Option<Cow<'a, [u8]>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(borrowed_str(d)?.map(|s| match s {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }))
}

/// Jackson writes sequence numbers as strings, but coerces numbers; accept both.
///
/// A number is kept as the digits it was written with, never through a float (a 56-digit
/// sequence number is not an `f64`): its raw text is taken, and it must be a non-negative
/// integer. Any other number (`-5`, `1.5`, `4.9e55`) is refused: it cannot be a position,
/// and a string made of it would only be logged or echoed as something the daemon never
/// meant. The raw text comes from `serde_json`'s `RawValue` rather than its
/// `arbitrary_precision` feature, which would change how every number in the crate is
/// parsed.
fn string_or_number<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let Some(raw) = Option::<&'de RawValue>::deserialize(d)? else {
        return Ok(None);
    };
    let text = raw.get();
    if text.starts_with('"') {
        // A string: unescaped by serde_json, as any other string is.
        return serde_json::from_str::<String>(text)
            .map(Some)
            .map_err(D::Error::custom);
    }
    if crate::sequence::is_numeric(text) {
        return Ok(Some(text.to_string()));
    }
    Err(D::Error::custom(format_args!(
        "sequenceNumber {}: a sequence number sent as a JSON number must be a non-negative integer",
        excerpt(text.as_bytes())
    )))
}

/// An integer field, read by the rule the fast path uses too ([`crate::number::integer`]):
/// from the number's raw text, so that `serde_json`'s own reading of numbers (`-0` as a
/// float, say) cannot make the two paths disagree.
fn integer_field<'de, D, T>(d: D, field: &str) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i128>,
{
    use serde::de::Error as _;
    let Some(raw) = Option::<&'de RawValue>::deserialize(d)? else {
        return Ok(None);
    };
    crate::number::integer(raw.get().as_bytes())
        .map(Some)
        .map_err(|err| {
            D::Error::custom(format_args!(
                "{field} {}: {err}",
                excerpt(raw.get().as_bytes())
            ))
        })
}

fn sub_sequence_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    integer_field(d, "subSequenceNumber")
}

fn arrival_timestamp<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    integer_field(d, "approximateArrivalTimestamp")
}

fn millis_behind_latest<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    integer_field(d, "millisBehindLatest")
}

fn malformed(line: &[u8], reason: impl Into<String>) -> ProtocolError {
    ProtocolError::Malformed {
        reason: reason.into(),
        line: excerpt(line),
    }
}

/// Parses one line from the daemon.
///
/// `line` may end in `\n` or `\r\n`. Bytes that are not UTF-8 (a daemon running with a
/// non-UTF-8 default charset) are replaced rather than rejected.
pub(crate) fn parse_message(line: &[u8]) -> Result<Message<'_>, ProtocolError> {
    if let Some(message) = crate::fast::process_records(line) {
        return Ok(message);
    }
    match serde_json::from_slice::<RawMessage<'_>>(line) {
        Ok(raw) => into_message(raw, line),
        Err(err) => {
            if std::str::from_utf8(line).is_err() {
                // Cannot borrow from a lossily repaired copy; this path is never hot.
                let repaired = String::from_utf8_lossy(line).into_owned();
                return parse_message(repaired.as_bytes())
                    .map(into_owned_message)
                    .map_err(|e| match e {
                        ProtocolError::Malformed { reason, .. } => malformed(line, reason),
                        other => other,
                    });
            }
            // The fields may not fit the shapes of known actions: decide on the action alone.
            match serde_json::from_slice::<ActionOnly<'_>>(line) {
                Ok(ActionOnly {
                    action: Some(action),
                }) if !is_known(&action) => Ok(Message::Unknown(action.into_owned())),
                Ok(ActionOnly { action: Some(_) }) => Err(malformed(line, err.to_string())),
                Ok(ActionOnly { action: None }) => Err(malformed(line, "no \"action\"")),
                Err(_) => Err(malformed(line, format!("not a JSON object: {err}"))),
            }
        }
    }
}

const KNOWN: [&str; 7] = [
    "initialize",
    "processRecords",
    "leaseLost",
    "shardEnded",
    "shutdownRequested",
    "checkpoint",
    "shutdown",
];

fn is_known(action: &str) -> bool {
    KNOWN.contains(&action)
}

fn into_message<'a>(raw: RawMessage<'a>, line: &[u8]) -> Result<Message<'a>, ProtocolError> {
    let Some(action) = raw.action else {
        return Err(malformed(line, "no \"action\""));
    };
    Ok(match action.as_ref() {
        "initialize" => Message::Initialize(InitializeInput {
            shard_id: raw
                .shard_id
                .ok_or_else(|| malformed(line, "initialize without a shardId"))?
                .into_owned(),
            sequence_number: raw.sequence_number,
            sub_sequence_number: raw.sub_sequence_number,
        }),
        "processRecords" => {
            let records = raw.records.unwrap_or_default();
            for record in &records {
                check_sequence_number(record, line)?;
            }
            Message::ProcessRecords {
                records,
                millis_behind_latest: raw.millis_behind_latest,
            }
        }
        "leaseLost" => Message::LeaseLost,
        "shardEnded" => Message::ShardEnded,
        "shutdownRequested" => Message::ShutdownRequested,
        "checkpoint" => Message::Checkpoint(CheckpointReply {
            sequence_number: raw.sequence_number,
            sub_sequence_number: raw.sub_sequence_number,
            error: raw.error.map(Cow::into_owned),
        }),
        "shutdown" => Message::Shutdown(match raw.reason.as_deref() {
            Some("TERMINATE") => ShutdownReason::Terminate,
            Some("ZOMBIE") => ShutdownReason::Zombie,
            other => {
                return Err(malformed(
                    line,
                    format!("shutdown with reason {other:?}, expected TERMINATE or ZOMBIE"),
                ))
            }
        }),
        _ => Message::Unknown(action.into_owned()),
    })
}

/// Refuses a record whose sequence number is there but is not a non-negative decimal
/// number; `context` is the line or record it came in, for the message. (A missing one is
/// reported when the record is decoded.)
///
/// Only records read by serde need this: the fast path takes nothing but digits, and leaves
/// everything else to serde. On serde's path this is the one pass over the digits: the run
/// loop's maximum trusts them (see [`crate::sequence::index_of_max_numeric`]).
pub(crate) fn check_sequence_number(
    record: &WireRecord<'_>,
    context: &[u8],
) -> Result<(), ProtocolError> {
    match record.sequence_number.as_deref() {
        Some(seq) if !crate::sequence::is_numeric(seq) => {
            // Not `excerpt`: that trims line ends, which here would hide what is wrong.
            let mut end = seq.len().min(100);
            while !seq.is_char_boundary(end) {
                end -= 1;
            }
            let more = if end < seq.len() { "…" } else { "" };
            Err(ProtocolError::InvalidSequenceNumber {
                sequence_number: format!("{}{more}", &seq[..end]),
                line: excerpt(context),
            })
        }
        _ => Ok(()),
    }
}

impl WireRecord<'_> {
    /// A copy that borrows nothing (for a line that had to be repaired into a new string).
    pub(crate) fn into_owned(self) -> WireRecord<'static> {
        let own = |c: Option<Cow<'_, str>>| c.map(|c| Cow::Owned(c.into_owned()));
        WireRecord {
            data: self.data.map(|d| Cow::Owned(d.into_owned())),
            partition_key: own(self.partition_key),
            sequence_number: own(self.sequence_number),
            sub_sequence_number: self.sub_sequence_number,
            approximate_arrival_timestamp: self.approximate_arrival_timestamp,
        }
    }
}

fn into_owned_message(m: Message<'_>) -> Message<'static> {
    match m {
        Message::ProcessRecords {
            records,
            millis_behind_latest,
        } => Message::ProcessRecords {
            records: records.into_iter().map(WireRecord::into_owned).collect(),
            millis_behind_latest,
        },
        Message::Initialize(i) => Message::Initialize(i),
        Message::LeaseLost => Message::LeaseLost,
        Message::ShardEnded => Message::ShardEnded,
        Message::ShutdownRequested => Message::ShutdownRequested,
        Message::Checkpoint(c) => Message::Checkpoint(c),
        Message::Shutdown(r) => Message::Shutdown(r),
        Message::Unknown(a) => Message::Unknown(a),
    }
}

/// Decodes a batch's records into `arena` (cleared first) and returns them borrowing from it.
///
/// A record without data, or without a sequence number, or with invalid base64, is an
/// error: it cannot be processed or checkpointed, and guessing would lose it. A sequence
/// number that is not decimal is refused by [`parse_message`], which `wire` is expected to
/// come from; it is not checked again here.
pub(crate) fn decode_records<'a>(
    wire: &'a [WireRecord<'a>],
    arena: &'a mut Vec<u8>,
) -> Result<Vec<Record<'a>>, ProtocolError> {
    arena.clear();
    let estimate: usize = wire
        .iter()
        .map(|r| r.data.as_ref().map_or(0, |d| d.len() / 4 * 3 + 3))
        .sum();
    arena.reserve(estimate);
    let mut ends = Vec::with_capacity(wire.len());
    for r in wire {
        decode_append(r, arena)?;
        ends.push(arena.len());
    }
    let arena: &'a [u8] = arena;
    let mut start = 0;
    Ok(wire
        .iter()
        .zip(ends)
        .map(|(r, end)| {
            let data = &arena[start..end];
            start = end;
            record_with(r, data)
        })
        .collect())
}

/// Checks one record and appends its decoded data to `arena`.
pub(crate) fn decode_append(r: &WireRecord<'_>, arena: &mut Vec<u8>) -> Result<(), ProtocolError> {
    let seq = r.sequence_number.as_deref().unwrap_or("");
    let sub = r.sub_sequence_number.unwrap_or(0);
    let bad = |reason: String| ProtocolError::InvalidBase64 {
        sequence_number: seq.to_string(),
        sub_sequence_number: sub,
        reason,
    };
    if r.sequence_number.is_none() {
        return Err(ProtocolError::Malformed {
            reason: "a record without a sequenceNumber".into(),
            line: format!("partitionKey {:?}", r.partition_key),
        });
    }
    let data = r
        .data
        .as_deref()
        .ok_or_else(|| bad("data is missing or null".into()))?;
    crate::simd::base64::decode_append(data, arena).map_err(|e| bad(e.to_string()))?;
    Ok(())
}

/// The record `r` describes, with its already decoded `data`.
pub(crate) fn record_with<'a>(r: &'a WireRecord<'a>, data: &'a [u8]) -> Record<'a> {
    Record {
        data,
        partition_key: r.partition_key.clone().unwrap_or(Cow::Borrowed("")),
        sequence_number: r.sequence_number.clone().unwrap_or(Cow::Borrowed("")),
        sub_sequence_number: r.sub_sequence_number.unwrap_or(0),
        approximate_arrival_timestamp: r.approximate_arrival_timestamp,
    }
}

/// Appends `s` as a JSON string literal using only ASCII (non-ASCII as `\u` escapes), so
/// the daemon reads it back intact whatever the JVM's default charset.
pub(crate) fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
                }
            }
            c => out.push(c as u8),
        }
    }
    out.push(b'"');
}

/// Appends the status that ends an action: exactly `action` and `responseFor`.
pub(crate) fn encode_status(out: &mut Vec<u8>, response_for: &str) {
    out.extend_from_slice(b"{\"action\":\"status\",\"responseFor\":");
    push_json_string(out, response_for);
    out.push(b'}');
}

/// Appends a checkpoint request. `None` for the sequence number means "everything
/// delivered so far" (or SHARD_END during `shardEnded`).
pub(crate) fn encode_checkpoint(
    out: &mut Vec<u8>,
    sequence_number: Option<&str>,
    sub: Option<u64>,
) {
    out.extend_from_slice(b"{\"action\":\"checkpoint\",\"sequenceNumber\":");
    match sequence_number {
        Some(seq) => push_json_string(out, seq),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"subSequenceNumber\":");
    match sub {
        Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Message<'_> {
        parse_message(s.as_bytes()).expect("parses")
    }

    #[test]
    fn initialize_with_sentinel_and_nulls() {
        let m = parse(
            r#"{"action":"initialize","shardId":"shardId-000000000007","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}"#,
        );
        let Message::Initialize(i) = m else {
            panic!("{m:?}")
        };
        assert_eq!(i.shard_id, "shardId-000000000007");
        assert_eq!(i.sequence_number.as_deref(), Some("TRIM_HORIZON"));
        assert_eq!(i.sub_sequence_number, Some(0));
        let m = parse(
            r#"{"action":"initialize","shardId":"s","sequenceNumber":null,"subSequenceNumber":null}"#,
        );
        let Message::Initialize(i) = m else { panic!() };
        assert_eq!((i.sequence_number, i.sub_sequence_number), (None, None));
    }

    #[test]
    fn a_sequence_number_sent_as_a_number_keeps_its_exact_digits() {
        let seq = "49590338271490256608559692538361571095921575989136588899";
        let line = format!(
            r#"{{"action":"initialize","shardId":"s","sequenceNumber":{seq},"subSequenceNumber":0}}"#
        );
        let Message::Initialize(i) = parse(&line) else {
            panic!()
        };
        assert_eq!(
            i.sequence_number.as_deref(),
            Some(seq),
            "not through an f64"
        );
        let Message::Checkpoint(c) = parse(&format!(
            r#"{{"action":"checkpoint","sequenceNumber":{seq},"subSequenceNumber":3,"error":null}}"#
        )) else {
            panic!()
        };
        assert_eq!(c.sequence_number.as_deref(), Some(seq));
        // A string is unescaped as usual.
        let Message::Initialize(i) =
            parse(r#"{"action":"initialize","shardId":"s","sequenceNumber":"4\u0032"}"#)
        else {
            panic!()
        };
        assert_eq!(i.sequence_number.as_deref(), Some("42"));
        // Any other number is refused, naming it, rather than logged as something else.
        for number in ["4.959033827149025e+55", "1e3", "1.5", "-5", "-0", "0.0"] {
            let line = format!(
                r#"{{"action":"initialize","shardId":"s","sequenceNumber":{number},"subSequenceNumber":0}}"#
            );
            let err = parse_message(line.as_bytes()).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "sequenceNumber {number}: a sequence number sent as a JSON number must be a non-negative integer"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn process_records_decodes_and_ignores_unknown_fields() {
        let line = r#"{"action":"processRecords","records":[{"data":"aGVsbG8=","partitionKey":"pk-1","sequenceNumber":"49590338271490256608559692538361571095921575989136588898","approximateArrivalTimestamp":1700000000123,"subSequenceNumber":0,"action":"record","future":{"x":[1]}},{"data":"AP8KDQ==","partitionKey":"pk-2","sequenceNumber":"10","approximateArrivalTimestamp":null,"subSequenceNumber":2,"action":"record"}],"millisBehindLatest":1234,"newField":true}"#;
        let m = parse(line);
        let Message::ProcessRecords {
            records,
            millis_behind_latest,
        } = m
        else {
            panic!()
        };
        assert_eq!(millis_behind_latest, Some(1234));
        let mut arena = Vec::new();
        let recs = decode_records(&records, &mut arena).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].data, b"hello");
        assert_eq!(recs[0].partition_key, "pk-1");
        assert_eq!(recs[0].approximate_arrival_timestamp, Some(1700000000123));
        assert_eq!(recs[1].data, [0x00, 0xff, 0x0a, 0x0d]);
        assert_eq!(recs[1].sub_sequence_number, 2);
        assert_eq!(recs[1].approximate_arrival_timestamp, None);
        assert!(recs[1].data_utf8().is_err());
    }

    #[test]
    fn escaped_strings_are_decoded_not_borrowed() {
        let m = parse(
            r#"{"action":"processRecords","records":[{"data":"YQ\u003d\u003d","partitionKey":"k\"\u00e9","sequenceNumber":"1","subSequenceNumber":0}]}"#,
        );
        let Message::ProcessRecords { records, .. } = m else {
            panic!()
        };
        let mut arena = Vec::new();
        let recs = decode_records(&records, &mut arena).unwrap();
        assert_eq!(recs[0].partition_key, "k\"é");
        assert!(matches!(recs[0].partition_key, Cow::Owned(_)));
        assert_eq!(recs[0].data, b"a");
        assert!(matches!(recs[0].sequence_number, Cow::Borrowed(_)));
    }

    #[test]
    fn empty_and_null_batches() {
        let m = parse(r#"{"action":"processRecords","records":[],"millisBehindLatest":null}"#);
        let Message::ProcessRecords {
            records,
            millis_behind_latest,
        } = m
        else {
            panic!()
        };
        assert!(records.is_empty());
        assert_eq!(millis_behind_latest, None);
        let m = parse(r#"{"action":"processRecords","records":null}"#);
        assert!(matches!(m, Message::ProcessRecords { records, .. } if records.is_empty()));
    }

    #[test]
    fn empty_data_is_an_empty_record() {
        let m = parse(
            r#"{"action":"processRecords","records":[{"data":"","partitionKey":"k","sequenceNumber":"1","subSequenceNumber":0}]}"#,
        );
        let Message::ProcessRecords { records, .. } = m else {
            panic!()
        };
        let mut arena = Vec::new();
        let recs = decode_records(&records, &mut arena).unwrap();
        assert_eq!(recs[0].data, b"");
    }

    #[test]
    fn bad_records_are_errors_naming_the_record() {
        for (rec, want) in [
            (
                r#"{"data":"!!!","partitionKey":"k","sequenceNumber":"42","subSequenceNumber":3}"#,
                "42:3",
            ),
            (
                r#"{"data":null,"partitionKey":"k","sequenceNumber":"43"}"#,
                "43:0",
            ),
            (
                r#"{"data":"aGVsbG8=","partitionKey":"k"}"#,
                "without a sequenceNumber",
            ),
        ] {
            let line = format!(r#"{{"action":"processRecords","records":[{rec}]}}"#);
            let Message::ProcessRecords { records, .. } = parse_message(line.as_bytes()).unwrap()
            else {
                panic!()
            };
            let mut arena = Vec::new();
            let err = decode_records(&records, &mut arena)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn checkpoint_replies() {
        let Message::Checkpoint(c) = parse(
            r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":null}"#,
        ) else {
            panic!()
        };
        assert_eq!(
            c,
            CheckpointReply {
                sequence_number: None,
                sub_sequence_number: None,
                error: None
            }
        );
        let Message::Checkpoint(c) = parse(
            r#"{"action":"checkpoint","sequenceNumber":12345,"subSequenceNumber":2,"error":"ThrottlingException"}"#,
        ) else {
            panic!()
        };
        assert_eq!(c.sequence_number.as_deref(), Some("12345"));
        assert_eq!(c.error.as_deref(), Some("ThrottlingException"));
    }

    #[test]
    fn simple_actions_and_legacy_shutdown() {
        assert!(matches!(
            parse(r#"{"action":"leaseLost"}"#),
            Message::LeaseLost
        ));
        assert!(matches!(
            parse(r#"{"action":"shardEnded"}"#),
            Message::ShardEnded
        ));
        assert!(matches!(
            parse("{\"action\":\"shutdownRequested\"}\r\n"),
            Message::ShutdownRequested
        ));
        assert!(matches!(
            parse(r#"{"action":"shutdown","reason":"TERMINATE"}"#),
            Message::Shutdown(ShutdownReason::Terminate)
        ));
        assert!(matches!(
            parse(r#"{"action":"shutdown","reason":"ZOMBIE"}"#),
            Message::Shutdown(ShutdownReason::Zombie)
        ));
        assert!(parse_message(br#"{"action":"shutdown","reason":"LATER"}"#).is_err());
    }

    #[test]
    fn unknown_actions_even_with_odd_fields() {
        assert!(
            matches!(parse(r#"{"action":"prepareCheckpoint","x":1}"#), Message::Unknown(a) if a == "prepareCheckpoint")
        );
        assert!(
            matches!(parse(r#"{"action":"newThing","records":"not a list"}"#), Message::Unknown(a) if a == "newThing")
        );
    }

    #[test]
    fn malformed_lines_name_the_problem() {
        for (line, want) in [
            ("hello", "not a JSON object"),
            ("{\"records\":[]}", "no \"action\""),
            ("{\"action\":null}", "no \"action\""),
            ("[1,2]", "not a JSON object"),
            (
                "{\"action\":\"processRecords\",\"records\":5}",
                "invalid type",
            ),
            ("{\"action\":\"initialize\"}", "without a shardId"),
        ] {
            let err = parse_message(line.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{line}: {err}");
            assert!(err.contains(line), "names the line: {err}");
        }
    }

    #[test]
    fn non_utf8_input_is_repaired() {
        let mut line = br#"{"action":"initialize","shardId":"sh"#.to_vec();
        line.push(0xff);
        line.extend_from_slice(br#"","sequenceNumber":"1","subSequenceNumber":0}"#);
        let Message::Initialize(i) = parse_message(&line).unwrap() else {
            panic!()
        };
        assert_eq!(i.shard_id, "sh\u{fffd}");
    }

    #[test]
    fn outgoing_is_exact_and_ascii() {
        let mut out = Vec::new();
        encode_status(&mut out, "processRecords");
        assert_eq!(
            out,
            br#"{"action":"status","responseFor":"processRecords"}"#
        );
        out.clear();
        encode_checkpoint(&mut out, Some("123"), Some(4));
        assert_eq!(
            out,
            br#"{"action":"checkpoint","sequenceNumber":"123","subSequenceNumber":4}"#
        );
        out.clear();
        encode_checkpoint(&mut out, None, None);
        assert_eq!(
            out,
            br#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}"#
        );
        out.clear();
        push_json_string(&mut out, "é\"\\\n\u{1}😀");
        assert_eq!(out, br#""\u00e9\"\\\n\u0001\ud83d\ude00""#);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, "é\"\\\n\u{1}😀");
    }
}
