//! [`LogError`]: the first failed write of a [`LogFile`](super::LogFile), reported by every
//! later call.

use std::error::Error as StdError;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A line could not be written to the log file, now or by an earlier write.
///
/// The first failure poisons the [`LogFile`](super::LogFile): lines were lost with it, so
/// every later write and flush reports it too ([`LogError::is_earlier`]) and nothing more
/// is written.
/// The run loop never retries or skips a batch that failed with one (see
/// [`ErrorPolicy`](crate::ErrorPolicy)): the process stops without acknowledging it, and
/// the daemon restarts the shard from its last checkpoint.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct LogError {
    pub(super) path: PathBuf,
    /// Shared: every later call reports this same first failure.
    pub(super) cause: Arc<io::Error>,
    pub(super) earlier: bool,
}

impl LogError {
    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operating system's error of the first failure (its message says which step of a
    /// rotation failed, if one did).
    pub fn io_error(&self) -> &io::Error {
        &self.cause
    }

    /// Whether the failure happened in an earlier call: this one wrote nothing.
    pub fn is_earlier(&self) -> bool {
        self.earlier
    }

    /// The `LogError` behind `err`, if there is one: `err` itself, anywhere in its chain of
    /// sources, or wrapped in an [`io::Error`] on the way.
    pub fn find_in<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a LogError> {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<LogError>() {
                return Some(found);
            }
            // `io::Error::source` skips the error it wraps: go through that one instead.
            next = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
                Some(wrapped) => Some(wrapped),
                None => e.source(),
            };
        }
        None
    }

    fn describe(&self) -> String {
        if self.earlier {
            format!(
                "the log file {} failed earlier ({}); lines may be missing from it, so nothing more is written",
                self.path.display(),
                self.cause
            )
        } else {
            format!(
                "cannot write the log file {}: {}",
                self.path.display(),
                self.cause
            )
        }
    }
}

impl From<LogError> for io::Error {
    fn from(err: LogError) -> Self {
        io::Error::new(err.cause.kind(), err)
    }
}
