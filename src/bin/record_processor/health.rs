//! `record_processor health`: is this worker alive and moving? For a container
//! HEALTHCHECK: exit 0 when healthy, 1 when not, with one line per finding.
//!
//! Every child keeps a heartbeat file in the state directory (see
//! `kcl_multilang::telemetry::Heartbeat`) and run.sh writes the daemon's PID there.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use kcl_multilang::telemetry::{daemon_pid_file, now_ms, HeartbeatRecord};

/// Options of `health`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory the children and run.sh write to.
    #[arg(long, env = "RECORD_PROCESSOR_STATE_DIR", value_name = "DIR")]
    pub state_dir: PathBuf,

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

/// Checks the worker; returns the exit status (0 healthy, 1 unhealthy).
pub fn run(args: &Args) -> anyhow::Result<u8> {
    let beats = read_beats(&args.state_dir)?;
    let pid_file = daemon_pid_file(&args.state_dir);
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
