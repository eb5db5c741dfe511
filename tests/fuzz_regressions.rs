//! Inputs the fuzz targets in `fuzz/` found, run through the public run loop.

mod common;

use std::io::{Cursor, Read};

use kcl_multilang::{
    BoxError, Checkpointer, ProcessRecordsInput, Record, RecordProcessor, RunError, Runtime,
};

/// Counts what it is given, streaming or not.
#[derive(Default)]
struct Counter {
    stream: bool,
    streamed: Vec<String>,
    batches: Vec<Vec<String>>,
}

fn describe(r: &Record<'_>) -> String {
    format!(
        "{:?}|{}|{}|{}|{:?}",
        r.data,
        r.partition_key,
        r.sequence_number,
        r.sub_sequence_number,
        r.approximate_arrival_timestamp
    )
}

impl RecordProcessor for Counter {
    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        _: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        let batch = if self.stream {
            std::mem::take(&mut self.streamed)
        } else {
            input.records.iter().map(describe).collect()
        };
        self.batches.push(batch);
        Ok(())
    }

    fn streams_records(&self) -> bool {
        self.stream
    }

    fn process_record(&mut self, record: &Record<'_>) -> Result<(), BoxError> {
        self.streamed.push(describe(record));
        Ok(())
    }
}

/// Hands out `chunk` bytes a read, across line ends.
struct Chunks(Cursor<Vec<u8>>, usize);

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1);
        self.0.read(&mut buf[..n])
    }
}

fn run(
    input: &[u8],
    stream: bool,
    chunk: usize,
) -> (Result<(), RunError>, Vec<Vec<String>>, Vec<u8>) {
    let mut p = Counter {
        stream,
        ..Counter::default()
    };
    let mut rt = Runtime::new(Chunks(Cursor::new(input.to_vec()), chunk), Vec::new());
    let result = rt.run(&mut p);
    let (_, out) = rt.into_parts();
    (result, p.batches, out)
}

/// fuzz/corpus/process_records/stream_read_past_line_end: a batch whose record is not in
/// Jackson's key order (so the streaming path parses it with serde after finding the
/// object's end), followed by a partial line, read 61 bytes at a time so that one read
/// holds the batch line's newline and the byte after it.
///
/// The batch path handles the batch and answers it. The streaming path reads on for the
/// rest of the record (it stops reading only at a read that ends in a newline, which is
/// all the daemon ever sends: it writes nothing after a line until it is answered), reaches
/// the end of the input and gives the batch up as cut short. We keep that: finding a
/// newline inside every read would be one more pass over every byte of every batch, for a
/// peer that breaks the protocol. What this test holds is that it stays safe: the streaming
/// path acknowledges nothing it did not finish (no status, no `process_records`), so the
/// daemon would deliver the batch again. And read as the daemon writes (the line in reads
/// that end at its newline), both paths do the same.
#[test]
fn a_streamed_batch_followed_by_more_bytes_in_the_same_read() {
    let line = br#"{"action":"processRecords","records":[{"action":"record","subSequenceNumber":0,"approximateArrivalTimestamp":5,"sequenceNumber":"7","partitionKey":"pk","data":"aGk="}],"millisBehindLatest":3}"#;
    let mut input = line.to_vec();
    input.extend_from_slice(b"\n2");
    let want = [vec!["[104, 105]|pk|7|0|Some(5)".to_string()]];
    let status = common::status("processRecords");
    let status = status.as_bytes();
    let (batch_result, batch_calls, batch_out) = run(&input, false, 61);
    assert!(batch_result.is_ok(), "{batch_result:?}");
    assert_eq!(batch_calls, want);
    assert!(batch_out.windows(status.len()).any(|w| w == status));

    let (stream_result, stream_calls, stream_out) = run(&input, true, 61);
    assert!(stream_result.is_ok(), "{stream_result:?}");
    assert!(stream_calls.is_empty(), "{stream_calls:?}");
    assert!(
        !stream_out.windows(status.len()).any(|w| w == status),
        "the streaming path answered a batch it gave up: {}",
        String::from_utf8_lossy(&stream_out)
    );

    // As the daemon writes: the line's last read ends at its newline.
    let (result, calls, out) = run(&input, true, line.len() + 1);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(calls, want);
    assert_eq!(out, batch_out);
}
