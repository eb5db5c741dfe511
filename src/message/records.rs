//! Records as they travel (`WireRecord`, data still base64) and as the processor gets them
//! (`Record`, data decoded into the batch's arena).

use std::borrow::Cow;

use super::{Message, WireRecord};
use crate::error::{excerpt, ProtocolError};
use crate::record::Record;

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

pub(super) fn into_owned_message(m: Message<'_>) -> Message<'static> {
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
#[inline]
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
#[inline]
pub(crate) fn record_with<'a>(r: &'a WireRecord<'a>, data: &'a [u8]) -> Record<'a> {
    Record {
        data,
        partition_key: r.partition_key.clone().unwrap_or(Cow::Borrowed("")),
        sequence_number: r.sequence_number.clone().unwrap_or(Cow::Borrowed("")),
        sub_sequence_number: r.sub_sequence_number.unwrap_or(0),
        approximate_arrival_timestamp: r.approximate_arrival_timestamp,
    }
}
