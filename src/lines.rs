//! Reading the daemon's lines straight into the caller's buffer.
//!
//! `BufRead::read_until` copies every byte twice (pipe → reader buffer → line); a
//! `processRecords` line can be tens of megabytes, so here the pipe is read directly into
//! the line, and only what follows a newline in the same read is set aside for the next
//! line.

use std::io::{self, Read};

/// One read: a default pipe's worth, or (for long lines) the 1 MiB pipe stdio asks for.
const READ_CHUNK: usize = 64 << 10;
const LONG_READ_CHUNK: usize = 1 << 20;

/// A line buffer whose bytes stay initialized between lines, so reading into it never
/// zeroes memory it has zeroed before.
#[derive(Debug, Default)]
pub(crate) struct LineBuf {
    bytes: Vec<u8>,
    len: usize,
}

impl LineBuf {
    /// The current line.
    pub(crate) fn line(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Room for `extra` more bytes after the line, zeroed only where it is new.
    fn spare(&mut self, extra: usize) -> &mut [u8] {
        if self.bytes.len() < self.len + extra {
            self.bytes.resize(self.len + extra, 0);
        }
        &mut self.bytes[self.len..self.len + extra]
    }

    fn push(&mut self, data: &[u8]) {
        self.spare(data.len()).copy_from_slice(data);
        self.len += data.len();
    }

    /// Drops the first `n` bytes, moving the rest to the front (a streamed line keeps
    /// only what is not yet parsed).
    pub(crate) fn consume(&mut self, n: usize) {
        self.bytes.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// How many bytes the buffer holds without growing.
    pub(crate) fn room(&self) -> usize {
        self.bytes.len()
    }

    /// Replaces the contents with `bytes`.
    pub(crate) fn replace(&mut self, bytes: &[u8]) {
        self.len = 0;
        self.push(bytes);
    }

    /// Empties the buffer, keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Gives the memory back if one huge line made it larger than `keep` bytes.
    pub(crate) fn release_if_larger(&mut self, keep: usize) {
        if self.bytes.len() > keep {
            *self = Self::default();
        }
    }
}

/// Splits a byte stream into lines, one `read` straight into the line buffer at a time.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    inner: R,
    /// Bytes read past the end of the last line returned.
    carry: Vec<u8>,
}

impl<R: Read> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            carry: Vec::new(),
        }
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// Replaces `buf`'s line with the next line, `\n` included. Returns `Ok(false)` at end
    /// of input; a partial last line is left in `buf` (the caller decides what it means).
    pub(crate) fn read_line(&mut self, buf: &mut LineBuf) -> io::Result<bool> {
        buf.len = 0;
        if let Some(i) = memchr::memchr(b'\n', &self.carry) {
            buf.push(&self.carry[..=i]);
            self.carry.drain(..=i);
            return Ok(true);
        }
        // What was read ahead holds no newline (just checked): the search starts after it.
        buf.push(&self.carry);
        self.carry.clear();
        self.finish_line(buf, buf.len)
    }

    /// Completes the line `buf` starts (its first `scanned` bytes are known to hold no
    /// newline), as [`LineReader::read_line`] would have read it.
    pub(crate) fn finish_line(&mut self, buf: &mut LineBuf, scanned: usize) -> io::Result<bool> {
        let mut start = scanned;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &buf.bytes[start..buf.len]) {
                let end = start + i + 1;
                self.unread(&buf.bytes[end..buf.len]);
                buf.len = end;
                return Ok(true);
            }
            start = buf.len;
            // A pipe hands out at most its size per read; asking for more would only mean
            // growing the buffer further than a read can fill.
            let chunk = if start >= LONG_READ_CHUNK {
                LONG_READ_CHUNK
            } else {
                READ_CHUNK
            };
            if self.fill(buf, chunk)? == 0 {
                return Ok(false);
            }
        }
    }

    /// Starts the next line in `buf` (emptied first) and reads until it holds at least
    /// `want` bytes, a newline, or all that is left of the input;
    /// [`LineReader::finish_line`] or the caller's own parsing goes on from there.
    pub(crate) fn peek_line(&mut self, buf: &mut LineBuf, want: usize) -> io::Result<()> {
        buf.len = 0;
        while buf.len < want && memchr::memchr(b'\n', buf.line()).is_none() {
            if self.fill(buf, READ_CHUNK)? == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Reads until `buf` holds at least `want` bytes, or what it holds ends a line, or the
    /// input ends; returns `false` only in the last case. Reads are at most a pipe's worth.
    ///
    /// Stopping at a line's end matters: the daemon sends nothing after a line until it is
    /// answered, so waiting for more would wait forever. A read that ends in `\n` is the
    /// only sign needed, as the daemon's JSON never holds a raw newline inside a line.
    pub(crate) fn fill_to(&mut self, buf: &mut LineBuf, want: usize) -> io::Result<bool> {
        while buf.len < want {
            let chunk = (want - buf.len).clamp(READ_CHUNK, LONG_READ_CHUNK);
            if self.fill(buf, chunk)? == 0 {
                return Ok(false);
            }
            if buf.line().last() == Some(&b'\n') {
                break;
            }
        }
        Ok(true)
    }

    /// Appends what was read ahead, or else one `read` of up to `chunk` bytes, to `buf`.
    /// Returns the number of bytes added; 0 at end of input.
    fn fill(&mut self, buf: &mut LineBuf, chunk: usize) -> io::Result<usize> {
        if !self.carry.is_empty() {
            let n = self.carry.len();
            buf.push(&self.carry);
            self.carry.clear();
            return Ok(n);
        }
        loop {
            match self.inner.read(buf.spare(chunk)) {
                Ok(n) => {
                    buf.len += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Puts bytes read past the end of a line back, ahead of anything not yet read.
    pub(crate) fn unread(&mut self, rest: &[u8]) {
        if !rest.is_empty() {
            self.carry.splice(0..0, rest.iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, like a pipe.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_across_any_read_sizes() {
        let big = "x".repeat(300_000);
        let text = format!("a\n\nbc\r\n{big}\nlast");
        for step in [4096, 65_535, 65_536, 1 << 20] {
            let mut r = LineReader::new(Trickle(text.as_bytes(), step));
            let mut buf = LineBuf::default();
            let mut got = Vec::new();
            while r.read_line(&mut buf).unwrap() {
                got.push(String::from_utf8(buf.line().to_vec()).unwrap());
            }
            assert_eq!(
                got,
                ["a\n", "\n", "bc\r\n", &format!("{big}\n")],
                "step {step}"
            );
            assert_eq!(
                buf.line(),
                b"last",
                "the partial last line is left in the buffer"
            );
            assert!(!r.read_line(&mut buf).unwrap());
            assert!(buf.line().is_empty());
        }
    }

    #[test]
    fn byte_by_byte() {
        for step in [1, 2, 3, 7] {
            let mut r = LineReader::new(Trickle(b"{\"a\":1}\n\nxy\r\nz", step));
            let mut buf = LineBuf::default();
            let mut got = Vec::new();
            while r.read_line(&mut buf).unwrap() {
                got.push(buf.line().to_vec());
            }
            assert_eq!(got, [&b"{\"a\":1}\n"[..], b"\n", b"xy\r\n"], "step {step}");
            assert_eq!(buf.line(), b"z");
        }
    }
}
