//! Following the processors' log file by position, across size-based rotations.
//!
//! The processors rotate the way `kcl_multilang::logging` does: the oldest backup is removed,
//! `FILE.n` is renamed to `FILE.n+1`, `FILE` to `FILE.1`, and a new `FILE` is created. A
//! follower that holds the file open keeps reading it whatever its name becomes, so
//! nothing is lost by the rename itself. Two things need care:
//!
//! * A child that checked the file's name just before another child rotated it still writes
//!   its chunk to the old file. The old file is therefore kept open and read for
//!   [`RETIRE_AFTER`] after the switch, until it has been quiet that long.
//! * When the follower falls behind (stdout blocked for a while), several rotations may have
//!   happened by the time it reaches the end of its file. It then goes to the next
//!   generation by name (the file one number below the one it read), not to the newest
//!   `FILE`, so the generations in between are not skipped.

use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::lines::Lines;

/// How long a rotated-away file is still read after it was last seen to grow. A late
/// writer stats the name and writes microseconds later; seconds cover a descheduled one.
pub const RETIRE_AFTER: Duration = Duration::from_secs(5);

/// At most this many rotated-away files are kept open (each holds a descriptor and perhaps
/// a partial line); the oldest is finished first.
const MAX_RETIRING: usize = 8;

/// Rotated files are looked for up to this number (`FILE.1` … `FILE.n`).
const MAX_BACKUPS_SCANNED: u32 = 10_000;

type Identity = (u64, u64);

fn identity(meta: &fs::Metadata) -> Identity {
    (meta.dev(), meta.ino())
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn identity_at(path: &Path) -> io::Result<Option<Identity>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(identity(&meta))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

#[derive(Debug)]
struct Reader {
    file: File,
    identity: Identity,
    /// Where the next read starts: the file's offset, kept to notice a truncation.
    offset: u64,
    lines: Lines,
    reported_cuts: u64,
}

impl Reader {
    fn new(file: File, offset: u64, max_line: usize) -> io::Result<Self> {
        Ok(Self {
            identity: identity(&file.metadata()?),
            file,
            offset,
            lines: Lines::new(max_line),
            reported_cuts: 0,
        })
    }

    /// Reads until the end of the file or until `limit` bytes; returns the bytes read.
    fn read_some(&mut self, buf: &mut [u8], out: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
        let mut total = 0;
        while total < limit {
            let n = match self.file.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            self.lines.push(&buf[..n], out);
            self.offset += n as u64;
            total += n;
        }
        if self.lines.cut() > self.reported_cuts {
            eprintln!(
                "follow-logs: {} line(s) of the log file longer than the limit written in pieces",
                self.lines.cut() - self.reported_cuts
            );
            self.reported_cuts = self.lines.cut();
        }
        Ok(total)
    }
}

#[derive(Debug)]
struct Retiring {
    reader: Reader,
    quiet_since: Instant,
}

/// What is at the log file's name now, compared with the file being read.
enum AtPath {
    /// Still the file being read, this long.
    Same(u64),
    /// Nothing (between a rotation's rename and the creation of the new file, or before
    /// any processor started).
    Missing,
    /// The file being read was rotated away; this is the one written after it.
    Next(File),
}

/// Follows one log file and its rotations, producing whole lines.
#[derive(Debug)]
pub struct LogFollower {
    path: PathBuf,
    current: Option<Reader>,
    retiring: Vec<Retiring>,
    max_line: usize,
    buf: Vec<u8>,
}

impl LogFollower {
    /// Opens `path`, at its end if `from_end` (only what is written from now on is followed).
    /// A missing file is fine: it is followed from its first byte once it appears.
    pub fn open(path: &Path, from_end: bool, max_line: usize) -> io::Result<Self> {
        let current = match File::open(path) {
            Ok(mut file) => {
                let offset = if from_end {
                    file.seek(SeekFrom::End(0))?
                } else {
                    0
                };
                Some(Reader::new(file, offset, max_line)?)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        Ok(Self {
            path: path.to_owned(),
            current,
            retiring: Vec::new(),
            max_line,
            buf: vec![0; 256 << 10],
        })
    }

    /// Reads what was appended since the last call, following rotations, and appends the
    /// whole lines to `out`. Stops after about `budget` bytes; returns the bytes read, so
    /// `>= budget` means there may be more.
    pub fn poll(&mut self, out: &mut Vec<u8>, budget: usize) -> io::Result<usize> {
        let mut total = self.poll_retiring(out, budget)?;
        while total < budget {
            if self.current.is_none() {
                match File::open(&self.path) {
                    Ok(file) => self.current = Some(Reader::new(file, 0, self.max_line)?),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => break,
                    Err(err) => return Err(err),
                }
            }
            let Some(current) = self.current.as_mut() else {
                break;
            };
            total += current.read_some(&mut self.buf, out, budget - total)?;
            if total >= budget {
                break;
            }
            // At the end of the file: is it still the one at `path`?
            match self.at_path()? {
                AtPath::Missing => break,
                AtPath::Same(len) => {
                    let Some(current) = self.current.as_mut() else {
                        break;
                    };
                    if len >= current.offset {
                        break;
                    }
                    // Truncated in place (copytruncate by some other tool): start over.
                    eprintln!(
                        "follow-logs: {} shrank from {} to {len} bytes: following it from its start",
                        self.path.display(),
                        current.offset
                    );
                    current.file.seek(SeekFrom::Start(0))?;
                    current.offset = 0;
                }
                AtPath::Next(file) => {
                    let next = Reader::new(file, 0, self.max_line)?;
                    if let Some(old) = self.current.replace(next) {
                        self.retire(old, out);
                    }
                }
            }
        }
        Ok(total)
    }

    /// Reads every file to its end and writes out every held partial line with a newline:
    /// nothing more will come (the processors are gone).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.poll(out, usize::MAX)?;
        for mut old in std::mem::take(&mut self.retiring) {
            old.reader.lines.finish(out);
        }
        if let Some(current) = self.current.as_mut() {
            current.lines.finish(out);
        }
        Ok(())
    }

    fn poll_retiring(&mut self, out: &mut Vec<u8>, budget: usize) -> io::Result<usize> {
        let mut total = 0;
        for old in &mut self.retiring {
            let n = old.reader.read_some(&mut self.buf, out, budget)?;
            if n > 0 {
                old.quiet_since = Instant::now();
            }
            total += n;
        }
        let mut i = 0;
        while i < self.retiring.len() {
            if self.retiring[i].quiet_since.elapsed() >= RETIRE_AFTER {
                let mut old = self.retiring.remove(i);
                // Quiet for seconds: a partial line there was cut short by its writer
                // (a full disk, a crash) and will never be completed.
                old.reader.lines.finish(out);
            } else {
                i += 1;
            }
        }
        Ok(total)
    }

    fn retire(&mut self, reader: Reader, out: &mut Vec<u8>) {
        if self.retiring.len() >= MAX_RETIRING {
            let mut oldest = self.retiring.remove(0);
            oldest.reader.lines.finish(out);
        }
        self.retiring.push(Retiring {
            reader,
            quiet_since: Instant::now(),
        });
    }

    fn at_path(&self) -> io::Result<AtPath> {
        let Some(current) = &self.current else {
            return Ok(AtPath::Missing);
        };
        let meta = match fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(AtPath::Missing),
            Err(err) => return Err(err),
        };
        if identity(&meta) == current.identity {
            return Ok(AtPath::Same(meta.len()));
        }
        self.next_generation(current.identity)
    }

    /// The file written after `ours`, which has been rotated away from `path`.
    fn next_generation(&self, ours: Identity) -> io::Result<AtPath> {
        for attempt in 0..3 {
            let found = self.find_rotated(ours)?;
            let next = match found {
                Some(n) if n > 1 => numbered(&self.path, n - 1),
                _ => self.path.clone(),
            };
            let file = match File::open(&next) {
                Ok(file) => file,
                // Renamed again meanwhile: look again.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            match found {
                // Another rotation between the search and the open would have made `file`
                // a later generation than the next one: ours must still be where it was.
                Some(n) if identity_at(&numbered(&self.path, n))? != Some(ours) => continue,
                Some(_) => return Ok(AtPath::Next(file)),
                None if attempt < 2 => {
                    // A rotation renames the backups one by one: ours may be between names.
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                None => {
                    if identity_at(&numbered(&self.path, 1))?.is_some() {
                        eprintln!(
                            "follow-logs: the file being followed was rotated past {}.N before it \
                             was read to its end (stdout too slow?): lines of the generations in \
                             between are not on stdout; following {} again",
                            self.path.display(),
                            self.path.display()
                        );
                    }
                    return Ok(AtPath::Next(file));
                }
            }
        }
        // Rotations faster than we can look at them: take the newest file.
        match File::open(&self.path) {
            Ok(file) => Ok(AtPath::Next(file)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(AtPath::Missing),
            Err(err) => Err(err),
        }
    }

    /// The number `n` of `path.n` that is the file `ours`, if any.
    fn find_rotated(&self, ours: Identity) -> io::Result<Option<u32>> {
        for n in 1..=MAX_BACKUPS_SCANNED {
            match identity_at(&numbered(&self.path, n))? {
                Some(id) if id == ours => return Ok(Some(n)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use kcl_multilang::logging::{LogConfig, LogFile, LogFormat};

    use super::*;

    const MAX: usize = 1 << 20;

    fn append(path: &Path, text: &str) {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    /// Rotates as `kcl_multilang::logging` does, keeping every backup.
    fn rotate(path: &Path) {
        let mut n = 1;
        while numbered(path, n).exists() {
            n += 1;
        }
        for k in (1..n).rev() {
            fs::rename(numbered(path, k), numbered(path, k + 1)).unwrap();
        }
        fs::rename(path, numbered(path, 1)).unwrap();
        fs::File::create(path).unwrap();
    }

    fn poll(follower: &mut LogFollower) -> Vec<String> {
        let mut out = Vec::new();
        follower.poll(&mut out, usize::MAX).unwrap();
        lines_of(&out)
    }

    fn lines_of(out: &[u8]) -> Vec<String> {
        assert!(out.is_empty() || out.ends_with(b"\n"), "whole lines only");
        String::from_utf8(out.to_vec())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn temp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record_processor.log");
        (dir, path)
    }

    #[test]
    fn from_the_end_only_new_lines() {
        let (_dir, path) = temp();
        append(&path, "old 1\nold 2\n");
        let mut follower = LogFollower::open(&path, true, MAX).unwrap();
        assert!(poll(&mut follower).is_empty());
        append(&path, "new 1\n");
        assert_eq!(poll(&mut follower), ["new 1"]);
        let mut from_start = LogFollower::open(&path, false, MAX).unwrap();
        assert_eq!(poll(&mut from_start), ["old 1", "old 2", "new 1"]);
    }

    #[test]
    fn a_file_that_appears_later_is_followed_from_its_start() {
        let (_dir, path) = temp();
        let mut follower = LogFollower::open(&path, true, MAX).unwrap();
        assert!(poll(&mut follower).is_empty());
        append(&path, "first\nsecond\n");
        assert_eq!(poll(&mut follower), ["first", "second"]);
    }

    #[test]
    fn a_partial_line_waits_for_its_end_and_is_finished_with_a_newline() {
        let (_dir, path) = temp();
        let mut follower = LogFollower::open(&path, false, MAX).unwrap();
        append(&path, "whole\nhal");
        assert_eq!(poll(&mut follower), ["whole"]);
        append(&path, "f\nthe last, cut short");
        assert_eq!(poll(&mut follower), ["half"]);
        let mut out = Vec::new();
        follower.finish(&mut out).unwrap();
        assert_eq!(out, b"the last, cut short\n");
    }

    #[test]
    fn rotation_and_a_late_write_to_the_rotated_file() {
        let (_dir, path) = temp();
        let mut follower = LogFollower::open(&path, false, MAX).unwrap();
        append(&path, "a1\n");
        assert_eq!(poll(&mut follower), ["a1"]);
        append(&path, "a2\n");
        rotate(&path);
        append(&path, "b1\n");
        assert_eq!(poll(&mut follower), ["a2", "b1"]);
        // A child that looked at the name just before the rotation writes to the old file.
        append(&numbered(&path, 1), "a3, late\n");
        append(&path, "b2\n");
        let mut got = poll(&mut follower);
        got.sort();
        assert_eq!(got, ["a3, late", "b2"]);
        assert!(poll(&mut follower).is_empty(), "nothing twice");
    }

    #[test]
    fn several_rotations_between_two_polls_are_read_generation_by_generation() {
        let (_dir, path) = temp();
        let mut follower = LogFollower::open(&path, false, MAX).unwrap();
        append(&path, "g0 1\n");
        assert_eq!(poll(&mut follower), ["g0 1"]);
        append(&path, "g0 2\n");
        for g in 1..=4 {
            rotate(&path);
            append(&path, &format!("g{g} 1\ng{g} 2\n"));
        }
        assert_eq!(
            poll(&mut follower),
            ["g0 2", "g1 1", "g1 2", "g2 1", "g2 2", "g3 1", "g3 2", "g4 1", "g4 2"]
        );
        append(&path, "g4 3\n");
        assert_eq!(poll(&mut follower), ["g4 3"]);
    }

    #[test]
    fn rotation_without_backups_removes_the_file() {
        let (_dir, path) = temp();
        let mut follower = LogFollower::open(&path, false, MAX).unwrap();
        append(&path, "a\n");
        assert_eq!(poll(&mut follower), ["a"]);
        append(&path, "b, before the removal\n");
        fs::remove_file(&path).unwrap();
        assert!(poll(&mut follower).contains(&"b, before the removal".to_owned()));
        append(&path, "c, new file\n");
        assert_eq!(poll(&mut follower), ["c, new file"]);
    }

    #[test]
    fn a_partial_line_across_a_rotation_stays_whole() {
        let (_dir, path) = temp();
        let mut follower = LogFollower::open(&path, false, MAX).unwrap();
        append(&path, "old, in two wri");
        assert!(poll(&mut follower).is_empty());
        rotate(&path);
        append(&path, "new 1\n");
        assert_eq!(poll(&mut follower), ["new 1"]);
        append(&numbered(&path, 1), "tes\n");
        assert_eq!(poll(&mut follower), ["old, in two writes"]);
    }

    #[test]
    fn a_file_truncated_in_place_is_followed_from_its_start() {
        let (_dir, path) = temp();
        let mut follower = LogFollower::open(&path, false, MAX).unwrap();
        append(&path, "a long first line\n");
        assert_eq!(poll(&mut follower), ["a long first line"]);
        fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        append(&path, "x\n");
        assert_eq!(poll(&mut follower), ["x"]);
    }

    #[test]
    fn a_budget_stops_early_and_the_rest_comes_next() {
        let (_dir, path) = temp();
        let mut follower = LogFollower::open(&path, false, MAX).unwrap();
        let line = "y".repeat(999);
        for _ in 0..3000 {
            append(&path, &format!("{line}\n"));
        }
        let mut out = Vec::new();
        let n = follower.poll(&mut out, 1 << 20).unwrap();
        assert!((1 << 20..3_000_000).contains(&n), "read {n}");
        while follower.poll(&mut out, 1 << 20).unwrap() > 0 {}
        let got = lines_of(&out);
        assert_eq!(got.len(), 3000);
        assert!(got.iter().all(|l| *l == line));
    }

    #[test]
    fn retired_files_are_dropped_after_their_quiet_time_with_a_partial_line_finished() {
        let (_dir, path) = temp();
        append(&path, "cut sh");
        let mut follower = LogFollower::open(&path, false, MAX).unwrap();
        rotate(&path);
        assert!(poll(&mut follower).is_empty());
        assert_eq!(follower.retiring.len(), 1);
        follower.retiring[0].quiet_since -= RETIRE_AFTER;
        assert_eq!(poll(&mut follower), ["cut sh"]);
        assert!(follower.retiring.is_empty());
    }

    /// The real writer: two handles on the file, as two processors, each rotating it when
    /// its write would pass the limit, polled between bursts of writes.
    #[test]
    fn lines_of_two_rotating_writers_each_come_out_once_and_whole() {
        let (dir, path) = temp();
        let config = LogConfig {
            path: path.clone(),
            max_bytes: 50_000,
            backups: 1000,
            format: LogFormat::Text,
            level: tracing::Level::INFO,
        };
        let writers = [
            LogFile::open(&config).unwrap(),
            LogFile::open(&config).unwrap(),
        ];
        let mut follower = LogFollower::open(&path, true, MAX).unwrap();
        let mut want = Vec::new();
        let mut got = Vec::new();
        for i in 0..3000usize {
            let line = format!("w{} line {i} {}", i % 2, "z".repeat(i * 7 % 5000));
            writers[i % 2].write_line(&line).unwrap();
            writers[i % 2].flush().unwrap();
            want.push(line);
            if i % 37 == 0 {
                got.extend(poll(&mut follower));
            }
        }
        let mut out = Vec::new();
        follower.finish(&mut out).unwrap();
        got.extend(lines_of(&out));
        let rotated = fs::read_dir(dir.path()).unwrap().count() - 1;
        assert!(rotated > 20, "the writers rotated {rotated} times");
        got.sort();
        want.sort();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "every line once, whole");
    }
}
