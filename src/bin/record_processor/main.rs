//! `record_processor`: the drop-in replacement for the Kinesis-on-Fargate sample's Python
//! record processor. Parses options, opens the log, and hands over to the library's loop.

mod check_properties;
mod cli;
#[cfg(test)]
mod fault_tests;
mod follow_logs;
mod health;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use kcl_multilang::logging::{LogConfig, LogFile};
use kcl_multilang::telemetry::{Heartbeat, Metrics, MetricsFormat, Observer};
use kcl_multilang::{run_stdio_observed, ErrorPolicy, RetryPolicy, BATCH_MAX_BACKOFF};

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let result = match &cli.command {
        Some(cli::Command::CheckProperties(args)) => check_properties::run(args),
        Some(cli::Command::Health(args)) => health::run(args),
        Some(cli::Command::FollowLogs(args)) => follow_logs::run(args),
        None => run(cli),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("record_processor: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints clap's message; the status is clap's (0 for --help and --version, 2 for a usage
/// error), except that `health` exits 1: Docker reserves 2 in a HEALTHCHECK, and a health
/// check that cannot even parse its options is not healthy. `health` also says so on stdout
/// in its own words, `UNHEALTHY bad option: …`, as every other unhealthy answer does: that
/// line is what `docker inspect` and ECS show of a failed check.
fn usage_error(err: &clap::Error) -> ExitCode {
    let health = std::env::args_os().nth(1).is_some_and(|a| a == "health");
    if health && err.exit_code() != 0 {
        println!("UNHEALTHY bad option: {}", usage_reason(err));
    }
    // Printing can only fail on a closed stdout or stderr, where nobody would read it.
    let _ = err.print();
    match err.exit_code() {
        0 => ExitCode::SUCCESS,
        _ if health => ExitCode::from(1),
        code => ExitCode::from(u8::try_from(code).unwrap_or(2)),
    }
}

/// clap's message on one line, without its `error: ` prefix, usage and help hint.
fn usage_reason(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    first
        .strip_prefix("error: ")
        .unwrap_or(first)
        .trim()
        .to_owned()
}

fn run(cli: cli::Cli) -> anyhow::Result<u8> {
    let config = LogConfig {
        path: cli.log_file.clone(),
        max_bytes: cli.log_max_bytes,
        backups: cli.log_backups,
        format: cli.log_format.into(),
        level: cli.log_level.into(),
    };
    let log = LogFile::install(&config)
        .with_context(|| format!("cannot open the log file {}", cli.log_file.display()))?;

    let retry = RetryPolicy {
        max_attempts: cli.checkpoint_retries.max(1),
        initial_backoff: Duration::from_millis(cli.checkpoint_backoff_ms),
        max_backoff: Duration::from_secs(30),
    };
    let mut processor = kcl_multilang::sample::SampleProcessor::new(
        log.clone(),
        Duration::from_secs(cli.checkpoint_interval),
        retry,
    );
    let policy = match cli.on_error {
        cli::OnError::Fail => ErrorPolicy::Fail,
        cli::OnError::Retry => ErrorPolicy::Retry(RetryPolicy {
            max_attempts: cli.error_retries.max(1),
            initial_backoff: Duration::from_millis(cli.error_backoff_ms),
            max_backoff: BATCH_MAX_BACKOFF,
        }),
        cli::OnError::Skip => ErrorPolicy::Skip {
            dead_letter: cli.dead_letter_file.clone().unwrap_or_else(|| {
                cli.log_file
                    .parent()
                    .unwrap_or(std::path::Path::new(""))
                    .join("dead_letter.jsonl")
            }),
        },
    };
    let mut observers: Vec<Box<dyn Observer>> = Vec::new();
    if let Some(dir) = &cli.state_dir {
        let heartbeat = Heartbeat::new(dir)
            .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        observers.push(Box::new(heartbeat));
    }
    let metrics_format = match cli.metrics {
        cli::MetricsMode::Text => Some(MetricsFormat::Text),
        cli::MetricsMode::Emf => Some(MetricsFormat::Emf),
        cli::MetricsMode::Off => None,
    };
    if let Some(format) = metrics_format.filter(|_| cli.metrics_interval > 0) {
        observers.push(Box::new(Metrics::new(
            Duration::from_secs(cli.metrics_interval),
            format,
            cli.metrics_namespace.clone(),
            cli.application_name.clone(),
            log.clone(),
        )));
    }
    let outcome = run_stdio_observed(&mut processor, policy, observers);
    // A run that stopped inside a batch leaves that batch's record lines gathered in the
    // processor; dropping it hands them to the log for the last flush.
    drop(processor);
    if let Err(err) = log.flush() {
        // The daemon's log gets the reason through stderr, once: a failure met earlier was
        // reported then, unless the run ended as if nothing had happened.
        if !err.is_earlier() || outcome.exit_code() == 0 {
            eprintln!("record_processor: ERROR: {err}");
        }
        if outcome.exit_code() == 0 {
            return Ok(2);
        }
    }
    Ok(u8::try_from(outcome.exit_code()).unwrap_or(2))
}
