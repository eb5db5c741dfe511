//! The runtime's side of the pipes: reading lines, writing framed messages, and the
//! checkpoint exchange a [`Checkpointer`](crate::Checkpointer) drives in the middle of an
//! action.

use std::io::{self, Read, Write};

use crate::checkpoint::{CheckpointChannel, CheckpointError};
use crate::error::{excerpt, ProtocolError};
use crate::lines::{LineBuf, LineReader};
use crate::message::{encode_checkpoint, encode_status, parse_message, CheckpointReply, Message};
use crate::sequence::Position;
use crate::telemetry::ShardStats;

/// How the connection stands after a checkpoint exchange.
#[derive(Debug)]
pub(super) enum ChannelState {
    Open,
    Closed,
    Broken(ProtocolError),
}

/// The pipes, and the buffers for what crosses them, as one borrow.
pub(super) struct Pipes<'a, R, W> {
    pub(super) input: &'a mut LineReader<R>,
    pub(super) output: &'a mut W,
    pub(super) reply: &'a mut LineBuf,
    pub(super) frame: &'a mut Vec<u8>,
}

/// The checkpoint exchange over the daemon's pipes, for the length of one action.
pub(super) struct PipeChannel<'p, 'a, R, W> {
    pub(super) pipes: &'p mut Pipes<'a, R, W>,
    pub(super) state: ChannelState,
    pub(super) stats: &'p mut ShardStats,
}

impl<R, W> PipeChannel<'_, '_, R, W> {
    pub(super) fn is_open(&self) -> bool {
        matches!(self.state, ChannelState::Open)
    }
}

impl<R: Read, W: Write> CheckpointChannel for PipeChannel<'_, '_, R, W> {
    fn request(
        &mut self,
        sequence_number: Option<&str>,
        sub_sequence_number: Option<u64>,
    ) -> Result<CheckpointReply, CheckpointError> {
        match &self.state {
            ChannelState::Open => {}
            ChannelState::Closed => return Err(CheckpointError::Closed),
            ChannelState::Broken(e) => return Err(CheckpointError::Protocol(e.clone())),
        }
        let pipes = &mut *self.pipes;
        if let Err(err) = write_frame(pipes.output, pipes.frame, |f| {
            encode_checkpoint(f, sequence_number, sub_sequence_number)
        }) {
            tracing::warn!("could not send a checkpoint request: {err}");
            self.state = ChannelState::Closed;
            return Err(CheckpointError::Closed);
        }
        loop {
            let got_line = match read_line(pipes.input, pipes.reply) {
                Ok(got) => got,
                Err(err) => {
                    tracing::warn!("could not read the checkpoint reply: {err}");
                    false
                }
            };
            if !got_line {
                self.state = ChannelState::Closed;
                return Err(CheckpointError::Closed);
            }
            let reply_line = pipes.reply.line();
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
            self.state = ChannelState::Broken(err.clone());
            return Err(CheckpointError::Protocol(err));
        }
    }
}

/// Reads one line (through `\n`) into `buf`. Returns `false` at end of input, including
/// input that ends in the middle of a line: the daemon is gone, there is no one to answer.
pub(super) fn read_line<R: Read>(input: &mut LineReader<R>, buf: &mut LineBuf) -> io::Result<bool> {
    if input.read_line(buf)? {
        return Ok(true);
    }
    warn_partial(buf.line());
    Ok(false)
}

pub(super) fn warn_partial(partial: &[u8]) {
    if !partial.is_empty() {
        tracing::warn!(
            "stdin ended in the middle of a line; dropping {} bytes: {}",
            partial.len(),
            excerpt(partial)
        );
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

pub(super) fn write_status(
    output: &mut impl Write,
    frame: &mut Vec<u8>,
    action: &str,
) -> io::Result<()> {
    write_frame(output, frame, |f| encode_status(f, action))
}
