//! Checkpointing: asking the daemon to record a position in the lease table.
//!
//! A checkpoint is a request/reply exchange inside the current action: this side writes a
//! `checkpoint` message, the daemon writes the lease and answers with exactly one
//! `checkpoint` reply, whose `error` is the Java class name of whatever it threw.

use std::fmt;
use std::time::Duration;

use crate::error::ProtocolError;
use crate::message::CheckpointReply;
use crate::sequence::Position;

/// Why a checkpoint did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// DynamoDB throttled the write (`ThrottlingException`): retry later.
    #[error("checkpoint throttled (ThrottlingException)")]
    Throttling,
    /// The lease is lost or the processor is shut down (`ShutdownException`): stop
    /// checkpointing.
    #[error("lease lost or processor shut down (ShutdownException)")]
    Shutdown,
    /// The lease table is in a bad state, or checkpointing is not allowed now
    /// (`InvalidStateException`).
    #[error("invalid state (InvalidStateException)")]
    InvalidState,
    /// DynamoDB or another dependency failed (`KinesisClientLibDependencyException`).
    #[error("dependency failure (KinesisClientLibDependencyException)")]
    Dependency,
    /// The position is not a number, or outside [last checkpoint, largest delivered]
    /// (`IllegalArgumentException`).
    #[error("invalid checkpoint position (IllegalArgumentException)")]
    IllegalArgument,
    /// Any other exception the daemon reported, by its Java class name.
    #[error("checkpoint failed in the daemon: {0}")]
    Other(String),
    /// The daemon closed the pipe during the exchange; the run loop ends cleanly after the
    /// current call returns.
    #[error("the daemon closed the connection during a checkpoint")]
    Closed,
    /// The daemon answered with something other than a checkpoint reply; the run loop
    /// stops with an error after the current call returns.
    #[error(transparent)]
    Protocol(ProtocolError),
}

impl CheckpointError {
    /// Maps the daemon's `error` field (a Java simple class name) to a typed error.
    pub fn from_java_name(name: &str) -> Self {
        match name {
            "ThrottlingException" => Self::Throttling,
            "ShutdownException" => Self::Shutdown,
            "InvalidStateException" => Self::InvalidState,
            "KinesisClientLibDependencyException" => Self::Dependency,
            "IllegalArgumentException" => Self::IllegalArgument,
            other => Self::Other(other.to_string()),
        }
    }

    /// Whether trying again later can succeed (throttling and dependency failures).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttling | Self::Dependency)
    }
}

/// The transport a [`Checkpointer`] talks through; the run loop implements it over the
/// daemon's pipes, tests over buffers.
pub(crate) trait CheckpointChannel {
    /// Sends a checkpoint request and returns the daemon's reply.
    fn request(
        &mut self,
        sequence_number: Option<&str>,
        sub_sequence_number: Option<u64>,
    ) -> Result<CheckpointReply, CheckpointError>;
}

/// How [`Checkpointer::checkpoint_with_retry`] retries throttling and dependency failures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The delay after the first failure; it doubles after each further one.
    pub initial_backoff: Duration,
    /// The longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts, 1 s doubling up to 10 s: the sample processor's behaviour.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1`, after `attempt` failures (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Checkpoints the current shard. Handed to the processor in the actions where the daemon
/// allows checkpointing: `processRecords`, `shardEnded` and `shutdownRequested`.
pub struct Checkpointer<'a> {
    channel: &'a mut dyn CheckpointChannel,
    sleep: fn(Duration),
}

impl fmt::Debug for Checkpointer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpointer").finish_non_exhaustive()
    }
}

impl<'a> Checkpointer<'a> {
    /// A checkpointer over `channel`.
    pub(crate) fn new(channel: &'a mut dyn CheckpointChannel) -> Self {
        Self {
            channel,
            sleep: std::thread::sleep,
        }
    }

    /// A checkpointer whose retry back-off calls `sleep` (tests pass a no-op).
    #[cfg(test)]
    pub(crate) fn with_sleep(channel: &'a mut dyn CheckpointChannel, sleep: fn(Duration)) -> Self {
        Self { channel, sleep }
    }

    /// Checkpoints everything delivered so far; during `shardEnded`, SHARD_END.
    ///
    /// Only correct when every delivered record has been durably handled.
    pub fn checkpoint(&mut self) -> Result<(), CheckpointError> {
        self.send(None, None)
    }

    /// Checkpoints at `(sequence_number, sub_sequence_number)`: records at or before it
    /// will not be delivered again after a restart.
    pub fn checkpoint_at(
        &mut self,
        sequence_number: &str,
        sub_sequence_number: u64,
    ) -> Result<(), CheckpointError> {
        self.send(Some(sequence_number), Some(sub_sequence_number))
    }

    /// Checkpoints at `position`, or everything delivered when `None`, retrying throttling
    /// and dependency failures with exponential back-off as `policy` says.
    ///
    /// Returns the last error when the attempts run out, or at once for an error that
    /// retrying cannot fix.
    pub fn checkpoint_with_retry(
        &mut self,
        position: Option<&Position>,
        policy: &RetryPolicy,
    ) -> Result<(), CheckpointError> {
        let mut attempt = 1;
        loop {
            let result = match position {
                Some(p) => self.checkpoint_at(&p.sequence_number, p.sub_sequence_number),
                None => self.checkpoint(),
            };
            match result {
                Err(e) if e.is_retryable() && attempt < policy.max_attempts.max(1) => {
                    let delay = policy.backoff(attempt);
                    tracing::warn!(
                        "checkpoint attempt {attempt} of {} failed: {e}; retrying in {delay:?}",
                        policy.max_attempts
                    );
                    (self.sleep)(delay);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn send(&mut self, seq: Option<&str>, sub: Option<u64>) -> Result<(), CheckpointError> {
        let reply = self.channel.request(seq, sub)?;
        match reply.error {
            None => Ok(()),
            Some(name) => Err(CheckpointError::from_java_name(&name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    struct Scripted {
        replies: VecDeque<Option<&'static str>>,
        sent: Vec<(Option<String>, Option<u64>)>,
    }

    impl CheckpointChannel for Scripted {
        fn request(
            &mut self,
            seq: Option<&str>,
            sub: Option<u64>,
        ) -> Result<CheckpointReply, CheckpointError> {
            self.sent.push((seq.map(str::to_string), sub));
            match self.replies.pop_front() {
                None => Err(CheckpointError::Closed),
                Some(error) => Ok(CheckpointReply {
                    sequence_number: seq.map(str::to_string),
                    sub_sequence_number: sub,
                    error: error.map(str::to_string),
                }),
            }
        }
    }

    fn scripted(replies: &[Option<&'static str>]) -> Scripted {
        Scripted {
            replies: replies.iter().copied().collect(),
            sent: vec![],
        }
    }

    fn policy(n: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts: n,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(250),
        }
    }

    #[test]
    fn typed_errors_from_java_names() {
        let cases = [
            ("ThrottlingException", "Throttling"),
            ("ShutdownException", "Shutdown"),
            ("InvalidStateException", "InvalidState"),
            ("KinesisClientLibDependencyException", "Dependency"),
            ("IllegalArgumentException", "IllegalArgument"),
            ("NullPointerException", "Other(\"NullPointerException\")"),
        ];
        for (name, want) in cases {
            let mut ch = scripted(&[Some(name)]);
            let err = Checkpointer::new(&mut ch)
                .checkpoint_at("5", 1)
                .unwrap_err();
            assert_eq!(format!("{err:?}"), want);
        }
    }

    #[test]
    fn retries_throttling_and_dependency_then_succeeds() {
        let mut ch = scripted(&[
            Some("ThrottlingException"),
            Some("KinesisClientLibDependencyException"),
            None,
        ]);
        let p = Position::new("77", 3);
        Checkpointer::with_sleep(&mut ch, |_| {})
            .checkpoint_with_retry(Some(&p), &policy(5))
            .unwrap();
        assert_eq!(ch.sent, vec![(Some("77".into()), Some(3)); 3]);
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let mut ch = scripted(&[Some("ThrottlingException"); 10]);
        let err = Checkpointer::with_sleep(&mut ch, |_| {})
            .checkpoint_with_retry(None, &policy(3))
            .unwrap_err();
        assert!(matches!(err, CheckpointError::Throttling));
        assert_eq!(ch.sent.len(), 3);
        assert_eq!(ch.sent[0], (None, None));
    }

    #[test]
    fn does_not_retry_shutdown_or_invalid_state() {
        for name in [
            "ShutdownException",
            "InvalidStateException",
            "IllegalArgumentException",
        ] {
            let mut ch = scripted(&[Some(name), None]);
            let err =
                Checkpointer::with_sleep(&mut ch, |_| {}).checkpoint_with_retry(None, &policy(5));
            assert!(err.is_err());
            assert_eq!(ch.sent.len(), 1, "{name}");
        }
    }

    #[test]
    fn closed_channel_is_not_retried() {
        let mut ch = scripted(&[]);
        let err = Checkpointer::with_sleep(&mut ch, |_| {})
            .checkpoint_with_retry(None, &policy(5))
            .unwrap_err();
        assert!(matches!(err, CheckpointError::Closed));
        assert_eq!(ch.sent.len(), 1);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy(10);
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(250));
        assert_eq!(p.backoff(40), Duration::from_millis(250));
    }
}
