//! `kcl-bench-noop` as an async processor: the same work, with one await point per batch
//! (where a real processor awaits its writes), run by `AsyncProcessor` on its
//! current-thread runtime.

use kcl_multilang::asynchronous::{AsyncProcessor, AsyncRecordProcessor};
use kcl_multilang::{run_stdio, BoxError, Checkpointer, ProcessRecordsInput};

struct Noop {
    bytes: u64,
}

impl AsyncRecordProcessor for Noop {
    async fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        self.bytes += input
            .records
            .iter()
            .map(|r| r.data.len() as u64)
            .sum::<u64>();
        tokio::task::yield_now().await;
        if let Some((seq, sub)) = input.largest {
            checkpointer.checkpoint_at(seq, sub)?;
        }
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    let mut p = AsyncProcessor::new(Noop { bytes: 0 })?;
    let code = run_stdio(&mut p).exit_code();
    std::hint::black_box(p.processor().bytes);
    std::process::exit(code);
}
