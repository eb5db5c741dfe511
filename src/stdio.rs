//! Running over the process's real stdin and stdout, guarded.
//!
//! The daemon reads every line on the child's stdout as a protocol message, so the
//! protocol gets a private duplicate of fd 1 and fd 1 itself is pointed at stderr: a stray
//! `println!` in user code or a dependency then shows up in the daemon's log instead of
//! corrupting the conversation. Likewise stdin is moved to a private descriptor and fd 0
//! reads `/dev/null`, so a spawned helper cannot swallow the daemon's messages.

use std::fs::File;
use std::io;
use std::os::fd::FromRawFd;

use crate::error::RunError;
use crate::logging::LogError;
use crate::policy::ErrorPolicy;
use crate::processor::RecordProcessor;
use crate::runtime::Runtime;
use crate::telemetry::Observer;

/// How a run over stdio ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The daemon closed stdin: the normal end of a lease.
    Finished,
    /// The run stopped on an error (already logged), leaving the action unanswered.
    Failed(RunError),
}

impl Outcome {
    /// The process exit status: 0 when finished, 1 when the processor failed, 2 for a
    /// protocol or I/O error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Finished => 0,
            Outcome::Failed(RunError::Processor { .. }) => 1,
            Outcome::Failed(_) => 2,
        }
    }
}

/// Ignores SIGINT and SIGTERM.
///
/// Ctrl+C in a terminal signals the whole process group, and ECS signals every process of
/// a task; the daemon needs its children alive to shut them down gracefully, and it ends
/// each one by closing its stdin.
pub fn ignore_termination_signals() {
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
}

/// Moves the protocol's stdin and stdout to private close-on-exec descriptors; fd 1 then
/// writes to stderr and fd 0 reads `/dev/null`.
pub fn take_protocol_stdio() -> io::Result<(File, File)> {
    let input = dup_cloexec(0)?;
    let output = dup_cloexec(1)?;
    // A bigger pipe means fewer trips between the daemon's writer and this reader for
    // multi-megabyte batches. Best effort: not a pipe, or over the system's limit, is fine.
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe {
        libc::fcntl(input, libc::F_SETPIPE_SZ, 1 << 20);
    }
    // SAFETY: plain descriptor calls on descriptors this process owns; the returned
    // descriptors are owned by the Files and by nobody else.
    unsafe {
        if libc::dup2(2, 1) < 0 {
            return Err(io::Error::last_os_error());
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
        Ok((File::from_raw_fd(input), File::from_raw_fd(output)))
    }
}

fn dup_cloexec(fd: i32) -> io::Result<i32> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor number; failure is reported through -1.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(new)
    }
}

/// Runs `processor` as a MultiLangDaemon child over this process's stdin and stdout.
///
/// Ignores SIGINT/SIGTERM, guards stdout, and runs until the daemon closes stdin. A failed
/// batch is retried as [`ErrorPolicy::default`] says (3 attempts), then fails. An error
/// is logged (through `tracing` and to stderr, which the daemon copies into its log) and
/// returned as [`Outcome::Failed`]; exit with [`Outcome::exit_code`].
pub fn run_stdio(processor: &mut dyn RecordProcessor) -> Outcome {
    run_stdio_with(processor, ErrorPolicy::default())
}

/// [`run_stdio`] with the given policy for failed batches.
pub fn run_stdio_with(processor: &mut dyn RecordProcessor, policy: ErrorPolicy) -> Outcome {
    run_stdio_observed(processor, policy, Vec::new())
}

/// [`run_stdio_with`], telling `observers` (heartbeat, metrics) about every action.
pub fn run_stdio_observed(
    processor: &mut dyn RecordProcessor,
    policy: ErrorPolicy,
    observers: Vec<Box<dyn Observer>>,
) -> Outcome {
    ignore_termination_signals();
    let (input, output) = match take_protocol_stdio() {
        Ok(pair) => pair,
        Err(err) => return failed(RunError::Io(err)),
    };
    let mut runtime = Runtime::new(input, output).with_error_policy(policy);
    for observer in observers {
        runtime = runtime.with_observer(observer);
    }
    match runtime.run(processor) {
        Ok(()) => Outcome::Finished,
        Err(err) => failed(err),
    }
}

fn failed(err: RunError) -> Outcome {
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    let what = match &err {
        RunError::Processor { .. } => {
            "the action is not acknowledged; the daemon will restart from the last checkpoint"
        }
        _ => "stopping without an answer",
    };
    // A log file that failed takes nothing more, and would pass the line on to stderr: it
    // would reach the daemon's log twice.
    if LogError::find_in(&err).is_none() {
        tracing::error!("{chain}; {what}");
    }
    eprintln!("record processor: ERROR: {chain}; {what}");
    Outcome::Failed(err)
}
