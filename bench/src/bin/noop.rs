//! The library with a processor that does nothing but checkpoint each batch at its largest
//! position: what the protocol, decoding and checkpointing cost on their own. Its twin,
//! `kcl-bench-noop-async`, is the same processor as `async fn`s run by `AsyncProcessor`;
//! the difference between the two is what the async adapter costs (start-up, memory, per
//! batch).

use kcl_multilang::{run_stdio, BoxError, Checkpointer, ProcessRecordsInput, RecordProcessor};

struct Noop {
    bytes: u64,
}

impl RecordProcessor for Noop {
    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        self.bytes += input
            .records
            .iter()
            .map(|r| r.data.len() as u64)
            .sum::<u64>();
        if let Some((seq, sub)) = input.largest {
            checkpointer.checkpoint_at(seq, sub)?;
        }
        Ok(())
    }
}

fn main() {
    let mut p = Noop { bytes: 0 };
    let code = run_stdio(&mut p).exit_code();
    std::hint::black_box(p.bytes);
    std::process::exit(code);
}
