//! `record_processor follow-logs` as run.sh runs it: two FIFOs standing for the daemon's
//! stdout and stderr, the processors' log file written through `kcl_multilang::logging`
//! (rotating), and the follower's stdout read back whole.

mod common;

use common::binary;

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kcl_multilang::logging::{LogConfig, LogFile, LogFormat};

const LENGTHS: [usize; 16] = [
    1, 80, 200, 4095, 4096, 4097, 9000, 65535, 65536, 65537, 200_000, 1_048_576, 1_500_000, 20,
    300, 3000,
];

fn mkfifo(path: &Path) {
    let name = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// `SOURCE-SEQ-LEN-PAYLOAD-end`, PAYLOAD being LEN times `letter`: two lines' pieces glued
/// together cannot pass for one.
fn line(source: &str, seq: usize, len: usize, letter: u8) -> Vec<u8> {
    let mut line = format!("{source}-{seq}-{len}-").into_bytes();
    line.resize(line.len() + len, letter);
    line.extend_from_slice(b"-end");
    line
}

/// The source and sequence number of a whole line, or why it is not one.
fn parse(line: &[u8]) -> Result<(String, usize), String> {
    let text = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
    let mut fields = line.splitn(4, |&b| b == b'-');
    let (Some(source), Some(seq), Some(len), Some(rest)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(text);
    };
    let letter = match source {
        b"out" => b'o',
        b"err" => b'e',
        b"log0" => b'l',
        b"log1" => b'm',
        _ => return Err(text),
    };
    let number = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<usize>().ok();
    let (Some(seq), Some(len)) = (number(seq), number(len)) else {
        return Err(text);
    };
    if rest.len() != len + 4 || !rest.ends_with(b"-end") || rest[..len].iter().any(|&b| b != letter)
    {
        return Err(format!("{text}… ({} bytes)", line.len()));
    }
    Ok((String::from_utf8_lossy(source).into_owned(), seq))
}

struct Follower {
    child: Child,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<String>,
}

impl Follower {
    fn start(log: &Path, pipes: &[&Path], extra: &[&str]) -> Self {
        let mut command = Command::new(binary());
        command
            .arg("follow-logs")
            .arg("--log-file")
            .arg(log)
            .arg("--from-end")
            .args(["--quiet-ms", "200"])
            .args(extra);
        for pipe in pipes {
            command.arg("--pipe").arg(pipe);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        Follower {
            child,
            stdout: std::thread::spawn(move || {
                let mut all = Vec::new();
                out.read_to_end(&mut all).unwrap();
                all
            }),
            stderr: std::thread::spawn(move || {
                let mut all = String::new();
                err.read_to_string(&mut all).unwrap();
                all
            }),
        }
    }

    /// Waits for the exit (at most 60 s); returns success, stdout and stderr.
    fn finish(mut self) -> (bool, Vec<u8>, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!("follow-logs did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        (
            status.success(),
            self.stdout.join().unwrap(),
            self.stderr.join().unwrap(),
        )
    }
}

fn split_lines(out: &[u8]) -> Vec<&[u8]> {
    assert!(
        out.is_empty() || out.ends_with(b"\n"),
        "stdout ends mid-line"
    );
    let mut lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
    lines.pop();
    lines
}

/// Every generation of the log file's lines (the file and `.1`, `.2`, …).
fn log_lines(log: &Path) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let dir = log.parent().unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("record_processor.log")
        {
            let bytes = fs::read(&path).unwrap();
            lines.extend(
                bytes
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
    }
    lines
}

/// Writes `lines` to a pipe in pieces that ignore line boundaries (a burst, then a slice of
/// the next line), as a buffered writer does, and ends with a line without its newline.
fn flood_pipe(mut pipe: File, source: &'static str, letter: u8, count: usize) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut pending = Vec::new();
        let mut piece = 1usize;
        for seq in 0..count {
            let len = if seq % 20 == 0 {
                LENGTHS[seq / 20 % LENGTHS.len()]
            } else {
                40 + seq * 37 % 101
            };
            pending.extend_from_slice(&line(source, seq, len, letter));
            pending.push(b'\n');
            piece = piece * 7 % 65_521 + 1;
            if pending.len() > piece {
                pipe.write_all(&pending[..piece]).unwrap();
                pending.drain(..piece);
            }
        }
        pipe.write_all(&pending).unwrap();
        pipe.write_all(&line(source, count, 5000, letter)).unwrap();
    })
}

fn flood_log(config: LogConfig, source: &'static str, letter: u8, count: usize) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let log = LogFile::open(&config).unwrap();
        for seq in 0..count {
            let len = if seq % 20 == 0 {
                LENGTHS[seq / 20 % LENGTHS.len()]
            } else {
                40 + seq * 37 % 101
            };
            log.write_line(std::str::from_utf8(&line(source, seq, len, letter)).unwrap())
                .unwrap();
            if seq % 7 == 0 {
                log.flush().unwrap();
            }
        }
        log.flush().unwrap();
    })
}

/// The daemon's stdout and stderr and two processors' log at once, at full speed, with lines
/// of 1 byte to 1.5 MB, the log rotating every 4 MB: stdout must hold every line exactly
/// once and nothing but whole lines.
#[test]
fn every_line_of_every_source_comes_out_whole_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs").join("record_processor.log");
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    fs::write(&log, "a line from before the start\n").unwrap();
    let (out_fifo, err_fifo) = (dir.path().join("out"), dir.path().join("err"));
    mkfifo(&out_fifo);
    mkfifo(&err_fifo);
    let follower = Follower::start(&log, &[&out_fifo, &err_fifo], &[]);
    // Opened in the follower's order: each open waits for the follower's.
    let out_pipe = OpenOptions::new().write(true).open(&out_fifo).unwrap();
    let err_pipe = OpenOptions::new().write(true).open(&err_fifo).unwrap();
    let count = 4000;
    let config = LogConfig {
        path: log.clone(),
        max_bytes: 4_000_000,
        backups: 10_000,
        format: LogFormat::Text,
        level: tracing::Level::INFO,
    };
    let started = Instant::now();
    let writers = [
        flood_pipe(out_pipe, "out", b'o', count),
        flood_pipe(err_pipe, "err", b'e', count),
        flood_log(config.clone(), "log0", b'l', count),
        flood_log(config, "log1", b'm', count),
    ];
    for writer in writers {
        writer.join().unwrap();
    }
    let written = started.elapsed();
    let (ok, out, err) = follower.finish();
    let total = started.elapsed();
    assert!(ok, "follow-logs failed: {err}");
    assert!(err.is_empty(), "nothing cut, no rotation lost: {err}");

    let lines = split_lines(&out);
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    let mut log_out = Vec::new();
    for line in &lines {
        let (source, seq) = parse(line).unwrap_or_else(|bad| panic!("not a whole line: {bad}"));
        if source.starts_with("log") {
            log_out.push(line.to_vec());
        }
        seen.entry(source).or_default().push(seq);
    }
    for source in ["out", "err"] {
        let mut seqs = seen.remove(source).unwrap_or_default();
        seqs.sort_unstable();
        assert!(
            seqs.iter().copied().eq(0..=count),
            "{source}: every line once, the partial last one too ({} lines)",
            seqs.len()
        );
    }
    let mut in_files = log_lines(&log);
    in_files.retain(|l| l != b"a line from before the start");
    let generations = fs::read_dir(log.parent().unwrap()).unwrap().count();
    assert!(
        generations > 10,
        "the log rotated ({generations} generations)"
    );
    assert_eq!(in_files.len(), 2 * count);
    in_files.sort_unstable();
    log_out.sort_unstable();
    assert!(
        in_files == log_out,
        "every line of the log files is on stdout verbatim, once"
    );
    let bytes = out.len() as f64;
    eprintln!(
        "follow-logs: {} lines, {:.1} MB on stdout; written in {:.2} s, all out {:.2} s after the \
         start ({:.0} lines/s, {:.0} MB/s including the 0.2 s quiet wait)",
        lines.len(),
        bytes / 1e6,
        written.as_secs_f64(),
        total.as_secs_f64(),
        lines.len() as f64 / total.as_secs_f64(),
        bytes / 1e6 / total.as_secs_f64()
    );
}

/// run.sh relies on the follower knowing where the log file ends before the daemon's open of
/// its FIFO returns: a line a processor writes at once must not be skipped.
#[test]
fn the_log_file_is_positioned_before_the_pipes_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("record_processor.log");
    fs::write(&log, "old\n").unwrap();
    let fifo = dir.path().join("out");
    mkfifo(&fifo);
    for round in 0..20 {
        let follower = Follower::start(&log, &[&fifo], &[]);
        let pipe = OpenOptions::new().write(true).open(&fifo).unwrap();
        let mut file = OpenOptions::new().append(true).open(&log).unwrap();
        writeln!(file, "written as soon as the pipe was open, round {round}").unwrap();
        drop(pipe);
        let (ok, out, err) = follower.finish();
        assert!(ok, "{err}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("written as soon as the pipe was open, round {round}\n")
        );
    }
}

#[test]
fn termination_signals_are_ignored_until_the_pipes_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("record_processor.log");
    let fifo = dir.path().join("out");
    mkfifo(&fifo);
    let follower = Follower::start(&log, &[&fifo], &[]);
    let mut pipe = OpenOptions::new().write(true).open(&fifo).unwrap();
    let pid = follower.child.id() as i32;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
    std::thread::sleep(Duration::from_millis(300));
    pipe.write_all(b"still there after SIGTERM and SIGINT\n")
        .unwrap();
    drop(pipe);
    let (ok, out, err) = follower.finish();
    assert!(ok, "{err}");
    assert_eq!(out, b"still there after SIGTERM and SIGINT\n");
}

#[test]
fn partial_last_lines_of_pipes_and_file_are_written_with_a_newline() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("record_processor.log");
    fs::write(&log, "").unwrap();
    let fifo = dir.path().join("out");
    mkfifo(&fifo);
    let follower = Follower::start(&log, &[&fifo], &[]);
    let mut pipe = OpenOptions::new().write(true).open(&fifo).unwrap();
    pipe.write_all(b"daemon: whole\ndaemon: cut short").unwrap();
    fs::write(&log, "processor: whole\nprocessor: cut short").unwrap();
    drop(pipe);
    let (ok, out, err) = follower.finish();
    assert!(ok, "{err}");
    let mut lines: Vec<&[u8]> = split_lines(&out);
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            &b"daemon: cut short"[..],
            b"daemon: whole",
            b"processor: cut short",
            b"processor: whole"
        ]
    );
}

#[test]
fn a_line_over_the_limit_is_written_in_pieces_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("record_processor.log");
    let fifo = dir.path().join("out");
    mkfifo(&fifo);
    let follower = Follower::start(&log, &[&fifo], &["--max-line-bytes", "4096"]);
    let mut pipe = OpenOptions::new().write(true).open(&fifo).unwrap();
    pipe.write_all(&[b'x'; 10_000]).unwrap();
    pipe.write_all(b"\nshort\n").unwrap();
    drop(pipe);
    let (ok, out, err) = follower.finish();
    assert!(ok, "{err}");
    let lengths: Vec<usize> = split_lines(&out).iter().map(|l| l.len()).collect();
    assert_eq!(lengths, [4096, 4096, 1808, 5]);
    assert!(err.contains("longer than the limit"), "{err}");
}

#[test]
fn a_stdout_nobody_reads_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("record_processor.log");
    let fifo = dir.path().join("out");
    mkfifo(&fifo);
    let mut command = Command::new(binary());
    let mut child = command
        .args(["follow-logs", "--log-file"])
        .arg(&log)
        .arg("--pipe")
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut pipe = OpenOptions::new().write(true).open(&fifo).unwrap();
    // The follower may be gone before the last write: the pipe then has no reader either.
    let _ = pipe.write_all(b"a line with nowhere to go\n");
    drop(pipe);
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("cannot write to stdout"), "{err}");
}

#[test]
fn a_pipe_that_cannot_be_opened_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-fifo");
    let output = Command::new(binary())
        .args(["follow-logs", "--log-file"])
        .arg(dir.path().join("record_processor.log"))
        .arg("--pipe")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("no-such-fifo"), "{err}");
}

/// A stdout another process made non-blocking (the flag belongs to the shared pipe) is
/// waited for when full, as a blocking one would be, not given up on.
#[test]
fn a_full_non_blocking_stdout_is_waited_for() {
    use std::os::fd::{FromRawFd as _, OwnedFd};
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out");
    mkfifo(&fifo);
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 returns, owned from here on.
    let (read_end, write_end) = unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        assert_eq!(libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK), 0);
        (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    let child = Command::new(binary())
        .args(["follow-logs", "--log-file"])
        .arg(dir.path().join("record_processor.log"))
        .arg("--pipe")
        .arg(&fifo)
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = std::thread::spawn(move || {
        // Let the pipe fill up first.
        std::thread::sleep(Duration::from_millis(500));
        let mut all = Vec::new();
        let mut read_end = read_end;
        read_end.read_to_end(&mut all).unwrap();
        all
    });
    let mut pipe = OpenOptions::new().write(true).open(&fifo).unwrap();
    let line = [b'n'; 999];
    for _ in 0..4000 {
        pipe.write_all(&line).unwrap();
        pipe.write_all(b"\n").unwrap();
    }
    drop(pipe);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = reader.join().unwrap();
    assert_eq!(out.len(), 4_000_000);
    assert!(split_lines(&out).iter().all(|l| *l == line));
}
