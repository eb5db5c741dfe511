//! A DynamoDB sink through the AWS SDK for Rust: every record becomes one item, written with
//! `BatchWriteItem`, and the shard is checkpointed at a batch's largest position only once
//! every item of the batch is written (and of every batch before it).
//!
//! Exactly once in the table: the item's key is the record's position (shard id, sequence
//! number, sub-sequence number), so a record delivered again (after a crash, a lease moving,
//! a retried batch) overwrites its own item instead of adding one.
//!
//! The table needs a string partition key named `id` and nothing else (on-demand capacity
//! suits a stream's bursts). Items: `id` = `<shard id>/<sequence number>/<sub-sequence
//! number>`, `shard_id`, `sequence_number`, `sub_sequence_number`, `partition_key`, `data`
//! (binary, as the producer put it), `arrival_ms` (when Kinesis received it, if known),
//! `written_ms`.
//!
//! Environment, as an ECS task sets it:
//! - `SINK_TABLE`: the table (required);
//! - `AWS_REGION`, or `REGION` as the Fargate consumer's task sets it;
//! - credentials: the task role, through the SDK's default chain (environment variables
//!   locally);
//! - `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL` to use another endpoint (an emulator,
//!   a VPC endpoint's DNS name);
//! - `CHECKPOINT_INTERVAL_SECONDS`: checkpoint at most this often (default 60, as the sample
//!   processor; 0 = after every batch). Each checkpoint is a write to the lease table; after a
//!   crash, what was written since the last one is delivered and written again;
//! - `SINK_CONCURRENCY`: requests of 25 items in flight at once (default 4);
//! - `SINK_UNPROCESSED_ATTEMPTS`: rounds for items DynamoDB returns unprocessed (default 8);
//! - `SINK_LOG` (default `logs/dynamodb_sink.log`), and the error policy's `ON_ERROR`,
//!   `ERROR_RETRIES`, `ERROR_BACKOFF_MS`, `DEAD_LETTER_FILE` (see `ErrorPolicy::from_env`).
//!
//! Errors: the SDK retries throttling and transient errors itself (its standard mode, 3
//! attempts). What is left, and items still unprocessed after their rounds, fail the batch,
//! and the error policy decides: by default the whole batch is written again (its items
//! overwrite themselves), then the process stops without answering so the daemon restarts
//! from the last checkpoint. A record too large for an item (400 KB) fails its batch with an
//! error saying so; `ON_ERROR=skip` sets such batches aside in the dead-letter file.
//!
//! Build: `cargo build --release --features dynamodb-example --example dynamodb_sink`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use kcl_multilang::asynchronous::{current_thread_runtime, AsyncProcessor, AsyncRecordProcessor};
use kcl_multilang::logging::{LogConfig, LogFile, LogFormat};
use kcl_multilang::{
    run_stdio_with, BoxError, Checkpointer, ErrorPolicy, InitializeInput, Position,
    ProcessRecordsInput, Record, RetryPolicy,
};

/// Items per `BatchWriteItem` request: DynamoDB's limit.
const BATCH_ITEMS: usize = 25;
/// DynamoDB's item size limit, names and values included.
const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Room for the attributes other than `data`, names included, generously counted.
const ITEM_OVERHEAD: usize = 1024;

struct Sink {
    client: Client,
    /// The sink's own log: diagnostics only (the table is where records are kept), flushed
    /// once per batch so that its lines reach the file (and CloudWatch) as they happen.
    log: LogFile,
    log_failed: bool,
    table: String,
    shard: String,
    concurrency: usize,
    unprocessed_attempts: u32,
    /// Item puts sent and accepted, re-deliveries included (the e2e test compares it with
    /// the items in the table).
    written: u64,
    batches: u64,
    /// How often to checkpoint: each checkpoint is a write to the lease table, and after a
    /// crash at most this much is written again (overwriting itself).
    checkpoint_interval: Duration,
    last_checkpoint: Instant,
    /// The last written batch's largest position, not checkpointed yet.
    pending: Option<Position>,
}

/// The item key: unique per record, the same on every delivery of it.
fn item_id(shard: &str, record: &Record<'_>) -> String {
    format!(
        "{shard}/{}/{}",
        record.sequence_number, record.sub_sequence_number
    )
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The put request for `record`, or why it cannot be an item.
fn put_request(shard: &str, record: &Record<'_>, written_ms: u128) -> Result<WriteRequest, String> {
    let id = item_id(shard, record);
    let size = record.data.len() + record.partition_key.len() + 2 * id.len() + ITEM_OVERHEAD;
    if size > MAX_ITEM_BYTES {
        return Err(format!(
            "record {id} holds {} bytes of data; a DynamoDB item holds at most {} KB \
             (store large payloads elsewhere, e.g. S3, and their key here)",
            record.data.len(),
            MAX_ITEM_BYTES / 1024
        ));
    }
    let mut item = HashMap::with_capacity(8);
    item.insert("id".to_owned(), AttributeValue::S(id));
    item.insert("shard_id".to_owned(), AttributeValue::S(shard.to_owned()));
    item.insert(
        "sequence_number".to_owned(),
        AttributeValue::S(record.sequence_number.to_string()),
    );
    item.insert(
        "sub_sequence_number".to_owned(),
        AttributeValue::N(record.sub_sequence_number.to_string()),
    );
    // DynamoDB refuses empty key attributes only; an empty partition key cannot come from
    // Kinesis, but an empty payload can, and an empty binary value is allowed.
    item.insert(
        "partition_key".to_owned(),
        AttributeValue::S(record.partition_key.to_string()),
    );
    item.insert(
        "data".to_owned(),
        AttributeValue::B(Blob::new(record.data.to_vec())),
    );
    if let Some(arrival) = record.approximate_arrival_timestamp {
        item.insert(
            "arrival_ms".to_owned(),
            AttributeValue::N(arrival.to_string()),
        );
    }
    item.insert(
        "written_ms".to_owned(),
        AttributeValue::N(written_ms.to_string()),
    );
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(WriteRequest::builder().put_request(put).build())
}

/// The wait before round `round` (1-based) of unprocessed items: 50 ms doubling to 5 s,
/// with up to half of it random, so shards throttled together do not retry together.
fn unprocessed_backoff(round: u32) -> Duration {
    let base = 50u64.saturating_mul(1 << round.min(7)).min(5_000);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    Duration::from_millis(base / 2 + u64::from(nanos) % (base / 2 + 1))
}

impl Sink {
    /// Checkpoints at the last written batch, if it is not checkpointed yet, retrying
    /// throttling as the sample processor does.
    fn checkpoint_pending(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        let Some(position) = self.pending.take() else {
            return Ok(());
        };
        tracing::info!(
            "shard {}: checkpointing at {}/{}",
            self.shard,
            position.sequence_number,
            position.sub_sequence_number
        );
        self.flush_log();
        checkpointer.checkpoint_with_retry(Some(&position), &RetryPolicy::default())?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Writes what is buffered to the log file, including what the run loop logged about a
    /// failed attempt before this one. A log that cannot be written does not stop the
    /// sink: it says so on stderr (the daemon's log) once.
    fn flush_log(&mut self) {
        if let Err(e) = self.log.flush() {
            if !std::mem::replace(&mut self.log_failed, true) {
                eprintln!(
                    "dynamodb_sink: the log file cannot be written, carrying on without it: {e}"
                );
            }
        }
    }

    /// Writes one request's items, again and again for those DynamoDB leaves unprocessed.
    async fn write_chunk(
        client: Client,
        table: String,
        mut requests: Vec<WriteRequest>,
        attempts: u32,
    ) -> Result<usize, BoxError> {
        let total = requests.len();
        let mut round = 0;
        while !requests.is_empty() {
            round += 1;
            if round > 1 {
                if round > attempts {
                    return Err(format!(
                        "{} of {total} items still unprocessed after {attempts} rounds \
                         (the table's capacity is exhausted)",
                        requests.len()
                    )
                    .into());
                }
                tokio::time::sleep(unprocessed_backoff(round - 1)).await;
            }
            let output = client
                .batch_write_item()
                .request_items(table.clone(), requests)
                .send()
                .await
                .map_err(|e| format!("BatchWriteItem on {table}: {}", DisplayErrorContext(e)))?;
            requests = output
                .unprocessed_items
                .and_then(|mut left| left.remove(&table))
                .unwrap_or_default();
        }
        Ok(total)
    }

    /// Writes every record of the batch; returns when all are written, or with the first
    /// error once the requests in flight have ended.
    async fn write_all(&mut self, records: &[Record<'_>]) -> Result<(), BoxError> {
        let written_ms = now_ms();
        let requests = records
            .iter()
            .map(|record| put_request(&self.shard, record, written_ms))
            .collect::<Result<Vec<_>, _>>()?;
        // Owned chunks, moved into their tasks: copying them (`chunks().to_vec()`) would copy
        // every item, payload included, a second time.
        let mut left = requests.into_iter();
        let mut chunks = std::iter::from_fn(|| {
            let chunk: Vec<WriteRequest> = left.by_ref().take(BATCH_ITEMS).collect();
            (!chunk.is_empty()).then_some(chunk)
        });
        let mut in_flight = tokio::task::JoinSet::new();
        let mut first_error: Option<BoxError> = None;
        loop {
            while first_error.is_none() && in_flight.len() < self.concurrency {
                let Some(chunk) = chunks.next() else { break };
                in_flight.spawn(Self::write_chunk(
                    self.client.clone(),
                    self.table.clone(),
                    chunk,
                    self.unprocessed_attempts,
                ));
            }
            let Some(done) = in_flight.join_next().await else {
                break;
            };
            match done {
                Ok(Ok(n)) => self.written += n as u64,
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(format!("a write task failed: {e}").into());
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl AsyncRecordProcessor for Sink {
    async fn initialize(&mut self, input: &InitializeInput) -> Result<(), BoxError> {
        self.shard.clone_from(&input.shard_id);
        tracing::info!("writing shard {} into table {}", self.shard, self.table);
        self.flush_log();
        Ok(())
    }

    async fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        self.flush_log();
        if let Some((sequence, sub_sequence)) = input.largest {
            let before = self.written;
            self.write_all(input.records).await?;
            self.batches += 1;
            self.pending = Some(Position::new(sequence, sub_sequence));
            tracing::info!(
                "shard {}: wrote {} items up to {sequence}/{sub_sequence}",
                self.shard,
                self.written - before
            );
        }
        // Empty batches come too when the daemon sends them
        // (callProcessRecordsEvenForEmptyRecordList): a quiet shard's last writes are then
        // checkpointed on time.
        if self.last_checkpoint.elapsed() >= self.checkpoint_interval {
            self.checkpoint_pending(checkpointer)?;
        }
        self.flush_log();
        Ok(())
    }

    async fn lease_lost(&mut self) -> Result<(), BoxError> {
        tracing::info!("shard {}: lease lost", self.shard);
        self.flush_log();
        Ok(())
    }

    async fn shutdown_requested(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        // Everything delivered was written (a batch that failed stopped the process before
        // this), so the lease can end at the last batch; a lease handed over starts its new
        // owner exactly there.
        self.checkpoint_pending(checkpointer)?;
        self.flush_log();
        Ok(())
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, BoxError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a valid number").into()),
        _ => Ok(default),
    }
}

fn run() -> Result<i32, BoxError> {
    let log_path = std::env::var_os("SINK_LOG")
        .map_or_else(|| PathBuf::from("logs/dynamodb_sink.log"), PathBuf::from);
    let log = LogFile::install(&LogConfig {
        path: log_path.clone(),
        max_bytes: 10 << 20,
        backups: 5,
        format: LogFormat::Text,
        level: tracing::Level::INFO,
    })?;
    let table = std::env::var("SINK_TABLE")
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or("SINK_TABLE is not set: name the DynamoDB table to write to")?;
    let concurrency: usize = env_or("SINK_CONCURRENCY", 4)?;
    let unprocessed_attempts: u32 = env_or("SINK_UNPROCESSED_ATTEMPTS", 8)?;
    let checkpoint_seconds: u64 = env_or("CHECKPOINT_INTERVAL_SECONDS", 60)?;
    let policy = ErrorPolicy::from_env(log_path.parent().unwrap_or(Path::new("")))?;

    let runtime = current_thread_runtime()?;
    let client = runtime.block_on(async {
        let mut loader = aws_config::from_env();
        // The Fargate consumer's task definition sets REGION; the SDK reads AWS_REGION.
        if std::env::var_os("AWS_REGION").is_none() {
            if let Ok(region) = std::env::var("REGION") {
                loader = loader.region(aws_config::Region::new(region));
            }
        }
        Client::new(&loader.load().await)
    });
    let mut processor = AsyncProcessor::with_runtime(
        runtime,
        Sink {
            client,
            log: log.clone(),
            log_failed: false,
            table,
            shard: String::new(),
            concurrency: concurrency.max(1),
            unprocessed_attempts: unprocessed_attempts.max(1),
            written: 0,
            batches: 0,
            checkpoint_interval: Duration::from_secs(checkpoint_seconds),
            last_checkpoint: Instant::now(),
            pending: None,
        },
    );
    let outcome = run_stdio_with(&mut processor, policy);
    let sink = processor.processor();
    tracing::info!(
        "shard {}: {} items written in {} batches",
        sink.shard,
        sink.written,
        sink.batches
    );
    log.flush()?;
    Ok(outcome.exit_code())
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("dynamodb_sink: {err}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn record<'a>(data: &'a [u8], seq: &'static str, sub: u64) -> Record<'a> {
        Record {
            data,
            partition_key: Cow::Borrowed("pk"),
            sequence_number: Cow::Borrowed(seq),
            sub_sequence_number: sub,
            approximate_arrival_timestamp: Some(1_700_000_000_000),
        }
    }

    #[test]
    fn the_key_is_the_position_so_a_redelivery_overwrites_its_item() {
        let a = record(b"x", "4959", 0);
        let again = record(b"x", "4959", 0);
        let next_sub = record(b"x", "4959", 1);
        assert_eq!(item_id("shardId-1", &a), "shardId-1/4959/0");
        assert_eq!(item_id("shardId-1", &a), item_id("shardId-1", &again));
        assert_ne!(item_id("shardId-1", &a), item_id("shardId-1", &next_sub));
        assert_ne!(item_id("shardId-1", &a), item_id("shardId-2", &a));
    }

    #[test]
    fn an_item_carries_the_record_as_put() {
        let data = [0u8, 0xff, b'\n'];
        let w = put_request("shardId-1", &record(&data, "77", 3), 5).unwrap();
        let item = w.put_request().unwrap().item();
        assert_eq!(item["id"], AttributeValue::S("shardId-1/77/3".into()));
        assert_eq!(item["data"], AttributeValue::B(Blob::new(data.to_vec())));
        assert_eq!(item["sub_sequence_number"], AttributeValue::N("3".into()));
        assert_eq!(
            item["arrival_ms"],
            AttributeValue::N("1700000000000".into())
        );
        assert_eq!(item["written_ms"], AttributeValue::N("5".into()));
    }

    #[test]
    fn a_record_too_large_for_an_item_is_refused_with_its_position() {
        let big = vec![b'a'; MAX_ITEM_BYTES];
        let err = put_request("shardId-1", &record(&big, "9", 0), 0).unwrap_err();
        assert!(
            err.contains("shardId-1/9/0") && err.contains("400 KB"),
            "{err}"
        );
        let fits = vec![b'a'; MAX_ITEM_BYTES - 2 * ITEM_OVERHEAD];
        assert!(put_request("shardId-1", &record(&fits, "9", 0), 0).is_ok());
    }

    #[test]
    fn unprocessed_backoff_grows_and_is_capped() {
        for round in 1..20 {
            let d = unprocessed_backoff(round).as_millis();
            let base = (50u128 << round.min(7)).min(5_000);
            assert!(d >= base / 2 && d <= base, "round {round}: {d} ms");
        }
    }

    /// A stand-in for DynamoDB on loopback, speaking its JSON protocol over HTTP/1.1: each
    /// `BatchWriteItem` is answered by `answer(n, items)` (n counts requests from 0; `items`
    /// are the request's put items), which gives the status and the JSON body. Returns the
    /// endpoint and the item counts of the requests it saw.
    fn fake_dynamodb(
        answer: fn(usize, &[serde_json::Value]) -> (u16, serde_json::Value),
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<usize>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    loop {
                        let mut length = 0usize;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let l = line.trim_end();
                            if l.is_empty() {
                                break;
                            }
                            if let Some((name, value)) = l.split_once(':') {
                                if name.eq_ignore_ascii_case("content-length") {
                                    length = value.trim().parse().unwrap();
                                }
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let (_, writes) = request["RequestItems"]
                            .as_object()
                            .unwrap()
                            .iter()
                            .next()
                            .unwrap();
                        let items: Vec<serde_json::Value> = writes
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|w| w["PutRequest"]["Item"].clone())
                            .collect();
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push(items.len());
                            log.len() - 1
                        };
                        let (status, reply) = answer(n, &items);
                        let reply = reply.to_string();
                        let head = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.0\r\n\
                             Content-Length: {}\r\n\r\n",
                            reply.len()
                        );
                        writer.write_all(head.as_bytes()).unwrap();
                        writer.write_all(reply.as_bytes()).unwrap();
                    }
                });
            }
        });
        (endpoint, seen)
    }

    fn sink_against(endpoint: &str, dir: &Path) -> Sink {
        use aws_sdk_dynamodb::config::retry::RetryConfig;
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build();
        Sink {
            client: Client::from_conf(config),
            log: LogFile::open(&LogConfig {
                path: dir.join("sink.log"),
                max_bytes: 1 << 20,
                backups: 1,
                format: LogFormat::Text,
                level: tracing::Level::INFO,
            })
            .unwrap(),
            log_failed: false,
            table: "t".into(),
            shard: "shardId-000000000000".into(),
            concurrency: 4,
            unprocessed_attempts: 8,
            written: 0,
            batches: 0,
            checkpoint_interval: Duration::ZERO,
            last_checkpoint: Instant::now(),
            pending: None,
        }
    }

    fn records(n: usize) -> (Vec<Vec<u8>>, Vec<String>) {
        let data = (0..n).map(|i| format!("r{i}").into_bytes()).collect();
        let seqs = (0..n).map(|i| format!("{}", 1000 + i)).collect();
        (data, seqs)
    }

    fn batch<'a>(data: &'a [Vec<u8>], seqs: &'a [String]) -> Vec<Record<'a>> {
        data.iter()
            .zip(seqs)
            .map(|(d, s)| Record {
                data: d,
                partition_key: Cow::Borrowed("pk"),
                sequence_number: Cow::Borrowed(s.as_str()),
                sub_sequence_number: 0,
                approximate_arrival_timestamp: None,
            })
            .collect()
    }

    /// Every item but the first comes back unprocessed, in every answer: each round writes
    /// one more, so a request of n items takes n rounds.
    fn one_at_a_time(_: usize, items: &[serde_json::Value]) -> (u16, serde_json::Value) {
        let left: Vec<_> = items[1..]
            .iter()
            .map(|i| serde_json::json!({"PutRequest": {"Item": i}}))
            .collect();
        let unprocessed = if left.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({"t": left})
        };
        (200, serde_json::json!({"UnprocessedItems": unprocessed}))
    }

    #[test]
    fn a_batch_goes_in_requests_of_25_and_unprocessed_items_are_sent_again_until_written() {
        let dir = tempfile::tempdir().unwrap();
        let (endpoint, seen) = fake_dynamodb(one_at_a_time);
        let mut sink = sink_against(&endpoint, dir.path());
        sink.unprocessed_attempts = 30;
        let (data, seqs) = records(53);
        let runtime = current_thread_runtime().unwrap();
        // Backoff is real: keep the rounds few by making the requests small.
        runtime
            .block_on(sink.write_all(&batch(&data[..3], &seqs[..3])))
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), [3, 2, 1]);
        assert_eq!(sink.written, 3);

        seen.lock().unwrap().clear();
        let (endpoint, seen) = fake_dynamodb(|_, _| (200, serde_json::json!({})));
        sink = Sink {
            written: 0,
            ..sink_against(&endpoint, dir.path())
        };
        runtime
            .block_on(sink.write_all(&batch(&data, &seqs)))
            .unwrap();
        let mut sizes = seen.lock().unwrap().clone();
        sizes.sort_unstable();
        assert_eq!(sizes, [3, 25, 25]);
        assert_eq!(sink.written, 53);
    }

    #[test]
    fn items_still_unprocessed_after_their_rounds_fail_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (endpoint, seen) = fake_dynamodb(|_, items| {
            let all: Vec<_> = items
                .iter()
                .map(|i| serde_json::json!({"PutRequest": {"Item": i}}))
                .collect();
            (200, serde_json::json!({"UnprocessedItems": {"t": all}}))
        });
        let mut sink = sink_against(&endpoint, dir.path());
        sink.unprocessed_attempts = 3;
        let (data, seqs) = records(2);
        let runtime = current_thread_runtime().unwrap();
        let err = runtime
            .block_on(sink.write_all(&batch(&data, &seqs)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 of 2 items still unprocessed after 3 rounds"),
            "{err}"
        );
        assert_eq!(*seen.lock().unwrap(), [2, 2, 2]);
        assert_eq!(sink.written, 0);
    }

    #[test]
    fn throttling_that_outlasts_the_sdk_retries_fails_the_batch_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let (endpoint, seen) = fake_dynamodb(|_, _| {
            (
                400,
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "slow down"
                }),
            )
        });
        let mut sink = sink_against(&endpoint, dir.path());
        let (data, seqs) = records(1);
        let runtime = current_thread_runtime().unwrap();
        let err = runtime
            .block_on(sink.write_all(&batch(&data, &seqs)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ProvisionedThroughputExceededException") && err.contains("slow down"),
            "{err}"
        );
        // The SDK retried it (2 attempts as configured here; 3 by default), then gave up.
        assert_eq!(*seen.lock().unwrap(), [1, 1]);
        assert_eq!(sink.written, 0);
    }
}
