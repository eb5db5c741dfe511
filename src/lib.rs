//! # kcl-multilang
//!
//! A record processor for Amazon Kinesis that speaks the Kinesis Client Library (KCL)
//! MultiLangDaemon protocol. The Java daemon holds the shard leases and starts one child
//! process per lease; the child reads the daemon's actions as JSON lines on stdin and
//! answers on stdout. This crate is that child's side: typed messages, decoded
//! [records](Record), [checkpointing](Checkpointer), the [`RecordProcessor`] trait you
//! implement, and the [run loop](Runtime) that owns the protocol.
//!
//! ```no_run
//! use kcl_multilang::{run_stdio, BoxError, Checkpointer, ProcessRecordsInput, RecordProcessor};
//!
//! struct Printer;
//!
//! impl RecordProcessor for Printer {
//!     fn process_records(
//!         &mut self,
//!         input: &ProcessRecordsInput<'_>,
//!         checkpointer: &mut Checkpointer<'_>,
//!     ) -> Result<(), BoxError> {
//!         for record in input.records {
//!             eprintln!("{}", String::from_utf8_lossy(record.data));
//!         }
//!         checkpointer.checkpoint()?;
//!         Ok(())
//!     }
//! }
//!
//! fn main() {
//!     std::process::exit(run_stdio(&mut Printer).exit_code());
//! }
//! ```
//!
//! A processor that handles one record at a time can also opt in to streaming
//! ([`RecordProcessor::streams_records`]): each record is then handed to
//! [`RecordProcessor::process_record`] as it is read from the pipe, so memory stays at the
//! size of one record whatever the batch size, and `process_records` is called once per
//! batch, after its last record, to checkpoint.
//!
//! With the `async` cargo feature, the `asynchronous` module runs processors written as `async fn`s
//! (for the AWS SDK and other async clients) on one current-thread tokio runtime per child.

// The wiring is private: what a processor author needs is re-exported below, so that the
// wire layer (message parsing and encoding) can change without breaking anyone.
#[cfg(feature = "async")]
pub mod asynchronous;
mod checkpoint;
mod error;
mod fast;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz_api;
mod lines;
pub mod logging;
mod message;
mod number;
mod policy;
mod processor;
mod record;
mod runtime;
pub mod sample;
mod sequence;
mod simd;
mod stdio;
mod stream;
pub mod telemetry;

pub use checkpoint::{CheckpointError, Checkpointer, RetryPolicy};
pub use error::{BoxError, ProtocolError, RunError};
pub use message::InitializeInput;
pub use policy::{ErrorPolicy, PolicyEnvError, BATCH_MAX_BACKOFF};
pub use processor::{ProcessRecordsInput, RecordProcessor};
pub use record::{OwnedRecord, Record};
pub use runtime::Runtime;
pub use sequence::Position;
pub use stdio::{
    ignore_termination_signals, run_stdio, run_stdio_observed, run_stdio_with, take_protocol_stdio,
    Outcome,
};
