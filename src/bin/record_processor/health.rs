//! `record_processor health`: is this worker alive and moving? For a container
//! HEALTHCHECK: exit 0 when healthy, 1 when not, with one line per finding. Never 2:
//! Docker reserves it, so every failure to check, a missing state directory included, is
//! reported as unhealthy.
//!
//! Every child keeps a heartbeat file in the state directory (see
//! `kcl_multilang::telemetry::Heartbeat`) and run.sh writes the daemon's PID there.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use kcl_multilang::telemetry::{daemon_pid_file, now_ms, HeartbeatRecord};

/// Options of `health`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory the children and run.sh write to [default: as run.sh derives it:
    /// $LOG_DIR/state, else $APP_HOME/logs/state; without either, the most recently changed
    /// of ./logs/state, ./.local/runs/*/logs/state (scripts/local-run.sh) and /app/logs/state].
    #[arg(long, env = "RECORD_PROCESSOR_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// A shard is stalled when it has not moved for this long: stuck inside one action, or
    /// idle while its last batch was more than --behind-ms behind the tip of the stream.
    #[arg(
        long,
        env = "HEALTH_STALL_SECONDS",
        default_value_t = 120,
        value_name = "SECONDS"
    )]
    pub stall_seconds: u64,

    /// How far behind (millisBehindLatest) an idle shard must be to count as stalled.
    #[arg(
        long,
        env = "HEALTH_BEHIND_MS",
        default_value_t = 60_000,
        value_name = "MS"
    )]
    pub behind_ms: u64,
}

/// Where the state directory was found, or where it was looked for in vain.
#[derive(Debug, PartialEq, Eq)]
pub enum StateDir {
    /// Given with --state-dir or RECORD_PROCESSOR_STATE_DIR.
    Given(PathBuf),
    /// Derived; the text says from what.
    Derived(PathBuf, String),
    /// None of these exists.
    NotFound(Vec<PathBuf>),
}

/// The state directory when none is given, the way run.sh derives it (LOG_DIR, then
/// APP_HOME), else the layouts of a run in a checkout (`run.sh` with its defaults, or
/// scripts/local-run.sh, whose runs live under `.local/runs/<time>/`) and of the image.
/// `var` reads the environment; relative candidates are resolved against `cwd`.
pub fn resolve_state_dir(
    given: Option<&Path>,
    var: impl Fn(&str) -> Option<OsString>,
    cwd: &Path,
) -> StateDir {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = given {
        return StateDir::Given(dir.to_owned());
    }
    if let Some(log_dir) = set("LOG_DIR") {
        return StateDir::Derived(
            log_dir.join("state"),
            "$LOG_DIR/state, as run.sh sets it".into(),
        );
    }
    if let Some(app_home) = set("APP_HOME") {
        return StateDir::Derived(
            app_home.join("logs").join("state"),
            "$APP_HOME/logs/state, as run.sh sets it".into(),
        );
    }
    let mut candidates = vec![cwd.join("logs").join("state")];
    let local = set("LOCAL_STACK_HOME").unwrap_or_else(|| cwd.join(".local"));
    if let Ok(runs) = std::fs::read_dir(local.join("runs")) {
        let mut runs: Vec<PathBuf> = runs
            .flatten()
            .map(|e| e.path().join("logs").join("state"))
            .collect();
        runs.sort();
        candidates.extend(runs);
    }
    candidates.push(PathBuf::from("/app/logs/state"));
    // The freshest wins: a live worker's heartbeat files are rewritten at every action, while an
    // old run's directory stopped changing when it ended.
    let newest = candidates
        .iter()
        .filter_map(|p| last_change(p).map(|t| (t, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p.clone());
    match newest {
        Some(dir) => StateDir::Derived(
            dir,
            "the most recently changed of ./logs/state, ./.local/runs/*/logs/state and /app/logs/state".into(),
        ),
        None => StateDir::NotFound(candidates),
    }
}

/// When a directory or anything directly in it last changed; `None` if it is no directory.
fn last_change(dir: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(dir).ok().filter(|m| m.is_dir())?;
    let own = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let newest_entry = entries
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max();
    Some(newest_entry.map_or(own, |t| t.max(own)))
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

fn read_beats(dir: &Path) -> anyhow::Result<Vec<HeartbeatRecord>> {
    let mut beats = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the state directory {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            // A file can vanish (lease ended) or be caught mid-write: skip it this time.
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if let Ok(beat) = serde_json::from_str::<HeartbeatRecord>(text.trim_end()) {
                beats.push(beat);
            }
        }
    }
    beats.sort_by(|a, b| a.shard_id.cmp(&b.shard_id));
    Ok(beats)
}

/// Checks the worker; returns the exit status: 0 healthy, 1 unhealthy, whatever went wrong.
pub fn run(args: &Args) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let dir = match resolve_state_dir(args.state_dir.as_deref(), |n| std::env::var_os(n), &cwd) {
        StateDir::Given(dir) => dir,
        StateDir::Derived(dir, how) => {
            println!("state directory: {} ({how})", dir.display());
            dir
        }
        StateDir::NotFound(looked) => {
            let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
            println!(
                "UNHEALTHY no state directory: none of {} exists (run.sh creates it; or pass --state-dir DIR or set RECORD_PROCESSOR_STATE_DIR)",
                looked.join(", ")
            );
            return Ok(1);
        }
    };
    match check(args, &dir) {
        Ok(code) => Ok(code),
        Err(err) => {
            println!("UNHEALTHY {err:#}");
            Ok(1)
        }
    }
}

fn check(args: &Args, state_dir: &Path) -> anyhow::Result<u8> {
    let beats = read_beats(state_dir)?;
    let pid_file = daemon_pid_file(state_dir);
    let daemon = match std::fs::read_to_string(&pid_file) {
        Ok(text) => text.trim().parse::<i32>().ok(),
        Err(_) => beats.iter().map(|b| b.daemon_pid).find(|p| *p > 1),
    };
    let mut problems = Vec::new();
    match daemon {
        Some(pid) if alive(pid) => println!("daemon: running (pid {pid})"),
        Some(pid) => problems.push(format!("daemon: not running (pid {pid} is gone)")),
        None => problems.push(format!(
            "daemon: unknown (no {} and no heartbeat names it)",
            pid_file.display()
        )),
    }
    let now = now_ms();
    let stall = Duration::from_secs(args.stall_seconds).as_millis() as u64;
    let mut shards = 0;
    for beat in beats.iter().filter(|b| alive(b.pid)) {
        shards += 1;
        let behind = beat.millis_behind_latest.unwrap_or(0);
        let checkpoint = beat.last_checkpoint.as_deref().unwrap_or("none");
        let busy_for = now.saturating_sub(beat.action_started_ms);
        let idle_for = now.saturating_sub(beat.updated_ms);
        let line = if beat.in_action && busy_for > stall {
            problems.push(format!(
                "{}: stalled: inside {} for {} s (pid {})",
                beat.shard_id,
                beat.action,
                busy_for / 1000,
                beat.pid
            ));
            continue;
        } else if !beat.in_action && behind > args.behind_ms && idle_for > stall {
            problems.push(format!(
                "{}: stalled: no records for {} s while {behind} ms behind (pid {})",
                beat.shard_id,
                idle_for / 1000,
                beat.pid
            ));
            continue;
        } else {
            format!(
                "{}: ok: last {} {} s ago, {behind} ms behind, last checkpoint {checkpoint}",
                beat.shard_id,
                beat.action,
                idle_for / 1000
            )
        };
        println!("{line}");
    }
    if shards == 0 {
        println!("no shard leases held by a live processor");
    }
    for problem in &problems {
        println!("UNHEALTHY {problem}");
    }
    Ok(u8::from(!problems.is_empty()))
}
