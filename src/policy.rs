//! What the run loop does when the processor fails on a batch.
//!
//! amazon_kclpy catches the exception, prints it and acknowledges the batch: the records
//! are gone without a trace. Here it is a choice, and none of the choices loses a record
//! silently.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

use crate::checkpoint::RetryPolicy;
use crate::record::Record;
use crate::telemetry::now_ms;

/// The policy for a failed (erroring or panicking) `process_records`.
///
/// An error caused by the log file (a [`LogError`](crate::logging::LogError) in its chain)
/// always fails at once, whatever the policy: the file is poisoned, so another attempt
/// cannot write the lost lines, and skipping would acknowledge records whose lines are not
/// in it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Stop without answering: the daemon exits and the worker restarts from the last
    /// checkpoint (at-least-once; nothing is skipped).
    Fail,
    /// Call `process_records` again with the same batch, up to `max_attempts` calls in all,
    /// waiting as the [`RetryPolicy`] says in between (the one back-off of the crate, also
    /// used for checkpoints); then [`ErrorPolicy::Fail`].
    Retry(RetryPolicy),
    /// Write every record of the failed batch to a dead-letter file (one JSON object per
    /// line), then acknowledge the batch. If the file cannot be written, fail.
    Skip {
        /// The dead-letter file, appended to.
        dead_letter: PathBuf,
    },
}

impl Default for ErrorPolicy {
    /// Three attempts, 1 s apart at first, doubling (up to [`RetryPolicy::default`]'s
    /// cap), then fail: the default of [`Runtime::new`](crate::Runtime::new),
    /// [`run_stdio`](crate::run_stdio) and the `record_processor` binary alike.
    fn default() -> Self {
        ErrorPolicy::Retry(RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        })
    }
}

/// The longest wait between two attempts at a batch that the environment or the binary's
/// flags configure: a minute, so that a long outage is retried at a steady pace rather
/// than ever more rarely.
pub const BATCH_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// An environment variable that holds a value this crate cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?}: {reason}")]
pub struct PolicyEnvError {
    name: &'static str,
    value: String,
    reason: &'static str,
}

impl ErrorPolicy {
    /// The policy the environment asks for, as the `record_processor` binary reads it:
    /// `ON_ERROR` = `retry` (default) | `fail` | `skip`; `ERROR_RETRIES` (attempts, default
    /// 3); `ERROR_BACKOFF_MS` (default 1000); `DEAD_LETTER_FILE` (default
    /// `dead_letter.jsonl` in `default_dir`).
    pub fn from_env(default_dir: &Path) -> Result<Self, PolicyEnvError> {
        let var = |name: &'static str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let number = |name: &'static str, default: u64| match var(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| PolicyEnvError {
                name,
                value: v,
                reason: "not a whole number",
            }),
        };
        match var("ON_ERROR").as_deref().unwrap_or("retry") {
            "retry" => Ok(ErrorPolicy::Retry(RetryPolicy {
                max_attempts: u32::try_from(number("ERROR_RETRIES", 3)?.max(1)).unwrap_or(u32::MAX),
                initial_backoff: Duration::from_millis(number("ERROR_BACKOFF_MS", 1000)?),
                max_backoff: BATCH_MAX_BACKOFF,
            })),
            "fail" => Ok(ErrorPolicy::Fail),
            "skip" => Ok(ErrorPolicy::Skip {
                dead_letter: var("DEAD_LETTER_FILE")
                    .map_or_else(|| default_dir.join("dead_letter.jsonl"), PathBuf::from),
            }),
            other => Err(PolicyEnvError {
                name: "ON_ERROR",
                value: other.to_string(),
                reason: "expected retry, fail or skip",
            }),
        }
    }
}

/// Appends failed records to `path`, one JSON object per record, each in one write (so
/// the lines of children sharing the file never interleave).
pub(crate) fn write_dead_letters(
    path: &Path,
    shard_id: &str,
    records: &[Record<'_>],
    error: &str,
) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file: File = OpenOptions::new().create(true).append(true).open(path)?;
    let time_ms = now_ms();
    let mut line = Vec::new();
    for r in records {
        line.clear();
        let entry = serde_json::json!({
            "time": time_ms,
            "shardId": shard_id,
            "sequenceNumber": r.sequence_number,
            "subSequenceNumber": r.sub_sequence_number,
            "partitionKey": r.partition_key,
            "approximateArrivalTimestamp": r.approximate_arrival_timestamp,
            "data": base64::engine::general_purpose::STANDARD.encode(r.data),
            "error": error,
        });
        serde_json::to_writer(&mut line, &entry)?;
        line.push(b'\n');
        file.write_all(&line)?;
    }
    Ok(())
}
