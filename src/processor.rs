//! The interface a record processor implements.

use crate::checkpoint::Checkpointer;
use crate::error::BoxError;
use crate::message::InitializeInput;
use crate::record::Record;

/// What `processRecords` hands the processor.
#[derive(Debug)]
pub struct ProcessRecordsInput<'a> {
    /// The batch, in shard order; empty only when the daemon is configured to send empty
    /// batches (`callProcessRecordsEvenForEmptyRecordList`).
    pub records: &'a [Record<'a>],
    /// How far behind the tip of the stream the batch is, when the daemon knows.
    pub millis_behind_latest: Option<u64>,
    /// The largest (sequence, sub-sequence) in `records`, compared numerically; `None` for
    /// an empty batch. Computed once by the run loop, so processors need not scan again.
    pub largest: Option<(&'a str, u64)>,
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
