//! A processor that prints to stdout the way careless code (or a chatty dependency) does.
//!
//! Run as a MultiLangDaemon child it still works: the run loop writes the protocol to a
//! private descriptor and points fd 1 at stderr, so these lines land in the daemon's log
//! instead of corrupting the conversation. The process-level tests use it to prove that.

use kcl_multilang::{run_stdio, BoxError, Checkpointer, ProcessRecordsInput, RecordProcessor};

struct Noisy;

impl RecordProcessor for Noisy {
    fn process_records(
        &mut self,
        input: &ProcessRecordsInput<'_>,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        for record in input.records {
            // Deliberately the wrong stream, with no newline: it must not reach the daemon.
            print!("stray output for {}", record.sequence_number);
            use std::io::Write as _;
            std::io::stdout().flush()?;
        }
        // A child process inherits fd 1 too.
        std::process::Command::new("echo")
            .arg("stray output from a child process")
            .status()?;
        checkpointer.checkpoint()?;
        Ok(())
    }
}

fn main() {
    std::process::exit(run_stdio(&mut Noisy).exit_code());
}
