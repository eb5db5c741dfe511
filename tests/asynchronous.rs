//! The async adapter driven over byte buffers, as the run loop's own tests are: what an
//! `async fn` processor awaits happens before its checkpoint, checkpoint replies reach it,
//! errors and panics go through the error policy, and one runtime serves the whole process.
#![cfg(feature = "async")]

mod common;

use std::cell::RefCell;
use std::io::Cursor;
use std::rc::Rc;
use std::time::Duration;

use common::{checkpoint_reply, process_records, status};
use kcl_multilang::asynchronous::{AsyncProcessor, AsyncRecordProcessor};
use kcl_multilang::{
    BoxError, Checkpointer, ErrorPolicy, InitializeInput, ProcessRecordsInput, RetryPolicy,
    RunError, Runtime,
};

const INIT: &str = r#"{"action":"initialize","shardId":"shardId-000000000007","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}"#;

fn join(lines: &[&str]) -> Vec<u8> {
    let mut s = lines.join("\n");
    s.push('\n');
    s.into_bytes()
}

fn lines(out: &str) -> Vec<&str> {
    out.split('\n').filter(|l| !l.is_empty()).collect()
}

fn run<P: AsyncRecordProcessor>(
    processor: &mut AsyncProcessor<P>,
    policy: ErrorPolicy,
    input: &[u8],
) -> (Result<(), RunError>, String) {
    let mut rt = Runtime::new(Cursor::new(input.to_vec()), Vec::new()).with_error_policy(policy);
    let result = rt.run(processor);
    (result, String::from_utf8(rt.into_parts().1).unwrap())
}

fn quick_retry(attempts: u32) -> ErrorPolicy {
    ErrorPolicy::Retry(RetryPolicy {
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
    })
}

/// A sink whose "writes" are tasks spawned on the runtime, finishing after a timer: the
/// shape of an SDK call. Every event goes to a shared journal, in the order it happened.
#[derive(Default)]
struct Sink {
    journal: Rc<RefCell<Vec<String>>>,
    /// Set by `initialize`: a task spawned then, which must still be running later.
    heartbeat: Option<tokio::sync::watch::Receiver<u32>>,
    fail_first: u32,
    panic_first: u32,
    attempts: u32,
}

impl Sink {
    fn note(&self, event: String) {
        self.journal.borrow_mut().push(event);
    }
}

impl AsyncRecordProcessor for Sink {
    async fn initialize(&mut self, input: &InitializeInput) -> Result<(), BoxError> {
        let (tx, rx) = tokio::sync::watch::channel(0);
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                n += 1;
                if tx.send(n).is_err() {
                    return;
                }
            }
        });
        self.heartbeat = Some(rx);
        self.note(format!("init {}", input.shard_id));
        Ok(())
    }

    async fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        self.attempts += 1;
        if self.attempts <= self.panic_first {
            tokio::task::yield_now().await;
            panic!("attempt {} panics", self.attempts);
        }
        if self.attempts <= self.panic_first + self.fail_first {
            tokio::time::sleep(Duration::from_millis(2)).await;
            return Err(format!("attempt {} fails", self.attempts).into());
        }
        // The task spawned by `initialize` still runs: the runtime is the same one.
        let hb = self.heartbeat.as_mut().expect("initialize ran");
        hb.changed().await.map_err(|_| "heartbeat task is gone")?;
        let mut writes = tokio::task::JoinSet::new();
        for r in input.records {
            let data = String::from_utf8_lossy(r.data).into_owned();
            writes.spawn(async move {
                tokio::time::sleep(Duration::from_millis(3)).await;
                data
            });
        }
        let mut written = Vec::new();
        while let Some(data) = writes.join_next().await {
            written.push(data?);
        }
        written.sort();
        self.note(format!("wrote {}", written.join(",")));
        let (seq, sub) = input.largest.expect("a non-empty batch");
        let result = checkpointer.checkpoint_at(seq, sub);
        self.note(format!("checkpointed {seq}/{sub}: {result:?}"));
        result?;
        Ok(())
    }

    async fn lease_lost(&mut self) -> Result<(), BoxError> {
        tokio::task::yield_now().await;
        self.note("lease lost".into());
        Ok(())
    }
}

#[test]
fn awaited_writes_finish_before_the_checkpoint_and_one_runtime_serves_every_action() {
    let b1 = process_records(&[("YQ==", "10", 0), ("Yg==", "11", 0)], 5);
    let b2 = process_records(&[("Yw==", "12", 0), ("ZA==", "12", 1)], 5);
    let input = join(&[
        INIT,
        &b1,
        &checkpoint_reply(Some("11"), Some(0), None),
        &b2,
        &checkpoint_reply(Some("12"), Some(1), None),
        r#"{"action":"leaseLost"}"#,
    ]);
    let mut p = AsyncProcessor::new(Sink::default()).unwrap();
    let (result, out) = run(&mut p, ErrorPolicy::Fail, &input);
    result.unwrap();
    assert_eq!(
        lines(&out),
        [
            status("initialize"),
            r#"{"action":"checkpoint","sequenceNumber":"11","subSequenceNumber":0}"#.to_string(),
            status("processRecords"),
            r#"{"action":"checkpoint","sequenceNumber":"12","subSequenceNumber":1}"#.to_string(),
            status("processRecords"),
            status("leaseLost"),
        ]
    );
    assert_eq!(
        *p.processor().journal.borrow(),
        [
            "init shardId-000000000007",
            "wrote a,b",
            "checkpointed 11/0: Ok(())",
            "wrote c,d",
            "checkpointed 12/1: Ok(())",
            "lease lost",
        ]
    );
}

#[test]
fn a_checkpoint_error_reaches_the_async_code_and_the_batch_is_not_acknowledged() {
    let b = process_records(&[("YQ==", "10", 0)], 5);
    let input = join(&[
        INIT,
        &b,
        &checkpoint_reply(Some("10"), Some(0), Some("ShutdownException")),
    ]);
    let mut p = AsyncProcessor::new(Sink::default()).unwrap();
    let (result, out) = run(&mut p, ErrorPolicy::Fail, &input);
    assert!(result.is_err(), "the failed checkpoint must fail the run");
    let out = lines(&out);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(!out.contains(&status("processRecords").as_str()), "{out:?}");
    let journal = p.processor().journal.borrow();
    assert!(
        journal[2].starts_with("checkpointed 10/0: Err(") && journal[2].contains("Shutdown"),
        "{journal:?}"
    );
}

#[test]
fn errors_and_panics_in_futures_are_retried_on_the_same_runtime() {
    let b = process_records(&[("YQ==", "10", 0)], 5);
    let input = join(&[INIT, &b, &checkpoint_reply(Some("10"), Some(0), None)]);
    let mut p = AsyncProcessor::new(Sink {
        panic_first: 1,
        fail_first: 1,
        ..Sink::default()
    })
    .unwrap();
    let (result, out) = run(&mut p, quick_retry(3), &input);
    result.unwrap();
    assert_eq!(p.processor().attempts, 3);
    assert_eq!(
        lines(&out),
        [
            status("initialize"),
            r#"{"action":"checkpoint","sequenceNumber":"10","subSequenceNumber":0}"#.to_string(),
            status("processRecords"),
        ]
    );
}

#[test]
fn when_the_attempts_run_out_nothing_is_acknowledged_or_checkpointed() {
    let b = process_records(&[("YQ==", "10", 0)], 5);
    let input = join(&[INIT, &b]);
    let mut p = AsyncProcessor::new(Sink {
        fail_first: 5,
        ..Sink::default()
    })
    .unwrap();
    let (result, out) = run(&mut p, quick_retry(2), &input);
    assert!(result.is_err());
    assert_eq!(p.processor().attempts, 2);
    assert_eq!(lines(&out), [status("initialize")]);
}

/// The trait's defaults: `shardEnded` checkpoints at SHARD_END, `shutdownRequested` does
/// nothing, as in the blocking trait.
#[test]
fn defaults_checkpoint_at_shard_end_and_answer_shutdown() {
    struct Minimal;
    impl AsyncRecordProcessor for Minimal {
        async fn process_records(
            &mut self,
            _: &ProcessRecordsInput<'_>,
            _: &mut Checkpointer<'_>,
        ) -> Result<(), BoxError> {
            Ok(())
        }
    }
    let input = join(&[
        INIT,
        r#"{"action":"shardEnded"}"#,
        &checkpoint_reply(None, None, None),
        r#"{"action":"shutdownRequested"}"#,
    ]);
    let mut p = AsyncProcessor::new(Minimal).unwrap();
    let (result, out) = run(&mut p, ErrorPolicy::Fail, &input);
    result.unwrap();
    assert_eq!(
        lines(&out),
        [
            status("initialize"),
            r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}"#.to_string(),
            status("shardEnded"),
            status("shutdownRequested"),
        ]
    );
}
