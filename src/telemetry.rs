//! What each child knows about its shard, and two ways to publish it: a heartbeat file for
//! health checks, and periodic throughput and lag lines (plain, or CloudWatch Embedded
//! Metric Format) in the log.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::logging::LogFile;
use crate::sequence::Position;

/// The run loop's view of its shard, updated around every action.
#[derive(Clone, Debug, Default)]
pub struct ShardStats {
    /// The shard, once `initialize` has named it.
    pub shard_id: String,
    /// The action being handled, or the last one handled.
    pub action: &'static str,
    /// Whether an action is in progress (`false` between actions).
    pub in_action: bool,
    /// When the current (or last) action started, in epoch milliseconds.
    pub action_started_ms: u64,
    /// Records delivered since the process started.
    pub records: u64,
    /// Bytes of record data delivered since the process started.
    pub bytes: u64,
    /// The largest position processed (its batch was acknowledged).
    pub processed: Option<Position>,
    /// The largest position delivered (possibly still being processed).
    pub delivered: Option<Position>,
    /// `millisBehindLatest` of the last batch.
    pub millis_behind_latest: Option<u64>,
    /// The last successful checkpoint: `seq:sub`, or `SHARD_END`.
    pub last_checkpoint: Option<String>,
    /// When it succeeded, in epoch milliseconds.
    pub last_checkpoint_ms: Option<u64>,
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl ShardStats {
    pub(crate) fn begin(&mut self, action: &'static str) {
        self.action = action;
        self.in_action = true;
        self.action_started_ms = now_ms();
    }

    pub(crate) fn batch(
        &mut self,
        records: u64,
        bytes: u64,
        largest: Option<(&str, u64)>,
        millis_behind_latest: Option<u64>,
    ) {
        self.records += records;
        self.bytes += bytes;
        self.millis_behind_latest = millis_behind_latest;
        if let Some((seq, sub)) = largest {
            if self
                .delivered
                .as_ref()
                .is_none_or(|d| d.cmp_parts(seq, sub).is_lt())
            {
                self.delivered = Some(Position::new(seq, sub));
            }
        }
    }

    pub(crate) fn end(&mut self, acknowledged: bool) {
        self.in_action = false;
        if acknowledged && self.action == "processRecords" {
            self.processed.clone_from(&self.delivered);
        }
    }

    /// Records a successful checkpoint; `None` is "everything delivered" (SHARD_END
    /// during `shardEnded`).
    pub(crate) fn checkpointed(&mut self, at: Option<Position>) {
        self.last_checkpoint = match at {
            Some(p) => Some(p.to_string()),
            None if self.action == "shardEnded" || self.action == "shutdown" => {
                Some("SHARD_END".to_string())
            }
            None => self.delivered.as_ref().map(Position::to_string),
        };
        self.last_checkpoint_ms = Some(now_ms());
    }
}

/// Something told about every action: before it is handled, after it is answered, and
/// when the run ends.
pub trait Observer {
    /// An action is about to be handled.
    fn action_started(&mut self, stats: &ShardStats) {
        let _ = stats;
    }
    /// An action was answered.
    fn action_finished(&mut self, stats: &ShardStats) {
        let _ = stats;
    }
    /// The run is over (stdin closed, or an error).
    fn finished(&mut self, stats: &ShardStats) {
        let _ = stats;
    }
}

/// What a heartbeat file holds (one JSON object, camelCase keys): written by [`Heartbeat`],
/// read by `record_processor health`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRecord {
    /// The record processor's process id.
    pub pid: i32,
    /// Its parent's: the daemon.
    pub daemon_pid: i32,
    /// The shard whose lease it holds.
    pub shard_id: String,
    /// The action being handled, or the last one handled.
    pub action: String,
    /// Whether that action is still in progress.
    pub in_action: bool,
    /// When that action started, in epoch milliseconds.
    pub action_started_ms: u64,
    /// When this record was written, in epoch milliseconds.
    pub updated_ms: u64,
    /// Records delivered since the process started.
    pub records: u64,
    /// The largest position processed, `seq:sub`.
    pub last_processed: Option<String>,
    /// `millisBehindLatest` of the last batch.
    pub millis_behind_latest: Option<u64>,
    /// The last successful checkpoint.
    pub last_checkpoint: Option<String>,
    /// When it succeeded, in epoch milliseconds.
    pub last_checkpoint_ms: Option<u64>,
}

/// The heartbeat file's fixed size: rewritten in place with one `pwrite`, so a reader
/// never sees a half-written file and a batch costs one small system call.
const HEARTBEAT_BYTES: usize = 1024;

/// Keeps `<dir>/<shardId>.json` up to date for `record_processor health`, and removes it
/// when the lease ends.
#[derive(Debug)]
pub struct Heartbeat {
    dir: PathBuf,
    file: Option<(PathBuf, File)>,
    buf: Vec<u8>,
}

impl Heartbeat {
    /// A heartbeat in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            file: None,
            buf: Vec::with_capacity(HEARTBEAT_BYTES),
        })
    }

    fn write(&mut self, stats: &ShardStats) -> io::Result<()> {
        if stats.shard_id.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let path = self.dir.join(format!("{}.json", sanitize(&stats.shard_id)));
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&path)?;
            self.file = Some((path, file));
        }
        self.buf.clear();
        let body = HeartbeatRecord {
            pid: std::process::id() as i32,
            // SAFETY: getppid has no preconditions.
            daemon_pid: unsafe { libc::getppid() },
            shard_id: stats.shard_id.clone(),
            action: stats.action.to_string(),
            in_action: stats.in_action,
            action_started_ms: stats.action_started_ms,
            updated_ms: now_ms(),
            records: stats.records,
            last_processed: stats.processed.as_ref().map(Position::to_string),
            millis_behind_latest: stats.millis_behind_latest,
            last_checkpoint: stats.last_checkpoint.clone(),
            last_checkpoint_ms: stats.last_checkpoint_ms,
        };
        serde_json::to_writer(&mut self.buf, &body)?;
        // Padding keeps the size fixed, so an older, longer body never shows through.
        if self.buf.len() < HEARTBEAT_BYTES {
            self.buf.resize(HEARTBEAT_BYTES - 1, b' ');
            self.buf.push(b'\n');
        }
        let (_, file) = self.file.as_ref().expect("opened above");
        file.write_all_at(&self.buf, 0)
    }

    fn report(&mut self, stats: &ShardStats) {
        if let Err(err) = self.write(stats) {
            tracing::warn!(
                "cannot write the heartbeat in {}: {err}",
                self.dir.display()
            );
        }
    }

    fn remove(&mut self) {
        if let Some((path, _)) = self.file.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// Shard ids are plain, but a file name must never escape the directory.
fn sanitize(shard_id: &str) -> String {
    shard_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Observer for Heartbeat {
    fn action_started(&mut self, stats: &ShardStats) {
        self.report(stats);
    }

    fn action_finished(&mut self, stats: &ShardStats) {
        if matches!(stats.action, "leaseLost" | "shardEnded" | "shutdown") {
            self.remove();
        } else {
            self.report(stats);
        }
    }

    fn finished(&mut self, _: &ShardStats) {
        self.remove();
    }
}

/// How [`Metrics`] lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsFormat {
    /// A log line through `tracing` (INFO, target `metrics`).
    Text,
    /// A CloudWatch Embedded Metric Format object, alone on its line in the log file, so
    /// the awslogs driver turns it into metrics without an agent.
    Emf,
}

/// Logs records, bytes, rate, lag and the last checkpoint once per interval (checked
/// after each action: the protocol has no clock of its own, and an idle shard has nothing
/// to report), and once more when the lease ends.
#[derive(Debug)]
pub struct Metrics {
    interval: Duration,
    format: MetricsFormat,
    namespace: String,
    application: String,
    log: LogFile,
    last: Instant,
    records_at_last: u64,
    bytes_at_last: u64,
}

impl Metrics {
    /// Reports every `interval` to `log`, with `application` as a dimension.
    pub fn new(
        interval: Duration,
        format: MetricsFormat,
        namespace: impl Into<String>,
        application: impl Into<String>,
        log: LogFile,
    ) -> Self {
        Self {
            interval,
            format,
            namespace: namespace.into(),
            application: application.into(),
            log,
            last: Instant::now(),
            records_at_last: 0,
            bytes_at_last: 0,
        }
    }

    fn emit(&mut self, stats: &ShardStats) {
        let elapsed = self.last.elapsed().as_secs_f64().max(1e-3);
        let records = stats.records - self.records_at_last;
        let bytes = stats.bytes - self.bytes_at_last;
        let rate = records as f64 / elapsed;
        self.last = Instant::now();
        self.records_at_last = stats.records;
        self.bytes_at_last = stats.bytes;
        match self.format {
            MetricsFormat::Text => tracing::info!(
                target: "metrics",
                "shard {} records={records} bytes={bytes} records_per_s={rate:.1} millis_behind_latest={} last_checkpoint={}",
                stats.shard_id,
                stats.millis_behind_latest.map_or_else(|| "null".to_string(), |m| m.to_string()),
                stats.last_checkpoint.as_deref().unwrap_or("none"),
            ),
            MetricsFormat::Emf => {
                let mut metrics = vec![
                    serde_json::json!({"Name": "RecordsProcessed", "Unit": "Count"}),
                    serde_json::json!({"Name": "BytesProcessed", "Unit": "Bytes"}),
                    serde_json::json!({"Name": "RecordsPerSecond", "Unit": "Count/Second"}),
                ];
                let mut body = serde_json::json!({
                    "_aws": {
                        "Timestamp": now_ms(),
                        "CloudWatchMetrics": [{
                            "Namespace": self.namespace,
                            "Dimensions": [["Application", "ShardId"]],
                            "Metrics": [],
                        }],
                    },
                    "Application": self.application,
                    "ShardId": stats.shard_id,
                    "RecordsProcessed": records,
                    "BytesProcessed": bytes,
                    "RecordsPerSecond": (rate * 10.0).round() / 10.0,
                    "LastCheckpoint": stats.last_checkpoint,
                });
                if let Some(m) = stats.millis_behind_latest {
                    metrics.push(
                        serde_json::json!({"Name": "MillisBehindLatest", "Unit": "Milliseconds"}),
                    );
                    body["MillisBehindLatest"] = m.into();
                }
                body["_aws"]["CloudWatchMetrics"][0]["Metrics"] = metrics.into();
                if let Err(err) = self.log.write_line(&body.to_string()) {
                    eprintln!("cannot write metrics to the log file: {err}");
                }
            }
        }
    }
}

impl Observer for Metrics {
    fn action_finished(&mut self, stats: &ShardStats) {
        let lease_over = matches!(stats.action, "leaseLost" | "shardEnded" | "shutdown");
        if !self.interval.is_zero() && (lease_over || self.last.elapsed() >= self.interval) {
            self.emit(stats);
        }
    }
}

/// Where the daemon's PID is kept for health checks (written by `run.sh`).
pub fn daemon_pid_file(state_dir: &Path) -> PathBuf {
    state_dir.join("daemon.pid")
}
