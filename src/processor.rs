//! The interface a record processor implements.

use crate::checkpoint::Checkpointer;
use crate::error::BoxError;
use crate::message::InitializeInput;
use crate::record::Record;

/// What `processRecords` hands the processor.
#[derive(Debug)]
pub struct ProcessRecordsInput<'a> {
    /// The batch, in shard order; empty when the daemon is configured to send empty
    /// batches (`callProcessRecordsEvenForEmptyRecordList`), and for a processor that
    /// [streams records](RecordProcessor::streams_records): it has seen them already.
    pub records: &'a [Record<'a>],
    /// How far behind the tip of the stream the batch is, when the daemon knows.
    pub millis_behind_latest: Option<u64>,
    /// The largest (sequence, sub-sequence) in `records`, compared numerically; `None` for
    /// an empty batch. Computed once by the run loop, so processors need not scan again.
    /// For a streamed batch, the largest among the records streamed.
    pub largest: Option<(&'a str, u64)>,
    /// How many records of this batch were handed to
    /// [`process_record`](RecordProcessor::process_record) before this call (0 unless the
    /// processor streams records).
    pub streamed: u64,
}

/// A processor for one shard lease. The run loop calls it one action at a time.
///
/// Every method is fallible. An error (or a panic) is never acknowledged: the run loop logs
/// it with its cause and stops without answering, so the daemon restarts from the last
/// checkpoint and nothing is skipped.
pub trait RecordProcessor {
    /// The lease starts; `input` carries the shard and its current checkpoint.
    fn initialize(&mut self, input: &InitializeInput) -> Result<(), BoxError> {
        let _ = input;
        Ok(())
    }

    /// Handles a batch. Checkpoint (through `checkpointer`) only what is durably handled.
    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError>;

    /// Whether this processor takes a batch's records one at a time, as they are read
    /// from the pipe ([`process_record`](RecordProcessor::process_record)), instead of as a
    /// slice. Asked before each action.
    ///
    /// Streaming keeps the process's memory bounded by its largest record rather than its
    /// largest batch (a 10 000-record batch is a line of several megabytes) and is faster,
    /// as each record is still in the CPU caches when it is handled. The price: a record
    /// cannot be checkpointed from `process_record` (the daemon is still writing the batch
    /// and cannot answer), and the [`Skip`](crate::ErrorPolicy::Skip) policy applies to
    /// single records. `process_records` is still called once per batch, after its last
    /// record, with `records` empty and [`ProcessRecordsInput::largest`] set: checkpoint
    /// there.
    fn streams_records(&self) -> bool {
        false
    }

    /// Handles one record of a batch being streamed (see
    /// [`streams_records`](RecordProcessor::streams_records)). Records come in shard
    /// order; an error or panic goes through the error policy for this record alone.
    fn process_record(&mut self, record: &Record<'_>) -> Result<(), BoxError> {
        let _ = record;
        Err("streams_records() is true but process_record is not implemented".into())
    }

    /// Another worker took the lease: checkpointing is no longer possible.
    fn lease_lost(&mut self) -> Result<(), BoxError> {
        Ok(())
    }

    /// The shard has been read to its end (after a split or merge). The processor must
    /// checkpoint, or the child shards are never processed; the default does that
    /// (SHARD_END), retrying throttling with the default policy.
    fn shard_ended(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        checkpointer.checkpoint_with_retry(None, &Default::default())?;
        Ok(())
    }

    /// The worker is shutting down, or (KCL 3.x) handing the lease to another worker:
    /// checkpoint what is durably handled. The default does nothing, which is safe: the
    /// records after the last checkpoint are delivered again.
    fn shutdown_requested(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        let _ = checkpointer;
        Ok(())
    }
}

impl<P: RecordProcessor + ?Sized> RecordProcessor for Box<P> {
    fn initialize(&mut self, input: &InitializeInput) -> Result<(), BoxError> {
        (**self).initialize(input)
    }
    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        (**self).process_records(input, checkpointer)
    }
    fn streams_records(&self) -> bool {
        (**self).streams_records()
    }
    fn process_record(&mut self, record: &Record<'_>) -> Result<(), BoxError> {
        (**self).process_record(record)
    }
    fn lease_lost(&mut self) -> Result<(), BoxError> {
        (**self).lease_lost()
    }
    fn shard_ended(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        (**self).shard_ended(checkpointer)
    }
    fn shutdown_requested(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        (**self).shutdown_requested(checkpointer)
    }
}
