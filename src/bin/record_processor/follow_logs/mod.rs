//! `record_processor follow-logs`: the one writer of the container's stdout.
//!
//! CloudWatch (the awslogs driver) makes one event of each line of the container's stdout.
//! When two processes write to that stdout, a line longer than the pipe's atomic size
//! (PIPE_BUF, 4 KiB) is written in several pieces, and the other process's line can land in
//! between: two broken events. So nothing writes there but this process. It merges the
//! daemon's output (stdout and stderr, each a pipe run.sh points the daemon at) and the
//! processors' log file (followed by position across rotations), and writes only whole
//! lines, each a line of exactly one source.
//!
//! run.sh relies on the order things are opened in: the log file first (at its end), then
//! the pipes, in the order given. Opening a FIFO for reading waits for its writer, so the
//! daemon, whose start opens the FIFOs for writing, cannot log a line to the file before
//! the follower knows where the file ends.
//!
//! With pipes, SIGINT and SIGTERM are ignored: the follower ends when every pipe is closed
//! (the daemon is gone), after reading the log file until it has been quiet for
//! `--quiet-ms` (the processors' last lines, written as they exit), and after writing any
//! held partial line with a newline. Without pipes it follows the file until killed.

mod file;
mod lines;

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use file::LogFollower;
use lines::Lines;

/// Bytes read from a pipe at a time.
const READ_BYTES: usize = 256 << 10;
/// Bytes read from the log file per round, so that a large backlog in the file does not keep
/// the pipes waiting (the daemon blocks when its pipe is full).
const FILE_BUDGET: usize = 1 << 20;
/// Output is written once this much is gathered, and before every wait.
const WRITE_BYTES: usize = 1 << 20;
/// How often the log file is checked while nothing else happens.
const FILE_POLL: Duration = Duration::from_millis(100);
/// After the pipes closed: how often the file is checked for the processors' last lines.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Options of `follow-logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The processors' log file, followed across rotations (FILE.1, FILE.2, …).
    #[arg(
        long,
        env = "RECORD_PROCESSOR_LOG_FILE",
        default_value = "logs/record_processor.log",
        value_name = "FILE"
    )]
    pub log_file: PathBuf,

    /// Start at the file's current end: only lines written from now on (else from its start).
    #[arg(long)]
    pub from_end: bool,

    /// A pipe (FIFO) whose lines are copied too, such as the daemon's stdout; repeatable.
    /// Opening it waits for its writer. The follower ends once every pipe is closed.
    #[arg(long = "pipe", value_name = "FIFO")]
    pub pipes: Vec<PathBuf>,

    /// After the pipes closed, the log file is followed until it has been quiet this long.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub quiet_ms: u64,

    /// ... but for at most this long.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub drain_seconds: u64,

    /// A line longer than this is written in pieces of this size (each one line): a line is
    /// held in memory until its newline arrives. The processors' lines of 1 MB records, with
    /// escapes, stay well below the default.
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(4096..))]
    pub max_line_bytes: u64,
}

/// One of the pipes: its lines are assembled apart from every other source's.
struct Pipe {
    name: PathBuf,
    file: Option<File>,
    lines: Lines,
    reported_cuts: u64,
}

/// Follows until every pipe is closed; returns the exit status.
pub fn run(args: &Args) -> anyhow::Result<u8> {
    if !args.pipes.is_empty() {
        kcl_multilang::ignore_termination_signals();
    }
    let max_line = usize::try_from(args.max_line_bytes).unwrap_or(usize::MAX);
    // Before the pipes: see the module's comment.
    let mut log = LogFollower::open(&args.log_file, args.from_end, max_line)
        .with_context(|| format!("cannot open {}", args.log_file.display()))?;
    let mut pipes = Vec::with_capacity(args.pipes.len());
    for name in &args.pipes {
        let file = File::open(name).with_context(|| format!("cannot open {}", name.display()))?;
        grow_pipe(&file);
        pipes.push(Pipe {
            name: name.clone(),
            file: Some(file),
            lines: Lines::new(max_line),
            reported_cuts: 0,
        });
    }
    let stdout = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("no stdout to write to")?;
    let mut out = Output {
        file: File::from(stdout),
        buf: Vec::with_capacity(WRITE_BYTES + READ_BYTES),
    };
    let mut buf = vec![0; READ_BYTES];
    let quiet = Duration::from_millis(args.quiet_ms);
    let mut closed_at: Option<Instant> = None;
    let mut last_file_data = Instant::now();
    let mut file_has_more = false;
    loop {
        let open = pipes.iter().filter(|p| p.file.is_some()).count();
        if open > 0 {
            let wait = if file_has_more {
                Duration::ZERO
            } else {
                FILE_POLL
            };
            if wait > Duration::ZERO {
                out.write()?;
            }
            read_pipes(&mut pipes, &mut buf, &mut out.buf, wait)?;
        } else if pipes.is_empty() {
            if !file_has_more {
                out.write()?;
                std::thread::sleep(FILE_POLL);
            }
        } else {
            let since = *closed_at.get_or_insert_with(|| {
                // The processors write their last lines once the daemon is gone: the quiet
                // time counts from now at the earliest.
                last_file_data = Instant::now();
                last_file_data
            });
            if !file_has_more {
                if last_file_data.elapsed() >= quiet
                    || since.elapsed() >= Duration::from_secs(args.drain_seconds)
                {
                    break;
                }
                out.write()?;
                std::thread::sleep(DRAIN_POLL);
            }
        }
        let n = log
            .poll(&mut out.buf, FILE_BUDGET)
            .with_context(|| format!("cannot read {}", args.log_file.display()))?;
        file_has_more = n >= FILE_BUDGET;
        if n > 0 {
            last_file_data = Instant::now();
        }
        if out.buf.len() >= WRITE_BYTES {
            out.write()?;
        }
    }
    log.finish(&mut out.buf)
        .with_context(|| format!("cannot read {}", args.log_file.display()))?;
    out.write()?;
    Ok(0)
}

/// Waits up to `wait` for any open pipe to have data or be closed, then reads each ready one
/// once. A closed pipe's partial last line is written with a newline.
fn read_pipes(
    pipes: &mut [Pipe],
    buf: &mut [u8],
    out: &mut Vec<u8>,
    wait: Duration,
) -> anyhow::Result<()> {
    let mut fds: Vec<libc::pollfd> = pipes
        .iter()
        .map(|p| libc::pollfd {
            fd: p.file.as_ref().map_or(-1, |f| f.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let timeout = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `fds` is a valid array of pollfd for its length; a negative fd is skipped.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
    if ready < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(());
        }
        return Err(err).context("poll");
    }
    for (pipe, fd) in pipes.iter_mut().zip(&fds) {
        if fd.revents == 0 {
            continue;
        }
        let Some(file) = pipe.file.as_mut() else {
            continue;
        };
        let n = match file.read(buf) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", pipe.name.display()))
            }
        };
        if n == 0 {
            pipe.file = None;
            pipe.lines.finish(out);
        } else {
            pipe.lines.push(&buf[..n], out);
        }
        if pipe.lines.cut() > pipe.reported_cuts {
            eprintln!(
                "follow-logs: {} line(s) of {} longer than the limit written in pieces",
                pipe.lines.cut() - pipe.reported_cuts,
                pipe.name.display()
            );
            pipe.reported_cuts = pipe.lines.cut();
        }
    }
    Ok(())
}

/// A bigger pipe lets the daemon log a burst without waiting for this reader. Best effort:
/// not a pipe, or over the system's limit (`/proc/sys/fs/pipe-max-size`), is fine.
fn grow_pipe(file: &File) {
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe {
        libc::fcntl(file.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

fn wait_writable(file: &File) {
    let mut fd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd. An error or a hang-up shows in the next write.
    unsafe { libc::poll(&mut fd, 1, -1) };
}

/// The container's stdout. Only whole lines are ever appended to `buf`, so every write ends
/// on a line boundary; being the only writer of stdout makes the size of a write irrelevant.
struct Output {
    file: File,
    buf: Vec<u8>,
}

impl Output {
    fn write(&mut self) -> anyhow::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut done = 0;
        while done < self.buf.len() {
            match self.file.write(&self.buf[done..]) {
                Ok(0) => anyhow::bail!("cannot write to stdout: it takes no more bytes"),
                Ok(n) => done += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // A stdout shared with a process that made it non-blocking: wait, as a
                // blocking write would.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => wait_writable(&self.file),
                Err(err) => return Err(err).context("cannot write to stdout"),
            }
        }
        self.buf.clear();
        if self.buf.capacity() > 4 * WRITE_BYTES {
            // One huge line must not keep its memory for good.
            self.buf.shrink_to(WRITE_BYTES + READ_BYTES);
        }
        Ok(())
    }
}
