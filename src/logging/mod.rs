//! A log file for record processors: a `tracing` layer that writes one line per event to a
//! file rotated by size, shared safely by the daemon's many children.
//!
//! Why not `tracing-appender`: its rolling appender rotates by time only, and its
//! non-blocking writer hands lines to a thread, so "this line is in the file" (which must
//! hold before a checkpoint) would need a round trip to that thread. Here lines are
//! formatted into a buffer in the calling thread and written with one `write(2)` per chunk
//! of whole lines, so lines of concurrent processes appending to the same file never
//! interleave, nothing is dropped under load, and [`LogFile::flush`] is a plain write.
//!
//! A write that fails (a full disk, the path replaced by a directory, a rotation that
//! cannot rename or open) poisons the [`LogFile`]: the lines it held are gone, so every
//! later write and flush fails too, with a [`LogError`]. A caller that flushes before it
//! checkpoints therefore never checkpoints past a line that is not in the file, however
//! the failure and its retries fall.
//!
//! The module's parts: [`LogFile`] and its rotation (`file`), the [`LogError`] that
//! poisons it (`error`), the `tracing` [`FileLayer`] (`layer`), the batch writer
//! [`InfoLines`] (`info_lines`), and what they share: the line's head (`head`, `clock`)
//! and the escaping rules (`escape`), whose scans are the kernels of `crate::simd::text`.

mod bytes;
mod clock;
mod error;
mod escape;
mod file;
mod head;
mod info_lines;
mod layer;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use tracing::Level;

pub use error::LogError;
pub use file::LogFile;
pub use info_lines::InfoLines;
pub use layer::FileLayer;

/// Lines are written to the file once this much is buffered (and on every flush).
const CHUNK_BYTES: usize = 64 << 10;

/// Lines of at least this size are written straight from the caller's bytes, one `writev`
/// from their pieces (see [`escape::line_pieces`]) instead of a copy.
const DIRECT_BYTES: usize = 64 << 10;

/// How each line is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// `HH:MM:SS.mmm [module] LEVEL  function - message`, like the Python sample's
    /// `logging` format (time in UTC; module is the last part of the event's target,
    /// function the action being handled). Control characters are escaped (`\n`, `\u{1b}`), so
    /// every event is exactly one line.
    Text,
    /// One JSON object per line: `time` (RFC 3339, UTC), `level`, `module`, `function`,
    /// `message`, and any other fields of the event.
    Json,
}

/// Where and how to log.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The log file; its directory is created if missing.
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes (0: never).
    pub max_bytes: u64,
    /// How many rotated files (`path.1` … `path.N`) to keep.
    pub backups: u32,
    /// Line layout.
    pub format: LogFormat,
    /// The most verbose level written.
    pub level: Level,
}
