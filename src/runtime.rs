//! The run loop: reads the daemon's actions one at a time, dispatches them to the
//! processor, and answers each with a status.

use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::checkpoint::{CheckpointChannel, CheckpointError, Checkpointer};
use crate::error::{excerpt, BoxError, ProtocolError, RunError};
use crate::fast::HEADER;
use crate::lines::{LineBuf, LineReader};
use crate::logging::LogError;
use crate::message::{
    decode_records, encode_checkpoint, encode_status, parse_message, CheckpointReply, Message,
    ShutdownReason,
};
use crate::policy::{write_dead_letters, ErrorPolicy};
use crate::processor::{ProcessRecordsInput, RecordProcessor};
use crate::record::Record;
use crate::sequence::{index_of_max_numeric, Position};
use crate::stream::{stream_records, StreamEnd};
use crate::telemetry::{Observer, ShardStats};

/// The longest wait between two attempts at a failed batch.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

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

/// How the connection stands after a checkpoint exchange.
#[derive(Debug)]
enum ChannelState {
    Open,
    Closed,
    Broken(ProtocolError),
}

impl<R: Read, W: Write> Runtime<R, W> {
    /// A runtime reading the daemon's messages from `input` and writing replies to `output`.
    /// Neither needs a buffer: lines are read straight into the runtime's own, and each
    /// reply is one write.
    pub fn new(input: R, output: W) -> Self {
        Self {
            input: LineReader::new(input),
            output,
            line: LineBuf::default(),
            arena: Vec::new(),
            reply: LineBuf::default(),
            frame: Vec::new(),
            policy: ErrorPolicy::Fail,
            stats: ShardStats::default(),
            observers: Vec::new(),
        }
    }

    /// Sets what happens when `process_records` fails or panics (default for a new
    /// runtime: [`ErrorPolicy::Fail`]).
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
            let streaming = processor.streams_records();
            match next_line(input, line, streaming)? {
                Next::Eof => {
                    tracing::info!("the daemon closed stdin; exiting");
                    return Ok(());
                }
                Next::Stream => {
                    let go_on = stream_batch(self, processor)?;
                    self.release_buffers();
                    if go_on {
                        continue;
                    }
                    return Ok(());
                }
                Next::Line => {}
            }
            let line = line.line();
            if line.iter().all(u8::is_ascii_whitespace) {
                tracing::warn!("ignoring a blank line from the daemon");
                continue;
            }
            let message = parse_message(line)?;
            let action: &'static str = match &message {
                Message::Checkpoint(_) => {
                    tracing::warn!(
                        "ignoring a checkpoint reply that answers no request: {}",
                        excerpt(line)
                    );
                    continue;
                }
                Message::Unknown(name) => {
                    tracing::warn!(
                        "unknown action {name:?}: answering with a status and ignoring it"
                    );
                    write_status(output, frame, name)?;
                    continue;
                }
                known => known.known_action().expect("every other message is known"),
            };
            stats.begin(action);
            let batch = match &message {
                Message::Initialize(init) => {
                    stats.shard_id.clone_from(&init.shard_id);
                    None
                }
                Message::ProcessRecords {
                    records,
                    millis_behind_latest,
                } => {
                    let records = decode_records(records, arena)?;
                    // `parse_message` refused any record whose sequence number is not decimal.
                    let largest = index_of_max_numeric(records.iter().map(Record::position_parts));
                    let largest_position = largest.map(|i| records[i].position_parts());
                    let bytes = records.iter().map(|r| r.data.len() as u64).sum();
                    stats.batch(
                        records.len() as u64,
                        bytes,
                        largest_position,
                        *millis_behind_latest,
                    );
                    Some((records, largest, *millis_behind_latest))
                }
                _ => None,
            };
            for observer in observers.iter_mut() {
                observer.action_started(stats);
            }
            let mut state = ChannelState::Open;
            let mut channel = PipeChannel {
                input: &mut *input,
                output: &mut *output,
                reply: &mut *reply,
                frame: &mut *frame,
                state: &mut state,
                stats: &mut *stats,
            };
            let outcome = match (&message, batch) {
                (Message::Initialize(init), _) => {
                    let _span = tracing::info_span!("initialize").entered();
                    guarded(|| processor.initialize(init))
                }
                (
                    Message::ProcessRecords { .. },
                    Some((records, largest, millis_behind_latest)),
                ) => {
                    let _span = tracing::info_span!("process_records").entered();
                    let input = ProcessRecordsInput {
                        records: &records,
                        millis_behind_latest,
                        largest: largest.map(|i| records[i].position_parts()),
                        streamed: 0,
                    };
                    process_batch(processor, &input, &mut channel, policy)
                }
                (Message::LeaseLost | Message::Shutdown(ShutdownReason::Zombie), _) => {
                    let _span = tracing::info_span!("lease_lost").entered();
                    guarded(|| processor.lease_lost())
                }
                (Message::ShardEnded | Message::Shutdown(ShutdownReason::Terminate), _) => {
                    let _span = tracing::info_span!("shard_ended").entered();
                    let mut checkpointer = Checkpointer::new(&mut channel);
                    guarded(|| processor.shard_ended(&mut checkpointer))
                }
                (Message::ShutdownRequested, _) => {
                    let _span = tracing::info_span!("shutdown_requested").entered();
                    let mut checkpointer = Checkpointer::new(&mut channel);
                    guarded(|| processor.shutdown_requested(&mut checkpointer))
                }
                _ => unreachable!("every other message was answered above"),
            };
            if !finish_action(action, state, outcome, stats, observers, output, frame)? {
                return Ok(());
            }
            self.release_buffers();
        }
    }

    fn release_buffers(&mut self) {
        self.line.release_if_larger(KEEP_BUFFER_BYTES);
        self.reply.release_if_larger(KEEP_BUFFER_BYTES);
        release_if_large(&mut self.arena);
    }
}

/// Ends an action: stops on a closed or broken channel or a processor error, else tells
/// the observers and answers the daemon. Returns `false` when the run is over.
fn finish_action<W: Write>(
    action: &'static str,
    state: ChannelState,
    outcome: Result<(), BoxError>,
    stats: &mut ShardStats,
    observers: &mut [Box<dyn Observer>],
    output: &mut W,
    frame: &mut Vec<u8>,
) -> Result<bool, RunError> {
    match state {
        ChannelState::Closed => {
            tracing::info!("the daemon closed stdin during {action}; exiting");
            return Ok(false);
        }
        ChannelState::Broken(err) => return Err(err.into()),
        ChannelState::Open => {}
    }
    if let Err(source) = outcome {
        return Err(RunError::Processor { action, source });
    }
    // Observers see the action done before the daemon does: a heartbeat read after the
    // status never shows an older state.
    stats.end(true);
    for observer in observers.iter_mut() {
        observer.action_finished(stats);
    }
    if let Err(err) = write_status(output, frame, action) {
        if err.kind() == io::ErrorKind::BrokenPipe {
            tracing::info!("the daemon closed stdout before the {action} status; exiting");
            return Ok(false);
        }
        return Err(err.into());
    }
    Ok(true)
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

/// Streams one `processRecords` line to the processor, record by record, then calls
/// `process_records` for the batch and answers it. Returns `false` when the run is over
/// (the daemon closed a pipe).
fn stream_batch<R: Read, W: Write>(
    rt: &mut Runtime<R, W>,
    processor: &mut dyn RecordProcessor,
) -> Result<bool, RunError> {
    const ACTION: &str = "processRecords";
    let Runtime {
        input,
        output,
        line,
        arena,
        reply,
        frame,
        policy,
        stats,
        observers,
    } = rt;
    stats.begin(ACTION);
    for observer in observers.iter_mut() {
        observer.action_started(stats);
    }
    let _span = tracing::info_span!("process_records").entered();
    let shard = stats.shard_id.as_str();
    let end = stream_records(input, line, arena, |record| {
        deliver_record(processor, record, policy, shard)
    })?;
    let batch = match end {
        StreamEnd::Done(batch) => batch,
        StreamEnd::Eof { count } => {
            tracing::warn!(
                "stdin ended in the middle of a processRecords line, after {count} records; they were not acknowledged"
            );
            tracing::info!("the daemon closed stdin; exiting");
            return Ok(false);
        }
    };
    let largest = batch
        .largest
        .get()
        .map(|p| (p.sequence_number.as_str(), p.sub_sequence_number));
    stats.batch(
        batch.count,
        batch.bytes,
        largest,
        batch.millis_behind_latest,
    );
    let batch_input = ProcessRecordsInput {
        records: &[],
        millis_behind_latest: batch.millis_behind_latest,
        largest,
        streamed: batch.count,
    };
    let mut state = ChannelState::Open;
    let mut channel = PipeChannel {
        input: &mut *input,
        output: &mut *output,
        reply: &mut *reply,
        frame: &mut *frame,
        state: &mut state,
        stats: &mut *stats,
    };
    let outcome = process_batch(processor, &batch_input, &mut channel, policy);
    finish_action(ACTION, state, outcome, stats, observers, output, frame)
}

/// Hands one streamed record to the processor, applying `policy` when it fails.
fn deliver_record(
    processor: &mut dyn RecordProcessor,
    record: &Record<'_>,
    policy: &ErrorPolicy,
    shard: &str,
) -> Result<(), RunError> {
    // Borrowed, not `record.position()`: this runs for every record, failing or not.
    let what = format_args!(
        "record {}:{}",
        record.sequence_number, record.sub_sequence_number
    );
    let skip = Some((shard, std::slice::from_ref(record)));
    under_policy(policy, &what, skip, || {
        guarded(|| processor.process_record(record)).map_err(|err| (err, false))
    })
    .map_err(|source| RunError::Processor {
        action: "processRecords",
        source,
    })
}

/// Runs `attempt` until it succeeds, applying `policy` to each failure: wait and try again,
/// or write `skip`'s records (with their shard) to the dead-letter file and go on, or give
/// the error back. `None` for `skip` means there is nothing that could be written, so
/// nothing is skipped. A failure marked `true` (the daemon went away meanwhile) is final,
/// and so is one caused by the log file ([`LogError`]), whatever the policy.
fn under_policy(
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
            (ErrorPolicy::Retry { attempts, backoff }, _) if tries < *attempts => {
                let delay = retry_delay(*backoff, tries);
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

fn retry_delay(backoff: Duration, attempt: u32) -> Duration {
    backoff
        .saturating_mul(1 << (attempt - 1).min(16))
        .min(MAX_RETRY_DELAY)
}

/// Hands a batch to the processor, applying `policy` when it fails.
fn process_batch<R: Read, W: Write>(
    processor: &mut dyn RecordProcessor,
    input: &ProcessRecordsInput<'_>,
    channel: &mut PipeChannel<'_, R, W>,
    policy: &ErrorPolicy,
) -> Result<(), BoxError> {
    // Only the Skip policy needs the shard; the attempts below hold the channel.
    let shard = match policy {
        ErrorPolicy::Skip { .. } => channel.stats.shard_id.clone(),
        _ => String::new(),
    };
    // A streamed batch's records are gone: nothing to write, so nothing to skip.
    let skip = (input.streamed == 0).then_some((shard.as_str(), input.records));
    let what = format_args!("a batch of {} records", input.records.len());
    under_policy(policy, &what, skip, || {
        let result = {
            let mut checkpointer = Checkpointer::new(&mut *channel);
            guarded(|| processor.process_records(input, &mut checkpointer))
        };
        result.map_err(|err| (err, !channel.is_open()))
    })
}

/// Reads one line (through `\n`) into `buf`. Returns `false` at end of input, including
/// input that ends in the middle of a line: the daemon is gone, there is no one to answer.
fn read_line<R: Read>(input: &mut LineReader<R>, buf: &mut LineBuf) -> io::Result<bool> {
    if input.read_line(buf)? {
        return Ok(true);
    }
    warn_partial(buf.line());
    Ok(false)
}

fn warn_partial(partial: &[u8]) {
    if !partial.is_empty() {
        tracing::warn!(
            "stdin ended in the middle of a line; dropping {} bytes: {}",
            partial.len(),
            excerpt(partial)
        );
    }
}

fn release_if_large(buf: &mut Vec<u8>) {
    if buf.capacity() > KEEP_BUFFER_BYTES {
        *buf = Vec::new();
    }
}

/// Writes one message as a frame of its own: a newline before it (the daemon ignores blank
/// lines) so that no stray byte can join it, the JSON, a newline; in one write.
fn write_frame(
    output: &mut impl Write,
    frame: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>),
) -> io::Result<()> {
    frame.clear();
    frame.push(b'\n');
    encode(frame);
    frame.push(b'\n');
    output.write_all(frame)?;
    output.flush()
}

fn write_status(output: &mut impl Write, frame: &mut Vec<u8>, action: &str) -> io::Result<()> {
    write_frame(output, frame, |f| encode_status(f, action))
}

/// Runs a processor callback, turning a panic into an error so it is handled like one.
fn guarded(f: impl FnOnce() -> Result<(), BoxError>) -> Result<(), BoxError> {
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

/// The checkpoint exchange over the daemon's pipes.
struct PipeChannel<'a, R, W> {
    input: &'a mut LineReader<R>,
    output: &'a mut W,
    reply: &'a mut LineBuf,
    frame: &'a mut Vec<u8>,
    state: &'a mut ChannelState,
    stats: &'a mut ShardStats,
}

impl<R, W> PipeChannel<'_, R, W> {
    fn is_open(&self) -> bool {
        matches!(self.state, ChannelState::Open)
    }
}

impl<R: Read, W: Write> CheckpointChannel for PipeChannel<'_, R, W> {
    fn request(
        &mut self,
        sequence_number: Option<&str>,
        sub_sequence_number: Option<u64>,
    ) -> Result<CheckpointReply, CheckpointError> {
        match self.state {
            ChannelState::Open => {}
            ChannelState::Closed => return Err(CheckpointError::Closed),
            ChannelState::Broken(e) => return Err(CheckpointError::Protocol(e.clone())),
        }
        if let Err(err) = write_frame(self.output, self.frame, |f| {
            encode_checkpoint(f, sequence_number, sub_sequence_number)
        }) {
            tracing::warn!("could not send a checkpoint request: {err}");
            *self.state = ChannelState::Closed;
            return Err(CheckpointError::Closed);
        }
        loop {
            let got_line = match read_line(self.input, self.reply) {
                Ok(got) => got,
                Err(err) => {
                    tracing::warn!("could not read the checkpoint reply: {err}");
                    false
                }
            };
            if !got_line {
                *self.state = ChannelState::Closed;
                return Err(CheckpointError::Closed);
            }
            let reply_line = self.reply.line();
            if reply_line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let err = match parse_message(reply_line) {
                Ok(Message::Checkpoint(reply)) => {
                    if reply.error.is_none() {
                        self.stats.checkpointed(
                            sequence_number
                                .map(|seq| Position::new(seq, sub_sequence_number.unwrap_or(0))),
                        );
                    }
                    return Ok(reply);
                }
                Ok(_) => ProtocolError::UnexpectedReply {
                    line: excerpt(reply_line),
                },
                Err(err) => err,
            };
            *self.state = ChannelState::Broken(err.clone());
            return Err(CheckpointError::Protocol(err));
        }
    }
}
