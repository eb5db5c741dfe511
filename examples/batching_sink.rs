//! A batching sink: the Firehose-to-S3 pattern, locally. Records are appended as
//! newline-delimited JSON to a file per shard; the file is closed when it reaches a size or
//! an age, published by an atomic rename (`*.part` → `*.ndjson`, where an upload to S3
//! would go), and only then checkpointed, at the last record it holds. A crash loses
//! nothing: what was not published was not checkpointed, and comes again.
//!
//! Environment: `SINK_DIR` (default `sink`), `SINK_MAX_BYTES` (default 1048576),
//! `SINK_MAX_SECONDS` (default 60), `SINK_LOG` (default `logs/batching_sink.log`), and the
//! error policy's `ON_ERROR` etc. (see `ErrorPolicy::from_env`).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kcl_multilang::logging::{LogConfig, LogFile, LogFormat};
use kcl_multilang::{
    run_stdio_with, BoxError, Checkpointer, ErrorPolicy, InitializeInput, Position,
    ProcessRecordsInput, RecordProcessor, RetryPolicy,
};

/// The file being filled.
struct Open {
    part: PathBuf,
    writer: BufWriter<File>,
    bytes: u64,
    opened: Instant,
    last: Position,
    records: u64,
}

struct Sink {
    dir: PathBuf,
    max_bytes: u64,
    max_age: Duration,
    shard: String,
    open: Option<Open>,
    published: u64,
}

impl Sink {
    fn shard_dir(&self) -> PathBuf {
        self.dir.join(&self.shard)
    }

    /// Removes `*.part` files left by processes that are gone: never published, never
    /// checkpointed, so their records come again.
    fn clean_orphans(&self) -> std::io::Result<()> {
        for entry in fs::read_dir(self.shard_dir())? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let Some(pid) = name
                .strip_suffix(".part")
                .and_then(|n| n.rsplit('-').next())
            else {
                continue;
            };
            let alive = pid.parse::<i32>().is_ok_and(|p| {
                // SAFETY: signal 0 only asks whether the process exists.
                unsafe { libc::kill(p, 0) == 0 }
            });
            if !alive {
                tracing::info!("removing {} left by a process that is gone", path.display());
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    fn write(&mut self, input: &ProcessRecordsInput<'_>) -> Result<(), BoxError> {
        for r in input.records {
            if self.open.is_none() {
                let part = self.shard_dir().join(format!(
                    "{}-{}-{}.part",
                    r.sequence_number,
                    r.sub_sequence_number,
                    std::process::id()
                ));
                let file = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(&part)?;
                self.open = Some(Open {
                    part,
                    writer: BufWriter::new(file),
                    bytes: 0,
                    opened: Instant::now(),
                    last: r.position(),
                    records: 0,
                });
            }
            let mut line = match std::str::from_utf8(r.data) {
                Ok(text) => serde_json::json!({"data": text}),
                Err(_) => serde_json::json!({
                    "dataBase64": base64::engine::general_purpose::STANDARD.encode(r.data)
                }),
            };
            line["shardId"] = self.shard.clone().into();
            line["sequenceNumber"] = r.sequence_number.as_ref().into();
            line["subSequenceNumber"] = r.sub_sequence_number.into();
            line["partitionKey"] = r.partition_key.as_ref().into();
            line["approximateArrivalTimestamp"] = r.approximate_arrival_timestamp.into();
            let open = self.open.as_mut().expect("opened above");
            let mut bytes = serde_json::to_vec(&line)?;
            bytes.push(b'\n');
            open.writer.write_all(&bytes)?;
            open.bytes += bytes.len() as u64;
            open.last = r.position();
            open.records += 1;
        }
        Ok(())
    }

    fn due(&self) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| o.bytes >= self.max_bytes || o.opened.elapsed() >= self.max_age)
    }

    /// Closes, syncs and publishes the open file; returns the last position it holds.
    fn publish(&mut self) -> Result<Option<Position>, BoxError> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let file = open.writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let published = open.part.with_extension("ndjson");
        fs::rename(&open.part, &published)?;
        if let Some(dir) = published.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.published += 1;
        tracing::info!(
            "published {} ({} records, {} bytes) up to {}",
            published.display(),
            open.records,
            open.bytes,
            open.last
        );
        Ok(Some(open.last))
    }

    fn publish_and_checkpoint(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        if let Some(last) = self.publish()? {
            checkpointer.checkpoint_with_retry(Some(&last), &RetryPolicy::default())?;
            tracing::info!("checkpointed shard {} at {last}", self.shard);
        }
        Ok(())
    }
}

impl RecordProcessor for Sink {
    fn initialize(&mut self, input: &InitializeInput) -> Result<(), BoxError> {
        self.shard.clone_from(&input.shard_id);
        fs::create_dir_all(self.shard_dir())?;
        self.clean_orphans()?;
        tracing::info!(
            "sinking shard {} into {}",
            self.shard,
            self.shard_dir().display()
        );
        Ok(())
    }

    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        self.write(input)?;
        if self.due() {
            self.publish_and_checkpoint(checkpointer)?;
        }
        Ok(())
    }

    fn shutdown_requested(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        self.publish_and_checkpoint(checkpointer)
    }

    fn shard_ended(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        self.publish()?;
        checkpointer.checkpoint_with_retry(None, &RetryPolicy::default())?;
        tracing::info!("shard {} ended; checkpointed SHARD_END", self.shard);
        Ok(())
    }

    fn lease_lost(&mut self) -> Result<(), BoxError> {
        // Not checkpointed, so the next owner delivers these records again: drop the file
        // rather than publish duplicates.
        if let Some(open) = self.open.take() {
            drop(open.writer);
            fs::remove_file(&open.part)?;
            tracing::info!("lease lost: dropped {} unpublished records", open.records);
        }
        Ok(())
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, BoxError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a number").into()),
        _ => Ok(default),
    }
}

fn run() -> Result<i32, BoxError> {
    let log_path = std::env::var_os("SINK_LOG")
        .map_or_else(|| PathBuf::from("logs/batching_sink.log"), PathBuf::from);
    let config = LogConfig {
        path: log_path.clone(),
        max_bytes: 10 << 20,
        backups: 5,
        format: LogFormat::Text,
        level: tracing::Level::INFO,
    };
    let log = LogFile::install(&config)?;
    let mut sink = Sink {
        dir: std::env::var_os("SINK_DIR").map_or_else(|| PathBuf::from("sink"), PathBuf::from),
        max_bytes: env_or("SINK_MAX_BYTES", 1 << 20)?,
        max_age: Duration::from_secs(env_or("SINK_MAX_SECONDS", 60)?),
        shard: String::new(),
        open: None,
        published: 0,
    };
    let policy = ErrorPolicy::from_env(log_path.parent().unwrap_or(Path::new("")))?;
    let outcome = run_stdio_with(&mut sink, policy);
    tracing::info!("published {} files", sink.published);
    log.flush()?;
    Ok(outcome.exit_code())
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("batching_sink: {err}");
            std::process::exit(2);
        }
    }
}
