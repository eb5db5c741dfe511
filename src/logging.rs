//! A log file for record processors: a `tracing` layer that writes one line per event to a
//! file rotated by size, shared safely by the daemon's many children.
//!
//! Why not `tracing-appender`: its rolling appender rotates by time only, and its
//! non-blocking writer hands lines to a thread, so "this line is in the file" (which must
//! hold before a checkpoint) would need a round trip to that thread. Here lines are
//! formatted into a buffer in the calling thread and written with one `write(2)` per chunk
//! of whole lines, so lines of concurrent processes appending to the same file never
//! interleave, nothing is dropped under load, and [`LogFile::flush`] is a plain write.

use std::fmt::{self, Write as _};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
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
    pending: Vec<u8>,
}

impl LogFile {
    /// Opens (appending) or creates the log file.
    pub fn open(config: &LogConfig) -> io::Result<Self> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = open_append(&config.path)?;
        Ok(Self {
            format: config.format,
            level: config.level,
            inner: Arc::new(Mutex::new(Inner {
                path: config.path.clone(),
                file,
                max_bytes: config.max_bytes,
                backups: config.backups,
                pending: Vec::with_capacity(CHUNK_BYTES),
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

    /// Writes every buffered line to the file (to the OS; no fsync).
    pub fn flush(&self) -> io::Result<()> {
        self.lock().write_pending()
    }

    /// Appends one already formatted line (without its newline) to the buffer.
    pub fn write_line(&self, line: &str) -> io::Result<()> {
        let mut inner = self.lock();
        inner.pending.extend_from_slice(line.as_bytes());
        inner.pending.push(b'\n');
        inner.maybe_write()
    }

    /// A writer for many INFO lines that share their module and function, such as one line
    /// per record of a batch. The lines are laid out exactly as the `tracing` layer lays
    /// them out, but skip its per-event dispatch, and a large line without control
    /// characters goes to the file without being copied. Do not keep one across batches:
    /// its timestamp is refreshed only every few lines.
    pub fn info_lines(&self, module: &'static str, function: &'static str) -> InfoLines {
        InfoLines {
            log: self.clone(),
            module,
            function,
            prefix: Vec::new(),
            until_stamp: 0,
            enabled: Level::INFO <= self.level,
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
    fn maybe_write(&mut self) -> io::Result<()> {
        if self.pending.len() >= CHUNK_BYTES {
            self.write_pending()
        } else {
            Ok(())
        }
    }

    fn write_pending(&mut self) -> io::Result<()> {
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
        result
    }

    /// Writes `parts` (whole lines) to the file in one `writev`: with O_APPEND the kernel
    /// keeps it in one piece next to the lines of other children. Rotates first if the file
    /// would grow past its limit.
    fn write_whole(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        self.follow_renames()?;
        if self.max_bytes > 0 {
            let size = self.file.metadata()?.len();
            if size > 0 && size + total as u64 > self.max_bytes {
                self.rotate()?;
            }
        }
        let slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
        let mut written = self.file.write_vectored(&slices)?;
        if written < total {
            // A short write (a full disk, a signal): finish it piece by piece.
            for part in parts {
                if written >= part.len() {
                    written -= part.len();
                    continue;
                }
                self.file.write_all(&part[written..])?;
                written = 0;
            }
        }
        Ok(())
    }

    /// Another child may have rotated the file: write to whatever is at `path` now.
    fn follow_renames(&mut self) -> io::Result<()> {
        let ours = self.file.metadata()?;
        let current = fs::metadata(&self.path).ok();
        let same = current.is_some_and(|m| m.ino() == ours.ino() && m.dev() == ours.dev());
        if !same {
            self.file = open_append(&self.path)?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.backups == 0 {
            fs::remove_file(&self.path).or_else(ignore_missing)?;
        } else {
            for n in (1..self.backups).rev() {
                fs::rename(numbered(n), numbered(n + 1)).or_else(ignore_missing)?;
            }
            fs::rename(&self.path, numbered(1)).or_else(ignore_missing)?;
        }
        self.file = open_append(&self.path)?;
        Ok(())
    }
}

fn ignore_missing(err: io::Error) -> io::Result<()> {
    if err.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(err)
    }
}

/// Lines above this size are written straight from the caller's bytes.
const DIRECT_BYTES: usize = 64 << 10;

/// Many INFO lines with one module and function; see [`LogFile::info_lines`].
#[derive(Debug)]
pub struct InfoLines {
    log: LogFile,
    module: &'static str,
    function: &'static str,
    prefix: Vec<u8>,
    until_stamp: u32,
    enabled: bool,
}

impl InfoLines {
    /// How many lines share one timestamp (a millisecond holds hundreds of them).
    const STAMP_EVERY: u32 = 64;

    /// Writes one INFO line with `text` as its message.
    pub fn info(&mut self, text: &str) -> io::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        if self.until_stamp == 0 {
            self.restamp();
            self.until_stamp = Self::STAMP_EVERY;
        }
        self.until_stamp -= 1;
        let mut inner = self.log.lock();
        match self.log.format {
            LogFormat::Text => {
                if text.len() >= DIRECT_BYTES && first_control(text.as_bytes()).is_none() {
                    inner.write_pending()?;
                    return inner.write_whole(&[&self.prefix, text.as_bytes(), b"\n"]);
                }
                inner.pending.extend_from_slice(&self.prefix);
                let _ = OneLine(&mut Bytes(&mut inner.pending)).write_str(text);
            }
            LogFormat::Json => {
                inner.pending.extend_from_slice(&self.prefix);
                let _ = JsonInner(&mut Bytes(&mut inner.pending)).write_str(text);
                inner.pending.extend_from_slice(b"\"}");
            }
        }
        inner.pending.push(b'\n');
        inner.maybe_write()
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
        // Problems are rare and matter: get them into the file at once.
        let result = if *meta.level() <= Level::WARN {
            inner.write_pending()
        } else {
            inner.maybe_write()
        };
        if let Err(err) = result {
            // The file is the only log; stderr reaches the daemon's log instead.
            eprintln!("record processor: cannot write the log file: {err}");
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

/// The index of the first control character (below 0x20, or DEL) in `b`.
fn first_control(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64; every load reads 16 bytes inside `b`.
        unsafe {
            let top = _mm_set1_epi8(0x1f);
            let del = _mm_set1_epi8(0x7f);
            while i + 16 <= b.len() {
                let x = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let low = _mm_cmpeq_epi8(_mm_min_epu8(x, top), x);
                let mask = _mm_movemask_epi8(_mm_or_si128(low, _mm_cmpeq_epi8(x, del)));
                if mask != 0 {
                    return Some(i + mask.trailing_zeros() as usize);
                }
                i += 16;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        // Eight bytes at a time: most log text has no control characters at all.
        while let Some(chunk) = b.get(i..i + 8) {
            let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
            let del = x ^ (ONES * 0x7f);
            let is_del = del.wrapping_sub(ONES) & !del & HIGH;
            if below_space | is_del != 0 {
                break;
            }
            i += 8;
        }
    }
    b[i..]
        .iter()
        .position(|&c| c < 0x20 || c == 0x7f)
        .map(|p| p + i)
}

/// Writes text with control characters escaped, so an event stays on one line.
struct OneLine<'a, 'b>(&'a mut Bytes<'b>);

impl fmt::Write for OneLine<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = first_control(rest.as_bytes()) {
            self.0.push_str(&rest[..i]);
            match rest.as_bytes()[i] {
                b'\n' => self.0.push_str("\\n"),
                b'\r' => self.0.push_str("\\r"),
                b'\t' => self.0.push_str("\\t"),
                b => {
                    let _ = write!(self.0, "\\u{{{b:x}}}");
                }
            }
            rest = &rest[i + 1..];
        }
        self.0.push_str(rest);
        Ok(())
    }
}

/// Writes text as the inside of a JSON string.
struct JsonInner<'a, 'b>(&'a mut Bytes<'b>);

impl fmt::Write for JsonInner<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest
            .bytes()
            .position(|b| b < 0x20 || b == b'"' || b == b'\\')
        {
            self.0.push_str(&rest[..i]);
            match rest.as_bytes()[i] {
                b'"' => self.0.push_str("\\\""),
                b'\\' => self.0.push_str("\\\\"),
                b'\n' => self.0.push_str("\\n"),
                b'\r' => self.0.push_str("\\r"),
                b'\t' => self.0.push_str("\\t"),
                b => {
                    let _ = write!(self.0, "\\u{b:04x}");
                }
            }
            rest = &rest[i + 1..];
        }
        self.0.push_str(rest);
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
    fn control_characters_found_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for c in [0u8, b'\n', 0x1f, 0x7f] {
                    let mut v = vec![b'a'; len];
                    v[at] = c;
                    assert_eq!(first_control(&v), Some(at), "len {len} at {at} byte {c}");
                }
            }
            let clean: Vec<u8> = (0..len).map(|i| b' ' + (i % 95) as u8).collect();
            assert_eq!(first_control(&clean), None);
            assert_eq!(first_control("é😀ü".repeat(len).as_bytes()), None);
        }
    }

    #[test]
    fn escaping() {
        let mut v = Vec::new();
        write!(OneLine(&mut Bytes(&mut v)), "a\nb\r\tc\u{1b}d é\u{7f}").unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "a\\nb\\r\\tc\\u{1b}d é\\u{7f}"
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
}
