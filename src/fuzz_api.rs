//! Hooks for the fuzz targets in `fuzz/`: compiled only with `--cfg fuzzing` (as `cargo
//! fuzz` builds), so neither normal builds nor the public API see them.
//!
//! Every reference the targets make to the crate's internals is here, as a thin wrapper
//! with a signature that does not change when the internals move: the targets compare
//! what these return and never name an internal item themselves.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::logging::{LogConfig, LogFile, LogFormat};
use crate::record::OwnedRecord;

/// What a path made of a `processRecords` line: its records, decoded, and
/// `millisBehindLatest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The records in order, their data base64-decoded.
    pub records: Vec<OwnedRecord>,
    /// `millisBehindLatest`, if the line had a number there.
    pub millis_behind_latest: Option<u64>,
}

/// Why a path made no batch of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The line is a message, but not `processRecords` (its action is named).
    NotABatch(String),
    /// The line, or a record in it, is refused: the error as the run loop would report it.
    Error(String),
}

/// The records of a `processRecords` message, decoded as the run loop decodes a batch.
fn batch_of(message: crate::message::Message<'_>) -> Result<Batch, Refusal> {
    use crate::message::Message;
    match message {
        Message::ProcessRecords {
            records,
            millis_behind_latest,
        } => {
            let mut arena = Vec::new();
            let records = crate::message::decode_records(&records, &mut arena)
                .map_err(|e| Refusal::Error(e.to_string()))?;
            Ok(Batch {
                records: records.iter().map(|r| r.to_owned_record()).collect(),
                millis_behind_latest,
            })
        }
        other => Err(Refusal::NotABatch(match other {
            Message::Unknown(action) => action.to_string(),
            // The variant's name is enough to compare the two paths' answers.
            known => format!("{known:?}")
                .split(['(', ' '])
                .next()
                .unwrap_or("")
                .to_string(),
        })),
    }
}

/// The fast path alone on one line: `None` where it leaves the line to the general
/// parser, else the batch (or the decoding error of a record it took).
pub fn process_records_fast(line: &[u8]) -> Option<Result<Batch, Refusal>> {
    crate::fast::process_records(line).map(batch_of)
}

/// The general (serde) path alone on one line, as if the fast path did not exist.
///
/// [`crate::message::parse_message`] tries the fast path first; a leading space, which
/// JSON ignores, is a line the fast path never takes (it must start with its header), so
/// the line is parsed with one in front. That changes no meaning, only the excerpt of the
/// line an error quotes, which the targets do not compare.
pub fn process_records_general(line: &[u8]) -> Result<Batch, Refusal> {
    let mut spaced = Vec::with_capacity(line.len() + 1);
    spaced.push(b' ');
    spaced.extend_from_slice(line);
    let message =
        crate::message::parse_message(&spaced).map_err(|e| Refusal::Error(e.to_string()))?;
    batch_of(message)
}

/// The batch path as the run loop takes a line (fast path, else serde).
pub fn process_records_batch(line: &[u8]) -> Result<Batch, Refusal> {
    let message = crate::message::parse_message(line).map_err(|e| Refusal::Error(e.to_string()))?;
    batch_of(message)
}

/// What the streaming path made of the first line of an input.
#[derive(Debug)]
pub struct StreamedLine {
    /// The batch, or why there is none (an input that ends inside the line included).
    pub batch: Result<Batch, Refusal>,
    /// What the reader hands out after the streamed line: the rest of the input, unless the
    /// stream read past the line and lost or kept some of it. Empty after a refusal (the run
    /// loop stops there).
    pub after: Vec<u8>,
}

/// A reader that hands out at most `chunk` bytes a read, as a pipe read by a slow reader
/// may, and never bytes of two lines in one read: the daemon writes nothing after a line
/// until it is answered, and the streaming path relies on it (it reads until a read ends
/// in a newline).
struct Trickle<'a> {
    rest: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let line = memchr::memchr(b'\n', self.rest).map_or(self.rest.len(), |i| i + 1);
        let n = buf.len().min(self.chunk).min(line);
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// The streaming path on `input` (what stdin holds: one line and whatever follows it),
/// read at most `chunk` (at least 1) bytes at a time, as the run loop takes it for a
/// processor that streams. `None` where the run loop would not stream this line (it does
/// not start with the fast path's header).
pub fn process_records_streamed(input: &[u8], chunk: usize) -> Option<StreamedLine> {
    use crate::fast::HEADER;
    use crate::lines::{LineBuf, LineReader};
    use crate::stream::{stream_records, StreamEnd};

    let mut reader = LineReader::new(Trickle {
        rest: input,
        chunk: chunk.max(1),
    });
    let mut window = LineBuf::default();
    reader
        .peek_line(&mut window, HEADER.len())
        .expect("an in-memory reader does not fail");
    if !window.line().starts_with(HEADER) {
        return None;
    }
    let mut arena = Vec::new();
    let mut records = Vec::new();
    let end = stream_records(&mut reader, &mut window, &mut arena, |r| {
        records.push(r.to_owned_record());
        Ok(())
    });
    let batch = match end {
        Ok(StreamEnd::Done(streamed)) => {
            assert_eq!(
                streamed.count,
                records.len() as u64,
                "the streamed count is the records handed over"
            );
            let bytes: usize = records.iter().map(|r| r.data.len()).sum();
            assert_eq!(streamed.bytes, bytes as u64, "the streamed byte count");
            Ok(Batch {
                records,
                millis_behind_latest: streamed.millis_behind_latest,
            })
        }
        Ok(StreamEnd::Eof { count }) => {
            return Some(StreamedLine {
                batch: Err(Refusal::Error(format!(
                    "the input ended inside the line after {count} records"
                ))),
                after: Vec::new(),
            })
        }
        Err(e) => {
            return Some(StreamedLine {
                batch: Err(Refusal::Error(e.to_string())),
                after: Vec::new(),
            })
        }
    };
    let mut after = Vec::new();
    let mut line = LineBuf::default();
    loop {
        let whole = reader
            .read_line(&mut line)
            .expect("an in-memory reader does not fail");
        after.extend_from_slice(line.line());
        if !whole {
            break;
        }
    }
    Some(StreamedLine { batch, after })
}

/// Appends the base64 decoding of `src` to `dst` as record data is decoded; on error `dst`
/// is to be as it was.
pub fn decode_base64_append(src: &[u8], dst: &mut Vec<u8>) -> Result<(), String> {
    crate::simd::base64::decode_append(src, dst).map_err(|e| e.to_string())
}

/// The module and function every line logged here names.
pub const LOG_MODULE: &str = "fuzz";
/// See [`LOG_MODULE`].
pub const LOG_FUNCTION: &str = "target";

/// Where a log's lines go instead of its file.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// One log per format, its writes diverted into memory (the file, `/dev/null`, is
    /// opened but never written), kept across inputs: opening one costs more than a line.
    static LOGS: [(LogFile, Sink); 2] = [LogFormat::Text, LogFormat::Json].map(|format| {
        let log = LogFile::open(&LogConfig {
            path: PathBuf::from("/dev/null"),
            max_bytes: 0,
            backups: 0,
            format,
            level: tracing::Level::INFO,
        })
        .expect("/dev/null opens");
        let sink = Sink::default();
        log.divert_writes(Box::new(sink.clone()));
        (log, sink)
    });
}

/// Logs `bytes` as one INFO line in `format` through [`crate::logging::InfoLines::info_if_text`],
/// as the sample processor logs a record's data, and returns what the log received
/// after the line's head (its time, level, module and function): the escaped message and
/// the line's end. `None` if the call said the bytes are not text and wrote nothing.
fn logged(format: LogFormat, bytes: &[u8]) -> Option<Vec<u8>> {
    LOGS.with(|logs| {
        let (log, sink) = &logs[usize::from(format == LogFormat::Json)];
        let mut lines = log.info_lines(LOG_MODULE, LOG_FUNCTION);
        let text = lines
            .info_if_text(bytes)
            .expect("an in-memory log does not fail");
        lines.publish().expect("an in-memory log does not fail");
        drop(lines);
        log.flush().expect("an in-memory log does not fail");
        let written = std::mem::take(&mut *sink.0.lock().unwrap_or_else(|p| p.into_inner()));
        if !text && written.is_empty() {
            return None;
        }
        // Anything that does not start with the head comes back whole, so that the
        // comparison with the expected message fails and shows it.
        let head_end = match format {
            LogFormat::Text => {
                // `HH:MM:SS.mmm [module] INFO  function - `
                let head = format!(" [{LOG_MODULE}] INFO  {LOG_FUNCTION} - ");
                (written.get(12..12 + head.len()) == Some(head.as_bytes()))
                    .then_some(12 + head.len())
            }
            LogFormat::Json => {
                let head = format!("\"function\":\"{LOG_FUNCTION}\",\"message\":\"");
                memchr::memmem::find(&written, head.as_bytes()).map(|i| i + head.len())
            }
        };
        Some(written[head_end.unwrap_or(0)..].to_vec())
    })
}

/// The text log format's line for `bytes` after its head (see [`logged`]): the message
/// escaped and `\n`, or `None` if `bytes` are not UTF-8 and nothing was written.
pub fn escape_text(bytes: &[u8]) -> Option<Vec<u8>> {
    logged(LogFormat::Text, bytes)
}

/// Every text kernel this CPU runs, on `bytes`, against its portable reference in
/// `simd/portable/text.rs`, for the byte sets both log formats escape: the first byte to
/// escape (the dispatch: SSE2, and AVX2 from 1 KiB), and where AVX-512 was detected the
/// first stop and the escaping copy. `Err` names the kernel and both answers.
pub fn text_kernels_match_portable(bytes: &[u8]) -> Result<(), String> {
    use crate::simd::portable::text as portable;
    use crate::simd::text::{first_special, AsciiKernels};
    // Text escapes C0 and DEL; JSON C0, quote and backslash.
    for also in [[0x7f, 0x7f], [b'"', b'\\']] {
        let (got, want) = (
            first_special(bytes, also),
            portable::first_special(bytes, also),
        );
        if got != want {
            return Err(format!(
                "first_special {also:?}: {got:?}, portable {want:?}"
            ));
        }
        if let Some(kernels) = AsciiKernels::detect() {
            let (got, want) = (
                kernels.first_stop(bytes, also),
                portable::first_stop(bytes, also),
            );
            if got != want {
                return Err(format!(
                    "avx512 first_stop {also:?}: {got:?}, portable {want:?}"
                ));
            }
            let spell = |c: u8| -> &'static [u8] {
                if c == b'"' {
                    b"<q>"
                } else {
                    b"<e>"
                }
            };
            let (mut got_out, mut want_out) = (Vec::new(), Vec::new());
            let got = kernels.copy_ascii_escaped(&mut got_out, bytes, also, spell);
            let want = portable::copy_ascii_escaped(&mut want_out, bytes, also, spell);
            if (got, &got_out) != (want, &want_out) {
                return Err(format!(
                    "avx512 copy_ascii_escaped {also:?}: {got} {got_out:?}, portable {want} {want_out:?}"
                ));
            }
        }
    }
    Ok(())
}

/// The JSON log format's line for `bytes` after its head (see [`logged`]): the message
/// escaped as a JSON string's inside, then `"}` and `\n`; `None` as for [`escape_text`].
pub fn escape_json(bytes: &[u8]) -> Option<Vec<u8>> {
    logged(LogFormat::Json, bytes)
}
