//! `processRecords`, read whole ([`whole`]) or streamed record by record ([`stream`]). Both
//! end the same way: a [`Summary`] of the batch goes into the stats and becomes the
//! processor's [`ProcessRecordsInput`], and [`process`] calls `process_records` under the
//! error policy, so the two paths cannot drift apart.

use std::io::{Read, Write};

use super::channel::PipeChannel;
use super::failure::{guarded, under_policy};
use super::Action;
use crate::checkpoint::Checkpointer;
use crate::error::{BoxError, RunError};
use crate::lines::LineBuf;
use crate::message::{decode_records, WireRecord};
use crate::policy::ErrorPolicy;
use crate::processor::{ProcessRecordsInput, RecordProcessor};
use crate::record::Record;
use crate::sequence::index_of_max_numeric;
use crate::stream::{stream_records, StreamEnd};

const ACTION: &str = "processRecords";

/// What the stats and the processor are told about a batch, however it was read.
struct Summary<'a> {
    count: u64,
    bytes: u64,
    largest: Option<(&'a str, u64)>,
    millis_behind_latest: Option<u64>,
}

impl<'a> Summary<'a> {
    /// Counts the batch into `action`'s stats and gives the input `process_records` gets:
    /// `records` for a batch read whole, none (and the count as `streamed`) for a streamed
    /// one, whose records the processor has seen already.
    fn input<R: Read, W: Write>(
        &self,
        action: &mut Action<'_, '_, R, W>,
        records: &'a [Record<'a>],
        streamed: bool,
    ) -> ProcessRecordsInput<'a> {
        action.stats.batch(
            self.count,
            self.bytes,
            self.largest,
            self.millis_behind_latest,
        );
        ProcessRecordsInput {
            records,
            millis_behind_latest: self.millis_behind_latest,
            largest: self.largest,
            streamed: if streamed { self.count } else { 0 },
        }
    }
}

/// A `processRecords` line read whole: its records decoded into `arena`, then handed to
/// `process_records` in one call. Returns `false` when the run is over.
pub(super) fn whole<R: Read, W: Write>(
    action: &mut Action<'_, '_, R, W>,
    wire: &[WireRecord<'_>],
    millis_behind_latest: Option<u64>,
    arena: &mut Vec<u8>,
    policy: &ErrorPolicy,
    processor: &mut dyn RecordProcessor,
) -> Result<bool, RunError> {
    // Begun before decoding, so that a batch that cannot be decoded ends the run inside it.
    action.stats.begin(ACTION);
    let records = decode_records(wire, arena)?;
    // `parse_message` refused any record whose sequence number is not decimal.
    let largest = index_of_max_numeric(records.iter().map(Record::position_parts));
    let summary = Summary {
        count: records.len() as u64,
        bytes: records.iter().map(|r| r.data.len() as u64).sum(),
        largest: largest.map(|i| records[i].position_parts()),
        millis_behind_latest,
    };
    let input = summary.input(action, &records, false);
    action.started();
    let span = tracing::info_span!("process_records");
    action.finish(ACTION, span, |channel| {
        process(processor, &input, channel, policy)
    })
}

/// A `processRecords` line streamed: each record handed to `process_record` as it is read
/// (its start is in `line`), then `process_records` called once for the batch. Returns
/// `false` when the run is over (the daemon closed a pipe).
pub(super) fn stream<R: Read, W: Write>(
    action: &mut Action<'_, '_, R, W>,
    line: &mut LineBuf,
    arena: &mut Vec<u8>,
    policy: &ErrorPolicy,
    processor: &mut dyn RecordProcessor,
) -> Result<bool, RunError> {
    action.start(ACTION);
    let _span = tracing::info_span!("process_records").entered();
    let end = {
        let shard = action.stats.shard_id.as_str();
        stream_records(action.pipes.input, line, arena, |record| {
            deliver(processor, record, policy, shard)
        })?
    };
    let batch = match end {
        StreamEnd::Done(batch) => batch,
        StreamEnd::Eof { count } => {
            tracing::warn!(
                "stdin ended in the middle of a processRecords line, after {count} records; they were not acknowledged"
            );
            tracing::info!("the daemon closed stdin; exiting");
            return Ok(false);
        }
    };
    let summary = Summary {
        count: batch.count,
        bytes: batch.bytes,
        largest: batch
            .largest
            .get()
            .map(|p| (p.sequence_number.as_str(), p.sub_sequence_number)),
        millis_behind_latest: batch.millis_behind_latest,
    };
    let input = summary.input(action, &[], true);
    // The whole streamed action runs in the span entered above, the end included, as it
    // always has: its records were logged in it.
    action.finish(ACTION, tracing::Span::none(), |channel| {
        process(processor, &input, channel, policy)
    })
}

/// Hands one streamed record to the processor, applying `policy` when it fails.
fn deliver(
    processor: &mut dyn RecordProcessor,
    record: &Record<'_>,
    policy: &ErrorPolicy,
    shard: &str,
) -> Result<(), RunError> {
    // Borrowed, not `record.position()`: this runs for every record, failing or not.
    let what = format_args!(
        "record {}:{}",
        record.sequence_number, record.sub_sequence_number
    );
    let skip = Some((shard, std::slice::from_ref(record)));
    under_policy(policy, &what, skip, || {
        guarded(|| processor.process_record(record)).map_err(|err| (err, false))
    })
    .map_err(|source| RunError::Processor {
        action: ACTION,
        source,
    })
}

/// Hands a batch to `process_records`, applying `policy` when it fails.
fn process<R: Read, W: Write>(
    processor: &mut dyn RecordProcessor,
    input: &ProcessRecordsInput<'_>,
    channel: &mut PipeChannel<'_, '_, R, W>,
    policy: &ErrorPolicy,
) -> Result<(), BoxError> {
    // Only the Skip policy needs the shard; the attempts below hold the channel.
    let shard = match policy {
        ErrorPolicy::Skip { .. } => channel.stats.shard_id.clone(),
        _ => String::new(),
    };
    // A streamed batch's records are gone: nothing to write, so nothing to skip.
    let skip = (input.streamed == 0).then_some((shard.as_str(), input.records));
    // The count bound first: `format_args!` borrows its arguments, and the compiler of
    // our rust-version drops a temporary in a `let` of it at the end of the statement.
    let count = input.records.len();
    let what = format_args!("a batch of {count} records");
    under_policy(policy, &what, skip, || {
        let result = {
            let mut checkpointer = Checkpointer::new(&mut *channel);
            guarded(|| processor.process_records(input, &mut checkpointer))
        };
        result.map_err(|err| (err, !channel.is_open()))
    })
}
