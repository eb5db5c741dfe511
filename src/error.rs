//! Errors of the protocol and of the run loop.

use std::io;

/// The error type user processors return: any error, with its cause chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A line from the daemon that is not a message this side can act on.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The line is not a JSON object of the expected shape.
    #[error("malformed line from the daemon ({reason}): {line}")]
    Malformed {
        /// What is wrong with it.
        reason: String,
        /// The line, shortened for the log when it is long.
        line: String,
    },
    /// A record whose data is not valid base64.
    #[error("record {sequence_number}:{sub_sequence_number} has invalid base64 data: {reason}")]
    InvalidBase64 {
        /// The record's sequence number.
        sequence_number: String,
        /// The record's sub-sequence number.
        sub_sequence_number: u64,
        /// What the decoder said.
        reason: String,
    },
    /// A record whose sequence number is not a non-negative decimal number (empty, a sign,
    /// letters, a sentinel such as `SHARD_END`). Taken as a position it could be
    /// checkpointed, and the daemon would read `SHARD_END` as the end of the shard.
    #[error("a record's sequenceNumber must be a non-negative decimal number (digits only), not {sequence_number:?}: {line}")]
    InvalidSequenceNumber {
        /// The sequence number as sent, shortened when it is long.
        sequence_number: String,
        /// The line (or, in a streamed batch, the record), shortened.
        line: String,
    },
    /// A reply arrived where a checkpoint reply was expected.
    #[error("expected the daemon's checkpoint reply, got: {line}")]
    UnexpectedReply {
        /// The line, shortened.
        line: String,
    },
}

/// Why the run loop stopped before the daemon closed its input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The daemon sent something that cannot be acted on.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The processor failed (returned an error or panicked) in an action; it was not
    /// acknowledged, so the daemon will restart from the last checkpoint.
    #[error("the record processor failed in {action}: {source}")]
    Processor {
        /// The action being handled.
        action: &'static str,
        /// The processor's error (or the panic message).
        source: BoxError,
    },
    /// Reading from or writing to the daemon failed.
    #[error("I/O error talking to the daemon: {0}")]
    Io(#[from] io::Error),
}

/// Shortens a line for an error message, keeping it valid UTF-8.
pub(crate) fn excerpt(line: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], line.len())
}
