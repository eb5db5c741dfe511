//! The checks. Each produces findings against the entries of one parsed file, as the daemon
//! would read it: the last of duplicate keys wins, keys are case-sensitive (except the
//! credentials family in newer KCLs), values are kept literally.

use std::collections::HashMap;

use super::keys::{self, Known};
use super::parse::{Entry, Parsed};
use super::version::{Detected, KclVersion};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The daemon would not start, or would not work as configured: exit 1.
    Error,
    /// Probably not what was meant, but the daemon runs.
    Warning,
}

/// One problem, at a line of the file or about the whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The physical line (1-based), `None` for "missing" findings.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

/// What the checks need besides the file.
#[derive(Clone, Debug)]
pub struct Context {
    /// The KCL version of the jars, if known.
    pub kcl: Detected,
    /// The container's stop timeout: SIGKILL follows SIGTERM after this long.
    pub stop_timeout_ms: u64,
    /// `PATH`, to tell whether a bare `executableName` would be found.
    pub path_env: Option<std::ffi::OsString>,
}

/// Collects findings.
struct Report(Vec<Finding>);

impl Report {
    fn error(&mut self, line: Option<usize>, message: String) {
        self.0.push(Finding {
            severity: Severity::Error,
            line,
            message,
        });
    }

    fn warn(&mut self, line: Option<usize>, message: String) {
        self.0.push(Finding {
            severity: Severity::Warning,
            line,
            message,
        });
    }

    /// Error when the version is known, warning when it is only a guess.
    fn by_certainty(&mut self, certain: bool, line: Option<usize>, message: String) {
        if certain {
            self.error(line, message);
        } else {
            self.warn(line, message);
        }
    }
}

/// Runs every check. Findings come out ordered by line (whole-file findings first).
pub fn check(parsed: &Parsed, ctx: &Context) -> Vec<Finding> {
    let mut report = Report(Vec::new());
    for err in &parsed.errors {
        report.error(Some(err.line), err.message.clone());
    }
    let effective = last_wins(&parsed.entries, &mut report);
    let version = match &ctx.kcl {
        Detected::Version(v) => Some(*v),
        _ => None,
    };
    for entry in &parsed.entries {
        check_key(entry, version, &mut report);
        check_value_text(entry, &mut report);
    }
    check_required(&effective, &mut report);
    let rendered = check_placeholders(&effective, &mut report);
    // A placeholder is no path and no ARN: saying so again as a bad value would hide the point.
    if let Some(entry) = effective.get("executableName").filter(|e| rendered(e)) {
        check_executable(entry, ctx.path_env.as_deref(), &mut report);
    }
    if let Some(entry) = effective.get("streamArn").filter(|e| rendered(e)) {
        check_stream_arn(entry, &mut report);
    }
    check_enums(&effective, &mut report);
    check_retrieval(&parsed.entries, &effective, &mut report);
    check_shutdown_grace(&effective, ctx.stop_timeout_ms, &mut report);
    check_credentials(&parsed.entries, version, &mut report);
    let mut findings = report.0;
    findings.sort_by_key(|f| f.line);
    findings
}

/// The entry the daemon ends up with for each key; warns about the overridden ones.
fn last_wins<'a>(entries: &'a [Entry], report: &mut Report) -> HashMap<&'a str, &'a Entry> {
    let mut map: HashMap<&str, &Entry> = HashMap::new();
    for entry in entries {
        if let Some(previous) = map.insert(entry.key.as_str(), entry) {
            report.warn(
                Some(entry.line),
                format!(
                    "{} is set again (first on line {}): only this last value counts",
                    entry.key, previous.line
                ),
            );
        }
    }
    map
}

pub(super) fn is_credentials_key(key: &str) -> bool {
    key.to_ascii_lowercase()
        .starts_with("awscredentialsprovider")
}

/// Unknown keys, keys the detected KCL does not read, keys without effect.
fn check_key(entry: &Entry, version: Option<KclVersion>, report: &mut Report) {
    let key = entry.key.as_str();
    let line = Some(entry.line);
    if is_credentials_key(key) {
        return; // check_credentials
    }
    if let Some((meant, why)) = keys::special_mapping(key) {
        report.warn(
            line,
            format!("{key} is not a KCL property and is silently ignored: use {meant} ({why})"),
        );
        return;
    }
    let since = match keys::lookup(key) {
        Known::Key(since) | Known::Polling(since) => since,
        Known::Fanout | Known::Client => return,
        Known::Unknown => {
            let message = match keys::suggest(key) {
                Some(meant) if meant.eq_ignore_ascii_case(key) => format!(
                    "unknown key {key} is silently ignored: keys are case-sensitive, did you mean {meant}?"
                ),
                Some(meant) => {
                    format!("unknown key {key} is silently ignored: did you mean {meant}?")
                }
                None => format!(
                    "unknown key {key} is silently ignored (not a property of the KCL 2.x/3.x MultiLangDaemon)"
                ),
            };
            report.warn(line, message);
            return;
        }
    };
    if let Some(v) = version {
        if !since.covers(v) {
            report.warn(
                line,
                format!(
                    "{key} is not read by KCL {v} (the jars present): it needs {}; silently ignored",
                    since.describe()
                ),
            );
        }
    }
    if key == "validateSequenceNumberBeforeCheckpointing" {
        report.warn(
            line,
            format!("{key} is accepted by the daemon but has no effect"),
        );
    }
}

/// Values the daemon takes more literally than people expect.
fn check_value_text(entry: &Entry, report: &mut Report) {
    let v = entry.value.as_str();
    let line = Some(entry.line);
    let quoted = v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')));
    if quoted {
        report.warn(
            line,
            format!(
                "the value of {} is in quotes: the daemon keeps them as part of the value ({v})",
                entry.key
            ),
        );
    }
    if v.ends_with([' ', '\t', '\u{c}']) && !v.trim().is_empty() {
        report.warn(
            line,
            format!(
                "the value of {} ends with whitespace, which the daemon keeps as part of the value",
                entry.key
            ),
        );
    }
    if entry.non_ascii {
        report.warn(
            line,
            format!(
                "{} holds non-ASCII bytes: the daemon reads the file as ISO-8859-1, so UTF-8 text arrives garbled; write \\uXXXX escapes",
                entry.key
            ),
        );
    }
}

/// executableName, applicationName and a stream.
fn check_required(effective: &HashMap<&str, &Entry>, report: &mut Report) {
    let blank = |key: &str| effective.get(key).is_none_or(|e| e.value.trim().is_empty());
    if !effective.contains_key("executableName") {
        report.error(
            None,
            "executableName is missing: the daemon refuses to start without the processor's command line".to_owned(),
        );
    }
    if blank("applicationName") {
        let line = effective.get("applicationName").map(|e| e.line);
        report.error(
            line,
            "applicationName is missing or empty: the daemon refuses to start (it names the lease table)".to_owned(),
        );
    }
    if blank("streamName") && blank("streamArn") {
        report.error(
            None,
            "neither streamName nor streamArn is set: the daemon refuses to start".to_owned(),
        );
    }
}

/// `@NAME@`, the way the template spells what set_properties.sh fills in, if `value` holds one.
fn placeholder(value: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(at) = value[from..].find('@').map(|i| from + i) {
        let name = value[at + 1..]
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || *b == b'_')
            .count();
        if name > 0 && value.as_bytes().get(at + 1 + name) == Some(&b'@') {
            return Some(&value[at..at + name + 2]);
        }
        from = at + 1;
    }
    None
}

/// The template checked instead of the rendered file: one error per placeholder, and one that
/// says how to render. Returns whether an entry is free of placeholders.
fn check_placeholders(
    effective: &HashMap<&str, &Entry>,
    report: &mut Report,
) -> impl Fn(&Entry) -> bool {
    let mut unrendered: Vec<(&Entry, &str)> = effective
        .values()
        .filter_map(|e| placeholder(&e.value).map(|p| (*e, p)))
        .collect();
    unrendered.sort_by_key(|(e, _)| e.line);
    for (entry, name) in &unrendered {
        let from = match *name {
            "@EXECUTABLE_NAME@" => "RECORD_PROCESSOR_BIN and LOG_DIR",
            "@STREAM_NAME@" => "STREAM_NAME",
            "@APPLICATION_NAME@" => "APPLICATION_NAME",
            "@REGION@" => "REGION",
            _ => "nothing: set_properties.sh knows no such placeholder; set the value itself",
        };
        report.error(
            Some(entry.line),
            format!(
                "{} = {}: {name} is an unrendered placeholder (set_properties.sh fills it from {from})",
                entry.key, entry.value
            ),
        );
    }
    if !unrendered.is_empty() {
        report.error(
            None,
            "this is the unrendered template, not the file the daemon reads: render it, then check the result: \
             REGION=eu-west-1 STREAM_NAME=my-stream APPLICATION_NAME=my-app PROPERTIES_FILE=/tmp/rendered.properties ./set_properties.sh \
             && record_processor check-properties /tmp/rendered.properties (run.sh does both at every start)"
                .to_owned(),
        );
    }
    |entry: &Entry| placeholder(&entry.value).is_none()
}

mod credentials;
mod executable;
#[cfg(test)]
mod tests;
mod values;

use credentials::*;
use executable::*;
use values::*;
