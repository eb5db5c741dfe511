//! A processor for the sample producer's JSON bodies (`{"data": "..."}`): parses every
//! record, counts records per partition key, and checkpoints after every batch.
//!
//! A record that is not such a JSON object makes the batch fail, and what happens then is
//! the error policy's choice (`ON_ERROR=retry|fail|skip`, see `ErrorPolicy::from_env`):
//! with `skip` the poison record lands in the dead-letter file and the shard moves on.
//!
//! Environment: `JSON_COUNTER_LOG` (default `logs/json_counter.log`), `ON_ERROR`,
//! `ERROR_RETRIES`, `ERROR_BACKOFF_MS`, `DEAD_LETTER_FILE`.
//!
//! Build it with `cargo build --release --example json_counter` and point the properties'
//! `executableName` at `target/release/examples/json_counter`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kcl_multilang::logging::{LogConfig, LogFile, LogFormat};
use kcl_multilang::{
    run_stdio_with, BoxError, Checkpointer, ErrorPolicy, InitializeInput, ProcessRecordsInput,
    RecordProcessor,
};

#[derive(serde::Deserialize)]
struct Body {
    data: serde_json::Value,
}

struct JsonCounter {
    log: LogFile,
    shard: String,
    per_key: BTreeMap<String, u64>,
    total: u64,
}

impl JsonCounter {
    fn summary(&self) {
        tracing::info!(
            "shard {} counted {} records over {} partition keys",
            self.shard,
            self.total,
            self.per_key.len()
        );
    }
}

impl RecordProcessor for JsonCounter {
    fn initialize(&mut self, input: &InitializeInput) -> Result<(), BoxError> {
        self.shard.clone_from(&input.shard_id);
        tracing::info!("counting shard {}", input.shard_id);
        Ok(())
    }

    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        // Parse the whole batch before counting, so a retried batch is not counted twice.
        let mut bodies = Vec::with_capacity(input.records.len());
        for record in input.records {
            let body: Body = serde_json::from_slice(record.data).map_err(|e| {
                format!(
                    "record {}:{} is not a {{\"data\": ...}} JSON object: {e}",
                    record.sequence_number, record.sub_sequence_number
                )
            })?;
            bodies.push((record.partition_key.as_ref(), body));
        }
        for (key, body) in bodies {
            *self.per_key.entry(key.to_string()).or_default() += 1;
            self.total += 1;
            tracing::debug!("{key}: {}", body.data);
        }
        self.summary();
        self.log.flush()?;
        checkpointer.checkpoint()?;
        Ok(())
    }

    fn shutdown_requested(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        self.summary();
        self.log.flush()?;
        checkpointer.checkpoint()?;
        Ok(())
    }

    fn lease_lost(&mut self) -> Result<(), BoxError> {
        self.summary();
        Ok(self.log.flush()?)
    }
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("json_counter: {err}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<i32, BoxError> {
    let path = std::env::var_os("JSON_COUNTER_LOG")
        .map_or_else(|| PathBuf::from("logs/json_counter.log"), PathBuf::from);
    let config = LogConfig {
        path: path.clone(),
        max_bytes: 10 << 20,
        backups: 5,
        format: LogFormat::Text,
        level: tracing::Level::INFO,
    };
    // The policy first: a bad setting is refused before anything, the log file included, is created.
    let policy = ErrorPolicy::from_env(path.parent().unwrap_or(std::path::Path::new("")))?;
    let log = LogFile::install(&config)?;
    let mut processor = JsonCounter {
        log: log.clone(),
        shard: String::new(),
        per_key: BTreeMap::new(),
        total: 0,
    };
    let outcome = run_stdio_with(&mut processor, policy);
    log.flush()?;
    Ok(outcome.exit_code())
}
