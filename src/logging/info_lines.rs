//! [`InfoLines`]: many INFO lines of one module and function, such as one per record of a
//! batch, laid out as the `tracing` layer lays them out but gathered without its dispatch.

use tracing::Level;

use super::bytes::Bytes;
use super::escape::Escaping;
use super::head::write_head;
use super::{LogError, LogFile, LogFormat, CHUNK_BYTES, DIRECT_BYTES};
use crate::simd::text::AsciiKernels;

impl LogFile {
    /// A writer for many INFO lines that share their module and function, such as one line
    /// per record of a batch. The lines are laid out exactly as the `tracing` layer lays
    /// them out, but skip its per-event dispatch, and a large line goes to the file without
    /// being copied unless it needs hundreds of escapes. Do not keep one across batches: its
    /// timestamp is refreshed only every few lines. Its lines reach this file in chunks, at
    /// [`InfoLines::publish`] or when it is dropped; see [`InfoLines`].
    pub fn info_lines(&self, module: &'static str, function: &'static str) -> InfoLines {
        InfoLines {
            escaping: Escaping::of(self.format),
            log: self.clone(),
            module,
            function,
            prefix: Vec::new(),
            until_stamp: 0,
            enabled: Level::INFO <= self.level,
            gathered: Vec::new(),
            ascii: AsciiKernels::detect(),
        }
    }
}

/// Many INFO lines with one module and function; see [`LogFile::info_lines`].
///
/// Lines are gathered here and handed to the [`LogFile`] 64 KiB at a time, at
/// [`InfoLines::publish`], or when this is dropped: one lock per chunk instead of per line
/// (its two atomic operations were a tenth of the CPU of a 200-byte record). A line logged
/// through `tracing` meanwhile can therefore land before lines gathered earlier.
/// [`LogFile::flush`] writes only what was handed over: publish before relying on it.
#[derive(Debug)]
pub struct InfoLines {
    log: LogFile,
    module: &'static str,
    function: &'static str,
    escaping: Escaping,
    /// The line's head, refreshed every [`InfoLines::STAMP_EVERY`] lines.
    pub(super) prefix: Vec<u8>,
    until_stamp: u32,
    enabled: bool,
    gathered: Vec<u8>,
    /// The one-pass kernels for text not known to be UTF-8, if the CPU has them: looked up
    /// once here rather than per line.
    ascii: Option<AsciiKernels>,
}

impl Drop for InfoLines {
    fn drop(&mut self) {
        // Handed over without writing: no error is lost here, the next flush reports it.
        if !self.gathered.is_empty() {
            self.log.lock().take_lines(&mut self.gathered);
        }
    }
}

impl InfoLines {
    /// How many lines share one timestamp (a millisecond holds hundreds of them).
    const STAMP_EVERY: u32 = 64;

    /// Writes one INFO line with `text` as its message.
    pub fn info(&mut self, text: &str) -> Result<(), LogError> {
        self.line(text.as_bytes(), true).map(|_| ())
    }

    /// Hands the lines gathered so far to the [`LogFile`], which writes them if that makes
    /// a chunk; [`LogFile::flush`] writes the rest.
    pub fn publish(&mut self) -> Result<(), LogError> {
        let mut inner = self.log.lock();
        inner.take_lines(&mut self.gathered);
        inner.maybe_write()
    }

    fn publish_if_full(&mut self) -> Result<(), LogError> {
        if self.gathered.len() >= CHUNK_BYTES {
            self.publish()
        } else {
            Ok(())
        }
    }

    /// Writes one INFO line with `bytes` as its message if they are UTF-8; returns
    /// `Ok(false)` and writes nothing if they are not, so the caller can log them another
    /// way. While INFO is off nothing is written and the answer is `Ok(true)`.
    ///
    /// Record data is usually ASCII: then one pass both checks it and copies it escaped,
    /// where checking with `std::str::from_utf8` and then calling [`InfoLines::info`] reads it
    /// three times (validate, find what to escape, copy).
    pub fn info_if_text(&mut self, bytes: &[u8]) -> Result<bool, LogError> {
        self.line(bytes, false)
    }

    /// One line with `bytes` as its message, checked for UTF-8 unless `known_utf8`; `false`
    /// if it was not written because they are not UTF-8.
    fn line(&mut self, bytes: &[u8], known_utf8: bool) -> Result<bool, LogError> {
        if !self.enabled {
            return Ok(true);
        }
        if self.until_stamp == 0 {
            self.restamp();
            self.until_stamp = Self::STAMP_EVERY;
        }
        if bytes.len() >= DIRECT_BYTES {
            let mut inner = self.log.lock();
            inner.take_lines(&mut self.gathered);
            let written =
                inner.write_large(&self.prefix, bytes, self.escaping, known_utf8, self.ascii)?;
            self.until_stamp -= u32::from(written);
            return Ok(written);
        }
        let start = self.gathered.len();
        self.gathered.extend_from_slice(&self.prefix);
        if known_utf8 {
            self.escaping.end_line(&mut self.gathered, bytes);
        } else if !self
            .escaping
            .text_line(&mut self.gathered, bytes, self.ascii)
        {
            self.gathered.truncate(start);
            return Ok(false);
        }
        self.until_stamp -= 1;
        self.publish_if_full().map(|()| true)
    }

    fn restamp(&mut self) {
        self.prefix.clear();
        let out = &mut Bytes(&mut self.prefix);
        write_head(
            out,
            self.log.format,
            &Level::INFO,
            self.module,
            self.function,
        );
        if self.log.format == LogFormat::Json {
            out.push_str(",\"message\":\"");
        }
    }
}
