//! Command-line options. The daemon passes only what `executableName` holds, but the child
//! inherits the daemon's environment, so every option has an environment fallback.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use kcl_multilang::logging::LogFormat;

/// Tools that run beside the processor, not under the daemon.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a rendered KCL properties file before the daemon starts (run.sh does).
    CheckProperties(crate::check_properties::Args),
    /// Exit 0 when the daemon runs and no shard is stalled, 1 otherwise (for HEALTHCHECK).
    Health(crate::health::Args),
    /// Write the daemon's output and the processors' log file to stdout as whole lines, the
    /// container's one stdout writer (run.sh starts it).
    FollowLogs(crate::follow_logs::Args),
}

/// How throughput and lag are reported in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricsMode {
    /// A plain log line per shard.
    Text,
    /// CloudWatch Embedded Metric Format: the awslogs driver makes metrics of it.
    Emf,
    /// No metrics lines.
    Off,
}

/// What to do when processing a batch fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Retry the batch with back-off (--error-retries attempts), then fail.
    Retry,
    /// Exit non-zero without answering: the daemon restarts from the last checkpoint.
    Fail,
    /// Write the batch's records to the dead-letter file, then acknowledge it.
    Skip,
}

/// Log line layout.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// `HH:MM:SS.mmm [module] LEVEL  function - message` (like the Python sample).
    Text,
    /// One JSON object per line.
    Json,
}

impl From<Format> for LogFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Text => LogFormat::Text,
            Format::Json => LogFormat::Json,
        }
    }
}

/// Most verbose level written to the log file.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<Level> for tracing::Level {
    fn from(l: Level) -> Self {
        match l {
            Level::Error => tracing::Level::ERROR,
            Level::Warn => tracing::Level::WARN,
            Level::Info => tracing::Level::INFO,
            Level::Debug => tracing::Level::DEBUG,
            Level::Trace => tracing::Level::TRACE,
        }
    }
}

/// A Kinesis record processor for the KCL MultiLangDaemon: logs every record's data to a
/// file and checkpoints periodically. Started by the daemon, one process per shard lease;
/// it talks to the daemon on stdin/stdout and ignores SIGINT/SIGTERM (the daemon ends it by
/// closing stdin).
#[derive(Debug, Parser)]
#[command(name = "record_processor", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Without a command: run as the daemon's child (the record processor itself).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The log file (rotated by size). Nothing but protocol messages goes to stdout.
    #[arg(
        long,
        env = "RECORD_PROCESSOR_LOG_FILE",
        default_value = "logs/record_processor.log"
    )]
    pub log_file: PathBuf,

    /// Seconds between checkpoints (0: after every batch). Checkpoints also happen at
    /// shard end and on a shutdown request.
    #[arg(
        long = "checkpoint-interval",
        env = "CHECKPOINT_INTERVAL_SECONDS",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    pub checkpoint_interval: u64,

    /// Attempts for a throttled checkpoint (ThrottlingException or
    /// KinesisClientLibDependencyException), the first included.
    #[arg(
        long,
        env = "CHECKPOINT_RETRIES",
        default_value_t = 5,
        value_name = "N"
    )]
    pub checkpoint_retries: u32,

    /// First back-off between checkpoint attempts, in milliseconds; it doubles each time
    /// (at most 30 s).
    #[arg(
        long,
        env = "CHECKPOINT_BACKOFF_MS",
        default_value_t = 1000,
        value_name = "MS"
    )]
    pub checkpoint_backoff_ms: u64,

    /// What to do when processing a batch fails (for this processor: the log file cannot
    /// be written).
    #[arg(long, env = "ON_ERROR", value_enum, default_value = "retry")]
    pub on_error: OnError,

    /// Attempts at a failed batch with --on-error retry, the first included.
    #[arg(long, env = "ERROR_RETRIES", default_value_t = 3, value_name = "N")]
    pub error_retries: u32,

    /// First wait between attempts at a failed batch, in milliseconds (doubling).
    #[arg(
        long,
        env = "ERROR_BACKOFF_MS",
        default_value_t = 1000,
        value_name = "MS"
    )]
    pub error_backoff_ms: u64,

    /// Where --on-error skip writes failed records [default: dead_letter.jsonl beside the
    /// log file].
    #[arg(long, env = "DEAD_LETTER_FILE", value_name = "PATH")]
    pub dead_letter_file: Option<PathBuf>,

    /// Where each child keeps its heartbeat for `record_processor health` (run.sh sets it;
    /// unset: no heartbeat).
    #[arg(long, env = "RECORD_PROCESSOR_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Report records, bytes, rate, lag and last checkpoint per shard in the log.
    #[arg(long, env = "METRICS", value_enum, default_value = "text")]
    pub metrics: MetricsMode,

    /// Seconds between metrics lines (checked after each batch; 0: none).
    #[arg(
        long,
        env = "METRICS_INTERVAL_SECONDS",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    pub metrics_interval: u64,

    /// CloudWatch namespace of the EMF metrics.
    #[arg(long, env = "METRICS_NAMESPACE", default_value = "KinesisConsumer")]
    pub metrics_namespace: String,

    /// The Application dimension of the metrics (the container's APPLICATION_NAME).
    #[arg(long, env = "APPLICATION_NAME", default_value = "unknown")]
    pub application_name: String,

    /// Rotate the log file when it would grow past this many bytes (0: never rotate).
    #[arg(long, env = "RECORD_PROCESSOR_LOG_MAX_BYTES", default_value_t = 10 * 1024 * 1024, value_name = "BYTES")]
    pub log_max_bytes: u64,

    /// Rotated log files to keep (FILE.1 … FILE.N).
    #[arg(
        long,
        env = "RECORD_PROCESSOR_LOG_BACKUPS",
        default_value_t = 5,
        value_name = "N"
    )]
    pub log_backups: u32,

    /// Log line format.
    #[arg(
        long,
        env = "RECORD_PROCESSOR_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: Format,

    /// Most verbose level written to the log file.
    #[arg(
        long,
        env = "RECORD_PROCESSOR_LOG_LEVEL",
        value_enum,
        default_value = "info"
    )]
    pub log_level: Level,
}
