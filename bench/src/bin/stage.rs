//! Stage benchmark: the decoding and writing that issue 5's 1 GB/s target names, without the
//! pipe. Runs the library's run loop in this process over a workload file already in memory
//! (`kcl-bench-driver --dump`), with the library's `SampleProcessor`, the very code the
//! `record_processor` binary runs: each record's text into a size-rotated log (10 MB x 5),
//! the lines published and flushed at the end of every batch (its 60 s checkpoint interval
//! never comes due in a run this short, and the workload sends no checkpoint replies).
//!
//! Usage: kcl-bench-stage WORKLOAD.jsonl LOG_FILE
//! Prints one JSON line: records, decoded bytes, and this process's user and system CPU
//! (getrusage) spent in the run loop.

use std::io::Cursor;
use std::path::PathBuf;
use std::time::Duration;

use kcl_multilang::logging::{LogConfig, LogFile, LogFormat};
use kcl_multilang::sample::SampleProcessor;
use kcl_multilang::{RetryPolicy, Runtime};
use serde_json::json;

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
    let mut sample = SampleProcessor::new(log, Duration::from_secs(60), RetryPolicy::default());
    let mut statuses = Vec::with_capacity(1 << 16);
    let (u0, s0) = cpu_us();
    let mut runtime = Runtime::new(Cursor::new(&bytes[..]), &mut statuses);
    runtime.run(&mut sample).expect("the run loop");
    let (u1, s1) = cpu_us();
    let stats = runtime.stats();
    println!(
        "{}",
        json!({"records": stats.records, "data_bytes": stats.bytes,
               "user_us": u1 - u0, "sys_us": s1 - s0})
    );
}
