//! Whole lines out of one source whose bytes arrive in pieces of any size.

/// Splits one source's bytes into whole lines. The bytes after the last newline are held
/// until their newline arrives: a line is written only once it is complete, so no other
/// source's line can land in the middle of it.
#[derive(Debug)]
pub struct Lines {
    partial: Vec<u8>,
    max: usize,
    cut: u64,
    /// The held bytes continue a line whose first pieces were already written.
    cutting: bool,
}

impl Lines {
    /// `max`: the longest line held whole. Holding is what costs memory, so a longer line is
    /// written in pieces of `max` bytes, each ended by a newline (it is still one source's).
    pub fn new(max: usize) -> Self {
        Self {
            partial: Vec::new(),
            max: max.max(1),
            cut: 0,
            cutting: false,
        }
    }

    /// Appends to `out` every line `data` completes, each with its newline; holds the rest.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        if !self.partial.is_empty() {
            let Some(end) = memchr::memchr(b'\n', data) else {
                self.hold(data, out);
                return;
            };
            if self.partial.len() + end <= self.max {
                out.extend_from_slice(&self.partial);
                out.extend_from_slice(&data[..=end]);
            } else {
                self.partial.extend_from_slice(&data[..end]);
                let line = std::mem::take(&mut self.partial);
                self.write_long(&line, out);
            }
            self.partial.clear();
            self.cutting = false;
            data = &data[end + 1..];
        }
        let Some(last) = memchr::memrchr(b'\n', data) else {
            self.hold(data, out);
            return;
        };
        let whole = &data[..=last];
        if whole.len() <= self.max {
            // Cannot hold a line over `max`: copied as they are, in one go.
            out.extend_from_slice(whole);
        } else {
            for line in whole.split_inclusive(|&b| b == b'\n') {
                let body = &line[..line.len() - 1];
                if body.len() <= self.max {
                    out.extend_from_slice(line);
                } else {
                    self.write_long(body, out);
                }
            }
        }
        self.hold(&data[last + 1..], out);
    }

    /// Appends the held bytes to `out` as a line of their own: their source has ended, so
    /// they are the last line, only without its newline. Returns whether there were any.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> bool {
        if self.partial.is_empty() {
            return false;
        }
        out.extend_from_slice(&self.partial);
        out.push(b'\n');
        self.partial.clear();
        self.partial.shrink_to(0);
        self.cutting = false;
        true
    }

    /// How many lines were longer than `max` and written in pieces so far.
    pub fn cut(&self) -> u64 {
        self.cut
    }

    /// Bytes held, waiting for their newline.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.partial.len()
    }

    fn hold(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.partial.extend_from_slice(data);
        if self.partial.len() > self.max {
            let full = self.partial.len() / self.max * self.max;
            // A piece exactly at the end might still be a whole line of `max` bytes.
            let full = if full == self.partial.len() {
                full - self.max
            } else {
                full
            };
            for piece in self.partial[..full].chunks(self.max) {
                out.extend_from_slice(piece);
                out.push(b'\n');
            }
            if full > 0 {
                self.count_cut();
            }
            self.partial.drain(..full);
        }
    }

    /// Writes the rest of a complete line longer than `max` as pieces of `max` bytes.
    fn write_long(&mut self, body: &[u8], out: &mut Vec<u8>) {
        for piece in body.chunks(self.max) {
            out.extend_from_slice(piece);
            out.push(b'\n');
        }
        self.count_cut();
        self.cutting = false;
    }

    fn count_cut(&mut self) {
        if !self.cutting {
            self.cut += 1;
            self.cutting = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a fresh `Lines` in pieces of the given sizes (cycled), then finishes.
    fn assemble(input: &[u8], sizes: &[usize], max: usize) -> (Vec<u8>, u64) {
        let mut lines = Lines::new(max);
        let mut out = Vec::new();
        let mut rest = input;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            let before = out.len();
            lines.push(&rest[..n], &mut out);
            // Whatever was written is whole lines: the output so far ends with a newline.
            assert!(out.len() == before || out.ends_with(b"\n"), "piece {i}");
            rest = &rest[n..];
            i += 1;
        }
        lines.finish(&mut out);
        (out, lines.cut())
    }

    fn sample() -> Vec<u8> {
        let mut input = Vec::new();
        for (i, len) in [0, 1, 2, 7, 63, 64, 65, 300, 0, 4096, 5].iter().enumerate() {
            input.extend(std::iter::repeat_n(b'a' + i as u8, *len));
            input.push(b'\n');
        }
        input.extend_from_slice(b"no newline at the end");
        input
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_lines() {
        let input = sample();
        let mut want = input.clone();
        want.push(b'\n');
        for sizes in [
            &[1][..],
            &[2],
            &[3, 1, 7],
            &[64],
            &[65, 1],
            &[4097],
            &[100_000],
        ] {
            let (out, cut) = assemble(&input, sizes, 1 << 20);
            assert_eq!(out, want, "pieces of {sizes:?}");
            assert_eq!(cut, 0);
        }
    }

    #[test]
    fn every_split_point_of_two_pieces() {
        let input = b"first line\n\nthird\nfourth, partial";
        for at in 0..=input.len() {
            let mut lines = Lines::new(1024);
            let mut out = Vec::new();
            lines.push(&input[..at], &mut out);
            lines.push(&input[at..], &mut out);
            assert_eq!(out, b"first line\n\nthird\n", "split at {at}");
            assert_eq!(lines.held(), b"fourth, partial".len());
            assert!(lines.finish(&mut out));
            assert_eq!(
                out, b"first line\n\nthird\nfourth, partial\n",
                "split at {at}"
            );
            assert!(!lines.finish(&mut out), "finish twice adds nothing");
        }
    }

    #[test]
    fn a_partial_line_is_held_not_written() {
        let mut lines = Lines::new(1024);
        let mut out = Vec::new();
        lines.push(b"half a li", &mut out);
        assert!(out.is_empty());
        lines.push(b"ne\nand the st", &mut out);
        assert_eq!(out, b"half a line\n");
        lines.push(b"art of another", &mut out);
        assert_eq!(out, b"half a line\n");
        lines.push(b"\n", &mut out);
        assert_eq!(out, b"half a line\nand the start of another\n");
        assert_eq!(lines.held(), 0);
    }

    #[test]
    fn lines_up_to_max_stay_whole_longer_ones_are_cut_into_max_pieces() {
        let max = 64;
        for len in [63, 64, 65, 127, 128, 129, 200] {
            let line: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut input = line.clone();
            input.extend_from_slice(b"\nshort\n");
            let mut want = Vec::new();
            for piece in line.chunks(max) {
                want.extend_from_slice(piece);
                want.push(b'\n');
            }
            want.extend_from_slice(b"short\n");
            for sizes in [&[1][..], &[5, 60], &[64], &[1000]] {
                let (out, cut) = assemble(&input, sizes, max);
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&want),
                    "len {len}, pieces {sizes:?}"
                );
                assert_eq!(cut, u64::from(len > max), "len {len}, pieces {sizes:?}");
            }
        }
    }

    #[test]
    fn a_long_line_never_held_past_max() {
        let mut lines = Lines::new(100);
        let mut out = Vec::new();
        for _ in 0..1000 {
            lines.push(&[b'x'; 7], &mut out);
            assert!(lines.held() <= 100);
        }
        lines.push(b"\n", &mut out);
        assert_eq!(out.len(), 7000 + 70, "70 pieces of 100 bytes");
        assert!(out.split(|&b| b == b'\n').all(|l| l.len() <= 100));
    }
}
