//! The escaping rules, each written once here: which characters [`Escaping::Text`] and
//! [`Escaping::Json`] escape and how each is spelled. Everything that writes a message
//! goes through them: the `tracing` visitors ([`OneLine`], [`JsonInner`]), the lines of
//! [`InfoLines`](super::InfoLines), and a large line written from its pieces
//! ([`line_pieces`]). The scans that find the next byte to escape are the kernels of
//! [`crate::simd::text`], given the bytes to stop at.

use std::fmt::{self, Write as _};

use super::bytes::Bytes;
use super::LogFormat;
use crate::simd::text::{first_special, AsciiKernels};

/// The most pieces one line's `writev` may have. The kernel takes at most IOV_MAX (1024) and
/// std quietly passes only that many, which would split the line into two writes and so
/// let other processes' lines in between; half of that leaves room to spare, and a line
/// needing more escapes than that is rare enough to be copied.
pub(super) const MAX_PIECES: usize = 512;

/// The pieces of a line in order, borrowed: `prefix`, `text` escaped (its runs of plain
/// text and the spellings of the bytes between them), then the tail. `Err(rest)` when the
/// line would take more than [`MAX_PIECES`]: `pieces` then holds the line up to `rest`,
/// the end of `text` not yet split.
/// `find` gives the next character to escape.
pub(super) fn line_pieces<'a>(
    pieces: &mut Vec<&'a [u8]>,
    prefix: &'a [u8],
    text: &'a [u8],
    escaping: Escaping,
    mut find: impl FnMut(&[u8]) -> Option<Special>,
) -> Result<(), &'a [u8]> {
    pieces.push(prefix);
    let mut rest = text;
    while let Some(Special { at, len, spelling }) = find(rest) {
        let (run, after) = (&rest[..at], &rest[at + len..]);
        // Two escapes in a row have no run between them: no piece spent on nothing.
        if !run.is_empty() {
            pieces.push(run);
        }
        pieces.push(spelling);
        rest = after;
        // The tail still needs a piece of its own.
        if pieces.len() + 1 > MAX_PIECES {
            return Err(rest);
        }
    }
    if pieces.len() + usize::from(!rest.is_empty()) + 1 > MAX_PIECES {
        return Err(rest);
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces.push(escaping.tail());
    Ok(())
}

/// What is known of a large text's UTF-8 while [`line_pieces`] splits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Utf8 {
    /// Known to be UTF-8.
    Known,
    /// ASCII up to where the search for bytes to escape got, which the kernels search.
    AsciiSoFar(AsciiKernels),
    /// Not UTF-8: the search stopped.
    Invalid,
}

impl Utf8 {
    /// The next character of `s` to escape, checking UTF-8 on the way.
    pub(super) fn find(&mut self, s: &[u8], escaping: Escaping) -> Option<Special> {
        match *self {
            Utf8::Known => escaping.find(s),
            Utf8::Invalid => None,
            Utf8::AsciiSoFar(kernels) => {
                let i = kernels.first_stop(s, escaping.ascii_also())?;
                if s[i] < 0x80 {
                    return Some(Special::byte(escaping, i, s[i]));
                }
                // ASCII before `i`: checking from `i` on checks the whole text, once. A C1
                // control is not ASCII, so it stops the search here and is found below.
                if simdutf8::basic::from_utf8(&s[i..]).is_err() {
                    *self = Utf8::Invalid;
                    return None;
                }
                *self = Utf8::Known;
                escaping
                    .find(&s[i..])
                    .map(|f| Special { at: i + f.at, ..f })
            }
        }
    }
}

/// A character to escape, as [`Escaping::find`] finds it in a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Special {
    /// Where it starts.
    pub(super) at: usize,
    /// Its length in bytes: 2 for a C1 control, else 1.
    pub(super) len: usize,
    /// How it is written.
    pub(super) spelling: &'static [u8],
}

impl Special {
    /// The ASCII byte `c`, found at `at`.
    fn byte(escaping: Escaping, at: usize, c: u8) -> Self {
        Self {
            at,
            len: 1,
            spelling: escaping.spelling(c),
        }
    }
}

/// How a message is escaped: the rules of both the copying writers ([`OneLine`],
/// [`JsonInner`]) and of a large line written from its pieces ([`line_pieces`]), so that
/// both give the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Escaping {
    /// Control characters (below 0x20, DEL, and the C1 controls U+0080 to U+009F) as `\n`,
    /// `\r`, `\t` or `\u{1b}`, `\u{9b}`, so an event stays on one line and cannot drive a
    /// terminal: U+009B is the 8-bit CSI, which many terminals and viewers obey as ESC `[`.
    Text,
    /// The inside of a JSON string: `"`, `\` and the characters below 0x20.
    Json,
}

/// The lead byte in UTF-8 of U+0080 to U+00BF, among them the C1 controls.
const C1_LEAD: u8 = 0xc2;

/// How [`Escaping::Text`] spells the bytes below 0x20.
static TEXT_CONTROLS: [&[u8]; 32] = [
    b"\\u{0}", b"\\u{1}", b"\\u{2}", b"\\u{3}", b"\\u{4}", b"\\u{5}", b"\\u{6}", b"\\u{7}",
    b"\\u{8}", b"\\t", b"\\n", b"\\u{b}", b"\\u{c}", b"\\r", b"\\u{e}", b"\\u{f}", b"\\u{10}",
    b"\\u{11}", b"\\u{12}", b"\\u{13}", b"\\u{14}", b"\\u{15}", b"\\u{16}", b"\\u{17}", b"\\u{18}",
    b"\\u{19}", b"\\u{1a}", b"\\u{1b}", b"\\u{1c}", b"\\u{1d}", b"\\u{1e}", b"\\u{1f}",
];

/// How [`Escaping::Text`] spells the C1 controls, U+0080 to U+009F (in UTF-8, 0xC2 and
/// then 0x80 to 0x9F).
static TEXT_C1: [&[u8]; 32] = [
    b"\\u{80}", b"\\u{81}", b"\\u{82}", b"\\u{83}", b"\\u{84}", b"\\u{85}", b"\\u{86}", b"\\u{87}",
    b"\\u{88}", b"\\u{89}", b"\\u{8a}", b"\\u{8b}", b"\\u{8c}", b"\\u{8d}", b"\\u{8e}", b"\\u{8f}",
    b"\\u{90}", b"\\u{91}", b"\\u{92}", b"\\u{93}", b"\\u{94}", b"\\u{95}", b"\\u{96}", b"\\u{97}",
    b"\\u{98}", b"\\u{99}", b"\\u{9a}", b"\\u{9b}", b"\\u{9c}", b"\\u{9d}", b"\\u{9e}", b"\\u{9f}",
];

/// How [`Escaping::Json`] spells the bytes below 0x20.
static JSON_CONTROLS: [&[u8]; 32] = [
    b"\\u0000", b"\\u0001", b"\\u0002", b"\\u0003", b"\\u0004", b"\\u0005", b"\\u0006", b"\\u0007",
    b"\\u0008", b"\\t", b"\\n", b"\\u000b", b"\\u000c", b"\\r", b"\\u000e", b"\\u000f", b"\\u0010",
    b"\\u0011", b"\\u0012", b"\\u0013", b"\\u0014", b"\\u0015", b"\\u0016", b"\\u0017", b"\\u0018",
    b"\\u0019", b"\\u001a", b"\\u001b", b"\\u001c", b"\\u001d", b"\\u001e", b"\\u001f",
];

impl Escaping {
    /// The rule of lines in `format`.
    pub(super) fn of(format: LogFormat) -> Self {
        match format {
            LogFormat::Text => Self::Text,
            LogFormat::Json => Self::Json,
        }
    }

    /// The ASCII bytes this rule escapes besides those below 0x20 (twice if only one).
    #[inline(always)]
    const fn ascii_also(self) -> [u8; 2] {
        match self {
            Self::Text => [0x7f, 0x7f],
            Self::Json => [b'"', b'\\'],
        }
    }

    /// What the search for the next character to escape stops at besides bytes below 0x20:
    /// the ASCII bytes it escapes and, for [`Escaping::Text`], [`C1_LEAD`] (see
    /// [`Escaping::find`]).
    #[inline(always)]
    const fn scan_also(self) -> [u8; 2] {
        match self {
            Self::Text => [0x7f, C1_LEAD],
            Self::Json => self.ascii_also(),
        }
    }

    /// What ends an [`InfoLines`](super::InfoLines) line after its message: the newline,
    /// and before it for JSON the end of the message string and of the object.
    pub(super) fn tail(self) -> &'static [u8] {
        match self {
            Self::Text => b"\n",
            Self::Json => b"\"}\n",
        }
    }

    /// The first character of `b` to escape.
    ///
    /// For [`Escaping::Text`] the scans stop at 0xC2 too, the lead byte of U+0080 to U+00BF,
    /// and only a second byte from 0x80 to 0x9F makes it a C1 control; the others (a no-break
    /// space, `©`, `°`) are text, and the search goes on after them. The second byte is read
    /// from `b`, not from the scan's block, so a control cut by a block boundary is found
    /// all the same. The cost: one more compare per block of ASCII text, and a restart of
    /// the scan after each character from U+00A0 to U+00BF.
    #[inline(always)]
    pub(super) fn find(self, b: &[u8]) -> Option<Special> {
        match self {
            Self::Text => {
                let mut from = 0;
                loop {
                    let at = from + first_special(&b[from..], Self::Text.scan_also())?;
                    let c = b[at];
                    if c != C1_LEAD {
                        return Some(Special::byte(self, at, c));
                    }
                    if let Some(&next @ 0x80..=0x9f) = b.get(at + 1) {
                        return Some(Special {
                            at,
                            len: 2,
                            spelling: TEXT_C1[usize::from(next - 0x80)],
                        });
                    }
                    from = at + 1;
                }
            }
            Self::Json => {
                let at = first_special(b, Self::Json.scan_also())?;
                Some(Special::byte(self, at, b[at]))
            }
        }
    }

    /// How an ASCII byte [`Escaping::find`] found is written.
    fn spelling(self, c: u8) -> &'static [u8] {
        match (self, c) {
            (Self::Text, 0x7f) => b"\\u{7f}",
            (Self::Text, _) => TEXT_CONTROLS[usize::from(c)],
            (Self::Json, b'"') => b"\\\"",
            (Self::Json, b'\\') => b"\\\\",
            (Self::Json, _) => JSON_CONTROLS[usize::from(c)],
        }
    }

    /// `s` split at its first character to escape: the run before it, its spelling, the rest
    /// after it. Only whole characters are escaped, so the runs of UTF-8 text stay UTF-8.
    #[inline(always)]
    fn split(self, s: &[u8]) -> Option<(&[u8], &'static [u8], &[u8])> {
        let Special { at, len, spelling } = self.find(s)?;
        Some((&s[..at], spelling, &s[at + len..]))
    }

    /// Appends `s` escaped to `out`. Inlined, so that a caller naming its rule gets a loop
    /// with that rule's constants and no branch on the rule per byte to escape.
    #[inline(always)]
    pub(super) fn escape_into(self, out: &mut Vec<u8>, s: &[u8]) {
        let mut rest = s;
        while let Some((run, spelling, after)) = self.split(rest) {
            out.extend_from_slice(run);
            // The common escapes (`\n`, `\t`, `\"`) are two bytes: copied without a call.
            match *spelling {
                [a, b] => out.extend_from_slice(&[a, b]),
                _ => out.extend_from_slice(spelling),
            }
            rest = after;
        }
        out.extend_from_slice(rest);
    }

    /// Appends the end of an [`InfoLines`](super::InfoLines) line as [`Escaping::end_line`]
    /// does, if `s` is UTF-8; returns `false` if it is not (what was appended is then for
    /// the caller to drop). With the `ascii` kernels, one pass copies ASCII text escaped
    /// and so checks it, up to the first byte that is not ASCII.
    pub(super) fn text_line(
        self,
        out: &mut Vec<u8>,
        s: &[u8],
        ascii: Option<AsciiKernels>,
    ) -> bool {
        let mut rest = s;
        if let Some(kernels) = ascii {
            // The copy stops at every byte that is not ASCII, among them 0xC2, the lead byte
            // of every C1 control: it never passes one, wherever its 64-byte steps cut the
            // text, and from there on `end_line` escapes them.
            let spell = |c| self.spelling(c);
            let done = kernels.copy_ascii_escaped(out, s, self.ascii_also(), spell);
            if done == s.len() {
                out.extend_from_slice(self.tail());
                return true;
            }
            // All before `done` is ASCII, so the rest starts a character: checking it alone
            // checks the whole.
            rest = &s[done..];
        }
        if simdutf8::basic::from_utf8(rest).is_err() {
            return false;
        }
        self.end_line(out, rest);
        true
    }

    /// Appends the end of an [`InfoLines`](super::InfoLines) line: its message `s` escaped,
    /// and the tail.
    pub(super) fn end_line(self, out: &mut Vec<u8>, s: &[u8]) {
        // Once on the rule, then the loop and tail compiled for it.
        match self {
            Self::Text => {
                Self::Text.escape_into(out, s);
                out.extend_from_slice(Self::Text.tail());
            }
            Self::Json => {
                Self::Json.escape_into(out, s);
                out.extend_from_slice(Self::Json.tail());
            }
        }
    }
}

/// Writes text with control characters escaped, so an event stays on one line.
pub(super) struct OneLine<'a, 'b>(pub(super) &'a mut Bytes<'b>);

impl fmt::Write for OneLine<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Escaping::Text.escape_into(self.0 .0, s.as_bytes());
        Ok(())
    }
}

/// Writes text as the inside of a JSON string.
pub(super) struct JsonInner<'a, 'b>(pub(super) &'a mut Bytes<'b>);

impl fmt::Write for JsonInner<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Escaping::Json.escape_into(self.0 .0, s.as_bytes());
        Ok(())
    }
}

/// Appends `s` as a JSON string, quotes and all.
pub(super) fn push_json_str(out: &mut Bytes<'_>, s: &str) {
    out.push('"');
    let _ = JsonInner(out).write_str(s);
    out.push('"');
}
