//! Processors written as `async fn`s, for downstreams reached through async clients (the
//! AWS SDK for Rust, most HTTP and database clients). Needs the `async` cargo feature.
//!
//! The protocol stays one action at a time, so the run loop stays the blocking loop it is:
//! [`AsyncProcessor`] owns one current-thread tokio runtime per child process (one shard,
//! one thread), and runs each of your async methods to completion on it with
//! [`block_on`](tokio::runtime::Runtime::block_on) before the run loop answers the daemon.
//!
//! Checkpointing keeps the guarantees of the blocking trait. The [`Checkpointer`] is
//! borrowed for the duration of one call and is not `Send`, so it cannot be moved into a
//! spawned task or outlive the action: a checkpoint can only be made from the method's own
//! future, after whatever it awaited before it, and the exchange with the daemon stays
//! strictly in order. A checkpoint call blocks the runtime's thread while the daemon
//! answers (a few milliseconds); tasks you spawned wait during it, which costs nothing on a
//! shard's one thread.
//!
//! Streaming ([`RecordProcessor::streams_records`]) is not offered here: a batch arrives as
//! a slice, which is also what batching APIs (BatchWriteItem, PutRecordBatch) want.
//!
//! ```no_run
//! use kcl_multilang::asynchronous::{AsyncProcessor, AsyncRecordProcessor};
//! use kcl_multilang::{run_stdio, BoxError, Checkpointer, ProcessRecordsInput};
//!
//! struct Forwarder;
//!
//! impl AsyncRecordProcessor for Forwarder {
//!     async fn process_records(
//!         &mut self,
//!         input: &ProcessRecordsInput<'_>,
//!         checkpointer: &mut Checkpointer<'_>,
//!     ) -> Result<(), BoxError> {
//!         for record in input.records {
//!             // an SDK call per record or per batch, awaited here
//!             let _ = record;
//!         }
//!         checkpointer.checkpoint()?;
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     let mut processor = AsyncProcessor::new(Forwarder)?;
//!     std::process::exit(run_stdio(&mut processor).exit_code());
//! }
//! ```

use std::future::Future;
use std::io;

use tokio::runtime::{Builder, Runtime};

use crate::checkpoint::{Checkpointer, RetryPolicy};
use crate::error::BoxError;
use crate::message::InitializeInput;
use crate::processor::{ProcessRecordsInput, RecordProcessor};

/// A processor for one shard lease whose methods are async; run it through
/// [`AsyncProcessor`]. The methods and their defaults mean what they mean in
/// [`RecordProcessor`]; implement them with `async fn`.
///
/// The futures need not be `Send`: they run on the thread of the run loop.
pub trait AsyncRecordProcessor {
    /// The lease starts; `input` carries the shard and its current checkpoint.
    fn initialize(
        &mut self,
        input: &InitializeInput,
    ) -> impl Future<Output = Result<(), BoxError>> {
        let _ = input;
        async { Ok(()) }
    }

    /// Handles a batch. Checkpoint (through `checkpointer`) only what is durably handled:
    /// after the writes it depends on were awaited and succeeded.
    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> impl Future<Output = Result<(), BoxError>>;

    /// Another worker took the lease: checkpointing is no longer possible.
    fn lease_lost(&mut self) -> impl Future<Output = Result<(), BoxError>> {
        async { Ok(()) }
    }

    /// The shard has been read to its end: checkpoint, or its child shards are never
    /// processed. The default checkpoints (SHARD_END), retrying throttling.
    fn shard_ended(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
    ) -> impl Future<Output = Result<(), BoxError>> {
        async move {
            checkpointer.checkpoint_with_retry(None, &RetryPolicy::default())?;
            Ok(())
        }
    }

    /// The worker is shutting down or handing the lease over: checkpoint what is durably
    /// handled. The default does nothing; the records after the last checkpoint come again.
    fn shutdown_requested(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
    ) -> impl Future<Output = Result<(), BoxError>> {
        let _ = checkpointer;
        async { Ok(()) }
    }
}

/// Runs an [`AsyncRecordProcessor`] as a [`RecordProcessor`]: each action's future is
/// driven to completion on this adapter's runtime, created once for the process.
///
/// Errors and panics go through the run loop's error policy as for any processor; a
/// panicking future leaves the runtime usable for the next attempt.
pub struct AsyncProcessor<P> {
    runtime: Runtime,
    processor: P,
}

impl<P: std::fmt::Debug> std::fmt::Debug for AsyncProcessor<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncProcessor")
            .field("processor", &self.processor)
            .finish_non_exhaustive()
    }
}

impl<P: AsyncRecordProcessor> AsyncProcessor<P> {
    /// `processor` on a new current-thread runtime with its I/O and time drivers (whichever
    /// the build's tokio features include; the AWS SDK turns both on).
    pub fn new(processor: P) -> io::Result<Self> {
        Ok(Self::with_runtime(current_thread_runtime()?, processor))
    }

    /// `processor` on `runtime`: build the runtime first when the processor itself needs it
    /// to be made (an SDK client loading its configuration with
    /// [`block_on`](Runtime::block_on)).
    pub fn with_runtime(runtime: Runtime, processor: P) -> Self {
        Self { runtime, processor }
    }

    /// The runtime the processor's futures run on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The processor.
    pub fn processor(&self) -> &P {
        &self.processor
    }

    /// The processor, mutably.
    pub fn processor_mut(&mut self) -> &mut P {
        &mut self.processor
    }

    /// The processor, and the runtime it ran on.
    pub fn into_parts(self) -> (P, Runtime) {
        (self.processor, self.runtime)
    }
}

/// The runtime [`AsyncProcessor::new`] makes: one thread (the run loop's), every driver
/// the build has. Useful to load a client's configuration before the processor exists.
pub fn current_thread_runtime() -> io::Result<Runtime> {
    Builder::new_current_thread().enable_all().build()
}

impl<P: AsyncRecordProcessor> RecordProcessor for AsyncProcessor<P> {
    fn initialize(&mut self, input: &InitializeInput) -> Result<(), BoxError> {
        self.runtime.block_on(self.processor.initialize(input))
    }

    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        self.runtime
            .block_on(self.processor.process_records(input, checkpointer))
    }

    fn lease_lost(&mut self) -> Result<(), BoxError> {
        self.runtime.block_on(self.processor.lease_lost())
    }

    fn shard_ended(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        self.runtime
            .block_on(self.processor.shard_ended(checkpointer))
    }

    fn shutdown_requested(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        self.runtime
            .block_on(self.processor.shutdown_requested(checkpointer))
    }
}
