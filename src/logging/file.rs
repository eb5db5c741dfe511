//! [`LogFile`]: the size-rotated file, its writes in whole chunks of lines, following a
//! rotation by another process, and the poisoning on a failed write (see [`LogError`]).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::Level;

use super::escape::{line_pieces, Escaping, Utf8};
use super::{LogConfig, LogError, LogFormat, CHUNK_BYTES};
use crate::simd::text::AsciiKernels;

/// A handle on the log file: flush it before checkpointing.
#[derive(Clone, Debug)]
pub struct LogFile {
    inner: Arc<Mutex<Inner>>,
    pub(super) format: LogFormat,
    pub(super) level: Level,
}

/// The file and what is buffered for it, behind [`LogFile`]'s lock.
#[derive(Debug)]
pub(super) struct Inner {
    path: PathBuf,
    file: File,
    max_bytes: u64,
    backups: u32,
    /// `file`'s device and inode, to tell whether `path` still names it.
    identity: (u64, u64),
    /// Whole lines not yet written; the `tracing` layer formats into it directly.
    pub(super) pending: Vec<u8>,
    /// Where a large line with too many escapes to write from its pieces is copied; see
    /// [`Inner::write_large`].
    pub(super) scratch: Vec<u8>,
    /// The first write, flush or rotation that failed. Lines went with it, so from then on
    /// every write and flush fails (see [`LogError`]); checked once per chunk, never per line.
    pub(super) failed: Option<Arc<io::Error>>,
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

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain bytes behind: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Inner {
    /// Appends the lines an [`InfoLines`](super::InfoLines) gathered, leaving `lines` empty.
    pub(super) fn take_lines(&mut self, lines: &mut Vec<u8>) {
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

    pub(super) fn maybe_write(&mut self) -> Result<(), LogError> {
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

    pub(super) fn write_pending(&mut self) -> Result<(), LogError> {
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
            self.rotate_once(total as u64)?;
        }
        write_parts(&mut self.file, parts)
    }

    /// Rotates the file unless another writer did while this one waited its turn. Every
    /// child of the daemon writes the same file and finds it full at about the same moment;
    /// two rotations interleaved would rename a fresh file over the generation the other
    /// just made, and its lines with it. So they take turns, through an advisory lock on
    /// the file being rotated (no lock file, no file descriptor more), and whoever comes
    /// second finds the path naming a new file and only follows it.
    ///
    /// A file system without locks (`flock` failing) rotates as before, unguarded: a log
    /// that rotates with a small risk beats one that stops.
    fn rotate_once(&mut self, total: u64) -> io::Result<()> {
        let locked = self.file.lock().is_ok();
        let identity = self.identity;
        let result = match self.size_if_path_is_ours() {
            Some(len) if len + total > self.max_bytes => self.rotate(),
            Some(_) => Ok(()),
            // Rotated by another writer (or gone): write to what the path names now.
            None => self.reopen(),
        };
        // The lock goes with the old file when a rotation or a reopen replaced it; it is
        // released here when the file is still this one (nothing to do, or a step failed),
        // or every other writer would wait for it for good.
        if locked && self.identity == identity {
            let _ = self.file.unlock();
        }
        result
    }

    /// Writes one line of at least [`DIRECT_BYTES`](super::DIRECT_BYTES), `prefix` then
    /// `text` escaped, after the pending lines. The line goes out in one `writev`, from its
    /// pieces where there are few enough of them, else from a copy. Unless `known_utf8`,
    /// returns `Ok(false)`, writing nothing of the line, if `text` is not UTF-8: the check
    /// rides on the search for bytes to escape where the CPU has the `ascii` kernels (one
    /// pass over ASCII text instead of two).
    pub(super) fn write_large(
        &mut self,
        prefix: &[u8],
        text: &[u8],
        escaping: Escaping,
        known_utf8: bool,
        ascii: Option<AsciiKernels>,
    ) -> Result<bool, LogError> {
        self.check()?;
        if known_utf8 {
            return self.write_large_checking(prefix, text, escaping, Utf8::Known);
        }
        if let Some(kernels) = ascii {
            let utf8 = Utf8::AsciiSoFar(kernels);
            return self.write_large_checking(prefix, text, escaping, utf8);
        }
        if simdutf8::basic::from_utf8(text).is_err() {
            return Ok(false);
        }
        self.write_large_checking(prefix, text, escaping, Utf8::Known)
    }

    /// `write_large` with the UTF-8 check in `utf8`'s state.
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
        if matches!(utf8, Utf8::AsciiSoFar(_)) && simdutf8::basic::from_utf8(rest).is_err() {
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
        if let Some(len) = self.size_if_path_is_ours() {
            return Ok(len);
        }
        self.reopen()?;
        Ok(self.file.metadata()?.len())
    }

    /// The size of the file `path` names, if that is still the file this writer has open.
    fn size_if_path_is_ours(&self) -> Option<u64> {
        let current = fs::metadata(&self.path).ok()?;
        ((current.dev(), current.ino()) == self.identity).then_some(current.len())
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

/// The scratch buffer of large lines is freed after a line that needed more than this. It
/// holds a 1 MiB Kinesis record (the largest there is) even if every byte is escaped into
/// six, and a stream that sends one such record usually sends more: freeing the buffer
/// after each would bring back the page faults it is there to avoid.
pub(super) const SCRATCH_KEEP: usize = 16 << 20;
