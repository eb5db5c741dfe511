//! Stage benchmark: the decoding and writing that issue 5's 1 GB/s target names, without the
//! pipe. Runs the library's run loop in this process over a workload file already in memory
//! (`kcl-bench-driver --dump`), with a processor doing exactly the sample's per-record work:
//! each record's text through `InfoLines::info_if_text` into a size-rotated log (10 MB x 5),
//! the lines published and flushed at the end of every batch.
//!
//! Usage: kcl-bench-stage WORKLOAD.jsonl LOG_FILE
//! Prints one JSON line: records, decoded bytes, and this process's user and system CPU
//! (getrusage) spent in the run loop.

use std::io::Cursor;
use std::path::PathBuf;

use kcl_multilang::logging::{InfoLines, LogConfig, LogFile, LogFormat};
use kcl_multilang::{
    BoxError, Checkpointer, InitializeInput, ProcessRecordsInput, Record, RecordProcessor, Runtime,
};
use serde_json::json;

struct Stage {
    log: LogFile,
    lines: Option<InfoLines>,
    records: u64,
    bytes: u64,
}

impl RecordProcessor for Stage {
    fn initialize(&mut self, _: &InitializeInput) -> Result<(), BoxError> {
        Ok(())
    }

    fn streams_records(&self) -> bool {
        true
    }

    fn process_record(&mut self, record: &Record<'_>) -> Result<(), BoxError> {
        let log = &self.log;
        let lines = self
            .lines
            .get_or_insert_with(|| log.info_lines("record_processor", "process_records"));
        if !lines.info_if_text(record.data)? {
            lines.info("[non-UTF-8 data]")?;
        }
        self.records += 1;
        self.bytes += record.data.len() as u64;
        Ok(())
    }

    fn process_records(
        &mut self,
        _: &ProcessRecordsInput<'_>,
        _: &mut Checkpointer<'_>,
    ) -> Result<(), BoxError> {
        if let Some(mut lines) = self.lines.take() {
            lines.publish()?;
        }
        self.log.flush()?;
        Ok(())
    }
}

fn cpu_us() -> (f64, f64) {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(log_file)) = (args.next(), args.next()) else {
        eprintln!("usage: kcl-bench-stage WORKLOAD.jsonl LOG_FILE");
        std::process::exit(2);
    };
    let bytes = std::fs::read(&input).expect("read the workload");
    let log = LogFile::open(&LogConfig {
        path: PathBuf::from(log_file),
        max_bytes: 10 * 1024 * 1024,
        backups: 5,
        format: LogFormat::Text,
        level: tracing::Level::INFO,
    })
    .expect("open the log");
    let mut stage = Stage {
        log,
        lines: None,
        records: 0,
        bytes: 0,
    };
    let mut statuses = Vec::with_capacity(1 << 16);
    let (u0, s0) = cpu_us();
    Runtime::new(Cursor::new(&bytes[..]), &mut statuses)
        .run(&mut stage)
        .expect("the run loop");
    let (u1, s1) = cpu_us();
    println!(
        "{}",
        json!({"records": stage.records, "data_bytes": stage.bytes,
               "user_us": u1 - u0, "sys_us": s1 - s0})
    );
}
