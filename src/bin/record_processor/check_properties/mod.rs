//! `record_processor check-properties FILE`: validates a rendered KCL properties file before
//! the daemon starts.
//!
//! The daemon applies the file with commons-beanutils, which ignores unknown or misspelt keys
//! without a word, and some mistakes (a credentials key of the wrong KCL generation, a grace
//! period longer than the container's stop timeout) only show in production. This command
//! reports them up front: one line per finding on stderr,
//! `check-properties: ERROR|WARNING: FILE:LINE: message` (without `LINE:` for something
//! missing from the file), then a summary line. Exit status: 0 with warnings only, 1 with
//! errors, 2 if the file cannot be read.

mod keys;
mod parse;
mod rules;
mod version;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rules::{Context, Finding, Severity};
use version::Detected;

/// Options of `check-properties`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The rendered properties file.
    pub file: PathBuf,

    /// Directory of the KCL jars: the version in the name of
    /// `amazon-kinesis-client-multilang-<version>.jar` decides the credentials rules and which
    /// version-specific keys are read. Without it, credentials mismatches are only warnings.
    #[arg(long, env = "JARS_DIR", value_name = "DIR")]
    pub jars_dir: Option<PathBuf>,

    /// The container's stop timeout in milliseconds (ECS stopTimeout, 30 s by default): after
    /// SIGTERM the runtime sends SIGKILL this much later, so shutdownGraceMillis must be below.
    #[arg(
        long,
        env = "STOP_TIMEOUT_MS",
        default_value_t = 30_000,
        value_name = "MS"
    )]
    pub stop_timeout_ms: u64,
}

/// Checks the file; returns the exit status (0: fine or warnings only, 1: errors, 2: the file
/// cannot be read).
pub fn run(args: &Args) -> anyhow::Result<u8> {
    let file = args.file.display().to_string();
    let bytes = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("check-properties: ERROR: {file}: cannot read the file: {err}");
            return Ok(2);
        }
    };
    let kcl = args
        .jars_dir
        .as_deref()
        .map_or(Detected::NotAsked, version::detect);
    let ctx = Context {
        kcl: kcl.clone(),
        stop_timeout_ms: args.stop_timeout_ms,
        path_env: std::env::var_os("PATH"),
    };
    let findings = rules::check(&parse::parse(&bytes), &ctx);

    let mut out = std::io::stderr().lock();
    for finding in &findings {
        writeln!(out, "{}", format_finding(&file, finding))?;
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    writeln!(
        out,
        "check-properties: {file}: {errors} error(s), {warnings} warning(s) ({})",
        describe_kcl(&kcl, args.jars_dir.as_deref())
    )?;
    Ok(u8::from(errors > 0))
}

/// `check-properties: ERROR: FILE:LINE: message`.
fn format_finding(file: &str, finding: &Finding) -> String {
    let severity = match finding.severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
    };
    match finding.line {
        Some(line) => format!(
            "check-properties: {severity}: {file}:{line}: {}",
            finding.message
        ),
        None => format!("check-properties: {severity}: {file}: {}", finding.message),
    }
}

fn describe_kcl(kcl: &Detected, dir: Option<&Path>) -> String {
    match (kcl, dir) {
        (Detected::Version(v), Some(dir)) => format!("KCL {v}, from {}", dir.display()),
        (Detected::Version(v), None) => format!("KCL {v}"),
        (Detected::NotAsked, _) => "KCL version unknown: no --jars-dir".to_owned(),
        (Detected::Unknown(why), _) => format!("KCL version unknown: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_lines() {
        let f = Finding {
            severity: Severity::Warning,
            line: Some(3),
            message: "m".into(),
        };
        assert_eq!(
            format_finding("a.properties", &f),
            "check-properties: WARNING: a.properties:3: m"
        );
        let f = Finding {
            severity: Severity::Error,
            line: None,
            message: "m".into(),
        };
        assert_eq!(
            format_finding("a.properties", &f),
            "check-properties: ERROR: a.properties: m"
        );
    }
}
