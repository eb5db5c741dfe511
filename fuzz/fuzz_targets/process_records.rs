//! The three ways a `processRecords` line is read must agree: the fast path (Jackson's exact
//! shape only), the general serde path, and the streaming path (record by record, from the
//! pipe).
//!
//! Input: one byte choosing how many bytes each read of the pipe returns, then what stdin
//! holds. Its first line (up to and including the first `\n`) is the line under test; the
//! rest is what the daemon sent after it, which the streaming path must leave unread.
//!
//! - Where the fast path takes the line, the general path gives the same records (or both
//!   refuse them: bad base64 is found only when decoding).
//! - Where the fast path leaves the line, anything the general path says goes.
//! - The run loop's batch path (fast, else general) gives what the general path gives.
//! - Where the line starts as the fast path's do, the streaming path gives the general
//!   path's records, or both refuse; after a whole line it leaves exactly the rest unread.
#![no_main]

use kcl_multilang::fuzz_api::{
    process_records_batch, process_records_fast, process_records_general, process_records_streamed,
    Batch, Refusal,
};
use libfuzzer_sys::fuzz_target;

/// Read sizes: single bytes, odd sizes that cut tokens anywhere, and whole pipes.
const CHUNKS: [usize; 8] = [1, 2, 3, 7, 16, 61, 4096, usize::MAX];

/// Equal batches, or both refused (for any reason: the messages may differ).
fn same(a: &Result<Batch, Refusal>, b: &Result<Batch, Refusal>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(_), Err(_)) => true,
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&how, input)) = data.split_first() else {
        return;
    };
    let chunk = CHUNKS[usize::from(how) % CHUNKS.len()];
    let line_end = memchr_newline(input).map_or(input.len(), |i| i + 1);
    let (line, rest) = input.split_at(line_end);

    let general = process_records_general(line);
    if let Some(fast) = process_records_fast(line) {
        assert!(
            same(&fast, &general),
            "the fast path and the general path differ on {:?}:\nfast:    {fast:?}\ngeneral: {general:?}",
            line.escape_ascii().to_string()
        );
    }
    let batch = process_records_batch(line);
    assert!(
        same(&batch, &general),
        "the batch path and the general path differ on {:?}:\nbatch:   {batch:?}\ngeneral: {general:?}",
        line.escape_ascii().to_string()
    );

    // A line that does not end in a newline is read whole only at the end of the input,
    // where the run loop gives a streamed line up: stream only whole lines.
    let mut stdin = line.to_vec();
    if stdin.last() != Some(&b'\n') {
        stdin.push(b'\n');
    }
    stdin.extend_from_slice(rest);
    if let Some(streamed) = process_records_streamed(&stdin, chunk) {
        assert!(
            same(&streamed.batch, &general),
            "the streaming path and the general path differ on {:?} (reads of {chunk}):\nstreamed: {:?}\ngeneral:  {general:?}",
            line.escape_ascii().to_string(),
            streamed.batch
        );
        if streamed.batch.is_ok() {
            assert_eq!(
                streamed.after.escape_ascii().to_string(),
                rest.escape_ascii().to_string(),
                "after streaming {:?} (reads of {chunk}), the reader has not the rest of the input",
                line.escape_ascii().to_string()
            );
        }
    }
});

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}
