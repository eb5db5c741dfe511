//! The run loop: reads the daemon's actions one at a time, dispatches them to the
//! processor, and answers each with a status.
//!
//! [`Runtime::run`] owns the protocol; `channel` holds the pipes' side (lines in, framed
//! messages out, the checkpoint exchange), `batch` what a `processRecords` action does,
//! read whole or streamed, and `failure` caught panics and the error policy.

mod batch;
mod channel;
mod failure;

use std::io::{self, Read, Write};

use crate::checkpoint::Checkpointer;
use crate::error::{excerpt, BoxError, RunError};
use crate::fast::HEADER;
use crate::lines::{LineBuf, LineReader};
use crate::message::{parse_message, Message, ShutdownReason};
use crate::policy::ErrorPolicy;
use crate::processor::RecordProcessor;
use crate::telemetry::{Observer, ShardStats};

use channel::{read_line, warn_partial, write_status, ChannelState, PipeChannel, Pipes};
use failure::guarded;

/// Buffers above this size are released after the action that needed them. Below it they
/// are kept: reallocating and faulting in fresh pages for every large batch costs more than
/// the bytes they hold.
const KEEP_BUFFER_BYTES: usize = 64 << 20;

/// The protocol engine over any pair of byte streams: the daemon's side of stdin and stdout
/// in production, buffers in tests.
pub struct Runtime<R, W> {
    input: LineReader<R>,
    output: W,
    line: LineBuf,
    arena: Vec<u8>,
    reply: LineBuf,
    frame: Vec<u8>,
    policy: ErrorPolicy,
    stats: ShardStats,
    observers: Vec<Box<dyn Observer>>,
}

impl<R: Read, W: Write> Runtime<R, W> {
    /// A runtime reading the daemon's messages from `input` and writing replies to `output`,
    /// with the default error policy ([`ErrorPolicy::default`], the same as
    /// [`run_stdio`](crate::run_stdio)'s). Neither stream needs a buffer: lines are read
    /// straight into the runtime's own, and each reply is one write.
    pub fn new(input: R, output: W) -> Self {
        Self {
            input: LineReader::new(input),
            output,
            line: LineBuf::default(),
            arena: Vec::new(),
            reply: LineBuf::default(),
            frame: Vec::new(),
            policy: ErrorPolicy::default(),
            stats: ShardStats::default(),
            observers: Vec::new(),
        }
    }

    /// Sets what happens when `process_records` fails or panics.
    pub fn with_error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Adds an observer, told about every action (a [`Heartbeat`](crate::telemetry::Heartbeat),
    /// [`Metrics`](crate::telemetry::Metrics), or your own).
    pub fn with_observer(mut self, observer: Box<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// What the loop knows about its shard so far.
    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }

    /// Gives the streams back (tests read what was written).
    pub fn into_parts(self) -> (R, W) {
        (self.input.into_inner(), self.output)
    }

    /// Runs until the daemon closes the input (`Ok`), or until something cannot be
    /// answered honestly: a malformed line, or a processor error or panic (`Err`, and the
    /// action is left unanswered so the daemon restarts from the last checkpoint).
    pub fn run(&mut self, processor: &mut dyn RecordProcessor) -> Result<(), RunError> {
        let result = self.run_actions(processor);
        self.stats.end(false);
        for observer in &mut self.observers {
            observer.finished(&self.stats);
        }
        result
    }

    fn run_actions(&mut self, processor: &mut dyn RecordProcessor) -> Result<(), RunError> {
        loop {
            let Self {
                input,
                output,
                line,
                arena,
                reply,
                frame,
                policy,
                stats,
                observers,
            } = self;
            let next = next_line(input, line, processor.streams_records())?;
            let mut action = Action {
                pipes: Pipes {
                    input,
                    output,
                    reply,
                    frame,
                },
                stats,
                observers,
            };
            let go_on = match next {
                Next::Eof => {
                    tracing::info!("the daemon closed stdin; exiting");
                    false
                }
                Next::Stream => batch::stream(&mut action, line, arena, policy, processor)?,
                Next::Line => dispatch(&mut action, line.line(), arena, policy, processor)?,
            };
            if !go_on {
                return Ok(());
            }
            self.release_buffers();
        }
    }

    fn release_buffers(&mut self) {
        self.line.release_if_larger(KEEP_BUFFER_BYTES);
        self.reply.release_if_larger(KEEP_BUFFER_BYTES);
        if self.arena.capacity() > KEEP_BUFFER_BYTES {
            self.arena = Vec::new();
        }
    }
}

/// The one dispatch over the daemon's messages: each is answered, ignored with a warning,
/// or refused here. Returns `false` when the run is over (the daemon closed a pipe).
fn dispatch<R: Read, W: Write>(
    action: &mut Action<'_, '_, R, W>,
    line: &[u8],
    arena: &mut Vec<u8>,
    policy: &ErrorPolicy,
    processor: &mut dyn RecordProcessor,
) -> Result<bool, RunError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        tracing::warn!("ignoring a blank line from the daemon");
        return Ok(true);
    }
    match parse_message(line)? {
        Message::Checkpoint(_) => {
            tracing::warn!(
                "ignoring a checkpoint reply that answers no request: {}",
                excerpt(line)
            );
            Ok(true)
        }
        Message::Unknown(name) => {
            tracing::warn!("unknown action {name:?}: answering with a status and ignoring it");
            let pipes = &mut action.pipes;
            write_status(pipes.output, pipes.frame, &name)?;
            Ok(true)
        }
        Message::Initialize(init) => {
            action.stats.shard_id.clone_from(&init.shard_id);
            action.start("initialize");
            let span = tracing::info_span!("initialize");
            action.finish("initialize", span, |_| {
                guarded(|| processor.initialize(&init))
            })
        }
        Message::ProcessRecords {
            records,
            millis_behind_latest,
        } => batch::whole(
            action,
            &records,
            millis_behind_latest,
            arena,
            policy,
            processor,
        ),
        Message::LeaseLost => lease_lost(action, "leaseLost", processor),
        Message::Shutdown(ShutdownReason::Zombie) => lease_lost(action, "shutdown", processor),
        Message::ShardEnded => shard_ended(action, "shardEnded", processor),
        Message::Shutdown(ShutdownReason::Terminate) => shard_ended(action, "shutdown", processor),
        Message::ShutdownRequested => {
            action.start("shutdownRequested");
            let span = tracing::info_span!("shutdown_requested");
            action.finish("shutdownRequested", span, |channel| {
                let mut checkpointer = Checkpointer::new(channel);
                guarded(|| processor.shutdown_requested(&mut checkpointer))
            })
        }
    }
}

/// `leaseLost`, and the older `shutdown` with reason `ZOMBIE` (KCL 1.x daemons).
fn lease_lost<R: Read, W: Write>(
    action: &mut Action<'_, '_, R, W>,
    name: &'static str,
    processor: &mut dyn RecordProcessor,
) -> Result<bool, RunError> {
    action.start(name);
    let span = tracing::info_span!("lease_lost");
    action.finish(name, span, |_| guarded(|| processor.lease_lost()))
}

/// `shardEnded`, and the older `shutdown` with reason `TERMINATE` (KCL 1.x daemons).
fn shard_ended<R: Read, W: Write>(
    action: &mut Action<'_, '_, R, W>,
    name: &'static str,
    processor: &mut dyn RecordProcessor,
) -> Result<bool, RunError> {
    action.start(name);
    let span = tracing::info_span!("shard_ended");
    action.finish(name, span, |channel| {
        let mut checkpointer = Checkpointer::new(channel);
        guarded(|| processor.shard_ended(&mut checkpointer))
    })
}

/// What every action borrows from the runtime, and the bookkeeping every action shares:
/// [`Action::start`] before the processor is called, [`Action::finish`] to call it with a
/// checkpoint channel open and answer.
struct Action<'p, 'a, R, W> {
    pipes: Pipes<'a, R, W>,
    stats: &'p mut ShardStats,
    observers: &'p mut [Box<dyn Observer>],
}

impl<R: Read, W: Write> Action<'_, '_, R, W> {
    /// The action begins: the stats say so and the observers are told.
    fn start(&mut self, name: &'static str) {
        self.stats.begin(name);
        self.started();
    }

    /// The observers are told that the action the stats name has begun.
    fn started(&mut self) {
        for observer in self.observers.iter_mut() {
            observer.action_started(self.stats);
        }
    }

    /// Runs `work` (the processor's part, in `span`) with a checkpoint channel, then ends the action:
    /// stops on a closed or broken channel or a processor error, else tells the observers
    /// and answers the daemon. Returns `false` when the run is over.
    fn finish(
        &mut self,
        name: &'static str,
        span: tracing::Span,
        work: impl FnOnce(&mut PipeChannel<'_, '_, R, W>) -> Result<(), BoxError>,
    ) -> Result<bool, RunError> {
        let mut channel = PipeChannel {
            pipes: &mut self.pipes,
            state: ChannelState::Open,
            stats: self.stats,
        };
        // Only the processor's part runs in the action's span: what the observers log at
        // the end is the run loop's.
        let outcome = span.in_scope(|| work(&mut channel));
        match channel.state {
            ChannelState::Closed => {
                tracing::info!("the daemon closed stdin during {name}; exiting");
                return Ok(false);
            }
            ChannelState::Broken(err) => return Err(err.into()),
            ChannelState::Open => {}
        }
        if let Err(source) = outcome {
            return Err(RunError::Processor {
                action: name,
                source,
            });
        }
        // Observers see the action done before the daemon does: a heartbeat read after the
        // status never shows an older state.
        self.stats.end(true);
        for observer in self.observers.iter_mut() {
            observer.action_finished(self.stats);
        }
        if let Err(err) = write_status(self.pipes.output, self.pipes.frame, name) {
            if err.kind() == io::ErrorKind::BrokenPipe {
                tracing::info!("the daemon closed stdout before the {name} status; exiting");
                return Ok(false);
            }
            return Err(err.into());
        }
        Ok(true)
    }
}

/// What the next line is.
enum Next {
    /// A `processRecords` line to stream; its start is in the line buffer.
    Stream,
    /// A whole line, in the line buffer.
    Line,
    /// The input ended.
    Eof,
}

/// Reads the next line, or, for a streaming processor, only as much of it as shows that it
/// is a `processRecords` line to stream.
fn next_line<R: Read>(
    input: &mut LineReader<R>,
    line: &mut LineBuf,
    streaming: bool,
) -> io::Result<Next> {
    if !streaming {
        return Ok(if read_line(input, line)? {
            Next::Line
        } else {
            Next::Eof
        });
    }
    input.peek_line(line, HEADER.len())?;
    if line.line().starts_with(HEADER) {
        return Ok(Next::Stream);
    }
    if input.finish_line(line, 0)? {
        return Ok(Next::Line);
    }
    warn_partial(line.line());
    Ok(Next::Eof)
}
