//! The daemon's messages (one JSON object a line) and this side's replies.
//!
//! Incoming lines are parsed leniently: unknown fields are ignored, nulls are accepted where
//! the daemon may send them, and an action this crate does not know is reported as
//! [`Message::Unknown`] so the run loop can answer it. Outgoing messages are written as
//! ASCII-only JSON with exactly the keys the daemon accepts (it skips a `status` line that
//! carries any extra key and then waits forever).

use std::borrow::Cow;

use serde::Deserialize;

use crate::error::{excerpt, ProtocolError};

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

mod encode;
mod fields;
mod records;
#[cfg(test)]
mod tests;

pub(crate) use encode::{encode_checkpoint, encode_status};
use fields::*;
use records::into_owned_message;
pub(crate) use records::{check_sequence_number, decode_append, decode_records, record_with};
