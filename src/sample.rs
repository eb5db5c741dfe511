//! The sample processor: what the Python `record_processor.py` of the Kinesis-on-Fargate
//! sample does, without its losses. It is what the container's `record_processor` binary
//! runs, and what `bench/` measures; a starting point for your own.

use std::time::{Duration, Instant};

use crate::logging::{InfoLines, LogError, LogFile};
use crate::{
    BoxError, CheckpointError, Checkpointer, InitializeInput, Position, ProcessRecordsInput,
    Record, RecordProcessor, RetryPolicy,
};
use base64::Engine as _;
use tracing::{error, info, warn};

/// The `[module]` of this processor's log lines, as in the Python sample.
const TARGET: &str = "record_processor";

/// Marks a record whose data is not UTF-8 and is logged as base64 instead.
pub const BINARY_MARKER: &str = "[non-UTF-8 data, base64] ";

/// Logs every record's data to the log file and checkpoints every `interval`, at shard end
/// and on a shutdown request, always after the lines are in the file.
///
/// Every status and every checkpoint comes after a flush of the log, and a flush fails once
/// any write to the file has failed (the [`LogFile`] is poisoned): a line that could not be
/// written is never acknowledged, whichever write lost it.
pub struct SampleProcessor {
    log: LogFile,
    interval: Duration,
    retry: RetryPolicy,
    shard_id: String,
    largest: Option<Position>,
    checkpointed: Option<Position>,
    last_checkpoint: Instant,
    stopped: bool,
    /// The record-line writer of the batch being streamed.
    lines: Option<InfoLines>,
}

impl SampleProcessor {
    /// A processor logging to `log`, checkpointing every `interval` (and at shard end and on
    /// a shutdown request), retrying a throttled checkpoint as `retry` says.
    pub fn new(log: LogFile, interval: Duration, retry: RetryPolicy) -> Self {
        Self {
            log,
            interval,
            retry,
            shard_id: String::new(),
            largest: None,
            checkpointed: None,
            last_checkpoint: Instant::now(),
            stopped: false,
            lines: None,
        }
    }

    /// Checkpoints at `at` (everything delivered when `None`) after flushing the log, so a
    /// checkpoint never covers a record whose line is not in the file. Checkpoint errors are
    /// logged and survived; only a log that cannot be written is an error.
    fn checkpoint(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
        at: Option<Position>,
    ) -> Result<(), BoxError> {
        self.log.flush()?;
        let label = at
            .as_ref()
            .map_or_else(|| "SHARD_END".to_string(), Position::to_string);
        self.last_checkpoint = Instant::now();
        match checkpointer.checkpoint_with_retry(at.as_ref(), &self.retry) {
            Ok(()) => {
                info!(target: TARGET, "checkpointed shard {} at {label}", self.shard_id);
                if at.is_some() {
                    self.checkpointed = at;
                }
            }
            Err(CheckpointError::Shutdown) => {
                warn!(
                    target: TARGET,
                    "checkpoint at {label} refused: the lease of shard {} is lost or shutting down; no more checkpoints",
                    self.shard_id
                );
                self.stopped = true;
            }
            // The run loop ends the process cleanly or with the protocol error.
            Err(CheckpointError::Closed | CheckpointError::Protocol(_)) => {}
            Err(e) => error!(
                target: TARGET,
                "checkpoint of shard {} at {label} failed: {e}; continuing, the next checkpoint covers it",
                self.shard_id
            ),
        }
        self.log.flush()?;
        Ok(())
    }

    /// One line per record, in the same file and layout as every other line, without a
    /// `tracing` dispatch per record: this is the hot path.
    fn log_records(&self, records: &[Record<'_>]) -> Result<(), LogError> {
        let mut lines = self.log.info_lines(TARGET, "process_records");
        for record in records {
            log_record(&mut lines, record)?;
        }
        lines.publish()
    }
}

fn log_record(lines: &mut InfoLines, record: &Record<'_>) -> Result<(), LogError> {
    if lines.info_if_text(record.data)? {
        return Ok(());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(record.data);
    lines.info(&format!("{BINARY_MARKER}{encoded}"))
}

impl RecordProcessor for SampleProcessor {
    fn initialize(&mut self, input: &InitializeInput) -> Result<(), BoxError> {
        self.shard_id.clone_from(&input.shard_id);
        info!(
            target: TARGET,
            "initialized shard {} at checkpoint {}:{}",
            input.shard_id,
            input.sequence_number.as_deref().unwrap_or("null"),
            input
                .sub_sequence_number
                .map_or_else(|| "null".to_string(), |n| n.to_string())
        );
        self.log.flush()?;
        Ok(())
    }

    /// Records are logged as they are read: memory stays flat whatever the batch size.
    fn streams_records(&self) -> bool {
        true
    }

    fn process_record(&mut self, record: &Record<'_>) -> Result<(), BoxError> {
        let log = &self.log;
        let lines = self
            .lines
            .get_or_insert_with(|| log.info_lines(TARGET, "process_records"));
        Ok(log_record(lines, record)?)
    }

    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        // The streamed lines go to the log file's buffer before the flush below. A write
        // that failed while streaming poisoned the file, so that flush fails too.
        if let Some(mut lines) = self.lines.take() {
            lines.publish()?;
        }
        self.log_records(input.records)?;
        if let Some(batch_max) = input.largest.map(|(seq, sub)| Position::new(seq, sub)) {
            if self.largest.as_ref().is_none_or(|l| *l < batch_max) {
                self.largest = Some(batch_max);
            }
        }
        // Each batch's lines reach the file before the status: `tail -F` shows them at once.
        self.log.flush()?;
        let due = self.last_checkpoint.elapsed() >= self.interval;
        if due && !self.stopped && self.largest > self.checkpointed {
            let at = self.largest.clone();
            self.checkpoint(checkpointer, at)?;
        }
        Ok(())
    }

    fn lease_lost(&mut self) -> Result<(), BoxError> {
        info!(
            target: TARGET,
            "lease of shard {} ended (taken by another worker, or the worker is shutting down); last checkpoint {}",
            self.shard_id,
            self.checkpointed
                .as_ref()
                .map_or_else(|| "none by this process".to_string(), Position::to_string)
        );
        self.log.flush()?;
        Ok(())
    }

    fn shard_ended(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        info!(target: TARGET, "shard {} ended; checkpointing SHARD_END", self.shard_id);
        self.checkpoint(checkpointer, None)
    }

    fn shutdown_requested(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        info!(target: TARGET, "shutdown requested for shard {}", self.shard_id);
        if !self.stopped && self.largest > self.checkpointed {
            let at = self.largest.clone();
            self.checkpoint(checkpointer, at)?;
        } else {
            self.log.flush()?;
        }
        Ok(())
    }
}
