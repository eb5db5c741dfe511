//! A log file for record processors: a `tracing` layer that writes one line per event to a
//! file rotated by size, shared safely by the daemon's many children.
//!
//! Why not `tracing-appender`: its rolling appender rotates by time only, and its
//! non-blocking writer hands lines to a thread, so "this line is in the file" (which must
//! hold before a checkpoint) would need a round trip to that thread. Here lines are
//! formatted into a buffer in the calling thread and written with one `write(2)` per chunk
//! of whole lines, so lines of concurrent processes appending to the same file never
//! interleave, nothing is dropped under load, and [`LogFile::flush`] is a plain write.
//!
//! A write that fails (a full disk, the path replaced by a directory, a rotation that
//! cannot rename or open) poisons the [`LogFile`]: the lines it held are gone, so every
//! later write and flush fails too, with a [`LogError`]. A caller that flushes before it
//! checkpoints therefore never checkpoints past a line that is not in the file, however
//! the failure and its retries fall.

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Lines are written to the file once this much is buffered (and on every flush).
const CHUNK_BYTES: usize = 64 << 10;

/// How each line is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `HH:MM:SS.mmm [module] LEVEL  function - message`, like the Python sample's
    /// `logging` format (time in UTC; module is the last part of the event's target,
    /// function the action being handled). Control characters are escaped (`\n`, `\u{1b}`), so
    /// every event is exactly one line.
    Text,
    /// One JSON object per line: `time` (RFC 3339, UTC), `level`, `module`, `function`,
    /// `message`, and any other fields of the event.
    Json,
}

/// Where and how to log.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The log file; its directory is created if missing.
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes (0: never).
    pub max_bytes: u64,
    /// How many rotated files (`path.1` … `path.N`) to keep.
    pub backups: u32,
    /// Line layout.
    pub format: LogFormat,
    /// The most verbose level written.
    pub level: Level,
}

/// A line could not be written to the log file, now or by an earlier write.
///
/// The first failure poisons the [`LogFile`]: lines were lost with it, so every later
/// write and flush reports it too ([`LogError::is_earlier`]) and nothing more is written.
/// The run loop never retries or skips a batch that failed with one (see
/// [`ErrorPolicy`](crate::ErrorPolicy)): the process stops without acknowledging it, and
/// the daemon restarts the shard from its last checkpoint.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct LogError {
    path: PathBuf,
    /// Shared: every later call reports this same first failure.
    cause: Arc<io::Error>,
    earlier: bool,
}

impl LogError {
    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operating system's error of the first failure (its message says which step of a
    /// rotation failed, if one did).
    pub fn io_error(&self) -> &io::Error {
        &self.cause
    }

    /// Whether the failure happened in an earlier call: this one wrote nothing.
    pub fn is_earlier(&self) -> bool {
        self.earlier
    }

    /// The `LogError` behind `err`, if there is one: `err` itself, anywhere in its chain of
    /// sources, or wrapped in an [`io::Error`] on the way.
    pub fn find_in<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a LogError> {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<LogError>() {
                return Some(found);
            }
            // `io::Error::source` skips the error it wraps: go through that one instead.
            next = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
                Some(wrapped) => Some(wrapped),
                None => e.source(),
            };
        }
        None
    }

    fn describe(&self) -> String {
        if self.earlier {
            format!(
                "the log file {} failed earlier ({}); lines may be missing from it, so nothing more is written",
                self.path.display(),
                self.cause
            )
        } else {
            format!(
                "cannot write the log file {}: {}",
                self.path.display(),
                self.cause
            )
        }
    }
}

impl From<LogError> for io::Error {
    fn from(err: LogError) -> Self {
        io::Error::new(err.cause.kind(), err)
    }
}

/// A handle on the log file: flush it before checkpointing.
#[derive(Clone, Debug)]
pub struct LogFile {
    inner: Arc<Mutex<Inner>>,
    format: LogFormat,
    level: Level,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: File,
    max_bytes: u64,
    backups: u32,
    /// `file`'s device and inode, to tell whether `path` still names it.
    identity: (u64, u64),
    pending: Vec<u8>,
    /// Where a large line with too many escapes to write from its pieces is copied; see
    /// [`Inner::write_large`].
    scratch: Vec<u8>,
    /// The first write, flush or rotation that failed. Lines went with it, so from then on
    /// every write and flush fails (see [`LogError`]); checked once per chunk, never per line.
    failed: Option<Arc<io::Error>>,
    /// Where lines go instead of `file`; see [`LogFile::divert_writes`].
    diverted: Option<Diverted>,
}

/// A test's stand-in for the file.
struct Diverted(Box<dyn Write + Send>);

impl fmt::Debug for Diverted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Diverted")
    }
}

impl LogFile {
    /// Opens (appending) or creates the log file.
    pub fn open(config: &LogConfig) -> io::Result<Self> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = open_append(&config.path)?;
        let opened = file.metadata()?;
        Ok(Self {
            format: config.format,
            level: config.level,
            inner: Arc::new(Mutex::new(Inner {
                path: config.path.clone(),
                file,
                identity: (opened.dev(), opened.ino()),
                max_bytes: config.max_bytes,
                backups: config.backups,
                pending: Vec::with_capacity(CHUNK_BYTES),
                scratch: Vec::new(),
                failed: None,
                diverted: None,
            })),
        })
    }

    /// Opens the log file and makes it the destination of every `tracing` event of the
    /// process (the global default subscriber), with `config`'s format and level.
    pub fn install(config: &LogConfig) -> io::Result<Self> {
        use tracing_subscriber::layer::SubscriberExt as _;
        let log = Self::open(config)?;
        let subscriber =
            tracing_subscriber::registry().with(log.layer(config.format, config.level));
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|e| io::Error::other(format!("cannot install the logger: {e}")))?;
        Ok(log)
    }

    /// Writes every buffered line to the file (to the OS; no fsync). `Ok` means every line
    /// handed to this file so far is in it: once any write has failed, every flush fails.
    pub fn flush(&self) -> Result<(), LogError> {
        self.lock().write_pending()
    }

    /// Appends one already formatted line (without its newline) to the buffer.
    pub fn write_line(&self, line: &str) -> Result<(), LogError> {
        let mut inner = self.lock();
        inner.pending.extend_from_slice(line.as_bytes());
        inner.pending.push(b'\n');
        inner.maybe_write()
    }

    /// Sends every later write to `sink` instead of the file, and stops rotating: a seam
    /// for tests that inject write faults (a writer failing on its Nth write, or writing
    /// short), which the file system cannot be made to do on demand. Not for production.
    #[doc(hidden)]
    pub fn divert_writes(&self, sink: Box<dyn Write + Send>) {
        self.lock().diverted = Some(Diverted(sink));
    }

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
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain bytes behind: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `tracing` layer that formats events into this file.
    pub fn layer(&self, format: LogFormat, level: Level) -> FileLayer {
        FileLayer {
            log: self.clone(),
            format,
            level,
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Inner {
    /// Appends the lines an [`InfoLines`] gathered, leaving `lines` empty.
    fn take_lines(&mut self, lines: &mut Vec<u8>) {
        if self.failed.is_some() {
            // Never written: the next write or flush reports the failure.
            lines.clear();
        } else if self.pending.is_empty() {
            // The usual case, a chunk of lines and nothing else pending: no copy.
            std::mem::swap(&mut self.pending, lines);
        } else {
            self.pending.extend_from_slice(lines);
            lines.clear();
        }
    }

    fn maybe_write(&mut self) -> Result<(), LogError> {
        if self.pending.len() >= CHUNK_BYTES {
            self.write_pending()
        } else {
            self.check()
        }
    }

    /// Fails if an earlier write failed. Before anything else: with nothing pending, a
    /// flush after a failure would otherwise report success for the lines that were lost.
    fn check(&self) -> Result<(), LogError> {
        match &self.failed {
            None => Ok(()),
            Some(cause) => Err(LogError {
                path: self.path.clone(),
                cause: Arc::clone(cause),
                earlier: true,
            }),
        }
    }

    /// Records the first failure (see [`LogError`]) and drops the lines still pending: none
    /// of them will be written.
    fn poison(&mut self, err: io::Error) -> LogError {
        let cause = Arc::new(err);
        self.failed = Some(Arc::clone(&cause));
        self.pending.clear();
        LogError {
            path: self.path.clone(),
            cause,
            earlier: false,
        }
    }

    fn write_pending(&mut self) -> Result<(), LogError> {
        self.check()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let result = self.write_whole(&[&pending]);
        self.pending = pending;
        self.pending.clear();
        if self.pending.capacity() > 16 * CHUNK_BYTES {
            self.pending.shrink_to(CHUNK_BYTES);
        }
        result.map_err(|err| self.poison(err))
    }

    /// Writes `parts` (whole lines) to the file in one `writev`: with O_APPEND the kernel
    /// keeps it in one piece next to the lines of other children. Rotates first if the file
    /// would grow past its limit.
    fn write_whole(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        if let Some(Diverted(sink)) = &mut self.diverted {
            return write_parts(sink, parts);
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let size = self.follow_renames()?;
        if self.max_bytes > 0 && size > 0 && size + total as u64 > self.max_bytes {
            self.rotate()?;
        }
        write_parts(&mut self.file, parts)
    }

    /// Writes one line of at least [`DIRECT_BYTES`], `prefix` then `text` escaped, after the
    /// pending lines. The line goes out in one `writev`, from its pieces where there are few
    /// enough of them, else from a copy. Unless `known_utf8`, returns `Ok(false)`, writing
    /// nothing of the line, if `text` is not UTF-8: the check rides on the search for bytes
    /// to escape where the CPU has AVX-512BW (one pass over ASCII text instead of two).
    fn write_large(
        &mut self,
        prefix: &[u8],
        text: &[u8],
        escaping: Escaping,
        known_utf8: bool,
    ) -> Result<bool, LogError> {
        self.check()?;
        if known_utf8 {
            return self.write_large_checking(prefix, text, escaping, Utf8::Known);
        }
        #[cfg(target_arch = "x86_64")]
        if avx512_text() {
            return self.write_large_checking(prefix, text, escaping, Utf8::AsciiSoFar);
        }
        if simdutf8::basic::from_utf8(text).is_err() {
            return Ok(false);
        }
        self.write_large_checking(prefix, text, escaping, Utf8::Known)
    }

    /// `write_large` with the UTF-8 check in `utf8`'s state; `Utf8::AsciiSoFar` needs
    /// AVX-512BW and BMI1.
    fn write_large_checking(
        &mut self,
        prefix: &[u8],
        text: &[u8],
        escaping: Escaping,
        mut utf8: Utf8,
    ) -> Result<bool, LogError> {
        let mut pieces = Vec::with_capacity(16);
        let pieced = line_pieces(&mut pieces, prefix, text, escaping, |s| {
            utf8.find(s, escaping)
        });
        let rest = match pieced {
            _ if utf8 == Utf8::Invalid => return Ok(false),
            Ok(()) => {
                self.write_pending()?;
                return match self.write_whole(&pieces) {
                    Ok(()) => Ok(true),
                    Err(err) => Err(self.poison(err)),
                };
            }
            Err(rest) => rest,
        };
        if utf8 == Utf8::AsciiSoFar && simdutf8::basic::from_utf8(rest).is_err() {
            return Ok(false);
        }
        self.write_pending()?;
        // Not `pending`: that one is shrunk after a large chunk, so that one huge event does
        // not hold memory for good, and a buffer freed and grown again for every large line
        // faults in fresh pages each time (a quarter of the CPU of 1 MB records). The scratch
        // buffer keeps the size of the largest such line, up to SCRATCH_KEEP.
        let mut line = std::mem::take(&mut self.scratch);
        for piece in pieces {
            line.extend_from_slice(piece);
        }
        escaping.end_line(&mut line, rest);
        let result = self.write_whole(&[&line]);
        line.clear();
        if line.capacity() <= SCRATCH_KEEP {
            self.scratch = line;
        }
        result.map(|()| true).map_err(|err| self.poison(err))
    }

    /// Another child may have rotated the file: write to whatever is at `path` now. Returns
    /// its size. One `stat` of the path per write in the usual case: the open file's identity
    /// is kept from when it was opened, and the path's size is the file's own while they are
    /// the same file.
    fn follow_renames(&mut self) -> io::Result<u64> {
        if let Ok(current) = fs::metadata(&self.path) {
            if (current.dev(), current.ino()) == self.identity {
                return Ok(current.len());
            }
        }
        self.reopen()?;
        Ok(self.file.metadata()?.len())
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.file = open_append(&self.path).map_err(|e| step(e, "opening it again"))?;
        let opened = self.file.metadata()?;
        self.identity = (opened.dev(), opened.ino());
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        let remove = |path: &Path| {
            fs::remove_file(path)
                .or_else(ignore_missing)
                .map_err(|e| step(e, format_args!("rotating: removing {}", path.display())))
        };
        let rename = |from: &Path, to: &Path| {
            fs::rename(from, to).or_else(ignore_missing).map_err(|e| {
                let what =
                    format_args!("rotating: renaming {} to {}", from.display(), to.display());
                step(e, what)
            })
        };
        if self.backups == 0 {
            remove(&self.path)?;
        } else {
            // The oldest goes first, so no rename below replaces a file: ext4 flushes a file
            // renamed over another one (its replace-by-rename heuristic), which would make
            // every rotation wait for writeback.
            remove(&numbered(self.backups))?;
            for n in (1..self.backups).rev() {
                rename(&numbered(n), &numbered(n + 1))?;
            }
            rename(&self.path, &numbered(1))?;
        }
        self.reopen()
    }
}

/// Writes `parts` in one `writev` if the writer takes it whole, else finishes it piece by
/// piece (a short write: a full disk, a signal).
fn write_parts<W: Write + ?Sized>(out: &mut W, parts: &[&[u8]]) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
    let mut written = out.write_vectored(&slices)?;
    if written < total {
        for part in parts {
            if written >= part.len() {
                written -= part.len();
                continue;
            }
            out.write_all(&part[written..])?;
            written = 0;
        }
    }
    Ok(())
}

/// `err` with the step that met it, for the one message that reaches the daemon's log.
fn step(err: io::Error, what: impl fmt::Display) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

fn ignore_missing(err: io::Error) -> io::Result<()> {
    if err.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(err)
    }
}

/// Lines of at least this size are written straight from the caller's bytes, one `writev`
/// from their pieces (see [`line_pieces`]) instead of a copy.
const DIRECT_BYTES: usize = 64 << 10;

/// The most pieces one line's `writev` may have. The kernel takes at most IOV_MAX (1024) and
/// std quietly passes only that many, which would split the line into two writes and so
/// let other processes' lines in between; half of that leaves room to spare, and a line
/// needing more escapes than that is rare enough to be copied.
const MAX_PIECES: usize = 512;

/// The scratch buffer of large lines is freed after a line that needed more than this. It
/// holds a 1 MiB Kinesis record (the largest there is) even if every byte is escaped into
/// six, and a stream that sends one such record usually sends more: freeing the buffer
/// after each would bring back the page faults it is there to avoid.
const SCRATCH_KEEP: usize = 16 << 20;

/// The pieces of a line in order, borrowed: `prefix`, `text` escaped (its runs of plain
/// text and the spellings of the bytes between them), then the tail. `Err(rest)` when the
/// line would take more than [`MAX_PIECES`]: `pieces` then holds the line up to `rest`,
/// the end of `text` not yet split.
/// `find` gives the next character to escape.
fn line_pieces<'a>(
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
enum Utf8 {
    /// Known to be UTF-8.
    Known,
    /// ASCII up to where the search for bytes to escape got.
    AsciiSoFar,
    /// Not UTF-8: the search stopped.
    Invalid,
}

impl Utf8 {
    /// The next character of `s` to escape, checking UTF-8 on the way.
    fn find(&mut self, s: &[u8], escaping: Escaping) -> Option<Special> {
        match *self {
            Utf8::Known => escaping.find(s),
            Utf8::Invalid => None,
            Utf8::AsciiSoFar => {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: this state is only entered where AVX-512BW and BMI1 were detected.
                let i = unsafe { first_stop_avx512(s, escaping) }?;
                #[cfg(not(target_arch = "x86_64"))]
                let i = s
                    .iter()
                    .position(|c| *c >= 0x80 || escaping.find(std::slice::from_ref(c)).is_some())?;
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

/// Whether the CPU has what the AVX-512 text functions below need (AVX-512F, AVX-512BW,
/// BMI1; AVX-512BW implies AVX-512F).
#[cfg(target_arch = "x86_64")]
fn avx512_text() -> bool {
    std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("bmi1")
}

/// Where a search or copy of text stops, 64 bytes at a time: at a byte to escape, or (its
/// sign bit) one that is not ASCII. The latter include the lead byte 0xC2 of every C1
/// control (U+0080 to U+009F), so these paths never pass one: what follows a stop that is
/// not ASCII goes to [`Escaping::find`], which escapes C1 controls for [`Escaping::Text`],
/// wherever the 64-byte steps cut the text.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Stops {
    top: std::arch::x86_64::__m512i,
    one: std::arch::x86_64::__m512i,
    two: std::arch::x86_64::__m512i,
}

#[cfg(target_arch = "x86_64")]
impl Stops {
    #[target_feature(enable = "avx512f,avx512bw")]
    fn new(escaping: Escaping) -> Self {
        use std::arch::x86_64::_mm512_set1_epi8;
        let also = match escaping {
            Escaping::Text => [0x7f, 0x7f],
            Escaping::Json => [b'"', b'\\'],
        };
        Self {
            top: _mm512_set1_epi8(0x1f),
            one: _mm512_set1_epi8(also[0] as i8),
            two: _mm512_set1_epi8(also[1] as i8),
        }
    }

    /// The stops among the 64 bytes of `x`, as a bit mask.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn of(self, x: std::arch::x86_64::__m512i) -> u64 {
        use std::arch::x86_64::{
            _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask, _mm512_movepi8_mask,
        };
        _mm512_cmple_epu8_mask(x, self.top)
            | _mm512_cmpeq_epi8_mask(x, self.one)
            | _mm512_cmpeq_epi8_mask(x, self.two)
            | _mm512_movepi8_mask(x)
    }
}

/// The index of the first byte of `s` to escape or not ASCII, 64 bytes a step.
///
/// # Safety
/// The CPU must have AVX-512F, AVX-512BW and BMI1.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,bmi1")]
unsafe fn first_stop_avx512(s: &[u8], escaping: Escaping) -> Option<usize> {
    use std::arch::x86_64::{_mm512_loadu_si512, _mm512_maskz_loadu_epi8};
    let stops = Stops::new(escaping);
    let mut i = 0;
    while i + 64 <= s.len() {
        // SAFETY: 64 bytes from `i` are inside `s`.
        let x = unsafe { _mm512_loadu_si512(s.as_ptr().add(i).cast()) };
        let hit = stops.of(x);
        if hit != 0 {
            return Some(i + hit.trailing_zeros() as usize);
        }
        i += 64;
    }
    let here = (1u64 << (s.len() - i)) - 1;
    // SAFETY: the mask limits the load to the bytes of `s` from `i`.
    let x = unsafe { _mm512_maskz_loadu_epi8(here, s.as_ptr().add(i).cast::<i8>()) };
    let hit = stops.of(x) & here;
    (hit != 0).then(|| i + hit.trailing_zeros() as usize)
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
    prefix: Vec<u8>,
    until_stamp: u32,
    enabled: bool,
    gathered: Vec<u8>,
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
            let written = inner.write_large(&self.prefix, bytes, self.escaping, known_utf8)?;
            self.until_stamp -= u32::from(written);
            return Ok(written);
        }
        let start = self.gathered.len();
        self.gathered.extend_from_slice(&self.prefix);
        if known_utf8 {
            self.escaping.end_line(&mut self.gathered, bytes);
        } else if !self.escaping.text_line(&mut self.gathered, bytes) {
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

/// The `tracing` layer writing to a [`LogFile`]; see [`LogFile::layer`].
#[derive(Debug)]
pub struct FileLayer {
    log: LogFile,
    format: LogFormat,
    level: Level,
}

impl<S> Layer<S> for FileLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.level() <= &self.level
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.level.into())
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let function = ctx.event_span(event).map_or("main", |s| s.name());
        let target = meta.target();
        let module = target
            .bytes()
            .rposition(|b| b == b':')
            .map_or(target, |i| &target[i + 1..]);
        let mut inner = self.log.lock();
        let start = inner.pending.len();
        // Formatted straight into the pending chunk: no copy per line.
        let out = &mut Bytes(&mut inner.pending);
        write_head(out, self.format, meta.level(), module, function);
        match self.format {
            LogFormat::Text => event.record(&mut TextVisitor {
                out: &mut *out,
                first: true,
            }),
            LogFormat::Json => {
                event.record(&mut JsonVisitor { out: &mut *out });
                out.push('}');
            }
        }
        out.push('\n');
        if inner.failed.is_some() {
            // The file takes nothing more (see `LogError`), and its failure was reported
            // when it happened; problems still reach the daemon's log through stderr.
            if *meta.level() <= Level::WARN {
                let _ = io::stderr().write_all(&inner.pending[start..]);
            }
            inner.pending.clear();
            return;
        }
        // Problems are rare and matter: get them into the file at once.
        let result = if *meta.level() <= Level::WARN {
            inner.write_pending()
        } else {
            inner.maybe_write()
        };
        if let Err(err) = result {
            // The file is the only log; stderr reaches the daemon's log instead.
            eprintln!("record processor: ERROR: {err}");
        }
    }
}

/// Everything of a line before its message, the same for `tracing` events and
/// [`InfoLines`]: `HH:MM:SS.mmm [module] LEVEL  function - `, or for JSON the object up to
/// (not including) its message field.
fn write_head(out: &mut Bytes<'_>, format: LogFormat, level: &Level, module: &str, function: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    match format {
        LogFormat::Text => {
            write_clock(out, now.as_secs(), now.subsec_millis());
            out.push_str(" [");
            out.push_str(module);
            out.push_str("] ");
            out.push_str(level_name(level));
            out.push_str("  ");
            out.push_str(function);
            out.push_str(" - ");
        }
        LogFormat::Json => {
            out.push_str("{\"time\":\"");
            write_rfc3339(out, now.as_secs(), now.subsec_millis());
            out.push_str("\",\"level\":\"");
            out.push_str(level_name(level));
            out.push_str("\",\"module\":");
            push_json_str(out, module);
            out.push_str(",\"function\":");
            push_json_str(out, function);
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// `HH:MM:SS.mmm` of the UTC day.
fn write_clock(out: &mut Bytes<'_>, secs: u64, millis: u32) {
    // By hand: `write!` with padding costs more than the rest of a record's line.
    let day = secs % 86_400;
    let digit = |n: u64| b'0' + (n % 10) as u8;
    let (h, m, s, ms) = (day / 3600, day / 60 % 60, day % 60, u64::from(millis));
    out.0.extend_from_slice(&[
        digit(h / 10),
        digit(h),
        b':',
        digit(m / 10),
        digit(m),
        b':',
        digit(s / 10),
        digit(s),
        b'.',
        digit(ms / 100),
        digit(ms / 10),
        digit(ms),
    ]);
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn write_rfc3339(out: &mut Bytes<'_>, secs: u64, millis: u32) {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T");
    write_clock(out, secs, millis);
    out.push('Z');
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Text written into a byte buffer (only ever valid UTF-8 goes in).
struct Bytes<'a>(&'a mut Vec<u8>);

impl Bytes<'_> {
    fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    fn push(&mut self, c: char) {
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

/// The index of the first byte of `b` below 0x20 or equal to one of `also`: the first byte
/// to escape.
#[inline(always)]
fn first_special(b: &[u8], also: [u8; 2]) -> Option<usize> {
    #[cfg(not(target_arch = "x86_64"))]
    let i = clean_prefix_swar(b, also);
    #[cfg(target_arch = "x86_64")]
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        // A large record's text: twice the bytes per step where the CPU has AVX2. Short
        // lines stay on the SSE2 loop, which needs no feature check.
        if b.len() >= 1024 && std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was just detected. The SSE2 loop below goes on from there.
            i = unsafe { clean_prefix_avx2(b, also) };
        }
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64; every load reads 16 bytes inside `b`.
        unsafe {
            let top = _mm_set1_epi8(0x1f);
            let one = _mm_set1_epi8(also[0] as i8);
            let two = _mm_set1_epi8(also[1] as i8);
            while i + 16 <= b.len() {
                let x = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let low = _mm_cmpeq_epi8(_mm_min_epu8(x, top), x);
                let equal = _mm_or_si128(_mm_cmpeq_epi8(x, one), _mm_cmpeq_epi8(x, two));
                let mask = _mm_movemask_epi8(_mm_or_si128(low, equal));
                if mask != 0 {
                    return Some(i + mask.trailing_zeros() as usize);
                }
                i += 16;
            }
            // The last few bytes: one more load that ends at the end of `b`, with the bytes
            // already checked masked off, instead of a byte loop.
            if i < b.len() && b.len() >= 16 {
                let at = b.len() - 16;
                let x = _mm_loadu_si128(b.as_ptr().add(at).cast::<__m128i>());
                let low = _mm_cmpeq_epi8(_mm_min_epu8(x, top), x);
                let equal = _mm_or_si128(_mm_cmpeq_epi8(x, one), _mm_cmpeq_epi8(x, two));
                let mask = _mm_movemask_epi8(_mm_or_si128(low, equal)) >> (i - at);
                return (mask != 0).then(|| i + mask.trailing_zeros() as usize);
            }
        }
    }
    b[i..]
        .iter()
        .position(|&c| c < 0x20 || c == also[0] || c == also[1])
        .map(|p| p + i)
}

/// How many leading bytes of `b`, in whole eight-byte words, hold nothing to escape: the
/// word where it stops (if any) holds the first byte to escape. [`first_special`]'s loop
/// where there is no SSE2; built for the tests on x86_64 too, so that it is run there.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn clean_prefix_swar(b: &[u8], also: [u8; 2]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has = |x: u64, c: u8| {
        let y = x ^ (ONES * u64::from(c));
        y.wrapping_sub(ONES) & !y & HIGH
    };
    let mut i = 0;
    // Eight bytes at a time: most log text has nothing to escape at all.
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        if below_space | has(x, also[0]) | has(x, also[1]) != 0 {
            break;
        }
        i += 8;
    }
    i
}

/// How many leading bytes of `b`, in whole 32-byte blocks, hold nothing to escape: the
/// block where it stops (if any) holds the first byte to escape.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn clean_prefix_avx2(b: &[u8], also: [u8; 2]) -> usize {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8,
    };
    let top = _mm256_set1_epi8(0x1f);
    let one = _mm256_set1_epi8(also[0] as i8);
    let two = _mm256_set1_epi8(also[1] as i8);
    let mut i = 0;
    while i + 32 <= b.len() {
        // SAFETY: the load reads 32 bytes inside `b`.
        let x = unsafe { _mm256_loadu_si256(b.as_ptr().add(i).cast::<__m256i>()) };
        let low = _mm256_cmpeq_epi8(_mm256_min_epu8(x, top), x);
        let equal = _mm256_or_si256(_mm256_cmpeq_epi8(x, one), _mm256_cmpeq_epi8(x, two));
        if _mm256_movemask_epi8(_mm256_or_si256(low, equal)) != 0 {
            break;
        }
        i += 32;
    }
    i
}

/// Copies `s` escaped onto `out` while it is ASCII, 64 bytes a step: a step with nothing to
/// escape is one load, four compares into mask registers and one store, and the last step's
/// masked load and store need no scalar tail. Returns how far it got: `s.len()`, or the
/// index of the first byte that is not ASCII (everything before it is copied), where the
/// caller goes on with [`Escaping::end_line`]: a C1 control starts there, never before.
///
/// # Safety
/// The CPU must have AVX-512F, AVX-512BW and BMI1.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,bmi1")]
unsafe fn copy_ascii_escaped_avx512(out: &mut Vec<u8>, s: &[u8], escaping: Escaping) -> usize {
    use std::arch::x86_64::{_mm512_mask_storeu_epi8, _mm512_maskz_loadu_epi8};
    let stops = Stops::new(escaping);
    // Room for the rest of `s` copied as it is; only an escape, which is longer than the byte
    // it stands for, can need more.
    out.reserve(s.len());
    let mut written = out.len();
    let mut i = 0;
    while i < s.len() {
        let left = s.len() - i;
        let here = if left >= 64 {
            u64::MAX
        } else {
            (1 << left) - 1
        };
        // SAFETY: the mask limits the load to the `left` bytes of `s` from `i`.
        let x = unsafe { _mm512_maskz_loadu_epi8(here, s.as_ptr().add(i).cast::<i8>()) };
        let stop = stops.of(x) & here;
        // Everything before the first stop, or the whole step if there is none.
        let clean = here & stop.wrapping_sub(1) & !stop;
        // SAFETY: `out` has room for what is left of `s` after `written` (kept below), and
        // the store writes at most that many bytes.
        unsafe {
            _mm512_mask_storeu_epi8(out.as_mut_ptr().add(written).cast::<i8>(), clean, x);
        }
        // Not `clean.count_ones()`: without `popcnt` enabled that is a dozen instructions.
        let n = if stop == 0 {
            left.min(64)
        } else {
            stop.trailing_zeros() as usize
        };
        written += n;
        i += n;
        if stop == 0 {
            continue;
        }
        let c = s[i];
        if c >= 0x80 {
            break;
        }
        let spelling = escaping.spelling(c);
        // SAFETY: the bytes up to `written` were stored above or before.
        unsafe { out.set_len(written) };
        out.reserve(spelling.len() + (s.len() - i - 1));
        out.extend_from_slice(spelling);
        written = out.len();
        i += 1;
    }
    // SAFETY: as above.
    unsafe { out.set_len(written) };
    i
}

/// A character to escape, as [`Escaping::find`] finds it in a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Special {
    /// Where it starts.
    at: usize,
    /// Its length in bytes: 2 for a C1 control, else 1.
    len: usize,
    /// How it is written.
    spelling: &'static [u8],
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
enum Escaping {
    /// Control characters (below 0x20, DEL, and the C1 controls U+0080 to U+009F) as `\n`,
    /// `\r`, `\t` or `\u{1b}`, `\u{9b}`, so an event stays on one line and cannot drive a
    /// terminal: U+009B is the 8-bit CSI, which many terminals and viewers obey as ESC `[`.
    Text,
    /// The inside of a JSON string: `"`, `\` and the characters below 0x20.
    Json,
}

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
    fn of(format: LogFormat) -> Self {
        match format {
            LogFormat::Text => Self::Text,
            LogFormat::Json => Self::Json,
        }
    }

    /// What ends an [`InfoLines`] line after its message: the newline, and before it for JSON
    /// the end of the message string and of the object.
    fn tail(self) -> &'static [u8] {
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
    fn find(self, b: &[u8]) -> Option<Special> {
        match self {
            Self::Text => {
                let mut from = 0;
                loop {
                    let at = from + first_special(&b[from..], [0x7f, 0xc2])?;
                    let c = b[at];
                    if c != 0xc2 {
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
                let at = first_special(b, [b'"', b'\\'])?;
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
    fn escape_into(self, out: &mut Vec<u8>, s: &[u8]) {
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

    /// Appends the end of an [`InfoLines`] line as [`Escaping::end_line`] does, if `s` is
    /// UTF-8; returns `false` if it is not (what was appended is then for the caller to
    /// drop).
    fn text_line(self, out: &mut Vec<u8>, s: &[u8]) -> bool {
        // Only the AVX-512 copy below moves `rest` on.
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut rest = s;
        #[cfg(target_arch = "x86_64")]
        if avx512_text() {
            // SAFETY: AVX-512BW (which implies AVX-512F) and BMI1 were just detected.
            let done = unsafe { copy_ascii_escaped_avx512(out, s, self) };
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

    /// Appends the end of an [`InfoLines`] line: its message `s` escaped, and the tail.
    fn end_line(self, out: &mut Vec<u8>, s: &[u8]) {
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
struct OneLine<'a, 'b>(&'a mut Bytes<'b>);

impl fmt::Write for OneLine<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Escaping::Text.escape_into(self.0 .0, s.as_bytes());
        Ok(())
    }
}

/// Writes text as the inside of a JSON string.
struct JsonInner<'a, 'b>(&'a mut Bytes<'b>);

impl fmt::Write for JsonInner<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Escaping::Json.escape_into(self.0 .0, s.as_bytes());
        Ok(())
    }
}

fn push_json_str(out: &mut Bytes<'_>, s: &str) {
    out.push('"');
    let _ = JsonInner(out).write_str(s);
    out.push('"');
}

struct TextVisitor<'a, 'b> {
    out: &'a mut Bytes<'b>,
    first: bool,
}

impl Visit for TextVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            if !self.first {
                self.out.push(' ');
            }
            let _ = write!(OneLine(self.out), "{value:?}");
        } else {
            let _ = write!(OneLine(self.out), " {}={value:?}", field.name());
        }
        self.first = false;
    }
}

struct JsonVisitor<'a, 'b> {
    out: &'a mut Bytes<'b>,
}

impl Visit for JsonVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let _ = write!(self.out, ",\"{}\":{value}", field.name());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let _ = write!(self.out, ",\"{}\":{value}", field.name());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = write!(self.out, ",\"{}\":{value}", field.name());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.out, ",\"{}\":\"", field.name());
        let _ = write!(JsonInner(self.out), "{value:?}");
        self.out.push('"');
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn first_special_finds_the_first_byte_to_escape_at_any_length() {
        let naive = |b: &[u8], also: [u8; 2]| {
            b.iter()
                .position(|&c| c < 0x20 || c == also[0] || c == also[1])
        };
        // A wide scan's clean prefix is every whole step before the one holding the first
        // byte to escape: nothing to escape in it, and no step given up too early.
        let check_prefixes = |v: &[u8], also: [u8; 2], what: &str| {
            let first = naive(v, also).unwrap_or(v.len());
            let steps_before = |step: usize| (first / step * step).min(v.len() / step * step);
            assert_eq!(clean_prefix_swar(v, also), steps_before(8), "SWAR {what}");
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 was just detected.
                let avx2 = unsafe { clean_prefix_avx2(v, also) };
                assert_eq!(avx2, steps_before(32), "AVX2 {what}");
            }
        };
        // The Text rule's bytes (DEL, and 0xC2 which starts a C1 control), JSON's.
        for also in [[0x7f, 0xc2], [b'"', b'\\']] {
            for len in [
                0usize, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1023, 1024, 1025, 2047,
                4100,
            ] {
                let clean: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                assert_eq!(first_special(&clean, also), None, "{len}");
                check_prefixes(&clean, also, &format!("clean {len}"));
                let mut spots = vec![0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 1000, 1023, 1024, 2040];
                spots.extend([
                    len.saturating_sub(17),
                    len.saturating_sub(16),
                    len.saturating_sub(1),
                ]);
                for at in spots.into_iter().filter(|&at| at < len) {
                    // Bytes that are never escaped beside the ones that are: high bytes
                    // (negative as signed) and the neighbours of each.
                    for bad in [
                        b'\n', 0x00, 0x1f, also[0], also[1], 0x20, 0x80, 0xc1, 0xc3, 0xff,
                    ] {
                        let mut v = clean.clone();
                        v[at] = bad;
                        // A second one later must not matter.
                        if at + 40 < len {
                            v[at + 40] = b'\t';
                        }
                        let what = format!("{len} {at} {bad:#x}");
                        assert_eq!(first_special(&v, also), naive(&v, also), "{what}");
                        let special = bad < 0x20 || also.contains(&bad);
                        if special {
                            assert_eq!(first_special(&v, also), Some(at), "{what}");
                        }
                        check_prefixes(&v, also, &what);
                    }
                }
            }
        }
    }

    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_683), (2023, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let mut v = Vec::new();
        write_rfc3339(&mut Bytes(&mut v), 1_700_000_000, 123);
        assert_eq!(v, b"2023-11-14T22:13:20.123Z");
        v.clear();
        write_clock(&mut Bytes(&mut v), 86_399, 9);
        assert_eq!(v, b"23:59:59.009");
        v.clear();
        write_clock(&mut Bytes(&mut v), 86_400 * 5 + 3600 + 61, 450);
        assert_eq!(v, b"01:01:01.450");
    }

    #[test]
    fn bytes_to_escape_found_at_every_offset() {
        let cases: [(Escaping, &[&str]); 2] = [
            (
                Escaping::Text,
                &["\0", "\n", "\u{1f}", "\u{7f}", "\u{80}", "\u{9b}", "\u{9f}"],
            ),
            (Escaping::Json, &["\0", "\n", "\"", "\\"]),
        ];
        for (escaping, specials) in cases {
            for len in 0..40 {
                for at in 0..len {
                    for c in specials {
                        let mut v = "a".repeat(len).into_bytes();
                        v.splice(at..at + 1, c.bytes());
                        let found = escaping.find(&v).map(|f| (f.at, f.len));
                        assert_eq!(
                            found,
                            Some((at, c.len())),
                            "{escaping:?} len {len} at {at} {c:?}"
                        );
                        // Text that only looks like it: the same bytes after another lead
                        // byte, and 0xC2 before the bytes that are not C1 controls.
                        for lookalike in ["\u{201b}", "\u{a0}", "\u{bf}", "\u{109b}", "é"] {
                            let mut v = "a".repeat(len).into_bytes();
                            v.splice(at..at + 1, lookalike.bytes());
                            assert_eq!(escaping.find(&v), None, "{escaping:?} {lookalike:?}");
                            v.extend(c.bytes());
                            let found = escaping.find(&v).map(|f| (f.at, f.len));
                            assert_eq!(
                                found,
                                Some((v.len() - c.len(), c.len())),
                                "{lookalike:?} then {c:?}"
                            );
                        }
                    }
                }
                let clean: Vec<u8> = (0..len)
                    .map(|i| b' ' + (i % 95) as u8)
                    .map(|c| {
                        if escaping == Escaping::Json && (c == b'"' || c == b'\\') {
                            b'x'
                        } else {
                            c
                        }
                    })
                    .collect();
                assert_eq!(escaping.find(&clean), None, "{escaping:?} len {len}");
                assert_eq!(escaping.find("é😀ü".repeat(len).as_bytes()), None);
            }
        }
        // The other format's specials are plain text: JSON keeps C1 controls, exact.
        assert_eq!(Escaping::Text.find(b"\"\\"), None);
        assert_eq!(Escaping::Json.find(&[0x7f; 20]), None);
        assert_eq!(Escaping::Json.find("\u{9b}\u{80}".as_bytes()), None);
        // A lone 0xC2 at the very end (not UTF-8, but never read past).
        assert_eq!(Escaping::Text.find(b"ab\xc2"), None);
    }

    #[test]
    fn escaping() {
        let mut v = Vec::new();
        write!(
            OneLine(&mut Bytes(&mut v)),
            "a\nb\r\tc\u{1b}d é\u{7f} \u{9b}31m\u{80}\u{9f}\u{a0}©"
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "a\\nb\\r\\tc\\u{1b}d é\\u{7f} \\u{9b}31m\\u{80}\\u{9f}\u{a0}©"
        );
        let mut v = Vec::new();
        push_json_str(&mut Bytes(&mut v), "q\"b\\n\n\u{1}é");
        let s = String::from_utf8(v).unwrap();
        assert_eq!(s, r#""q\"b\\n\n\u0001é""#);
        assert_eq!(
            serde_json::from_str::<String>(&s).unwrap(),
            "q\"b\\n\n\u{1}é"
        );
    }

    /// The escaping rules as first written, one character at a time with `format!`: what
    /// the tables of spellings and every search for what to escape must agree with.
    fn reference_escape(escaping: Escaping, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match (escaping, c) {
                (_, '\n') => out.push_str("\\n"),
                (_, '\r') => out.push_str("\\r"),
                (_, '\t') => out.push_str("\\t"),
                // C0, DEL and C1: every control character of Unicode's Cc category.
                (Escaping::Text, c) if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                (Escaping::Json, '"') => out.push_str("\\\""),
                (Escaping::Json, '\\') => out.push_str("\\\\"),
                (Escaping::Json, c) if c < ' ' => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                (_, c) => out.push(c),
            }
        }
        out
    }

    #[test]
    fn every_spelling_follows_the_rules() {
        // Every character up to U+0100 (C0, ASCII, DEL, C1, Latin-1), and a few beyond.
        let all: String = (0u8..=0xff)
            .map(char::from)
            .chain("é😀\u{201b}\u{109b}".chars())
            .collect();
        for s in all.chars().map(String::from).chain([all.clone()]) {
            let mut v = Vec::new();
            write!(OneLine(&mut Bytes(&mut v)), "{s}").unwrap();
            assert_eq!(
                String::from_utf8(v).unwrap(),
                reference_escape(Escaping::Text, &s)
            );
            let mut v = Vec::new();
            write!(JsonInner(&mut Bytes(&mut v)), "{s}").unwrap();
            let json = String::from_utf8(v).unwrap();
            assert_eq!(json, reference_escape(Escaping::Json, &s));
            assert_eq!(
                serde_json::from_str::<String>(&format!("\"{json}\"")).unwrap(),
                s
            );
        }
    }

    fn temp_log(format: LogFormat) -> (tempfile::TempDir, LogFile) {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::open(&LogConfig {
            path: dir.path().join("test.log"),
            max_bytes: 0,
            backups: 0,
            format,
            level: Level::INFO,
        })
        .unwrap();
        (dir, log)
    }

    fn file_bytes(dir: &tempfile::TempDir) -> Vec<u8> {
        fs::read(dir.path().join("test.log")).unwrap()
    }

    /// The line the small-line path makes of `text`: the message through `OneLine` or
    /// `JsonInner` into a buffer. Checked against [`reference_escape`], so that every test
    /// comparing a path with this line compares it with the rules written plainly too.
    fn small_line(format: LogFormat, prefix: &[u8], text: &str) -> Vec<u8> {
        let mut v = prefix.to_vec();
        match format {
            LogFormat::Text => OneLine(&mut Bytes(&mut v)).write_str(text).unwrap(),
            LogFormat::Json => {
                JsonInner(&mut Bytes(&mut v)).write_str(text).unwrap();
                v.extend_from_slice(b"\"}");
            }
        }
        v.push(b'\n');
        let mut want = prefix.to_vec();
        want.extend_from_slice(reference_escape(Escaping::of(format), text).as_bytes());
        want.extend_from_slice(Escaping::of(format).tail());
        assert_same_bytes(
            &v,
            &want,
            &format!("{format:?}: the small-line path and the rules"),
        );
        v
    }

    /// `assert_eq!` on megabytes would print them all.
    fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
        if got == want {
            return;
        }
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        let around = |b: &[u8]| {
            String::from_utf8_lossy(&b[at.saturating_sub(20)..b.len().min(at + 20)]).into_owned()
        };
        panic!(
            "{what}: {} bytes written, {} expected, first difference at {at}: {:?} instead of {:?}",
            got.len(),
            want.len(),
            around(got),
            around(want)
        );
    }

    /// Text of at least `len` bytes with no byte to escape in either format, not all ASCII.
    fn plain(len: usize) -> String {
        // `©` and `°` start with 0xC2 as C1 controls do: the search stops there and goes on.
        let words = [
            "lorem ",
            "ipsum-",
            "é",
            "😀",
            "0123456789",
            ",dolor:",
            "ü_",
            "©°",
        ];
        let mut s = String::with_capacity(len + 16);
        for w in words.iter().cycle() {
            if s.len() >= len {
                break;
            }
            s.push_str(w);
        }
        s
    }

    /// Plain text with `specials` in turn after every `every` bytes of it.
    fn sprinkled(len: usize, every: usize, specials: &[char]) -> String {
        let text = plain(len);
        let mut s = String::with_capacity(len * 2);
        let mut specials = specials.iter().cycle();
        for (i, c) in text.chars().enumerate() {
            s.push(c);
            if i % every == every - 1 {
                s.push(*specials.next().unwrap());
            }
        }
        s
    }

    /// Writes `text` as one large line between two small ones and checks the file holds
    /// exactly what the small-line path gives; returns whether the large line was copied.
    fn check_large_line(format: LogFormat, text: &str, what: &str) -> bool {
        let (dir, log) = temp_log(format);
        let mut lines = log.info_lines("module", "function");
        lines.info("before").unwrap();
        lines.info(text).unwrap();
        lines.info("after \"\u{1}").unwrap();
        lines.publish().unwrap();
        log.flush().unwrap();
        let prefix = lines.prefix.clone();
        let mut want = small_line(format, &prefix, "before");
        want.extend(small_line(format, &prefix, text));
        want.extend(small_line(format, &prefix, "after \"\u{1}"));
        let got = file_bytes(&dir);
        assert_same_bytes(&got, &want, &format!("{format:?} {what}"));
        if format == LogFormat::Json {
            let line = got.split(|&b| b == b'\n').nth(1).unwrap();
            let value: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert!(
                value["message"] == text,
                "{what}: the JSON message is the text"
            );
        }
        let inner = log.lock();
        if text.len() >= DIRECT_BYTES {
            // The pending chunk never held the large line.
            assert!(inner.pending.capacity() <= CHUNK_BYTES, "{what}");
        }
        inner.scratch.capacity() > 0
    }

    /// A disk for [`LogFile::divert_writes`]: takes `ok` writes, then (if `short`) half of
    /// one more, then fails `failing` writes with ENOSPC, then takes writes again, as a disk
    /// that another process frees space on would.
    #[derive(Clone)]
    struct Flaky(Arc<Mutex<FlakyDisk>>);

    struct FlakyDisk {
        taken: Vec<u8>,
        calls: usize,
        ok: usize,
        short: bool,
        failing: usize,
    }

    impl Flaky {
        fn new(ok: usize, short: bool, failing: usize) -> Self {
            Self(Arc::new(Mutex::new(FlakyDisk {
                taken: Vec::new(),
                calls: 0,
                ok,
                short,
                failing,
            })))
        }

        fn taken(&self) -> Vec<u8> {
            self.0.lock().unwrap().taken.clone()
        }

        fn calls(&self) -> usize {
            self.0.lock().unwrap().calls
        }
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut d = self.0.lock().unwrap();
            d.calls += 1;
            let mut n = d.calls - d.ok;
            if n > 0 && d.short {
                if n == 1 {
                    let half = buf.len() / 2;
                    d.taken.extend_from_slice(&buf[..half]);
                    return Ok(half);
                }
                n -= 1;
            }
            if n > 0 && n <= d.failing {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            d.taken.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_poisons_the_file_for_every_later_call() {
        // A plain failure, and a short write whose rest fails; the disk works again right
        // after, which must not let a flush report the lost lines as written.
        for short in [false, true] {
            let (dir, log) = temp_log(LogFormat::Text);
            let disk = Flaky::new(1, short, 1);
            log.divert_writes(Box::new(disk.clone()));
            log.write_line("kept").unwrap();
            log.flush().unwrap();
            let mut lines = log.info_lines("module", "function");
            lines.info("a line lost with the failed write").unwrap();
            lines.publish().unwrap();
            let first = log.flush().unwrap_err();
            let path = dir.path().join("test.log");
            assert!(!first.is_earlier(), "short {short}");
            assert_eq!(first.path(), path);
            assert_eq!(first.io_error().raw_os_error(), Some(libc::ENOSPC));
            let text = first.to_string();
            assert!(
                text.contains(&format!("cannot write the log file {}", path.display()))
                    && text.contains("No space left on device (os error 28)"),
                "{text}"
            );
            let calls = disk.calls();
            // Every way in fails from now on, each naming the first failure.
            let later = log.flush().unwrap_err();
            assert!(later.is_earlier());
            assert!(
                later.to_string().contains("failed earlier")
                    && later.to_string().contains("(os error 28)"),
                "{later}"
            );
            assert!(log.write_line("after").unwrap_err().is_earlier());
            lines.info("after, gathered").unwrap();
            assert!(lines.publish().unwrap_err().is_earlier());
            assert!(lines
                .info(&"large ".repeat(DIRECT_BYTES / 4))
                .unwrap_err()
                .is_earlier());
            lines.info("handed over on drop").unwrap();
            drop(lines);
            assert!(log.flush().unwrap_err().is_earlier());
            use tracing_subscriber::layer::SubscriberExt as _;
            let layer = log.layer(LogFormat::Text, Level::INFO);
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, || {
                tracing::info!("an event after the failure");
                tracing::error!("an error after the failure");
            });
            assert!(log.flush().is_err());
            assert_eq!(disk.calls(), calls, "short {short}: nothing written after");
            let taken = disk.taken();
            assert!(taken.starts_with(b"kept\n"), "short {short}");
            assert!(
                memchr::memmem::find(&taken, b"lost with the failed write\n").is_none(),
                "short {short}: the line was never written whole"
            );
            // Typed through `io::Error`, as a caller using `?` into io::Result sees it.
            let io: io::Error = log.flush().unwrap_err().into();
            assert_eq!(io.kind(), io::ErrorKind::StorageFull);
            assert!(LogError::find_in(&io).is_some_and(LogError::is_earlier));
        }
    }

    #[test]
    fn a_large_line_that_fails_poisons_the_file() {
        let (_dir, log) = temp_log(LogFormat::Text);
        let disk = Flaky::new(0, false, 1);
        log.divert_writes(Box::new(disk.clone()));
        let mut lines = log.info_lines("module", "function");
        let large = "x".repeat(DIRECT_BYTES);
        assert!(!lines.info(&large).unwrap_err().is_earlier());
        assert!(lines.info(&large).unwrap_err().is_earlier());
        assert!(lines
            .info_if_text(large.as_bytes())
            .unwrap_err()
            .is_earlier());
        assert!(log.flush().unwrap_err().is_earlier());
        assert!(disk.taken().is_empty());
        assert_eq!(disk.calls(), 1);
    }

    #[test]
    fn a_rotation_that_fails_poisons_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.log");
        let log = LogFile::open(&LogConfig {
            path: path.clone(),
            max_bytes: 50,
            backups: 2,
            format: LogFormat::Text,
            level: Level::INFO,
        })
        .unwrap();
        // The oldest backup's name is taken by a directory: removing it fails (EISDIR), as
        // any step of a rotation can fail, and for root too.
        let oldest = dir.path().join("test.log.2");
        fs::create_dir(&oldest).unwrap();
        fs::write(oldest.join("inside"), b"").unwrap();
        let first = "a line that fills the file past its limit of fifty bytes";
        log.write_line(first).unwrap();
        log.flush().unwrap();
        log.write_line("a line that needs a rotation").unwrap();
        let err = log.flush().unwrap_err();
        assert!(!err.is_earlier());
        assert_eq!(err.io_error().kind(), io::ErrorKind::IsADirectory);
        assert!(
            err.to_string()
                .contains(&format!("rotating: removing {}", oldest.display())),
            "{err}"
        );
        // The obstacle goes away; the lost line stays lost, so nothing may succeed.
        fs::remove_dir_all(&oldest).unwrap();
        assert!(log.flush().unwrap_err().is_earlier());
        assert!(log.write_line("later").unwrap_err().is_earlier());
        assert!(log.flush().unwrap_err().is_earlier());
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{first}\n"));
        assert!(!dir.path().join("test.log.1").exists());
    }

    #[test]
    fn log_errors_are_found_through_wrappers_and_chains() {
        #[derive(Debug, thiserror::Error)]
        #[error("the batch failed")]
        struct Outer(#[source] io::Error);

        let (_dir, log) = temp_log(LogFormat::Text);
        log.divert_writes(Box::new(Flaky::new(0, false, 1)));
        log.write_line("x").unwrap();
        let err = log.flush().unwrap_err();
        let boxed: crate::BoxError = Box::new(err.clone());
        assert!(LogError::find_in(&*boxed).is_some());
        let chained = Outer(io::Error::other(io::Error::from(err)));
        assert!(LogError::find_in(&chained).is_some());
        let unrelated = Outer(io::Error::other("no log involved"));
        assert!(LogError::find_in(&unrelated).is_none());
    }

    #[test]
    fn info_lines_reach_the_file_in_chunks_at_publish_and_on_drop() {
        let (dir, log) = temp_log(LogFormat::Text);
        let mut lines = log.info_lines("module", "function");
        let mut want = Vec::new();
        lines.info("first").unwrap();
        want.extend(small_line(LogFormat::Text, &lines.prefix, "first"));
        log.flush().unwrap();
        assert!(file_bytes(&dir).is_empty(), "gathered, not yet handed over");
        lines.publish().unwrap();
        log.flush().unwrap();
        assert_same_bytes(&file_bytes(&dir), &want, "published");
        // A chunk's worth goes to the file by itself.
        let text = "x".repeat(1000);
        while want.len() < 2 * CHUNK_BYTES {
            lines.info(&text).unwrap();
            want.extend(small_line(LogFormat::Text, &lines.prefix, &text));
        }
        assert!(file_bytes(&dir).len() >= CHUNK_BYTES, "written at a chunk");
        // Interleaved with an event written straight to the file, and handed over on drop.
        lines.info("last").unwrap();
        let prefix = lines.prefix.clone();
        drop(lines);
        log.write_line("direct").unwrap();
        log.flush().unwrap();
        want.extend(small_line(LogFormat::Text, &prefix, "last"));
        want.extend(b"direct\n");
        assert_same_bytes(&file_bytes(&dir), &want, "dropped");
    }

    #[test]
    fn a_file_rotated_by_another_process_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            path: dir.path().join("shared.log"),
            max_bytes: 100,
            backups: 3,
            format: LogFormat::Text,
            level: Level::INFO,
        };
        // Two children writing the same file, each with its own LogFile.
        let (a, b) = (
            LogFile::open(&config).unwrap(),
            LogFile::open(&config).unwrap(),
        );
        let mut written = Vec::new();
        for i in 0..40 {
            let (who, log) = if i % 3 == 0 { ("b", &b) } else { ("a", &a) };
            let line = format!("{who} line {i:02} {}", "p".repeat(i % 7 * 5));
            log.write_line(&line).unwrap();
            log.flush().unwrap();
            written.push(line);
            // Whoever wrote last wrote to the file the path names now.
            let current = fs::read_to_string(&config.path).unwrap();
            assert!(
                current.ends_with(&format!("{}\n", written.last().unwrap())),
                "{i}"
            );
        }
        let mut found = String::new();
        for n in ["", ".1", ".2", ".3"] {
            let mut path = config.path.clone().into_os_string();
            path.push(n);
            found.push_str(&fs::read_to_string(path).unwrap_or_default());
        }
        // Three backups of about 100 bytes keep the last dozen lines, each exactly once.
        for line in written.iter().rev().take(10) {
            assert_eq!(found.matches(&format!("{line}\n")).count(), 1, "{line}");
        }
    }

    /// On a CPU with AVX-512BW `info_if_text` takes its own paths (the masked copy, and for
    /// large lines the search that checks UTF-8 on the way); elsewhere it checks UTF-8
    /// first and then escapes as `info` does. Either way, its lines must be the rules'.
    #[test]
    fn info_if_text_writes_what_info_writes_and_nothing_for_non_utf8() {
        let inserts: [&[u8]; 16] = [
            b"\n",
            b"\x01",
            b"\"",
            b"\\",
            b"\x7f",
            b"\x1f",
            "é".as_bytes(),
            "😀".as_bytes(),
            b" ",
            // C1 controls (the 8-bit CSI, NEL, the first and last), and characters whose
            // bytes look like them: 0xC2 then 0xA0, and 0x9B after another lead byte.
            "\u{9b}".as_bytes(),
            "\u{85}".as_bytes(),
            "\u{80}".as_bytes(),
            "\u{9f}".as_bytes(),
            "\u{a0}".as_bytes(),
            "\u{201b}".as_bytes(),
            "\u{9b}[31m\u{9b}".as_bytes(),
        ];
        let invalid: [&[u8]; 7] = [
            b"\xff",
            b"\x80",
            b"\xe2\x82",
            b"\xc0\x80",
            b"\xed\xa0\x80",
            // Half a C1 control: its lead byte alone, its second byte alone.
            b"\xc2",
            b"\x9b",
        ];
        let mut lengths: Vec<usize> = (0..=100).collect();
        lengths.extend([127, 128, 129, 200, 1000, DIRECT_BYTES - 1]);
        // Large lines: the search's last, masked step at every length modulo 64 there is.
        lengths.extend((0..=64).map(|n| DIRECT_BYTES + n));
        for format in [LogFormat::Text, LogFormat::Json] {
            let (dir, log) = temp_log(format);
            let mut lines = log.info_lines("module", "function");
            let escaping = Escaping::of(format);
            let mut want = Vec::new();
            // `before` and `after` hold nothing to escape, so the line the rules make of
            // the whole is theirs with only `insert` put through the reference: thousands of
            // 64 KiB lines would take minutes through it.
            let mut check = |before: &[u8], insert: &[u8], after: &[u8], what: &str| {
                let bytes = [before, insert, after].concat();
                let text = std::str::from_utf8(insert).ok();
                assert_eq!(
                    lines.info_if_text(&bytes).unwrap(),
                    text.is_some(),
                    "{format:?} {what}"
                );
                if let Some(text) = text {
                    want.extend_from_slice(&lines.prefix);
                    want.extend_from_slice(before);
                    want.extend_from_slice(reference_escape(escaping, text).as_bytes());
                    want.extend_from_slice(after);
                    want.extend_from_slice(escaping.tail());
                }
            };
            for &len in &lengths {
                let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                check(&base, b"", b"", &format!("plain {len}"));
                // Something at every position of short texts, at a few of long ones: some
                // steps in, and in and around the last step.
                let at: Vec<usize> = if len > 200 {
                    vec![
                        0,
                        1,
                        63,
                        64,
                        len / 2,
                        len - 65,
                        len - 64,
                        len - 63,
                        len - 1,
                        len,
                    ]
                } else {
                    (0..=len).collect()
                };
                for at in at {
                    for (n, insert) in inserts.iter().chain(&invalid).enumerate() {
                        let what = format!("{len} at {at} insert {n}");
                        check(&base[..at], insert, &base[at..], &what);
                    }
                }
            }
            // Past the writev's piece budget (copied from there on), then not UTF-8.
            let dense = "a\n".repeat(DIRECT_BYTES / 2);
            for tail in [&b"\xff"[..], "é".as_bytes(), b"ok", "\u{9b}".as_bytes()] {
                check(b"", &[dense.as_bytes(), tail].concat(), b"", "dense");
            }
            lines.publish().unwrap();
            log.flush().unwrap();
            assert_same_bytes(&file_bytes(&dir), &want, &format!("{format:?}"));
        }
    }

    #[test]
    fn large_lines_are_the_bytes_small_lines_would_be() {
        let specials = [
            '\n', '\t', '\u{1}', '\u{7f}', '"', '\\', '\r', '\u{1f}', '\u{1b}', '\u{9b}', '\u{85}',
        ];
        for len in [100_000, 1 << 20] {
            let body = plain(len);
            let few = format!(
                "\t{}\r\n{}\u{7f}{}\u{0}\"\\{}\n\n",
                &body[..len / 4],
                &body[len / 4..len / 2],
                &body[len / 2..3 * len / 4],
                &body[3 * len / 4..]
            );
            let written_from_pieces = [
                ("no escape", body.clone()),
                (
                    "a JSON record ending in a newline",
                    format!("{{\"data\":\"{body}\"}}\n"),
                ),
                ("one control character first", format!("\u{1b}{body}")),
                ("one control character last", format!("{body}\n")),
                ("a few escapes, two in a row", few),
                ("200 escapes", sprinkled(len, len / 200, &specials)),
            ];
            for format in [LogFormat::Text, LogFormat::Json] {
                for (what, text) in &written_from_pieces {
                    let what = format!("{len} bytes, {what}");
                    assert!(!check_large_line(format, text, &what), "{what}: not copied");
                }
            }
            let copied = [
                ("an escape every 100 bytes", sprinkled(len, 100, &specials)),
                (
                    "every byte escaped",
                    (0..len).map(|i| specials[i % specials.len()]).collect(),
                ),
            ];
            for format in [LogFormat::Text, LogFormat::Json] {
                for (what, text) in &copied {
                    let what = format!("{len} bytes, {what}");
                    assert!(check_large_line(format, text, &what), "{what}: copied");
                }
            }
        }
        // Either side of the size that makes a line large.
        for len in [DIRECT_BYTES - 1, DIRECT_BYTES] {
            let text = format!("{}\n", &"x".repeat(len - 1));
            assert_eq!(text.len(), len);
            for format in [LogFormat::Text, LogFormat::Json] {
                check_large_line(format, &text, &format!("{len} bytes"));
            }
        }
    }

    #[test]
    fn pieces_up_to_the_budget_and_one_more() {
        // A prefix, then (run, escape) pairs, then the tail: exactly MAX_PIECES.
        let pair = format!("{}\n", "a".repeat(300));
        let at_budget = pair.repeat((MAX_PIECES - 2) / 2);
        assert!(at_budget.len() >= DIRECT_BYTES);
        let cases = [
            (at_budget.clone(), true),
            // One piece more in the run after the last escape, or in one more escape.
            (format!("{at_budget}a"), false),
            (format!("{at_budget}\n"), false),
        ];
        for format in [LogFormat::Text, LogFormat::Json] {
            let escaping = Escaping::of(format);
            for (text, fits) in &cases {
                let what = format!("{format:?} {} bytes", text.len());
                let mut pieces = Vec::new();
                let result = line_pieces(&mut pieces, b"PREFIX ", text.as_bytes(), escaping, |s| {
                    escaping.find(s)
                });
                let mut line = pieces.concat();
                match result {
                    Ok(()) => {
                        assert!(fits, "{what}: too many pieces");
                        assert_eq!(pieces.len(), MAX_PIECES, "{what}");
                    }
                    Err(rest) => {
                        assert!(!fits, "{what}: should fit");
                        escaping.escape_into(&mut line, rest);
                        line.extend_from_slice(escaping.tail());
                    }
                }
                assert_same_bytes(&line, &small_line(format, b"PREFIX ", text), &what);
                let size = format!("{} bytes", text.len());
                assert_eq!(check_large_line(format, text, &size), !fits, "{what}");
            }
        }
    }

    #[test]
    fn the_scratch_buffer_is_kept_only_up_to_its_bound() {
        let (dir, log) = temp_log(LogFormat::Text);
        let mut lines = log.info_lines("module", "function");
        let dense = "\u{1}".repeat(1 << 20);
        lines.info(&dense).unwrap();
        let kept = log.lock().scratch.capacity();
        assert!(kept >= 6 * dense.len() && kept <= SCRATCH_KEEP, "{kept}");
        // The next such line reuses it: no new pages to fault in.
        let at = log.lock().scratch.as_ptr();
        lines.info(&dense).unwrap();
        assert_eq!(log.lock().scratch.capacity(), kept);
        assert_eq!(log.lock().scratch.as_ptr(), at);
        let huge = "\u{1}".repeat(SCRATCH_KEEP / 6 + 1);
        lines.info(&huge).unwrap();
        assert_eq!(
            log.lock().scratch.capacity(),
            0,
            "freed after a line past the bound"
        );
        log.flush().unwrap();
        let mut want = small_line(LogFormat::Text, &lines.prefix, &dense).repeat(2);
        want.extend(small_line(LogFormat::Text, &lines.prefix, &huge));
        assert_same_bytes(&file_bytes(&dir), &want, "dense lines");
    }
}
