//! [`Bytes`]: the buffer every line is formatted into.

use std::fmt;

/// Text written into a byte buffer (only ever valid UTF-8 goes in).
pub(super) struct Bytes<'a>(pub(super) &'a mut Vec<u8>);

impl Bytes<'_> {
    pub(super) fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    pub(super) fn push(&mut self, c: char) {
        let mut buf = [0; 4];
        self.push_str(c.encode_utf8(&mut buf));
    }
}

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}
