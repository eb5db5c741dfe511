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
        buf.push(&self.carry);
        self.carry.clear();
        loop {
            let start = buf.len;
            // A pipe hands out at most its size per read; asking for more would only mean
            // growing the buffer further than a read can fill.
            let chunk = if start >= LONG_READ_CHUNK {
                LONG_READ_CHUNK
            } else {
                READ_CHUNK
            };
            let n = loop {
                match self.inner.read(buf.spare(chunk)) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                return Ok(false);
            }
            buf.len += n;
            if let Some(i) = memchr::memchr(b'\n', &buf.bytes[start..buf.len]) {
                let end = start + i + 1;
                self.carry.extend_from_slice(&buf.bytes[end..buf.len]);
                buf.len = end;
                return Ok(true);
            }
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
