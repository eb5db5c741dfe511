//! The sample processor under a log writer that fails on its Nth write, for every N.
//!
//! The run loop drives the processor over an in-memory daemon that answers every
//! checkpoint request, and every message the processor sends is recorded with how much
//! had reached the "disk" (a sink given to [`LogFile::divert_writes`]) at that moment. The
//! disk only grows, so that much of its final bytes is what the file held then.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use kcl_multilang::logging::{LogConfig, LogFile, LogFormat};
use kcl_multilang::{ErrorPolicy, RetryPolicy, RunError, Runtime};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt as _;

use kcl_multilang::sample::{SampleProcessor, BINARY_MARKER};

/// How the disk fails.
#[derive(Clone, Copy, Debug)]
struct Fault {
    /// The write call (counting from 1) that first does not go through whole.
    at: usize,
    /// That call takes half its bytes, and the next one fails.
    short: bool,
    /// Writes go through again after the failing one, as when another process frees space:
    /// the lines lost with it must stay unacknowledged all the same.
    recovers: bool,
}

#[derive(Default)]
struct Disk {
    bytes: Vec<u8>,
    calls: usize,
    fault: Option<Fault>,
    /// The fault's call took half its bytes.
    shortened: bool,
    /// A write has failed.
    failed: bool,
}

struct Sink(Arc<Mutex<Disk>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut disk = self.0.lock().unwrap();
        disk.calls += 1;
        let call = disk.calls;
        if let Some(fault) = disk.fault {
            // Half of a single byte is nothing, which `write_all` takes for a failure of its
            // own: fail that call outright instead, so that `failed` stays true to the disk.
            if fault.short && call == fault.at && buf.len() >= 2 {
                let half = buf.len() / 2;
                disk.bytes.extend_from_slice(&buf[..half]);
                disk.shortened = true;
                return Ok(half);
            }
            let failing = fault.at + usize::from(disk.shortened);
            if call == failing || (call > failing && !fault.recovers) {
                disk.failed = true;
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        disk.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A message from the processor, and what the disk held when it was sent.
struct Sent {
    message: serde_json::Value,
    disk_len: usize,
    after_failure: bool,
}

/// The daemon's side: the script of actions, a reply to each checkpoint request, and what
/// the processor sent.
struct Conversation {
    script: VecDeque<String>,
    line: Vec<u8>,
    read: usize,
    unanswered: bool,
    out: Vec<u8>,
    sent: Vec<Sent>,
    disk: Arc<Mutex<Disk>>,
}

#[derive(Clone)]
struct Daemon(Rc<RefCell<Conversation>>);

impl Read for Daemon {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut c = self.0.borrow_mut();
        if c.read == c.line.len() {
            // The next line is chosen only once the last one is read whole: the real daemon
            // too writes a reply only after the request, and an action only after a status.
            let next = if c.unanswered {
                c.unanswered = false;
                Some(
                    r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":null}"#
                        .to_string(),
                )
            } else {
                c.script.pop_front()
            };
            let Some(next) = next else { return Ok(0) };
            c.line = next.into_bytes();
            c.line.push(b'\n');
            c.read = 0;
        }
        let n = buf.len().min(c.line.len() - c.read);
        buf[..n].copy_from_slice(&c.line[c.read..c.read + n]);
        c.read += n;
        Ok(n)
    }
}

impl Write for Daemon {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let c = &mut *self.0.borrow_mut();
        c.out.extend_from_slice(buf);
        while let Some(end) = c.out.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = c.out.drain(..=end).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let message: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let disk = c.disk.lock().unwrap();
            c.unanswered |= message["action"] == "checkpoint";
            c.sent.push(Sent {
                message,
                disk_len: disk.bytes.len(),
                after_failure: disk.failed,
            });
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Three records a batch, one of them not UTF-8: lines reach the file at the flush.
    Small,
    /// Batches of more than 64 KiB: a chunk is written in the middle of each.
    Chunked,
    /// A 100 KB record between two small ones: written from its pieces, not gathered.
    Large,
}

/// Which checkpoint the run makes: after every batch, or only at its end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Checkpointing {
    Periodic,
    Shutdown,
    ShardEnd,
}

/// A record of the script: its sequence number, its batch, and its log line's message.
struct Rec {
    seq: u64,
    batch: usize,
    message: Vec<u8>,
}

/// Marks the message of a record's line.
const MESSAGE_AT: &[u8] = b" process_records - ";

struct Script {
    actions: Vec<String>,
    records: Vec<Rec>,
}

const INIT: &str = r#"{"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}"#;

fn script(shape: Shape, streamed: bool, end: Checkpointing) -> Script {
    let mut actions = vec![INIT.to_string()];
    let mut records = Vec::new();
    let mut seq = 1000;
    for batch in 0..2 {
        if batch == 1 {
            // The run loop logs a blank line as a WARN, written at once by the `tracing` layer,
            // which can only print its failure: a write failing where no caller sees it, as a
            // metrics line's can. The next flush must fail all the same.
            actions.push(String::new());
        }
        let data: Vec<Vec<u8>> = match shape {
            Shape::Small => vec![
                format!("record {seq} plain").into_bytes(),
                vec![0xff, 0xfe, (seq % 256) as u8],
                format!("record {}\twith a tab", seq + 2).into_bytes(),
            ],
            Shape::Chunked => (0..800)
                .map(|i| format!("record {} of a large batch {}", seq + i, "p".repeat(70)))
                .map(String::into_bytes)
                .collect(),
            Shape::Large => vec![
                format!("record {seq} before").into_bytes(),
                format!("record {} large {}", seq + 1, "x".repeat(100_000)).into_bytes(),
                format!("record {} after", seq + 2).into_bytes(),
            ],
        };
        let mut json = Vec::new();
        for d in data {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&d);
            json.push(format!(
                r#"{{"data":"{b64}","partitionKey":"pk","sequenceNumber":"{seq}","approximateArrivalTimestamp":1700000000123,"subSequenceNumber":0,"action":"record"}}"#
            ));
            let message = match String::from_utf8(d) {
                Ok(text) => text.replace('\t', "\\t"),
                Err(_) => format!("{BINARY_MARKER}{b64}"),
            };
            records.push(Rec {
                seq,
                batch,
                message: message.into_bytes(),
            });
            seq += 1;
        }
        let json = json.join(",");
        // The run loop streams a line only in Jackson's key order; this order is read whole
        // and handed to `process_records`.
        actions.push(if streamed {
            format!(r#"{{"action":"processRecords","records":[{json}],"millisBehindLatest":0}}"#)
        } else {
            format!(r#"{{"millisBehindLatest":0,"records":[{json}],"action":"processRecords"}}"#)
        });
    }
    actions.push(
        match end {
            Checkpointing::Periodic => r#"{"action":"leaseLost"}"#,
            Checkpointing::Shutdown => r#"{"action":"shutdownRequested"}"#,
            Checkpointing::ShardEnd => r#"{"action":"shardEnded"}"#,
        }
        .to_string(),
    );
    Script { actions, records }
}

struct Run {
    sent: Vec<Sent>,
    disk: Disk,
    result: Result<(), RunError>,
}

fn run(
    script: &Script,
    end: Checkpointing,
    policy: &ErrorPolicy,
    fault: Option<Fault>,
    dir: &Path,
) -> Run {
    let disk = Arc::new(Mutex::new(Disk {
        fault,
        ..Disk::default()
    }));
    let log = LogFile::open(&LogConfig {
        path: dir.join("record_processor.log"),
        max_bytes: 0,
        backups: 0,
        format: LogFormat::Text,
        level: Level::INFO,
    })
    .unwrap();
    log.divert_writes(Box::new(Sink(Arc::clone(&disk))));
    let interval = if end == Checkpointing::Periodic {
        Duration::ZERO
    } else {
        Duration::from_secs(3600)
    };
    let mut processor = SampleProcessor::new(log.clone(), interval, RetryPolicy::default());
    let daemon = Daemon(Rc::new(RefCell::new(Conversation {
        script: script.actions.iter().cloned().collect(),
        line: Vec::new(),
        read: 0,
        unanswered: false,
        out: Vec::new(),
        sent: Vec::new(),
        disk: Arc::clone(&disk),
    })));
    let mut runtime =
        Runtime::new(daemon.clone(), daemon.clone()).with_error_policy(policy.clone());
    let subscriber = tracing_subscriber::registry().with(log.layer(LogFormat::Text, Level::INFO));
    let result = tracing::subscriber::with_default(subscriber, || runtime.run(&mut processor));
    drop(runtime);
    let sent = std::mem::take(&mut daemon.0.borrow_mut().sent);
    let disk = std::mem::take(&mut *disk.lock().unwrap());
    Run { sent, disk, result }
}

/// Checks one run: every checkpoint request and batch status finds the lines of the records
/// it covers in the file, nothing is sent after a failed write, and a failed run ends in a
/// processor error (exit status 1), with nothing skipped to the dead-letter file.
fn check(script: &Script, run: &Run, dead_letter: &Path, what: &str) {
    // Where each whole line ends on the disk: a record's line was in the file when a message
    // was sent if it ends within what the disk held then. One pass, not a search per record
    // and message (which made this test take minutes).
    let mut ends: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    let mut start = 0;
    for line in run.disk.bytes.split_inclusive(|&b| b == b'\n') {
        start += line.len();
        let Some(body) = line.strip_suffix(b"\n") else {
            break;
        };
        if let Some(at) = memchr::memmem::find(body, MESSAGE_AT) {
            ends.entry(&body[at + MESSAGE_AT.len()..]).or_insert(start);
        }
    }
    let mut statuses = 0;
    let mut batches_answered = 0;
    let mut checkpoints = 0;
    for sent in &run.sent {
        let m = &sent.message;
        assert!(
            !sent.after_failure,
            "{what}: sent after a failed write: {m}"
        );
        let covered: Vec<&Rec> = match (m["action"].as_str(), m["responseFor"].as_str()) {
            (Some("checkpoint"), _) => {
                checkpoints += 1;
                match m["sequenceNumber"].as_str() {
                    // SHARD_END: every record of the shard.
                    None => script.records.iter().collect(),
                    Some(seq) => {
                        let seq: u64 = seq.parse().unwrap();
                        script.records.iter().filter(|r| r.seq <= seq).collect()
                    }
                }
            }
            (Some("status"), Some("processRecords")) => {
                statuses += 1;
                batches_answered += 1;
                let batch = batches_answered - 1;
                script.records.iter().filter(|r| r.batch == batch).collect()
            }
            (Some("status"), _) => {
                statuses += 1;
                Vec::new()
            }
            _ => panic!("{what}: unexpected message {m}"),
        };
        for r in covered {
            let end = ends.get(r.message.as_slice());
            assert!(
                end.is_some_and(|&end| end <= sent.disk_len),
                "{what}: {m} covers record {}, whose line is not in the file",
                r.seq
            );
        }
    }
    assert!(!dead_letter.exists(), "{what}: records were dead-lettered");
    if run.disk.failed {
        assert!(
            matches!(run.result, Err(RunError::Processor { .. })),
            "{what}: {:?}",
            run.result
        );
    } else {
        assert!(run.result.is_ok(), "{what}: {:?}", run.result);
        let actions = script.actions.iter().filter(|a| !a.is_empty()).count();
        assert_eq!(statuses, actions, "{what}: every action answered");
        assert!(checkpoints > 0, "{what}: no checkpoint at all");
    }
}

/// Every write of a clean run made to fail in turn, with each error policy, plain or
/// short, with the disk failing for good or only once.
fn sweep(shape: Shape) {
    let dir = tempfile::tempdir().unwrap();
    let dead_letter = dir.path().join("dead.jsonl");
    let policies = [
        ErrorPolicy::Fail,
        ErrorPolicy::Retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        }),
        ErrorPolicy::Skip {
            dead_letter: dead_letter.clone(),
        },
    ];
    for streamed in [true, false] {
        for end in [
            Checkpointing::Periodic,
            Checkpointing::Shutdown,
            Checkpointing::ShardEnd,
        ] {
            let script = script(shape, streamed, end);
            let clean = run(&script, end, &policies[0], None, dir.path());
            let what = format!("{shape:?} streamed={streamed} {end:?}, no fault");
            check(&script, &clean, &dead_letter, &what);
            assert!(!clean.disk.failed);
            for policy in &policies {
                for short in [false, true] {
                    for recovers in [false, true] {
                        for at in 1..=clean.disk.calls {
                            let fault = Fault {
                                at,
                                short,
                                recovers,
                            };
                            let what = format!(
                                "{shape:?} streamed={streamed} {end:?} {policy:?} {fault:?} of {}",
                                clean.disk.calls
                            );
                            let faulty = run(&script, end, policy, Some(fault), dir.path());
                            assert!(faulty.disk.failed, "{what}: the fault was never met");
                            check(&script, &faulty, &dead_letter, &what);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_nth_write_failing_never_lets_small_batches_be_acknowledged() {
    sweep(Shape::Small);
}

#[test]
fn the_nth_write_failing_never_lets_chunked_batches_be_acknowledged() {
    sweep(Shape::Chunked);
}

#[test]
fn the_nth_write_failing_never_lets_large_records_be_acknowledged() {
    sweep(Shape::Large);
}
