//! A failed write, short write or rotation poisons the file for every later call.

use std::fs;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use tracing::Level;

use super::temp_log;
use crate::logging::{LogConfig, LogError, LogFile, LogFormat, DIRECT_BYTES};

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
    let config = LogConfig {
        path: path.clone(),
        max_bytes: 50,
        backups: 2,
        format: LogFormat::Text,
        level: Level::INFO,
    };
    let log = LogFile::open(&config).unwrap();
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
    // The failed rotation let go of the lock writers take turns by (see `rotate_once`):
    // another child of the daemon can still rotate the file, instead of waiting for good.
    fs::File::open(&path)
        .unwrap()
        .try_lock()
        .expect("the rotation's lock released after it failed");
    let other = LogFile::open(&config).unwrap();
    other.write_line("another child's line").unwrap();
    other.flush().unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("test.log.1")).unwrap(),
        format!("{first}\n")
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "another child's line\n");
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
