//! The run loop driven over byte buffers: every action, checkpoint exchange and kind of bad
//! input, with the exact bytes written back.

mod common;

use std::io::{Cursor, Read};

use kcl_multilang::{
    BoxError, CheckpointError, Checkpointer, ErrorPolicy, InitializeInput, Position,
    ProcessRecordsInput, Record, RecordProcessor, RetryPolicy, RunError, Runtime,
};

/// A record as the processor saw it: data, partition key, sequence, sub-sequence, arrival.
type Rec = (Vec<u8>, String, String, u64, Option<i64>);

/// What the processor saw, in order.
#[derive(Clone, Debug, PartialEq)]
enum Call {
    Init(String, Option<String>, Option<u64>),
    Batch(Vec<Rec>, Option<u64>),
    LeaseLost,
    ShardEnded,
    ShutdownRequested,
    /// The result of a checkpoint the processor made.
    Checkpointed(Result<(), String>),
}

/// What the processor does inside a callback that can checkpoint.
#[derive(Clone)]
enum Act {
    Nothing,
    CheckpointAll,
    CheckpointAt(&'static str, u64),
    CheckpointTwice,
    Retry(u32),
    Fail,
    Panic,
}

/// Records every call. In streaming mode it collects the streamed records and reports them
/// as one `Batch` when the batch ends, so both modes must produce the same calls.
#[derive(Clone)]
struct Recorder {
    calls: Vec<Call>,
    on_batch: Act,
    on_end: Act,
    stream: bool,
    streamed: Vec<Rec>,
}

fn rec(r: &Record<'_>) -> Rec {
    (
        r.data.to_vec(),
        r.partition_key.to_string(),
        r.sequence_number.to_string(),
        r.sub_sequence_number,
        r.approximate_arrival_timestamp,
    )
}

impl Recorder {
    fn new(on_batch: Act, on_end: Act) -> Self {
        Self {
            calls: vec![],
            on_batch,
            on_end,
            stream: false,
            streamed: vec![],
        }
    }

    /// The records of the batch recorded as call `i` (call 0 is `initialize`).
    fn batch(&self, i: usize) -> &[Rec] {
        match &self.calls[i] {
            Call::Batch(recs, _) => recs,
            other => panic!("call {i} is {other:?}, not a batch"),
        }
    }

    fn act(&mut self, act: &Act, cp: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        let mut note = |r: Result<(), CheckpointError>| {
            self.calls
                .push(Call::Checkpointed(r.map_err(|e| format!("{e:?}"))));
        };
        match act {
            Act::Nothing => {}
            Act::CheckpointAll => note(cp.checkpoint()),
            Act::CheckpointAt(seq, sub) => note(cp.checkpoint_at(seq, *sub)),
            Act::CheckpointTwice => {
                note(cp.checkpoint_at("1", 0));
                note(cp.checkpoint_at("2", 0));
            }
            Act::Retry(n) => {
                let policy = RetryPolicy {
                    max_attempts: *n,
                    initial_backoff: std::time::Duration::ZERO,
                    max_backoff: std::time::Duration::ZERO,
                };
                note(cp.checkpoint_with_retry(Some(&Position::new("9", 1)), &policy));
            }
            Act::Fail => return Err("disk full".into()),
            Act::Panic => panic!("processor bug"),
        }
        Ok(())
    }
}

impl RecordProcessor for Recorder {
    fn initialize(&mut self, i: &InitializeInput) -> Result<(), BoxError> {
        self.calls.push(Call::Init(
            i.shard_id.clone(),
            i.sequence_number.clone(),
            i.sub_sequence_number,
        ));
        Ok(())
    }

    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        cp: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        let recs: Vec<Rec> = if self.stream {
            assert!(input.records.is_empty());
            std::mem::take(&mut self.streamed)
        } else {
            input.records.iter().map(rec).collect()
        };
        assert_eq!(
            input.streamed as usize,
            if self.stream { recs.len() } else { 0 }
        );
        let largest = recs
            .iter()
            .map(|r| Position::new(r.2.as_str(), r.3))
            .max_by(|a, b| a.cmp_parts(&b.sequence_number, b.sub_sequence_number));
        assert_eq!(
            input.largest,
            largest
                .as_ref()
                .map(|p| (p.sequence_number.as_str(), p.sub_sequence_number))
        );
        self.calls
            .push(Call::Batch(recs, input.millis_behind_latest));
        let act = self.on_batch.clone();
        self.act(&act, cp)
    }

    fn streams_records(&self) -> bool {
        self.stream
    }

    fn process_record(&mut self, record: &Record<'_>) -> Result<(), BoxError> {
        assert!(self.stream);
        self.streamed.push(rec(record));
        Ok(())
    }

    fn lease_lost(&mut self) -> Result<(), BoxError> {
        self.calls.push(Call::LeaseLost);
        Ok(())
    }

    fn shard_ended(&mut self, cp: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        self.calls.push(Call::ShardEnded);
        let act = self.on_end.clone();
        self.act(&act, cp)
    }

    fn shutdown_requested(&mut self, cp: &mut Checkpointer<'_>) -> Result<(), BoxError> {
        self.calls.push(Call::ShutdownRequested);
        let act = self.on_end.clone();
        self.act(&act, cp)
    }
}

/// Runs `input` through a fresh runtime; returns the result and the output, leaving the
/// calls in `processor`.
///
/// It also runs the same input with a streaming copy of the processor, once in one read
/// and once in reads of changing, mostly tiny sizes, and checks that all three runs write
/// the same bytes, make the same calls and end the same way.
fn drive(input: &[u8], processor: &mut Recorder) -> (Result<(), RunError>, String) {
    let mut streaming = [processor.clone(), processor.clone()];
    let (result, out) = run_over(Cursor::new(input.to_vec()), processor);
    let readers: [Box<dyn Read>; 2] = [
        Box::new(Cursor::new(input.to_vec())),
        Box::new(Pieces::new(input)),
    ];
    for (p, reader) in streaming.iter_mut().zip(readers) {
        p.stream = true;
        let (s_result, s_out) = run_over(reader, p);
        assert_eq!(s_out, out, "streaming wrote something else ({s_result:?})");
        assert_eq!(p.calls, processor.calls, "streaming made other calls");
        assert_eq!(
            s_result.as_ref().map_err(kind),
            result.as_ref().map_err(kind),
            "streaming ended otherwise: {s_result:?} vs {result:?}"
        );
    }
    (result, out)
}

fn run_over<R: Read>(input: R, processor: &mut Recorder) -> (Result<(), RunError>, String) {
    // The run loop itself, without retries: the error policies have their own tests below.
    let mut rt = Runtime::new(input, Vec::new()).with_error_policy(ErrorPolicy::Fail);
    let result = rt.run(processor);
    let (_, out) = rt.into_parts();
    (result, String::from_utf8(out).expect("output is UTF-8"))
}

/// The kind of a run error, which the streaming and batch paths must agree on (their
/// wording of a malformed line may differ).
fn kind(err: &RunError) -> &'static str {
    match err {
        RunError::Protocol(kcl_multilang::ProtocolError::InvalidBase64 { .. }) => "base64",
        RunError::Protocol(_) => "protocol",
        RunError::Processor { .. } => "processor",
        RunError::Io(_) => "io",
        // `RunError` may grow: a new kind is a difference the tests should show.
        _ => "other",
    }
}

/// Hands its bytes out in reads of 1, 2, 3, 5, 8, 13 bytes, 4 KiB and 64 KiB in turn, as a
/// pipe might, so every parse step meets a read boundary somewhere.
struct Pieces {
    bytes: Vec<u8>,
    at: usize,
    turn: usize,
}

impl Pieces {
    fn new(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
            at: 0,
            turn: 0,
        }
    }
}

impl Read for Pieces {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        const STEPS: [usize; 8] = [1, 2, 3, 5, 8, 13, 4096, 65536];
        let step = STEPS[self.turn % STEPS.len()];
        self.turn += 1;
        let n = step.min(out.len()).min(self.bytes.len() - self.at);
        out[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The messages in the output, without the framing blank lines.
fn lines(out: &str) -> Vec<&str> {
    out.split('\n').filter(|l| !l.is_empty()).collect()
}

use common::status;

const INIT: &str = r#"{"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}"#;

fn batch(records: &[(&str, &str, u64)]) -> String {
    common::process_records(records, 5)
}

fn reply(error: Option<&str>) -> String {
    match error {
        None => common::checkpoint_reply(None, None, None),
        Some(e) => common::checkpoint_reply(Some("9"), Some(1), Some(e)),
    }
}

fn join(lines: &[&str]) -> Vec<u8> {
    let mut s = lines.join("\n");
    s.push('\n');
    s.into_bytes()
}

#[test]
fn every_action_is_answered_with_exactly_its_status() {
    let b = batch(&[("aGVsbG8=", "10", 0)]);
    let input = join(&[
        INIT,
        &b,
        r#"{"action":"shutdownRequested"}"#,
        r#"{"action":"leaseLost"}"#,
    ]);
    let mut p = Recorder::new(Act::Nothing, Act::Nothing);
    let (result, out) = drive(&input, &mut p);
    result.unwrap();
    assert_eq!(
        lines(&out),
        [
            status("initialize"),
            status("processRecords"),
            status("shutdownRequested"),
            status("leaseLost")
        ]
    );
    // Each message is framed by newlines so no stray byte can join it.
    assert!(out.starts_with('\n') && out.ends_with("}\n"));
    assert_eq!(
        p.calls,
        [
            Call::Init(
                "shardId-000000000001".into(),
                Some("TRIM_HORIZON".into()),
                Some(0)
            ),
            Call::Batch(
                vec![(
                    b"hello".to_vec(),
                    "pk".into(),
                    "10".into(),
                    0,
                    Some(1700000000123)
                )],
                Some(5)
            ),
            Call::ShutdownRequested,
            Call::LeaseLost,
        ]
    );
}

#[test]
fn nulls_are_accepted_where_the_daemon_may_send_them() {
    let input = join(&[
        r#"{"action":"initialize","shardId":"s","sequenceNumber":null,"subSequenceNumber":null}"#,
        r#"{"action":"processRecords","records":[{"data":"","partitionKey":"k","sequenceNumber":"1","approximateArrivalTimestamp":null,"subSequenceNumber":0,"action":"record"}],"millisBehindLatest":null}"#,
        r#"{"action":"processRecords","records":[],"millisBehindLatest":null}"#,
    ]);
    let mut p = Recorder::new(Act::Nothing, Act::Nothing);
    let (result, out) = drive(&input, &mut p);
    result.unwrap();
    assert_eq!(lines(&out).len(), 3);
    assert_eq!(p.calls[0], Call::Init("s".into(), None, None));
    assert_eq!(
        p.calls[1],
        Call::Batch(vec![(vec![], "k".into(), "1".into(), 0, None)], None)
    );
    assert_eq!(p.calls[2], Call::Batch(vec![], None));
}

#[test]
fn non_utf8_and_kpl_records_reach_the_processor_intact() {
    let b = batch(&[
        ("AP8KDQ==", "20", 0),
        ("4pyTIMOg", "21", 0),
        ("YQ==", "21", 1),
        ("Yg==", "21", 2),
    ]);
    let input = join(&[INIT, &b, &reply(None)]);
    let mut p = Recorder::new(Act::CheckpointAt("21", 2), Act::Nothing);
    let (result, out) = drive(&input, &mut p);
    result.unwrap();
    let recs = p.batch(1);
    assert_eq!(recs[0].0, [0x00, 0xff, 0x0a, 0x0d]);
    assert_eq!(String::from_utf8(recs[1].0.clone()).unwrap(), "✓ à");
    assert_eq!(recs.iter().map(|r| r.3).collect::<Vec<_>>(), [0, 0, 1, 2]);
    assert_eq!(
        lines(&out),
        [
            status("initialize"),
            r#"{"action":"checkpoint","sequenceNumber":"21","subSequenceNumber":2}"#.to_string(),
            status("processRecords"),
        ]
    );
}

#[test]
fn checkpoint_request_reads_exactly_the_reply() {
    let b = batch(&[("YQ==", "1", 0)]);
    let input = join(&[INIT, &b, &reply(None), r#"{"action":"leaseLost"}"#]);
    let mut p = Recorder::new(Act::CheckpointAll, Act::Nothing);
    let (result, out) = drive(&input, &mut p);
    result.unwrap();
    assert_eq!(
        lines(&out),
        [
            status("initialize"),
            r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}"#.to_string(),
            status("processRecords"),
            status("leaseLost"),
        ]
    );
    assert_eq!(p.calls[2], Call::Checkpointed(Ok(())));
    assert_eq!(
        p.calls[3],
        Call::LeaseLost,
        "the line after the reply is the next action"
    );
}

#[test]
fn every_checkpoint_error_is_typed() {
    for (name, want) in [
        ("ThrottlingException", "Throttling"),
        ("ShutdownException", "Shutdown"),
        ("InvalidStateException", "InvalidState"),
        ("KinesisClientLibDependencyException", "Dependency"),
        ("IllegalArgumentException", "IllegalArgument"),
        ("NullPointerException", r#"Other("NullPointerException")"#),
    ] {
        let b = batch(&[("YQ==", "1", 0)]);
        let input = join(&[INIT, &b, &reply(Some(name))]);
        let mut p = Recorder::new(Act::CheckpointAll, Act::Nothing);
        let (result, out) = drive(&input, &mut p);
        result.unwrap();
        assert_eq!(
            p.calls[2],
            Call::Checkpointed(Err(want.to_string())),
            "{name}"
        );
        // A failed checkpoint does not fail the action.
        assert_eq!(lines(&out).last().unwrap(), &status("processRecords"));
    }
}

#[test]
fn retry_helper_over_the_wire() {
    let b = batch(&[("YQ==", "9", 1)]);
    let throttled = reply(Some("ThrottlingException"));
    let dep = reply(Some("KinesisClientLibDependencyException"));
    let input = join(&[INIT, &b, &throttled, &dep, &reply(None)]);
    let mut p = Recorder::new(Act::Retry(5), Act::Nothing);
    let (result, out) = drive(&input, &mut p);
    result.unwrap();
    let requests = lines(&out)
        .iter()
        .filter(|l| l.contains(r#""action":"checkpoint""#))
        .count();
    assert_eq!(requests, 3);
    assert_eq!(p.calls[2], Call::Checkpointed(Ok(())));
}

#[test]
fn shard_end_and_legacy_shutdown() {
    let input = join(&[
        INIT,
        r#"{"action":"shardEnded"}"#,
        &reply(None),
        r#"{"action":"shutdown","reason":"TERMINATE"}"#,
        &reply(None),
        r#"{"action":"shutdown","reason":"ZOMBIE"}"#,
    ]);
    let mut p = Recorder::new(Act::Nothing, Act::CheckpointAll);
    let (result, out) = drive(&input, &mut p);
    result.unwrap();
    let cp =
        r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}"#.to_string();
    assert_eq!(
        lines(&out),
        [
            status("initialize"),
            cp.clone(),
            status("shardEnded"),
            cp,
            status("shutdown"),
            status("shutdown")
        ]
    );
    assert_eq!(p.calls[1], Call::ShardEnded);
    assert_eq!(
        p.calls[3],
        Call::ShardEnded,
        "TERMINATE behaves as shardEnded"
    );
    assert_eq!(p.calls[5], Call::LeaseLost, "ZOMBIE behaves as leaseLost");
}

#[test]
fn unknown_actions_are_answered_and_unknown_fields_ignored() {
    let input = join(&[
        r#"{"action":"initialize","shardId":"s","sequenceNumber":"1","subSequenceNumber":0,"leaseOwner":"w","extra":{"deep":[1,2]}}"#,
        r#"{"action":"prepareCheckpoint","sequenceNumber":"1"}"#,
        r#"{"action":"somethingNew","records":"not-a-list"}"#,
    ]);
    let mut p = Recorder::new(Act::Nothing, Act::Nothing);
    let (result, out) = drive(&input, &mut p);
    result.unwrap();
    assert_eq!(
        lines(&out),
        [
            status("initialize"),
            status("prepareCheckpoint"),
            status("somethingNew")
        ]
    );
    assert_eq!(p.calls.len(), 1, "the processor never sees unknown actions");
}

#[test]
fn blank_lines_crlf_and_unsolicited_replies_are_tolerated() {
    let input = format!(
        "\n   \n{INIT}\r\n{}\n{{\"action\":\"leaseLost\"}}\r\n",
        reply(None)
    );
    let mut p = Recorder::new(Act::Nothing, Act::Nothing);
    let (result, out) = drive(input.as_bytes(), &mut p);
    result.unwrap();
    assert_eq!(lines(&out), [status("initialize"), status("leaseLost")]);
}

#[test]
fn ten_megabyte_lines() {
    let data: Vec<u8> = (0..7_500_000u32).map(|i| (i % 251) as u8).collect();
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    let b = batch(&[(&encoded, "5", 0)]);
    assert!(b.len() > 10_000_000);
    let input = join(&[INIT, &b]);
    let mut p = Recorder::new(Act::Nothing, Act::Nothing);
    let (result, out) = drive(&input, &mut p);
    result.unwrap();
    let recs = p.batch(1);
    assert!(recs[0].0 == data, "10 MB record decoded intact");
    assert_eq!(lines(&out).len(), 2);
}

#[test]
fn malformed_lines_stop_the_loop_naming_the_line() {
    for bad in [
        "this is not json",
        r#"{"records":[]}"#,
        r#"{"action":null}"#,
        r#"{"action":"processRecords","records":[{"data":"@@@","partitionKey":"k","sequenceNumber":"77","subSequenceNumber":0}]}"#,
        r#"{"action":"processRecords","records":[{"data":null,"partitionKey":"k","sequenceNumber":"78","subSequenceNumber":0}]}"#,
        r#"{"action":"shutdown","reason":null}"#,
    ] {
        let input = join(&[INIT, bad, r#"{"action":"leaseLost"}"#]);
        let mut p = Recorder::new(Act::Nothing, Act::Nothing);
        let (result, out) = drive(&input, &mut p);
        let err = result.expect_err(bad);
        assert!(matches!(err, RunError::Protocol(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(bad) || text.contains("77") || text.contains("78"),
            "{text}"
        );
        assert_eq!(
            lines(&out),
            [status("initialize")],
            "nothing answered after {bad}"
        );
        assert_eq!(p.calls.len(), 1, "the processor never sees a bad line");
    }
}

#[test]
fn records_whose_sequence_number_is_not_decimal_stop_the_loop_in_both_modes() {
    for seq in ["", "-5", "TRIM_HORIZON", "SHARD_END", "12a", "1e3"] {
        // Behind a good record, which a streaming processor has been handed by then: the
        // batch is not answered, so the daemon delivers it again.
        let b = batch(&[("aGk=", "10", 0), ("aGk=", seq, 1)]);
        let reordered = b
            .replacen(
                r#"{"action":"processRecords","records":"#,
                r#"{"millisBehindLatest":5,"records":"#,
                1,
            )
            .replacen(
                r#""millisBehindLatest":5}"#,
                r#""action":"processRecords"}"#,
                1,
            );
        for line in [b, reordered] {
            let input = join(&[INIT, &line, r#"{"action":"shardEnded"}"#]);
            let mut p = Recorder::new(Act::CheckpointAll, Act::CheckpointAll);
            let (result, out) = drive(&input, &mut p);
            let err = result.expect_err(seq);
            assert!(
                matches!(
                    &err,
                    RunError::Protocol(kcl_multilang::ProtocolError::InvalidSequenceNumber {
                        sequence_number,
                        ..
                    }) if sequence_number == seq
                ),
                "{err:?}"
            );
            assert_eq!(
                lines(&out),
                [status("initialize")],
                "no checkpoint, no status"
            );
            assert_eq!(p.calls.len(), 1, "the processor never saw the batch end");
        }
    }
}

#[test]
fn eof_at_any_point_ends_cleanly() {
    let b = batch(&[("YQ==", "1", 0)]);
    // Before anything, between actions, in the middle of a line.
    for input in [
        String::new(),
        format!("{INIT}\n"),
        format!("{INIT}\n{{\"action\":\"proc"),
    ] {
        let mut p = Recorder::new(Act::Nothing, Act::Nothing);
        let (result, _) = drive(input.as_bytes(), &mut p);
        result.unwrap();
    }
    // In the middle of a checkpoint exchange: no status is written for the action.
    let input = join(&[INIT, &b]);
    let mut p = Recorder::new(Act::CheckpointTwice, Act::Nothing);
    let (result, out) = drive(&input, &mut p);
    result.unwrap();
    assert_eq!(
        lines(&out),
        [
            status("initialize"),
            r#"{"action":"checkpoint","sequenceNumber":"1","subSequenceNumber":0}"#.to_string()
        ]
    );
    assert_eq!(p.calls[2], Call::Checkpointed(Err("Closed".into())));
    assert_eq!(
        p.calls[3],
        Call::Checkpointed(Err("Closed".into())),
        "no second request once closed"
    );
    // EOF in the middle of the reply line.
    let mut input = join(&[INIT, &b]);
    input.extend_from_slice(br#"{"action":"checkp"#);
    let mut p = Recorder::new(Act::CheckpointAll, Act::Nothing);
    let (result, _) = drive(&input, &mut p);
    result.unwrap();
    assert_eq!(p.calls[2], Call::Checkpointed(Err("Closed".into())));
}

#[test]
fn an_unexpected_reply_to_a_checkpoint_is_a_protocol_error() {
    let b = batch(&[("YQ==", "1", 0)]);
    let input = join(&[INIT, &b, r#"{"action":"leaseLost"}"#]);
    let mut p = Recorder::new(Act::CheckpointAll, Act::Nothing);
    let (result, out) = drive(&input, &mut p);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("leaseLost"), "{err}");
    assert!(!out.contains(&status("processRecords")));
    let Call::Checkpointed(Err(e)) = &p.calls[2] else {
        panic!()
    };
    assert!(e.contains("UnexpectedReply"), "{e}");
}

#[test]
fn processor_errors_and_panics_are_never_acknowledged() {
    for (act, want) in [(Act::Fail, "disk full"), (Act::Panic, "processor bug")] {
        let b = batch(&[("YQ==", "1", 0)]);
        let input = join(&[INIT, &b, r#"{"action":"leaseLost"}"#]);
        let mut p = Recorder::new(act, Act::Nothing);
        let (result, out) = drive(&input, &mut p);
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                RunError::Processor {
                    action: "processRecords",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains(want), "{err}");
        assert_eq!(
            lines(&out),
            [status("initialize")],
            "the failed batch is not acknowledged"
        );
        assert_eq!(p.calls.len(), 2, "nothing after the failure is processed");
    }
}

#[test]
fn failures_in_shutdown_callbacks_are_not_acknowledged_either() {
    let input = join(&[INIT, r#"{"action":"shardEnded"}"#]);
    let mut p = Recorder::new(Act::Nothing, Act::Panic);
    let (result, out) = drive(&input, &mut p);
    assert!(matches!(
        result,
        Err(RunError::Processor {
            action: "shardEnded",
            ..
        })
    ));
    assert_eq!(lines(&out), [status("initialize")]);
}

mod policies {
    use super::*;
    use kcl_multilang::ErrorPolicy;
    use std::time::Duration;

    /// Fails the first `failures` calls of `process_records`, then succeeds.
    struct Flaky {
        failures: u32,
        calls: u32,
        panics: bool,
    }

    impl RecordProcessor for Flaky {
        fn process_records(
            &mut self,
            _: &ProcessRecordsInput<'_>,
            _: &mut Checkpointer<'_>,
        ) -> Result<(), BoxError> {
            self.calls += 1;
            if self.calls <= self.failures {
                if self.panics {
                    panic!("flaky panic {}", self.calls);
                }
                return Err(format!("flaky failure {}", self.calls).into());
            }
            Ok(())
        }
    }

    fn run_with(
        policy: ErrorPolicy,
        p: &mut Flaky,
        input: &[u8],
    ) -> (Result<(), RunError>, String) {
        let mut rt =
            Runtime::new(Cursor::new(input.to_vec()), Vec::new()).with_error_policy(policy);
        let result = rt.run(p);
        (result, String::from_utf8(rt.into_parts().1).unwrap())
    }

    /// Retries with a backoff short enough for tests.
    pub(super) fn retry(attempts: u32) -> ErrorPolicy {
        ErrorPolicy::Retry(RetryPolicy {
            max_attempts: attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        })
    }

    #[test]
    fn retry_recovers_within_its_attempts() {
        for panics in [false, true] {
            let input = join(&[INIT, &batch(&[("YQ==", "1", 0)])]);
            let mut p = Flaky {
                failures: 2,
                calls: 0,
                panics,
            };
            let (result, out) = run_with(retry(3), &mut p, &input);
            result.unwrap();
            assert_eq!(p.calls, 3);
            assert_eq!(
                lines(&out),
                [status("initialize"), status("processRecords")]
            );
        }
    }

    #[test]
    fn retry_then_fail_leaves_the_batch_unanswered() {
        let input = join(&[INIT, &batch(&[("YQ==", "1", 0)])]);
        let mut p = Flaky {
            failures: 10,
            calls: 0,
            panics: false,
        };
        let (result, out) = run_with(retry(3), &mut p, &input);
        let err = result.unwrap_err();
        assert!(err.to_string().contains("flaky failure 3"), "{err}");
        assert_eq!(p.calls, 3);
        assert_eq!(lines(&out), [status("initialize")]);
    }

    #[test]
    fn fail_does_not_retry() {
        let input = join(&[INIT, &batch(&[("YQ==", "1", 0)])]);
        let mut p = Flaky {
            failures: 1,
            calls: 0,
            panics: false,
        };
        let (result, _) = run_with(ErrorPolicy::Fail, &mut p, &input);
        assert!(result.is_err());
        assert_eq!(p.calls, 1);
    }

    #[test]
    fn skip_writes_dead_letters_then_acknowledges() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join("sub").join("dead.jsonl");
        let input = join(&[
            INIT,
            &batch(&[("AP8=", "77", 0), ("YQ==", "77", 1)]),
            &batch(&[("Yg==", "78", 0)]),
        ]);
        let mut p = Flaky {
            failures: 1,
            calls: 0,
            panics: true,
        };
        let (result, out) = run_with(
            ErrorPolicy::Skip {
                dead_letter: dead.clone(),
            },
            &mut p,
            &input,
        );
        result.unwrap();
        assert_eq!(
            lines(&out),
            [
                status("initialize"),
                status("processRecords"),
                status("processRecords")
            ]
        );
        let text = std::fs::read_to_string(&dead).unwrap();
        let entries: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entries.len(), 2, "only the failed batch: {text}");
        assert_eq!(entries[0]["shardId"], "shardId-000000000001");
        assert_eq!(entries[0]["sequenceNumber"], "77");
        assert_eq!(entries[1]["subSequenceNumber"], 1);
        assert_eq!(entries[0]["partitionKey"], "pk");
        assert_eq!(entries[0]["data"], "AP8=");
        assert_eq!(entries[0]["approximateArrivalTimestamp"], 1700000000123i64);
        assert!(entries[0]["error"]
            .as_str()
            .unwrap()
            .contains("flaky panic 1"));
    }

    #[test]
    fn skip_fails_when_the_dead_letter_file_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "").unwrap();
        let input = join(&[INIT, &batch(&[("YQ==", "1", 0)])]);
        let mut p = Flaky {
            failures: 1,
            calls: 0,
            panics: false,
        };
        let (result, out) = run_with(
            ErrorPolicy::Skip {
                dead_letter: blocker.join("dead.jsonl"),
            },
            &mut p,
            &input,
        );
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("dead-letter file") && err.contains("flaky failure 1"),
            "{err}"
        );
        assert_eq!(lines(&out), [status("initialize")]);
    }
}

/// Streaming: every shape the batch path takes, the streaming path takes the same way
/// (`drive` runs both and compares), including records that leave the fast path.
mod streaming {
    use super::*;

    fn record(fields: &str) -> String {
        format!("{{{fields}}}")
    }

    fn line(records: &[String], tail: &str) -> String {
        format!(
            r#"{{"action":"processRecords","records":[{}]{tail}}}"#,
            records.join(",")
        )
    }

    const JACKSON: &str = r#""data":"aGVsbG8=","partitionKey":"pk","sequenceNumber":"10","approximateArrivalTimestamp":1,"subSequenceNumber":0,"action":"record""#;

    #[test]
    fn odd_shapes_match_the_batch_path() {
        let jackson = record(JACKSON);
        let odd = [
            // Another key order, whitespace, escapes, unicode escapes, nulls, missing and
            // extra keys: each leaves the fast path for serde.
            record(r#""sequenceNumber":"11","data":"YQ==","partitionKey":"k""#),
            record(
                r#" "data" : "Yg==" , "partitionKey":"q\"uo\\te\u00e9","sequenceNumber":"12","subSequenceNumber":3 "#,
            ),
            record(
                r#""data":"","partitionKey":null,"sequenceNumber":"13","approximateArrivalTimestamp":null,"subSequenceNumber":null,"extra":{"nested":[1,{"a":"}"}]},"action":"record""#,
            ),
            record(
                r#""data":"YWJj","partitionKey":"{[\"]}","sequenceNumber":"12","subSequenceNumber":9"#,
            ),
            // Escapes inside the data of an otherwise Jackson-shaped record: the optimistic
            // data scan hands over bytes that do not decode, and serde takes the record.
            record(&JACKSON.replace("aGVsbG8=", r"\/\/\/\/")),
            record(&JACKSON.replace("aGVsbG8=", r"YQ\u003d\u003d")),
        ];
        let mut records = vec![jackson.clone()];
        for r in &odd {
            records.push(r.clone());
            records.push(jackson.replace(r#""10""#, r#""14""#));
        }
        let cases = [
            line(&records, r#","millisBehindLatest":7"#),
            line(
                &records,
                r#","millisBehindLatest":null,"somethingNew":[1,2]"#,
            ),
            line(&records, ""),
            line(&[], r#","millisBehindLatest":0"#),
            format!(
                r#"{{"action":"processRecords","records":[ {} , {} ] ,"millisBehindLatest":1}}"#,
                odd[0], jackson
            ),
            line(&records, r#","millisBehindLatest":2"#) + "\r",
        ];
        for case in &cases {
            // The next action must still be read whole after a streamed line.
            let input = join(&[
                INIT,
                case,
                &reply(None),
                r#"{"action":"shardEnded"}"#,
                &reply(None),
            ]);
            let mut p = Recorder::new(Act::CheckpointAt("14", 0), Act::CheckpointAll);
            let (result, out) = drive(&input, &mut p);
            result.unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(lines(&out).last().unwrap(), &status("shardEnded"), "{case}");
            assert!(matches!(p.calls[1], Call::Batch(..)), "{case}");
        }
        // The content, checked once in full.
        let input = join(&[INIT, &line(&records, r#","millisBehindLatest":7"#)]);
        let mut p = Recorder::new(Act::Nothing, Act::Nothing);
        drive(&input, &mut p).0.unwrap();
        let Call::Batch(recs, millis) = &p.calls[1] else {
            panic!("{:?}", p.calls)
        };
        assert_eq!(*millis, Some(7));
        assert_eq!(recs.len(), 13);
        assert_eq!(recs[9].0, [0xff, 0xff, 0xff]);
        assert_eq!(recs[11].0, b"a");
        assert_eq!(recs[3].1, "q\"uo\\te\u{e9}");
        assert_eq!(recs[3].3, 3);
        assert_eq!(recs[5].1, "", "a null partition key");
        assert_eq!(recs[5].4, None);
        assert_eq!(recs[7].1, "{[\"]}", "brackets and quotes inside a string");
        assert_eq!(recs[7].0, b"abc");
    }

    #[test]
    fn non_utf8_in_a_streamed_record_is_repaired_like_the_batch_path() {
        let mut input = join(&[INIT]);
        let mut l = line(
            &[record(JACKSON), record(JACKSON)],
            r#","millisBehindLatest":1"#,
        )
        .into_bytes();
        // A raw 0xff in the second record's partition key.
        let at = l.windows(4).rposition(|w| w == b"\"pk\"").unwrap() + 2;
        l.insert(at, 0xff);
        input.extend_from_slice(&l);
        input.push(b'\n');
        let mut p = Recorder::new(Act::Nothing, Act::Nothing);
        let (result, out) = drive(&input, &mut p);
        result.unwrap();
        assert_eq!(lines(&out).len(), 2);
        let recs = p.batch(1);
        assert_eq!(recs[1].1, "p\u{fffd}k");
    }

    #[test]
    fn a_bad_record_midway_stops_without_acknowledging() {
        let good = record(JACKSON);
        let bad_base64 = record(&JACKSON.replace("aGVsbG8=", "aGVsbG8"));
        let cases = [
            (line(&[good.clone(), bad_base64], ""), "base64"),
            (line(&[good.clone(), "garbage".into()], ""), "protocol"),
            (
                format!(r#"{{"action":"processRecords","records":[{good}{good}]}}"#),
                "protocol",
            ),
            (
                line(&[good.clone(), good.clone()], r#","records":[]"#),
                "protocol",
            ),
            // A raw newline inside a string: the line ends there.
            (
                line(
                    &[good.clone(), record(&JACKSON.replace("\"pk\"", "\"p\nk\""))],
                    "",
                ),
                "protocol",
            ),
        ];
        for (case, expected) in &cases {
            let input = join(&[INIT, case, r#"{"action":"shardEnded"}"#]);
            let mut p = Recorder::new(Act::Nothing, Act::Nothing);
            let (result, out) = drive(&input, &mut p);
            let err = result.expect_err(case);
            assert_eq!(kind(&err), *expected, "{case}: {err}");
            assert_eq!(lines(&out), [status("initialize")], "{case}");
            assert_eq!(p.calls.len(), 1, "{case}: no batch was acknowledged");
        }
    }

    #[test]
    fn eof_at_every_byte_of_a_streamed_line_ends_cleanly() {
        let l = line(
            &[
                record(JACKSON),
                record(r#""sequenceNumber":"11","data":"YQ==""#),
            ],
            r#","millisBehindLatest":1"#,
        );
        for cut in 0..=l.len() {
            let mut input = join(&[INIT]);
            input.extend_from_slice(&l.as_bytes()[..cut]);
            let mut p = Recorder::new(Act::Nothing, Act::Nothing);
            let (result, out) = drive(&input, &mut p);
            result.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert_eq!(lines(&out), [status("initialize")], "cut at {cut}");
        }
    }

    #[test]
    fn large_records_decoded_piece_by_piece_fall_back_to_serde_exactly() {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let text = engine.encode(&data);
        // An escaped slash 500 KB into the data: valid JSON, so it must decode.
        let slash = text[400_000..].find('/').unwrap() + 400_000;
        let escaped = format!("{}\\/{}", &text[..slash], &text[slash + 1..]);
        // An escape in the partition key after a large data string.
        let big = |d: &str, pk: &str| record(&JACKSON.replace("aGVsbG8=", d).replace("\"pk\"", pk));
        let ok = [
            big(&escaped, "\"pk\""),
            big(&text, r#""p\"k""#),
            big(&text, "\"pk\""),
        ];
        let input = join(&[INIT, &line(&ok, r#","millisBehindLatest":3"#)]);
        let mut p = Recorder::new(Act::Nothing, Act::Nothing);
        let (result, out) = drive(&input, &mut p);
        result.unwrap();
        assert_eq!(lines(&out).len(), 2);
        let recs = p.batch(1);
        assert_eq!(recs.len(), 3);
        assert!(recs.iter().all(|r| r.0 == data));
        assert_eq!(recs[1].1, "p\"k");
        // Bad base64 far into a large record, and padding in its middle: errors, as on the
        // batch path, with nothing acknowledged.
        let bad_char = format!("{}!{}", &text[..450_000], &text[450_001..]);
        let mid_pad = format!("{}QQ=={}", &text[..300_000], &text[300_000..]);
        for bad in [bad_char, mid_pad] {
            let input = join(&[
                INIT,
                &line(&[big(&text, "\"pk\""), big(&bad, "\"pk\"")], ""),
            ]);
            let mut p = Recorder::new(Act::Nothing, Act::Nothing);
            let (result, out) = drive(&input, &mut p);
            assert_eq!(kind(&result.unwrap_err()), "base64");
            assert_eq!(lines(&out), [status("initialize")]);
        }
    }

    #[test]
    fn many_records_and_large_ones_cross_every_read_boundary() {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let mut records: Vec<(String, String, u64)> = (0..2000)
            .map(|i| {
                (
                    engine.encode(format!("record {i}")),
                    format!("{}", 100 + i / 10),
                    i % 10,
                )
            })
            .collect();
        records.insert(777, (engine.encode(&big), "177".into(), 7));
        let refs: Vec<(&str, &str, u64)> = records
            .iter()
            .map(|(d, s, n)| (d.as_str(), s.as_str(), *n))
            .collect();
        let input = join(&[INIT, &batch(&refs), &batch(&refs[..3])]);
        let mut p = Recorder::new(Act::Nothing, Act::Nothing);
        let (result, out) = drive(&input, &mut p);
        result.unwrap();
        assert_eq!(lines(&out).len(), 3);
        let recs = p.batch(1);
        assert_eq!(recs.len(), 2001);
        assert_eq!(recs[777].0, big);
        assert_eq!(recs[2000].0, b"record 1999");
    }
}

/// The error policy applied to one streamed record at a time.
mod streaming_policies {
    use super::policies::retry;
    use super::*;
    use kcl_multilang::ErrorPolicy;

    /// Fails on the records whose data is `bad`, `failures` times each, then takes them.
    #[derive(Default)]
    struct Picky {
        failures: u32,
        failed: u32,
        seen: Vec<String>,
        ended: u32,
        fail_end: bool,
    }

    impl RecordProcessor for Picky {
        fn streams_records(&self) -> bool {
            true
        }

        fn process_record(&mut self, record: &Record<'_>) -> Result<(), BoxError> {
            if record.data == b"bad" && self.failed < self.failures {
                self.failed += 1;
                return Err(format!("cannot take {}", record.sequence_number).into());
            }
            self.seen.push(record.sequence_number.to_string());
            Ok(())
        }

        fn process_records(
            &mut self,
            input: &ProcessRecordsInput<'_>,
            _: &mut Checkpointer<'_>,
        ) -> Result<(), BoxError> {
            assert!(input.records.is_empty());
            self.ended += 1;
            if self.fail_end {
                return Err("could not flush".into());
            }
            Ok(())
        }
    }

    fn run(policy: ErrorPolicy, p: &mut Picky) -> (Result<(), RunError>, String) {
        // "YmFk" is "bad".
        let input = join(&[
            INIT,
            &batch(&[("YQ==", "1", 0), ("YmFk", "2", 0), ("Yg==", "3", 0)]),
        ]);
        let mut rt = Runtime::new(Cursor::new(input), Vec::new()).with_error_policy(policy);
        let result = rt.run(p);
        (result, String::from_utf8(rt.into_parts().1).unwrap())
    }

    #[test]
    fn retry_retries_the_record_alone() {
        let mut p = Picky {
            failures: 2,
            ..Default::default()
        };
        let (result, out) = run(retry(3), &mut p);
        result.unwrap();
        assert_eq!(p.seen, ["1", "2", "3"], "each record handled once");
        assert_eq!(p.ended, 1);
        assert_eq!(
            lines(&out),
            [status("initialize"), status("processRecords")]
        );
        // One attempt short: the batch is not answered.
        let mut p = Picky {
            failures: 3,
            ..Default::default()
        };
        let (result, out) = run(retry(3), &mut p);
        assert!(result.unwrap_err().to_string().contains("cannot take 2"));
        assert_eq!(p.seen, ["1"]);
        assert_eq!(p.ended, 0);
        assert_eq!(lines(&out), [status("initialize")]);
    }

    #[test]
    fn skip_dead_letters_the_record_alone() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join("dead.jsonl");
        let mut p = Picky {
            failures: 1,
            ..Default::default()
        };
        let (result, out) = run(
            ErrorPolicy::Skip {
                dead_letter: dead.clone(),
            },
            &mut p,
        );
        result.unwrap();
        assert_eq!(p.seen, ["1", "3"]);
        assert_eq!(
            lines(&out),
            [status("initialize"), status("processRecords")]
        );
        let text = std::fs::read_to_string(&dead).unwrap();
        let entries: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entries.len(), 1, "{text}");
        assert_eq!(entries[0]["sequenceNumber"], "2");
        assert_eq!(entries[0]["data"], "YmFk");
        assert!(entries[0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot take 2"));
    }

    #[test]
    fn a_failed_end_of_a_streamed_batch_is_never_skipped() {
        // Its records are gone, so there is nothing to dead-letter: skipping would lose them.
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join("dead.jsonl");
        let mut p = Picky {
            fail_end: true,
            ..Default::default()
        };
        let (result, out) = run(
            ErrorPolicy::Skip {
                dead_letter: dead.clone(),
            },
            &mut p,
        );
        assert!(result.unwrap_err().to_string().contains("could not flush"));
        assert_eq!(lines(&out), [status("initialize")]);
        assert!(!dead.exists());
    }
}
