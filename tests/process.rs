//! The built `record_processor` binary driven over real pipes, playing the daemon's side.

mod common;

use common::binary;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use base64::Engine as _;

const TIMEOUT: Duration = Duration::from_secs(20);

struct Daemon {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Option<std::process::ChildStderr>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/process-xxxx -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

impl Daemon {
    fn start(args: &[&str]) -> Self {
        Self::start_program(&binary(), args)
    }

    fn start_program(program: &Path, args: &[&str]) -> Self {
        Self::start_with_env(program, args, &[])
    }

    /// Starts `program` in a scratch directory; `{dir}` in an argument or environment value
    /// stands for it.
    fn start_with_env(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs").join("record_processor.log");
        let mut command = Command::new(program);
        if program == binary() && !args.contains(&"--log-file") {
            command.arg("--log-file").arg(&log);
        }
        for (k, v) in env {
            command.env(k, v.replace("{dir}", dir.path().to_str().unwrap()));
        }
        let root = dir.path().to_str().unwrap();
        let mut child = command
            .args(args.iter().map(|a| a.replace("{dir}", root)))
            .current_dir(dir.path())
            .env_remove("CHECKPOINT_INTERVAL_SECONDS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The daemon skips blank lines; so do we.
                if !line.trim().is_empty() && tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon {
            stdin: child.stdin.take(),
            stderr: child.stderr.take(),
            child,
            stdout: rx,
            log,
            _dir: dir,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        // One write, as the daemon's buffered writer sends a short line: the processor may
        // stop at a bad record before the line ends, and a second write would then fail.
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn expect(&self) -> String {
        self.stdout
            .recv_timeout(TIMEOUT)
            .expect("a message from the processor")
    }

    fn expect_status(&self, action: &str) {
        assert_eq!(self.expect(), common::status(action));
    }

    fn no_message_for(&self, d: Duration) {
        if let Ok(line) = self.stdout.recv_timeout(d) {
            panic!("unexpected message: {line}");
        }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Closes stdin and waits; returns the exit status, stderr and the log file.
    fn finish(mut self) -> (ExitStatus, String, String) {
        drop(self.stdin.take());
        let mut err = String::new();
        self.stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(
            self.stdout
                .recv_timeout(Duration::from_millis(200))
                .is_err(),
            "nothing after EOF"
        );
        let log = self.log_text();
        (status, err, log)
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

const INIT: &str = r#"{"action":"initialize","shardId":"shardId-000000000003","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}"#;

/// A `processRecords` line of raw `data`, base64-encoded here.
fn batch(records: &[(&[u8], &str, u64)]) -> String {
    let encoded: Vec<String> = records.iter().map(|(data, _, _)| b64(data)).collect();
    let recs: Vec<(&str, &str, u64)> = records
        .iter()
        .zip(&encoded)
        .map(|((_, seq, sub), data)| (data.as_str(), *seq, *sub))
        .collect();
    common::process_records(&recs, 0)
}

fn reply(seq: Option<&str>, error: Option<&str>) -> String {
    common::checkpoint_reply(seq, None, error)
}

#[test]
fn every_line_is_in_the_file_when_the_checkpoint_is_requested() {
    let mut d = Daemon::start(&["--checkpoint-interval", "0"]);
    d.send(INIT);
    d.expect_status("initialize");
    let records: [(&[u8], &str, u64); 4] = [
        (b"plain text record", "9", 0),
        ("unicode ✓ à 😀".as_bytes(), "10", 0),
        (&[0x00, 0xff, 0xfe, b'\n'], "10", 1),
        (b"line one\nline two", "10", 2),
    ];
    d.send(&batch(&records));
    // The checkpoint covers the largest position, numerically: (10, 2), not "9".
    assert_eq!(
        d.expect(),
        r#"{"action":"checkpoint","sequenceNumber":"10","subSequenceNumber":2}"#
    );
    // At this moment, before the daemon would write the lease, the lines must be in the file.
    let log = d.log_text();
    for want in [
        "[record_processor] INFO  process_records - plain text record\n",
        "INFO  process_records - unicode ✓ à 😀\n",
        "INFO  process_records - [non-UTF-8 data, base64] AP/+Cg==\n",
        "INFO  process_records - line one\\nline two\n",
    ] {
        assert!(log.contains(want), "{want:?} not in:\n{log}");
    }
    d.send(&reply(Some("10"), None));
    d.expect_status("processRecords");
    d.send(r#"{"action":"leaseLost"}"#);
    d.expect_status("leaseLost");
    let (status, _, _) = d.finish();
    assert!(status.success());
}

#[test]
fn sigint_and_sigterm_are_ignored_and_eof_exits_zero() {
    let mut d = Daemon::start(&[]);
    d.send(INIT);
    d.expect_status("initialize");
    let pid = d.child.id() as i32;
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "still running after signals"
    );
    d.send(&batch(&[(b"after the signals", "5", 0)]));
    d.expect_status("processRecords");
    let (status, _, log) = d.finish();
    assert_eq!(status.code(), Some(0));
    assert!(log.contains("- after the signals\n"), "{log}");
}

#[test]
fn eof_flushes_every_line_before_exit() {
    let mut d = Daemon::start(&[]);
    d.send(INIT);
    d.expect_status("initialize");
    let many: Vec<String> = (0..2000).map(|i| format!("record number {i}")).collect();
    let recs: Vec<(&[u8], String, u64)> = many
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_bytes(), (100 + i).to_string(), 0))
        .collect();
    let recs: Vec<(&[u8], &str, u64)> = recs.iter().map(|(d, s, n)| (*d, s.as_str(), *n)).collect();
    d.send(&batch(&recs));
    d.expect_status("processRecords");
    let (status, _, log) = d.finish();
    assert!(status.success());
    for s in &many {
        assert_eq!(log.matches(&format!("- {s}\n")).count(), 1, "{s}");
    }
    assert!(log.contains("the daemon closed stdin; exiting"));
}

#[test]
fn eof_in_the_middle_of_a_checkpoint_exchange() {
    let mut d = Daemon::start(&["--checkpoint-interval", "0"]);
    d.send(INIT);
    d.expect_status("initialize");
    d.send(&batch(&[(b"x", "1", 0)]));
    assert!(d.expect().contains(r#""action":"checkpoint""#));
    let (status, _, _) = d.finish();
    assert_eq!(status.code(), Some(0), "the daemon is gone: a clean exit");
}

#[test]
fn a_malformed_line_exits_nonzero_and_names_it() {
    let mut d = Daemon::start(&[]);
    d.send(INIT);
    d.expect_status("initialize");
    d.send("this is not a protocol message");
    let (status, stderr, log) = d.finish();
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("malformed line from the daemon")
            && stderr.contains("this is not a protocol message"),
        "{stderr}"
    );
    assert!(log.contains("ERROR  main - malformed line"), "{log}");
}

#[test]
fn invalid_base64_is_a_clear_error_and_nothing_is_acknowledged() {
    let mut d = Daemon::start(&[]);
    d.send(INIT);
    d.expect_status("initialize");
    d.send(r#"{"action":"processRecords","records":[{"data":"%%%","partitionKey":"k","sequenceNumber":"4242","subSequenceNumber":0,"action":"record"}],"millisBehindLatest":0}"#);
    d.no_message_for(Duration::from_millis(300));
    let (status, stderr, log) = d.finish();
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("4242:0 has invalid base64"), "{stderr}");
    assert!(
        log.contains("ERROR  main - record 4242:0 has invalid base64"),
        "{log}"
    );
}

#[test]
fn a_sequence_number_that_is_not_decimal_is_refused_and_never_checkpointed() {
    // Checkpointing after every batch: a batch that were taken would be checkpointed at once.
    for seq in ["SHARD_END", "TRIM_HORIZON", "-5", "", "12a"] {
        let mut d = Daemon::start(&["--checkpoint-interval", "0"]);
        d.send(INIT);
        d.expect_status("initialize");
        d.send(&batch(&[(b"one", seq, 0), (b"two", seq, 1)]));
        d.no_message_for(Duration::from_millis(300));
        let (status, stderr, log) = d.finish();
        assert_eq!(status.code(), Some(2), "{seq:?}: {stderr}");
        let named = format!("must be a non-negative decimal number (digits only), not {seq:?}");
        assert!(stderr.contains(&named), "{seq:?}: {stderr}");
        assert!(log.contains(&named), "{seq:?}: {log}");
        assert!(!log.contains("checkpointed"), "{seq:?}: {log}");
    }
}

#[test]
fn an_initial_sequence_number_sent_as_a_number_is_logged_exactly_or_refused() {
    let seq = "49590338271490256608559692538361571095921575989136588899";
    let mut d = Daemon::start(&[]);
    d.send(&format!(
        r#"{{"action":"initialize","shardId":"shardId-000000000003","sequenceNumber":{seq},"subSequenceNumber":2}}"#
    ));
    d.expect_status("initialize");
    let (status, _, log) = d.finish();
    assert!(status.success());
    assert!(
        log.contains(&format!(
            "initialized shard shardId-000000000003 at checkpoint {seq}:2\n"
        )),
        "{log}"
    );
    let mut d = Daemon::start(&[]);
    d.send(r#"{"action":"initialize","shardId":"shardId-000000000003","sequenceNumber":4.959033827149025e+55,"subSequenceNumber":0}"#);
    d.no_message_for(Duration::from_millis(300));
    let (status, stderr, _) = d.finish();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("sequenceNumber 4.959033827149025e+55: a sequence number sent as a JSON number must be a non-negative integer"),
        "{stderr}"
    );
}

#[test]
fn records_before_a_bad_one_are_in_the_log_and_nothing_is_acknowledged() {
    let mut d = Daemon::start(&[]);
    d.send(INIT);
    d.expect_status("initialize");
    let good = batch(&[(b"good one", "11", 0), (b"good two", "12", 0)]);
    let bad = good.replacen(
        "],\"millisBehindLatest\"",
        r#",{"data":"%%%","partitionKey":"k","sequenceNumber":"13","subSequenceNumber":0,"action":"record"}],"millisBehindLatest""#,
        1,
    );
    d.send(&bad);
    d.no_message_for(Duration::from_millis(300));
    let (status, stderr, log) = d.finish();
    assert_eq!(status.code(), Some(2), "{stderr}");
    // Handed to the processor and logged before the bad record stopped the batch; the
    // daemon delivers all three again, as the batch was never answered.
    assert!(log.contains("process_records - good one\n"), "{log}");
    assert!(log.contains("process_records - good two\n"), "{log}");
    assert!(log.contains("record 13:0 has invalid base64"), "{log}");
}

#[test]
fn throttled_checkpoints_are_retried_then_shutdown_stops_checkpointing() {
    let mut d = Daemon::start(&[
        "--checkpoint-interval",
        "0",
        "--checkpoint-retries",
        "3",
        "--checkpoint-backoff-ms",
        "1",
    ]);
    d.send(INIT);
    d.expect_status("initialize");
    d.send(&batch(&[(b"a", "1", 0)]));
    for _ in 0..2 {
        assert!(d.expect().contains(r#""sequenceNumber":"1""#));
        d.send(&reply(Some("1"), Some("ThrottlingException")));
    }
    assert!(d.expect().contains(r#""sequenceNumber":"1""#));
    d.send(&reply(Some("1"), None));
    d.expect_status("processRecords");

    // Retries run out: logged, the batch still completes, and the next one tries again.
    d.send(&batch(&[(b"b", "2", 0)]));
    for _ in 0..3 {
        assert!(d.expect().contains(r#""sequenceNumber":"2""#));
        d.send(&reply(
            Some("2"),
            Some("KinesisClientLibDependencyException"),
        ));
    }
    d.expect_status("processRecords");

    // Another exception: logged, processing continues.
    d.send(&batch(&[(b"c", "3", 0)]));
    assert!(d.expect().contains(r#""sequenceNumber":"3""#));
    d.send(&reply(Some("3"), Some("NullPointerException")));
    d.expect_status("processRecords");

    // ShutdownException: no more checkpoints from this process.
    d.send(&batch(&[(b"d", "4", 0)]));
    assert!(d.expect().contains(r#""sequenceNumber":"4""#));
    d.send(&reply(Some("4"), Some("ShutdownException")));
    d.expect_status("processRecords");
    d.send(&batch(&[(b"e", "5", 0)]));
    d.expect_status("processRecords");
    let (status, _, log) = d.finish();
    assert!(status.success());
    assert_eq!(log.matches("checkpoint attempt").count(), 4, "{log}");
    assert!(log.contains("checkpointed shard shardId-000000000003 at 1:0"));
    assert!(log.contains("at 2:0 failed: dependency failure"));
    assert!(log.contains("NullPointerException"));
    assert!(log.contains("no more checkpoints"));
}

#[test]
fn shard_end_and_shutdown_requests_checkpoint() {
    let mut d = Daemon::start(&[]);
    d.send(INIT);
    d.expect_status("initialize");
    // Interval 60 s: no checkpoint during the batches.
    d.send(&batch(&[(b"a", "9", 0), (b"b", "10", 0), (b"c", "10", 1)]));
    d.expect_status("processRecords");
    d.send(r#"{"action":"shutdownRequested"}"#);
    assert_eq!(
        d.expect(),
        r#"{"action":"checkpoint","sequenceNumber":"10","subSequenceNumber":1}"#
    );
    d.send(&reply(Some("10"), None));
    d.expect_status("shutdownRequested");
    d.send(r#"{"action":"shardEnded"}"#);
    assert_eq!(
        d.expect(),
        r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}"#
    );
    d.send(&reply(None, None));
    d.expect_status("shardEnded");
    let (status, _, _) = d.finish();
    assert!(status.success());
}

#[test]
fn ten_megabyte_batches_over_real_pipes() {
    let mut d = Daemon::start(&[]);
    d.send(INIT);
    d.expect_status("initialize");
    let big = "x".repeat(7_500_000);
    d.send(&batch(&[(big.as_bytes(), "1", 0)]));
    d.expect_status("processRecords");
    let (status, _, log) = d.finish();
    assert!(status.success());
    assert!(log.contains(&format!("process_records - {big}\n")));
}

#[test]
fn large_records_with_and_without_control_characters() {
    let mut d = Daemon::start(&[]);
    d.send(INIT);
    d.expect_status("initialize");
    let clean = "c".repeat(100_000);
    let dirty = format!("{}\n{}\u{1b}", "d".repeat(70_000), "e".repeat(30_000));
    let unicode = "ü".repeat(40_000);
    d.send(&batch(&[
        (clean.as_bytes(), "1", 0),
        (dirty.as_bytes(), "2", 0),
        (unicode.as_bytes(), "3", 0),
        (b"after", "4", 0),
    ]));
    d.expect_status("processRecords");
    let (status, _, log) = d.finish();
    assert!(status.success());
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("process_records - "))
        .collect();
    assert_eq!(lines.len(), 4, "one line per record");
    assert!(lines[0].ends_with(&format!("process_records - {clean}")));
    let escaped = format!(
        "process_records - {}\\n{}\\u{{1b}}",
        "d".repeat(70_000),
        "e".repeat(30_000)
    );
    assert!(
        lines[1].ends_with(&escaped),
        "control characters escaped in a large record"
    );
    assert!(lines[2].ends_with(&format!("process_records - {unicode}")));
    assert!(lines[3].ends_with("process_records - after"));
}

#[test]
fn c1_controls_are_escaped_in_the_text_log_and_exact_in_the_json_log() {
    // The 8-bit CSI starting a colour sequence, NEL (a line break to some viewers), and
    // characters next to them that are text: a no-break space and U+201B (its last byte is
    // CSI's).
    let small = "red \u{9b}31m alert\u{85}next\u{a0}\u{201b}";
    let large = format!("{}\u{9b}2J{}", "x".repeat(70_000), "y".repeat(10_000));
    for format in ["text", "json"] {
        let mut d = Daemon::start(&["--log-format", format]);
        d.send(INIT);
        d.expect_status("initialize");
        d.send(&batch(&[
            (small.as_bytes(), "1", 0),
            (large.as_bytes(), "2", 0),
        ]));
        d.expect_status("processRecords");
        let (status, _, log) = d.finish();
        assert!(status.success());
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("process_records"))
            .collect();
        assert_eq!(lines.len(), 2, "one line per record: {log}");
        if format == "text" {
            assert!(
                lines[0].ends_with("red \\u{9b}31m alert\\u{85}next\u{a0}\u{201b}"),
                "{}",
                lines[0]
            );
            let escaped = format!("{}\\u{{9b}}2J{}", "x".repeat(70_000), "y".repeat(10_000));
            assert!(lines[1].ends_with(&escaped), "a large record's C1 escaped");
            assert!(
                !log.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
                "no C1 control reaches the text log"
            );
        } else {
            for (line, text) in lines.iter().zip([small, large.as_str()]) {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(value["message"], text, "the JSON message is the text");
            }
        }
    }
}

#[test]
fn the_log_rotates_by_size_without_losing_a_line() {
    let mut d = Daemon::start(&["--log-max-bytes", "4000", "--log-backups", "100"]);
    d.send(INIT);
    d.expect_status("initialize");
    let texts: Vec<String> = (0..300)
        .map(|i| format!("rotating record {i:04}"))
        .collect();
    for (i, chunk) in texts.chunks(30).enumerate() {
        let recs: Vec<(&[u8], String, u64)> = chunk
            .iter()
            .enumerate()
            .map(|(j, s)| (s.as_bytes(), (i * 100 + j + 1).to_string(), 0))
            .collect();
        let recs: Vec<(&[u8], &str, u64)> =
            recs.iter().map(|(d, s, n)| (*d, s.as_str(), *n)).collect();
        d.send(&batch(&recs));
        d.expect_status("processRecords");
    }
    // Every batch is flushed before its status: read the files while the tempdir lives.
    let dir = d.log.parent().unwrap().to_path_buf();
    let mut all = String::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.len() <= 4000 || text.lines().count() == 1,
            "{} is {} bytes",
            path.display(),
            text.len()
        );
        all.push_str(&text);
        files += 1;
    }
    assert!(files >= 3, "rotated into {files} files");
    for t in &texts {
        assert_eq!(all.matches(&format!("- {t}\n")).count(), 1, "{t}");
    }
    let (status, _, _) = d.finish();
    assert!(status.success());
}

#[test]
fn json_log_lines() {
    let mut d = Daemon::start(&["--log-format", "json"]);
    d.send(INIT);
    d.expect_status("initialize");
    d.send(&batch(&[(
        "quote \" backslash \\ newline \n é".as_bytes(),
        "1",
        0,
    )]));
    d.expect_status("processRecords");
    let (_, _, log) = d.finish();
    let mut found = false;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        if v["message"] == "quote \" backslash \\ newline \n é" {
            assert_eq!(v["level"], "INFO");
            assert_eq!(v["module"], "record_processor");
            assert_eq!(v["function"], "process_records");
            found = true;
        }
    }
    assert!(found, "{log}");
}

#[test]
fn stray_stdout_never_reaches_the_daemon() {
    let program = example("noisy_processor");
    assert!(
        program.exists(),
        "{} (built by cargo test)",
        program.display()
    );
    let mut d = Daemon::start_program(&program, &[]);
    d.send(INIT);
    d.expect_status("initialize");
    d.send(&batch(&[(b"a", "7", 0)]));
    assert_eq!(
        d.expect(),
        r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}"#
    );
    d.send(&reply(None, None));
    d.expect_status("processRecords");
    let (status, stderr, _) = d.finish();
    assert!(status.success());
    assert!(stderr.contains("stray output for 7"), "{stderr}");
    assert!(
        stderr.contains("stray output from a child process"),
        "{stderr}"
    );
}

#[test]
fn version_and_help() {
    let out = Command::new(binary()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("record_processor {}", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(binary()).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for opt in [
        "--log-file",
        "--checkpoint-interval",
        "--checkpoint-retries",
        "--checkpoint-backoff-ms",
        "--log-max-bytes",
        "--log-backups",
        "--log-format",
        "CHECKPOINT_INTERVAL_SECONDS",
        "RECORD_PROCESSOR_LOG_FILE",
    ] {
        assert!(help.contains(opt), "{opt} in --help");
    }
    let out = Command::new(binary())
        .arg("--no-such-option")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "errors go to stderr only");
}

#[test]
fn environment_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("from-env.log");
    let mut child = Command::new(binary())
        .env("RECORD_PROCESSOR_LOG_FILE", &log)
        .env("CHECKPOINT_INTERVAL_SECONDS", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{INIT}\n{}", batch(&[(b"via env", "3", 0)])).unwrap();
    writeln!(stdin, "{}", reply(Some("3"), None)).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.contains(r#"{"action":"checkpoint","sequenceNumber":"3","subSequenceNumber":0}"#),
        "{out}"
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("- via env\n"));
}

mod error_policies {
    use super::*;

    fn counter(env: &[(&str, &str)]) -> Daemon {
        let program = example("json_counter");
        assert!(
            program.exists(),
            "{} (built by cargo test)",
            program.display()
        );
        let mut all = vec![
            ("JSON_COUNTER_LOG", "{dir}/logs/json_counter.log"),
            ("ERROR_BACKOFF_MS", "1"),
        ];
        all.extend_from_slice(env);
        let mut d = Daemon::start_with_env(&program, &[], &all);
        d.send(INIT);
        d.expect_status("initialize");
        d
    }

    const GOOD: &[u8] = br#"{"data": "fine"}"#;
    const POISON: &[u8] = b"not json at all";

    #[test]
    fn retry_then_fail_exits_nonzero_without_answering() {
        let mut d = counter(&[("ON_ERROR", "retry"), ("ERROR_RETRIES", "3")]);
        d.send(&batch(&[(GOOD, "1", 0), (POISON, "2", 0)]));
        d.no_message_for(Duration::from_millis(300));
        let log = std::fs::read_to_string(d.dir().join("logs/json_counter.log")).unwrap();
        let (status, stderr, _) = d.finish();
        assert_eq!(status.code(), Some(1));
        assert_eq!(log.matches("(attempt ").count(), 2, "{log}");
        assert!(
            stderr.contains("record 2:0 is not a {\"data\": ...} JSON object"),
            "{stderr}"
        );
        assert!(
            stderr.contains("the daemon will restart from the last checkpoint"),
            "{stderr}"
        );
    }

    #[test]
    fn fail_exits_at_once() {
        let mut d = counter(&[("ON_ERROR", "fail")]);
        d.send(&batch(&[(POISON, "5", 0)]));
        let (status, stderr, _) = d.finish();
        assert_eq!(status.code(), Some(1));
        assert_eq!(
            stderr.matches("record 5:0 is not").count(),
            1,
            "logged exactly once: {stderr}"
        );
    }

    #[test]
    fn skip_dead_letters_the_batch_and_goes_on() {
        let mut d = counter(&[
            ("ON_ERROR", "skip"),
            ("DEAD_LETTER_FILE", "{dir}/dlq/dead.jsonl"),
        ]);
        d.send(&batch(&[(GOOD, "1", 0), (POISON, "2", 0)]));
        d.expect_status("processRecords");
        d.send(&batch(&[(GOOD, "3", 0)]));
        assert!(d.expect().contains(r#""action":"checkpoint""#));
        d.send(&reply(None, None));
        d.expect_status("processRecords");
        let dead = std::fs::read_to_string(d.dir().join("dlq/dead.jsonl")).unwrap();
        let (status, _, _) = d.finish();
        assert!(status.success());
        let entries: Vec<serde_json::Value> = dead
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entries.len(), 2, "the whole failed batch: {dead}");
        assert_eq!(entries[1]["sequenceNumber"], "2");
        assert_eq!(entries[1]["data"], b64(POISON));
        assert!(entries[1]["error"]
            .as_str()
            .unwrap()
            .contains("not a {\"data\": ...} JSON object"));
    }

    #[test]
    fn a_bad_policy_setting_is_refused_before_anything_is_read() {
        let program = example("json_counter");
        // In a scratch directory: the example's default log is relative (logs/json_counter.log),
        // and a test must not write into the checkout.
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(program)
            .current_dir(dir.path())
            .env_remove("JSON_COUNTER_LOG")
            .env("ON_ERROR", "ignore")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr)
            .contains("ON_ERROR=\"ignore\": expected retry, fail or skip"));
        assert!(out.stdout.is_empty());
        assert!(
            !dir.path().join("logs").exists(),
            "refused before the log file was created"
        );
    }

    #[test]
    fn the_sample_fails_when_its_log_cannot_be_written() {
        // /dev/full takes the open but fails every write (ENOSPC): nothing may be acknowledged.
        let mut d = Daemon::start_with_env(
            &binary(),
            &["--log-file", "/dev/full", "--on-error", "fail"],
            &[],
        );
        d.send(INIT);
        d.no_message_for(Duration::from_millis(300));
        let (status, stderr, _) = d.finish();
        assert_eq!(status.code(), Some(1));
        assert!(stderr.contains("No space left on device"), "{stderr}");
    }
}

/// Faults injected into the log file of a running processor: a full file system, the path
/// replaced by a directory, a read-only directory or no file descriptor left when it
/// rotates. Whatever fails, no checkpoint may cover a record whose line is not in the file,
/// the batch is left unanswered, and the process exits non-zero with an ERROR on stderr
/// naming the file and the OS error.
mod log_faults {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    use std::sync::mpsc::RecvTimeoutError;

    /// A mount made by a test, lazily unmounted when dropped, also when the test panics
    /// (lazily, so that a processor still holding a file there cannot keep it mounted).
    struct Mount(PathBuf);

    fn c_path(path: &Path) -> CString {
        CString::new(path.as_os_str().as_bytes()).unwrap()
    }

    fn only_root() -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            Ok(())
        } else {
            Err("mounting needs root".to_string())
        }
    }

    impl Mount {
        /// A tmpfs of `size` bytes on `at`.
        fn tmpfs(at: &Path, size: u64) -> Result<Self, String> {
            only_root()?;
            let target = c_path(at);
            let options = CString::new(format!("size={size},mode=0755")).unwrap();
            // SAFETY: NUL-terminated strings that outlive the call.
            let rc = unsafe {
                libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    options.as_ptr().cast(),
                )
            };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                return Err(format!("cannot mount a tmpfs on {}: {err}", at.display()));
            }
            Ok(Self(at.to_path_buf()))
        }

        /// `at` bound over itself, read-only. Files opened before stay writable through
        /// their descriptors (they belong to the mount below), but nothing in `at` can be
        /// renamed, removed or created: a directory read-only for root too, which file
        /// permissions cannot give. (Remounting a tmpfs read-only would fail with EBUSY
        /// while the processor holds its log open for writing.)
        fn read_only_bind(at: &Path) -> Result<Self, String> {
            only_root()?;
            let target = c_path(at);
            // SAFETY: as above; null pointers where mount(2) ignores the argument.
            let rc = unsafe {
                libc::mount(
                    target.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                return Err(format!("cannot bind-mount {}: {err}", at.display()));
            }
            let mount = Self(at.to_path_buf());
            // SAFETY: as above.
            let rc = unsafe {
                libc::mount(
                    std::ptr::null(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                    std::ptr::null(),
                )
            };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                return Err(format!("cannot make {} read-only: {err}", at.display()));
            }
            Ok(mount)
        }
    }

    impl Drop for Mount {
        fn drop(&mut self) {
            let target = c_path(&self.0);
            // SAFETY: a NUL-terminated path.
            if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
                eprintln!(
                    "cannot unmount {}: {}",
                    self.0.display(),
                    std::io::Error::last_os_error()
                );
            }
        }
    }

    /// A `processRecords` line and, for each of its records, its sequence number and the
    /// end of its log line.
    struct Batch {
        line: String,
        lines: Vec<(u64, String)>,
    }

    /// `count` batches of `per_batch` records of `len` bytes of text each, numbered on from
    /// `first_seq`; `streamed` lines are in Jackson's key order, the others are read whole.
    fn batches(count: usize, per_batch: usize, len: usize, streamed: bool) -> Vec<Batch> {
        let mut seq = 1000;
        (0..count)
            .map(|_| {
                let texts: Vec<(String, String)> = (0..per_batch)
                    .map(|_| {
                        seq += 1;
                        let head = format!("record {seq} ");
                        let text = format!("{head}{}", "x".repeat(len.saturating_sub(head.len())));
                        (seq.to_string(), text)
                    })
                    .collect();
                let records: Vec<(&[u8], &str, u64)> = texts
                    .iter()
                    .map(|(seq, text)| (text.as_bytes(), seq.as_str(), 0))
                    .collect();
                let mut line = batch(&records);
                if !streamed {
                    let inner = line
                        .strip_prefix(r#"{"action":"processRecords","#)
                        .and_then(|l| l.strip_suffix(r#","millisBehindLatest":0}"#))
                        .unwrap();
                    line =
                        format!(r#"{{"millisBehindLatest":0,{inner},"action":"processRecords"}}"#);
                }
                let lines = texts
                    .iter()
                    .map(|(seq, text)| {
                        (seq.parse().unwrap(), format!(" process_records - {text}\n"))
                    })
                    .collect();
                Batch { line, lines }
            })
            .collect()
    }

    /// Every log file in `dir` (the current one and the rotated ones), one after another.
    fn log_files(dir: &Path) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("record_processor.log") && path.is_file() {
                all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
        all
    }

    /// Sends `line`; false if the processor is gone (it may exit before reading it all).
    fn try_send(d: &mut Daemon, line: &str) -> bool {
        let stdin = d.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).is_ok() && stdin.flush().is_ok()
    }

    /// Plays the daemon for `batches`, answering each checkpoint request after checking
    /// that the line of every record it covers is in the log files at that moment, and each
    /// status after checking the batch's lines. Stops at the first batch the processor
    /// leaves unanswered by exiting; returns how many were acknowledged. If an answer takes
    /// longer than half a second, `stall` runs once: the processor is waiting to retry
    /// instead of exiting, and `stall` can lift the fault, as when another process frees
    /// space, to see whether the retry would acknowledge lines that were lost.
    fn drive(d: &mut Daemon, batches: &[Batch], dir: &Path, mut stall: impl FnMut()) -> usize {
        let mut sent: Vec<&(u64, String)> = Vec::new();
        // Records up to here were found in the files at an earlier checkpoint; the files
        // only grow (the rotation tests keep all they write), so they are still there.
        let mut verified = 0;
        for (i, b) in batches.iter().enumerate() {
            if !try_send(d, &b.line) {
                return i;
            }
            sent.extend(&b.lines);
            let mut stalled = false;
            loop {
                let wait = if stalled {
                    TIMEOUT
                } else {
                    Duration::from_millis(500)
                };
                let message = match d.stdout.recv_timeout(wait) {
                    Ok(message) => message,
                    Err(RecvTimeoutError::Disconnected) => return i,
                    Err(RecvTimeoutError::Timeout) if !stalled => {
                        stalled = true;
                        stall();
                        continue;
                    }
                    Err(RecvTimeoutError::Timeout) => panic!("batch {i}: no answer, no exit"),
                };
                let m: serde_json::Value = serde_json::from_str(&message).unwrap();
                let files = log_files(dir);
                if m["action"] == "checkpoint" {
                    let seq: u64 = m["sequenceNumber"].as_str().unwrap().parse().unwrap();
                    let covered = sent.iter().take_while(|(s, _)| *s <= seq).count();
                    for (_, line) in &sent[verified.min(covered)..covered] {
                        assert!(
                            files.contains(line.as_str()),
                            "{message} covers a record whose line is not in the file: {line:?}"
                        );
                    }
                    verified = verified.max(covered);
                    if !try_send(d, &reply(Some(&seq.to_string()), None)) {
                        return i;
                    }
                    continue;
                }
                assert_eq!(message, common::status("processRecords"));
                for (_, line) in &b.lines {
                    assert!(
                        files.contains(line.as_str()),
                        "batch {i} answered without {line:?}"
                    );
                }
                break;
            }
        }
        batches.len()
    }

    /// The processor exited with status 1 after one ERROR on stderr naming `path` and `os`.
    fn assert_failed(d: Daemon, path: &Path, os: &str) -> String {
        let (status, stderr, _) = d.finish();
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("ERROR")
                && stderr.contains(&format!("cannot write the log file {}", path.display()))
                && stderr.contains(os),
            "{stderr}"
        );
        assert_eq!(stderr.matches("ERROR").count(), 1, "said once: {stderr}");
        stderr
    }

    /// A tmpfs as the log directory, a quarter of it taken by a file that is deleted if the
    /// processor stalls: batches until the disk is full.
    fn full_disk(count: usize, per_batch: usize, len: usize, streamed: bool) {
        const SIZE: u64 = 256 << 10;
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let mount = match Mount::tmpfs(&logs, SIZE) {
            Ok(mount) => mount,
            Err(reason) => {
                eprintln!("skipped: {reason}");
                return;
            }
        };
        let filler = logs.join("filler");
        std::fs::write(&filler, vec![0; SIZE as usize / 4]).unwrap();
        let log = logs.join("record_processor.log");
        let mut d = Daemon::start(&[
            "--log-file",
            log.to_str().unwrap(),
            "--checkpoint-interval",
            "0",
            "--error-backoff-ms",
            "1000",
        ]);
        d.send(INIT);
        d.expect_status("initialize");
        let batches = batches(count, per_batch, len, streamed);
        let acked = drive(&mut d, &batches, &logs, || {
            let _ = std::fs::remove_file(&filler);
        });
        assert!(acked >= 1, "the disk took no batch at all");
        assert!(acked < batches.len(), "the disk never filled");
        assert_failed(d, &log, "No space left on device (os error 28)");
        drop(mount);
    }

    #[test]
    fn a_full_disk_stops_small_batches_before_their_checkpoint() {
        full_disk(400, 5, 200, true);
    }

    #[test]
    fn a_full_disk_stops_batches_read_whole_before_their_checkpoint() {
        full_disk(400, 5, 200, false);
    }

    #[test]
    fn a_full_disk_stops_batches_of_several_chunks_before_their_checkpoint() {
        full_disk(8, 400, 200, true);
    }

    #[test]
    fn a_full_disk_stops_large_records_before_their_checkpoint() {
        full_disk(8, 1, 100_000, true);
    }

    #[test]
    fn the_log_path_replaced_by_a_directory_stops_before_the_checkpoint() {
        let mut d = Daemon::start(&["--checkpoint-interval", "0", "--error-backoff-ms", "1000"]);
        d.send(INIT);
        d.expect_status("initialize");
        let log = d.log.clone();
        let logs = log.parent().unwrap().to_path_buf();
        let batches = batches(3, 5, 200, true);
        assert_eq!(drive(&mut d, &batches[..1], &logs, || {}), 1);
        std::fs::remove_file(&log).unwrap();
        std::fs::create_dir(&log).unwrap();
        // A stalled processor sees the directory go away again, so that its retry could
        // create the file anew.
        let acked = drive(&mut d, &batches[1..], &logs, || {
            let _ = std::fs::remove_dir(&log);
        });
        assert_eq!(acked, 0);
        assert_failed(d, &log, "Is a directory (os error 21)");
    }

    /// The log path replaced by a directory after a batch, then `action`, which
    /// checkpoints: no checkpoint, no status, exit 1.
    fn directory_before(action: &str) {
        let mut d = Daemon::start(&["--checkpoint-interval", "3600"]);
        d.send(INIT);
        d.expect_status("initialize");
        let log = d.log.clone();
        let batches = batches(1, 5, 200, true);
        assert_eq!(drive(&mut d, &batches, log.parent().unwrap(), || {}), 1);
        std::fs::remove_file(&log).unwrap();
        std::fs::create_dir(&log).unwrap();
        d.send(action);
        match d.stdout.recv_timeout(TIMEOUT) {
            Err(RecvTimeoutError::Disconnected) => {}
            other => panic!("{action}: {other:?} with the log unwritable"),
        }
        assert_failed(d, &log, "Is a directory (os error 21)");
    }

    #[test]
    fn the_log_path_replaced_by_a_directory_stops_the_shutdown_checkpoint() {
        directory_before(r#"{"action":"shutdownRequested"}"#);
    }

    #[test]
    fn the_log_path_replaced_by_a_directory_stops_the_shard_end_checkpoint() {
        directory_before(r#"{"action":"shardEnded"}"#);
    }

    /// Rotating at 20 kB, batches of about 2 kB: the first one goes out before `fault` runs,
    /// several more after it, until the file must rotate.
    fn rotating() -> (Daemon, PathBuf, Vec<Batch>) {
        let mut d = Daemon::start(&[
            "--checkpoint-interval",
            "0",
            "--log-max-bytes",
            "20000",
            "--log-backups",
            "3",
            "--error-backoff-ms",
            "1000",
        ]);
        d.send(INIT);
        d.expect_status("initialize");
        let logs = d.log.parent().unwrap().to_path_buf();
        let batches = batches(30, 10, 150, true);
        assert_eq!(drive(&mut d, &batches[..1], &logs, || {}), 1);
        (d, logs, batches)
    }

    #[test]
    fn a_read_only_directory_at_rotation_stops_before_the_checkpoint() {
        let (mut d, logs, batches) = rotating();
        let mount = match Mount::read_only_bind(&logs) {
            Ok(mount) => mount,
            Err(reason) => {
                eprintln!("skipped: {reason}");
                d.finish();
                return;
            }
        };
        let acked = drive(&mut d, &batches[1..], &logs, || {});
        assert!(acked >= 2, "writes went on until the rotation: {acked}");
        assert!(acked < batches.len() - 1, "never rotated");
        let log = d.log.clone();
        let stderr = assert_failed(d, &log, "Read-only file system (os error 30)");
        assert!(stderr.contains(": rotating: "), "{stderr}");
        drop(mount);
    }

    #[test]
    fn the_next_file_failing_to_open_at_rotation_stops_before_the_checkpoint() {
        let (mut d, logs, batches) = rotating();
        // No descriptor left: the child's lowest free descriptor becomes its limit, so the
        // next open(2), the new log file's after the rename, fails with EMFILE. Lowering a
        // child's limit needs no privilege.
        let pid = d.child.id() as libc::pid_t;
        let open: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
            .collect();
        let lowest_free = (0..).find(|n| !open.contains(n)).unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid pointers to rlimit structs; `pid` is our own child.
        unsafe {
            assert_eq!(
                libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut limit),
                0
            );
            limit.rlim_cur = libc::rlim_t::from(lowest_free);
            assert_eq!(
                libc::prlimit(pid, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()),
                0
            );
        }
        let acked = drive(&mut d, &batches[1..], &logs, || {});
        assert!(acked >= 2, "writes went on until the rotation: {acked}");
        assert!(acked < batches.len() - 1, "never rotated");
        let log = d.log.clone();
        // The renames were done; only the new file is missing. (Before `finish`, which
        // removes the directory.)
        assert!(logs.join("record_processor.log.1").exists());
        assert!(!log.exists());
        let stderr = assert_failed(d, &log, "Too many open files (os error 24)");
        assert!(stderr.contains(": opening it again: "), "{stderr}");
    }
}

mod telemetry {
    use super::*;

    fn batch_behind(seq: &str, millis: u64) -> String {
        batch(&[(b"r", seq, 0)]).replace(
            r#""millisBehindLatest":0"#,
            &format!(r#""millisBehindLatest":{millis}"#),
        )
    }

    fn health(state: &Path, extra: &[&str]) -> (i32, String) {
        let out = Command::new(binary())
            .arg("health")
            .arg("--state-dir")
            .arg(state)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    }

    #[test]
    fn health_sees_a_stalled_shard_and_a_dead_daemon() {
        let mut d = Daemon::start_with_env(
            &binary(),
            &["--state-dir", "{dir}/state", "--checkpoint-interval", "0"],
            &[],
        );
        let state = d.dir().join("state");
        d.send(INIT);
        d.expect_status("initialize");
        let fast = ["--stall-seconds", "1", "--behind-ms", "60000"];

        // Far behind, but it just moved: healthy.
        d.send(&batch_behind("1", 90_000));
        assert!(d.expect().contains(r#""action":"checkpoint""#));
        d.send(&reply(Some("1"), None));
        d.expect_status("processRecords");
        let (code, out) = health(&state, &fast);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("shardId-000000000003: ok: last processRecords")
                && out.contains("90000 ms behind"),
            "{out}"
        );
        assert!(out.contains("last checkpoint 1:0"), "{out}");
        assert!(
            out.contains(&format!("daemon: running (pid {})", std::process::id())),
            "{out}"
        );

        // Nothing more arrives while 90 s behind: stalled.
        std::thread::sleep(Duration::from_millis(1600));
        let (code, out) = health(&state, &fast);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains(
                "UNHEALTHY shardId-000000000003: stalled: no records for 1 s while 90000 ms behind"
            ),
            "{out}"
        );

        // Caught up: healthy again, however long it stays idle.
        d.send(&batch_behind("2", 0));
        assert!(d.expect().contains(r#""action":"checkpoint""#));
        // Stuck inside an action (here: waiting for a checkpoint reply) is a stall too.
        std::thread::sleep(Duration::from_millis(1600));
        let (code, out) = health(&state, &fast);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("stalled: inside processRecords for 1 s"),
            "{out}"
        );
        d.send(&reply(Some("2"), None));
        d.expect_status("processRecords");
        std::thread::sleep(Duration::from_millis(1200));
        let (code, out) = health(&state, &fast);
        assert_eq!(code, 0, "{out}");

        // The lease ends: the heartbeat goes with it.
        d.send(r#"{"action":"leaseLost"}"#);
        d.expect_status("leaseLost");
        let (code, out) = health(&state, &fast);
        assert_eq!(code, 1, "no heartbeat names a daemon any more: {out}");
        assert!(out.contains("no shard leases held"), "{out}");

        // run.sh's daemon.pid decides when present.
        std::fs::write(
            state.join("daemon.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        assert_eq!(health(&state, &fast).0, 0);
        let mut gone = Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        std::fs::write(state.join("daemon.pid"), format!("{gone_pid}\n")).unwrap();
        let (code, out) = health(&state, &fast);
        assert_eq!(code, 1);
        assert!(
            out.contains(&format!(
                "UNHEALTHY daemon: not running (pid {gone_pid} is gone)"
            )),
            "{out}"
        );
        let (status, _, _) = d.finish();
        assert!(status.success());
    }

    #[test]
    fn emf_metrics_lines_are_cloudwatch_embedded_metric_format() {
        let mut d = Daemon::start_with_env(
            &binary(),
            &["--metrics", "emf", "--metrics-interval", "1"],
            &[("APPLICATION_NAME", "orders-consumer")],
        );
        d.send(INIT);
        d.expect_status("initialize");
        d.send(&batch_behind("1", 4321));
        d.expect_status("processRecords");
        std::thread::sleep(Duration::from_millis(1100));
        d.send(
            &batch(&[(b"abc", "2", 0), (b"de", "3", 0)])
                .replace(r#""millisBehindLatest":0"#, r#""millisBehindLatest":12"#),
        );
        d.expect_status("processRecords");
        d.send(r#"{"action":"leaseLost"}"#);
        d.expect_status("leaseLost");
        let (status, _, log) = d.finish();
        assert!(status.success());
        let emf: Vec<serde_json::Value> = log
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            emf.len(),
            2,
            "one after the interval, one when the lease ends: {log}"
        );
        let m = &emf[0];
        let meta = &m["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(meta["Namespace"], "KinesisConsumer");
        assert_eq!(
            meta["Dimensions"],
            serde_json::json!([["Application", "ShardId"]])
        );
        let names: Vec<&str> = meta["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["Name"].as_str().unwrap())
            .collect();
        for name in [
            "RecordsProcessed",
            "BytesProcessed",
            "RecordsPerSecond",
            "MillisBehindLatest",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
            assert!(!m[name].is_null(), "{name} has a value");
        }
        assert!(m["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        assert_eq!(m["Application"], "orders-consumer");
        assert_eq!(m["ShardId"], "shardId-000000000003");
        assert_eq!(m["RecordsProcessed"], 3);
        assert_eq!(m["BytesProcessed"], 6);
        assert_eq!(m["MillisBehindLatest"], 12);
        assert_eq!(emf[1]["RecordsProcessed"], 0);
    }

    #[test]
    fn text_metrics_lines() {
        let mut d = Daemon::start_with_env(&binary(), &["--metrics-interval", "1"], &[]);
        d.send(INIT);
        d.expect_status("initialize");
        d.send(&batch_behind("1", 250));
        d.expect_status("processRecords");
        d.send(r#"{"action":"shardEnded"}"#);
        assert!(d.expect().contains(r#""sequenceNumber":null"#));
        d.send(&reply(None, None));
        d.expect_status("shardEnded");
        let (_, _, log) = d.finish();
        assert!(
            log.contains("[metrics] INFO  main - shard shardId-000000000003 records=1 bytes=1 records_per_s=") && log.contains("millis_behind_latest=250 last_checkpoint=SHARD_END"),
            "{log}"
        );
    }
}

mod batching_sink {
    use super::*;

    fn sink(max_bytes: &str) -> Daemon {
        let program = example("batching_sink");
        assert!(
            program.exists(),
            "{} (built by cargo test)",
            program.display()
        );
        let mut d = Daemon::start_with_env(
            &program,
            &[],
            &[
                ("SINK_DIR", "{dir}/sink"),
                ("SINK_MAX_BYTES", max_bytes),
                ("SINK_MAX_SECONDS", "3600"),
                ("SINK_LOG", "{dir}/sink.log"),
            ],
        );
        d.send(INIT);
        d.expect_status("initialize");
        d
    }

    fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == ext))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn a_file_is_published_before_its_records_are_checkpointed() {
        let mut d = sink("700");
        let shard_dir = d.dir().join("sink/shardId-000000000003");
        d.send(&batch(&[(b"one", "10", 0), (b"two", "10", 1)]));
        d.expect_status("processRecords");
        assert_eq!(files(&shard_dir, "ndjson").len(), 0, "small: still open");
        assert_eq!(files(&shard_dir, "part").len(), 1);
        d.send(&batch(&[
            (&[0xff, 0x00], "11", 0),
            (&b"x".repeat(400), "12", 0),
        ]));
        // The checkpoint names the file's last record, and the file is already published.
        assert_eq!(
            d.expect(),
            r#"{"action":"checkpoint","sequenceNumber":"12","subSequenceNumber":0}"#
        );
        let published = files(&shard_dir, "ndjson");
        assert_eq!(published.len(), 1);
        assert_eq!(files(&shard_dir, "part").len(), 0);
        d.send(&reply(Some("12"), None));
        d.expect_status("processRecords");
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&published[0])
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["data"], "one");
        assert_eq!(lines[1]["subSequenceNumber"], 1);
        assert_eq!(lines[2]["dataBase64"], "/wA=");
        assert_eq!(lines[3]["sequenceNumber"], "12");
        // Shutdown publishes what is open; lease loss drops it (the next owner re-reads it).
        d.send(&batch(&[(b"three", "13", 0)]));
        d.expect_status("processRecords");
        d.send(r#"{"action":"shutdownRequested"}"#);
        assert_eq!(
            d.expect(),
            r#"{"action":"checkpoint","sequenceNumber":"13","subSequenceNumber":0}"#
        );
        assert_eq!(files(&shard_dir, "ndjson").len(), 2);
        d.send(&reply(Some("13"), None));
        d.expect_status("shutdownRequested");
        d.send(&batch(&[(b"four", "14", 0)]));
        d.expect_status("processRecords");
        d.send(r#"{"action":"leaseLost"}"#);
        d.expect_status("leaseLost");
        assert_eq!(files(&shard_dir, "part").len(), 0);
        assert_eq!(files(&shard_dir, "ndjson").len(), 2);
        let (status, _, _) = d.finish();
        assert!(status.success());
    }

    #[test]
    fn orphaned_parts_of_dead_processes_are_removed() {
        let program = example("batching_sink");
        let dir = tempfile::tempdir().unwrap();
        let shard_dir = dir.path().join("sink/shardId-000000000003");
        std::fs::create_dir_all(&shard_dir).unwrap();
        let mut gone = Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        let orphan = shard_dir.join(format!("5-0-{gone_pid}.part"));
        std::fs::write(&orphan, "{}\n").unwrap();
        let mut child = Command::new(program)
            .env("SINK_DIR", dir.path().join("sink"))
            .env("SINK_LOG", dir.path().join("sink.log"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{INIT}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(r#""responseFor":"initialize""#));
        assert!(!orphan.exists(), "the orphan was removed");
    }
}
