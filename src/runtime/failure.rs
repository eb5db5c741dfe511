//! What happens when the processor fails: panics caught at the boundary, and the
//! [`ErrorPolicy`] applied to the failure.

use std::panic::{self, AssertUnwindSafe};

use crate::error::BoxError;
use crate::logging::LogError;
use crate::policy::{write_dead_letters, ErrorPolicy};
use crate::record::Record;

/// Runs a processor callback, turning a panic into an error so it is handled like one.
pub(super) fn guarded(f: impl FnOnce() -> Result<(), BoxError>) -> Result<(), BoxError> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-string payload".to_string());
            Err(format!("the record processor panicked: {what}").into())
        }
    }
}

/// Runs `attempt` until it succeeds, applying `policy` to each failure: wait and try again,
/// or write `skip`'s records (with their shard) to the dead-letter file and go on, or give
/// the error back. `None` for `skip` means there is nothing that could be written, so
/// nothing is skipped. A failure marked `true` (the daemon went away meanwhile) is final,
/// and so is one caused by the log file ([`LogError`]), whatever the policy.
pub(super) fn under_policy(
    policy: &ErrorPolicy,
    what: &dyn std::fmt::Display,
    skip: Option<(&str, &[Record<'_>])>,
    mut attempt: impl FnMut() -> Result<(), (BoxError, bool)>,
) -> Result<(), BoxError> {
    let mut tries = 1;
    loop {
        let Err((err, gone)) = attempt() else {
            return Ok(());
        };
        match (policy, skip) {
            _ if gone => return Err(err),
            // The log file is poisoned: another attempt cannot write the lines, and skipping
            // would acknowledge records whose lines are not in it.
            _ if LogError::find_in(&*err).is_some() => return Err(err),
            (ErrorPolicy::Retry(retry), _) if tries < retry.max_attempts => {
                let delay = retry.backoff(tries);
                let attempts = retry.max_attempts;
                tracing::warn!(
                    "processing {what} failed (attempt {tries} of {attempts}): {err}; retrying in {delay:?}"
                );
                std::thread::sleep(delay);
                tries += 1;
            }
            (ErrorPolicy::Skip { dead_letter }, Some((shard, records))) => {
                let reason = err.to_string();
                return match write_dead_letters(dead_letter, shard, records, &reason) {
                    Ok(()) => {
                        tracing::error!(
                            "processing {what} failed: {reason}; skipped, written to the dead-letter file {}",
                            dead_letter.display()
                        );
                        Ok(())
                    }
                    Err(io) => Err(format!(
                        "{reason}; and the dead-letter file {} could not be written: {io}",
                        dead_letter.display()
                    )
                    .into()),
                };
            }
            _ => return Err(err),
        }
    }
}
