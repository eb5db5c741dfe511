//! The checks. Each produces findings against the entries of one parsed file, as the daemon
//! would read it: the last of duplicate keys wins, keys are case-sensitive (except the
//! credentials family in newer KCLs), values are kept literally.

use std::collections::HashMap;
use std::path::Path;

use super::keys::{self, Known};
use super::parse::{Entry, Parsed};
use super::version::{self, Credentials, Detected, KclVersion, ProviderKind};

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

fn is_credentials_key(key: &str) -> bool {
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

/// The processor's command: the daemon splits executableName on spaces (no shell, no quoting)
/// and hands the words to ProcessBuilder, which looks a bare name up in PATH.
fn check_executable(entry: &Entry, path_env: Option<&std::ffi::OsStr>, report: &mut Report) {
    let line = Some(entry.line);
    // Java's split(" +") keeps a leading empty word when the value starts with a space.
    let first = entry.value.split(' ').next().unwrap_or("");
    if entry.value.trim().is_empty() {
        report.error(line, "executableName is empty".to_owned());
        return;
    }
    if first.is_empty() {
        report.error(
            line,
            "executableName starts with a space: the daemon would run an empty command".to_owned(),
        );
        return;
    }
    if !first.contains('/') {
        match find_in_path(first, path_env) {
            Some(found) => report.warn(
                line,
                format!(
                    "executableName runs \"{first}\", a bare name the daemon looks up in PATH (here: {}); an absolute path does not depend on PATH",
                    found.display()
                ),
            ),
            None => report.error(
                line,
                format!(
                    "executableName runs \"{first}\", which is not an absolute path and is not found in PATH: use the absolute path of the processor"
                ),
            ),
        }
        return;
    }
    if !first.starts_with('/') {
        report.error(
            line,
            format!(
                "executableName runs \"{first}\", a relative path, resolved against the daemon's working directory: use an absolute path"
            ),
        );
        return;
    }
    if let Err(why) = executable_file(Path::new(first)) {
        report.error(line, format!("executableName runs {first}, which {why}"));
    }
}

/// Ok if `path` is a regular file (after symlinks) that this user may execute.
fn executable_file(path: &Path) -> Result<(), &'static str> {
    let meta = std::fs::metadata(path).map_err(|_| "does not exist")?;
    if !meta.is_file() {
        return Err("is not a regular file");
    }
    if !may_execute(path) {
        return Err("is not executable (chmod +x)");
    }
    Ok(())
}

/// access(2) with X_OK: the checker runs as the same user as the daemon (run.sh starts both),
/// so this answers for the daemon too, root and ACLs included — mode bits alone would not.
fn may_execute(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::X_OK) == 0 }
}

fn find_in_path(name: &str, path_env: Option<&std::ffi::OsStr>) -> Option<std::path::PathBuf> {
    std::env::split_paths(path_env?)
        .map(|dir| dir.join(name))
        .find(|candidate| executable_file(candidate).is_ok())
}

/// The daemon validates streamArn against
/// `arn:aws[^:]*:kinesis:<region>:<12 digits>:stream/<name>` and fails otherwise.
fn check_stream_arn(entry: &Entry, report: &mut Report) {
    let v = entry.value.as_str();
    if v.trim().is_empty() || stream_arn_ok(v) {
        return;
    }
    report.error(
        Some(entry.line),
        format!(
            "streamArn \"{v}\" is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>): the daemon refuses to start"
        ),
    );
}

fn stream_arn_ok(v: &str) -> bool {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let name = resource.strip_prefix("stream/").unwrap_or("");
    *arn == "arn"
        && partition.starts_with("aws")
        && *service == "kinesis"
        && !region.is_empty()
        && region
            .chars()
            .all(|c| c == '-' || c.is_ascii_lowercase() || c.is_ascii_digit())
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
}

/// Enum values the daemon converts with `valueOf(value.toUpperCase())`: anything else throws
/// while the file is applied, and the daemon does not start.
fn check_enums(effective: &HashMap<&str, &Entry>, report: &mut Report) {
    const ENUMS: &[(&str, &[&str])] = &[
        ("retrievalMode", &["FANOUT", "POLLING", "DEFAULT"]),
        ("metricsLevel", &["NONE", "SUMMARY", "DETAILED"]),
        (
            "initialPositionInStream",
            &["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"],
        ),
        (
            "clientVersionConfig",
            &[
                "CLIENT_VERSION_CONFIG_3X",
                "CLIENT_VERSION_CONFIG_COMPATIBLE_WITH_2X",
            ],
        ),
    ];
    for (key, allowed) in ENUMS {
        let Some(entry) = effective.get(key) else {
            continue;
        };
        let upper = entry.value.to_uppercase();
        if !allowed.contains(&upper.as_str()) {
            report.error(
                Some(entry.line),
                format!(
                    "{key} = \"{}\" is not one of {} (case is ignored, spaces are not): the daemon fails on it",
                    entry.value,
                    allowed.join(", ")
                ),
            );
        } else if *key == "initialPositionInStream" && upper == "AT_TIMESTAMP" {
            report.warn(
                Some(entry.line),
                "initialPositionInStream = AT_TIMESTAMP takes no time: set initialPositionInStreamExtended = <epoch seconds> instead".to_owned(),
            );
        }
    }
}

/// Polling keys are ignored with FANOUT, and silently switch DEFAULT (or no mode) to POLLING.
fn check_retrieval(entries: &[Entry], effective: &HashMap<&str, &Entry>, report: &mut Report) {
    let mode = effective
        .get("retrievalMode")
        .map(|e| e.value.to_uppercase());
    for entry in entries {
        let Known::Polling(_) = keys::lookup(&entry.key) else {
            continue;
        };
        // Only the last of duplicates counts, and the KCL treats 0 as "not set" for the
        // primitive polling settings.
        if !effective
            .get(entry.key.as_str())
            .is_some_and(|e| std::ptr::eq(*e, entry))
            || polling_value_unset(entry)
        {
            continue;
        }
        let key = &entry.key;
        match mode.as_deref() {
            Some("FANOUT") => report.warn(
                Some(entry.line),
                format!("{key} is a polling setting and is ignored: retrievalMode = FANOUT"),
            ),
            Some("POLLING") => {}
            Some("DEFAULT") | None => report.warn(
                Some(entry.line),
                format!(
                    "{key} silently switches retrievalMode {} to POLLING (GetRecords) instead of enhanced fan-out: say retrievalMode = POLLING, or remove it for FANOUT",
                    if mode.is_some() { "DEFAULT" } else { "(unset, so DEFAULT)" }
                ),
            ),
            Some(_) => {} // an invalid mode is an error already
        }
    }
}

fn polling_value_unset(entry: &Entry) -> bool {
    let key = entry
        .key
        .strip_prefix("pollingConfig.")
        .unwrap_or(&entry.key);
    matches!(
        key,
        "maxRecords" | "idleTimeBetweenReadsInMillis" | "millisBehindLatestThresholdForReducedTps"
    ) && entry.value.trim().parse::<i64>() == Ok(0)
}

/// The grace period the daemon's shutdown hook gives processors on SIGTERM must end before the
/// container runtime's SIGKILL.
fn check_shutdown_grace(
    effective: &HashMap<&str, &Entry>,
    stop_timeout_ms: u64,
    report: &mut Report,
) {
    let Some(entry) = effective.get("shutdownGraceMillis") else {
        report.warn(
            None,
            format!(
                "shutdownGraceMillis is not set (KCL default 0): a graceful shutdown times out at once and processors never get shutdownRequested; set it below the stop timeout ({stop_timeout_ms} ms), e.g. {}",
                stop_timeout_ms.saturating_sub(5000).max(1000)
            ),
        );
        return;
    };
    let line = Some(entry.line);
    match entry.value.trim().parse::<i64>() {
        Err(_) => report.error(
            line,
            format!(
                "shutdownGraceMillis = \"{}\" is not a whole number of milliseconds",
                entry.value
            ),
        ),
        Ok(ms) if ms <= 0 => report.warn(
            line,
            format!(
                "shutdownGraceMillis = {ms}: a graceful shutdown times out at once and processors never get shutdownRequested; set it below the stop timeout ({stop_timeout_ms} ms)"
            ),
        ),
        // At equality the SIGKILL lands exactly when the grace ends, before the JVM can exit.
        Ok(ms) if ms.unsigned_abs() >= stop_timeout_ms => report.error(
            line,
            format!(
                "shutdownGraceMillis = {ms} is not below the stop timeout ({stop_timeout_ms} ms; ECS's default stopTimeout is 30 s): the container is killed (SIGKILL) before processors finish; lower it, or raise stopTimeout and pass --stop-timeout-ms / STOP_TIMEOUT_MS"
            ),
        ),
        Ok(_) => {}
    }
}

/// The credentials key and class names the detected KCL reads.
fn check_credentials(entries: &[Entry], version: Option<KclVersion>, report: &mut Report) {
    let family: Vec<&Entry> = entries
        .iter()
        .filter(|e| is_credentials_key(&e.key))
        .collect();
    let generation = version.map(KclVersion::credentials);
    let certain = generation.is_some();
    let which = version.map_or_else(|| "unknown KCL version".to_owned(), |v| format!("KCL {v}"));

    if family.is_empty() {
        report.error(
            None,
            format!(
                "no credentials provider: the daemon requires {} (\"A basic set of AWS credentials must be provided\")",
                match generation {
                    Some(Credentials::SdkV1) => "AWSCredentialsProvider = DefaultAWSCredentialsProviderChain",
                    Some(Credentials::SdkV2) => "AwsCredentialsProvider = DefaultCredentialsProvider",
                    None => "AwsCredentialsProvider = DefaultCredentialsProvider (KCL ≥ 2.7, 3.x) or AWSCredentialsProvider = DefaultAWSCredentialsProviderChain (KCL ≤ 2.6)",
                }
            ),
        );
        return;
    }

    let generations: &[Credentials] = match generation {
        Some(g) => match g {
            Credentials::SdkV1 => &[Credentials::SdkV1],
            Credentials::SdkV2 => &[Credentials::SdkV2],
        },
        None => &[Credentials::SdkV1, Credentials::SdkV2],
    };
    let mut has_main = false;
    // A main key of the other generation is reported on its own line; no second error then.
    let mut misspelt_main = false;
    for entry in &family {
        let line = Some(entry.line);
        let key = entry.key.as_str();
        let slot_v1 = credentials_slot(key, Credentials::SdkV1);
        let slot_v2 = credentials_slot(key, Credentials::SdkV2);
        let fits = |g: Credentials| match g {
            Credentials::SdkV1 => slot_v1.is_some(),
            Credentials::SdkV2 => slot_v2.is_some(),
        };
        if !generations.iter().any(|&g| fits(g)) {
            if slot_v1.is_none() && slot_v2.is_none() {
                let meant = keys::suggest(key).unwrap_or_else(|| "AwsCredentialsProvider".into());
                report.warn(
                    line,
                    format!("unknown key {key} is silently ignored: did you mean {meant}?"),
                );
            } else {
                misspelt_main |= slot_v1 == Some("") || slot_v2 == Some("");
                let (want, names) = match generation {
                    Some(Credentials::SdkV1) => (
                        "AWSCredentialsProvider (exactly so spelt)",
                        "SDK v1 class names such as DefaultAWSCredentialsProviderChain",
                    ),
                    _ => (
                        "AwsCredentialsProvider",
                        "SDK v2 class names such as DefaultCredentialsProvider",
                    ),
                };
                report.by_certainty(
                    certain,
                    line,
                    format!("{key} is ignored by {which}, which reads {want} with {names}"),
                );
            }
            continue;
        }
        // The generations that read this key; the value is judged against those.
        let key_generations: Vec<Credentials> =
            generations.iter().copied().filter(|&g| fits(g)).collect();
        if key_generations
            .iter()
            .any(|&g| credentials_slot(key, g) == Some(""))
        {
            has_main = true;
        }
        let readers = match version {
            Some(v) => format!("KCL {v}"),
            None => describe_generations(&key_generations),
        };
        check_provider_value(entry, &key_generations, &readers, certain, report);
    }
    if !has_main && !misspelt_main && certain {
        report.error(
            None,
            format!(
                "no main credentials provider for {which}: the daemon requires {} (\"A basic set of AWS credentials must be provided\")",
                match generation {
                    Some(Credentials::SdkV1) => "AWSCredentialsProvider",
                    _ => "AwsCredentialsProvider",
                }
            ),
        );
    }
}

/// Which credentials property `key` sets for a generation: `""` (Kinesis and the default),
/// `"DynamoDB"` or `"CloudWatch"`; `None` if that generation ignores the key.
fn credentials_slot(key: &str, generation: Credentials) -> Option<&'static str> {
    const PREFIX: &str = "awscredentialsprovider";
    match generation {
        // KCL ≤ 2.6: bean properties AWSCredentialsProvider…, matched case-sensitively.
        Credentials::SdkV1 => match key {
            "AWSCredentialsProvider" => Some(""),
            "AWSCredentialsProviderDynamoDB" => Some("DynamoDB"),
            "AWSCredentialsProviderCloudWatch" => Some("CloudWatch"),
            _ => None,
        },
        // KCL ≥ 2.7: the prefix is rewritten to awsCredentialsProvider whatever its case; the
        // rest must then match the bean property exactly.
        Credentials::SdkV2 => {
            if !key.is_char_boundary(PREFIX.len())
                || !key[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
            {
                return None;
            }
            match &key[PREFIX.len()..] {
                "" => Some(""),
                "DynamoDB" => Some("DynamoDB"),
                "CloudWatch" => Some("CloudWatch"),
                _ => None,
            }
        }
    }
}

/// "KCL ≤ 2.6" / "KCL ≥ 2.7 and 3.x" — who reads a key when the version is unknown.
fn describe_generations(generations: &[Credentials]) -> String {
    match generations {
        [Credentials::SdkV1] => "KCL ≤ 2.6 (the jars' version is unknown)".to_owned(),
        [Credentials::SdkV2] => "KCL ≥ 2.7 and 3.x (the jars' version is unknown)".to_owned(),
        _ => "the KCL (its version is unknown)".to_owned(),
    }
}

fn check_provider_value(
    entry: &Entry,
    generations: &[Credentials],
    which: &str,
    certain: bool,
    report: &mut Report,
) {
    let line = Some(entry.line);
    let key = &entry.key;
    let names = version::provider_names(&entry.value);
    if names.is_empty() {
        report.error(line, format!("{key} is empty: no credentials provider"));
        return;
    }
    // A name is wrong only if every generation in question rejects it.
    let wrong = |name: &str| {
        let kind = version::provider_kind(name);
        generations.iter().all(|g| match g {
            Credentials::SdkV1 => kind == ProviderKind::V2,
            Credentials::SdkV2 => kind == ProviderKind::V1,
        })
    };
    let bad: Vec<&str> = names.iter().copied().filter(|n| wrong(n)).collect();
    let hint = match generations {
        [Credentials::SdkV1] => "SDK v1 class names (e.g. DefaultAWSCredentialsProviderChain)",
        [Credentials::SdkV2] => "SDK v2 class names (e.g. DefaultCredentialsProvider)",
        _ => "SDK v2 names such as DefaultCredentialsProvider (KCL ≥ 2.7, 3.x) or SDK v1 names such as DefaultAWSCredentialsProviderChain (KCL ≤ 2.6)",
    };
    for name in &bad {
        let all_bad = bad.len() == names.len();
        let message = format!(
            "{key}: {name} is {} class name, which {which} cannot load; it needs {hint}{}",
            match version::provider_kind(name) {
                ProviderKind::V1 => "an AWS SDK v1",
                _ => "an AWS SDK v2",
            },
            if all_bad {
                ""
            } else {
                " (the other providers in the list still work)"
            }
        );
        if all_bad {
            report.by_certainty(certain, line, message);
        } else {
            report.warn(line, message);
        }
    }
    for name in names {
        if version::provider_kind(name) == ProviderKind::UnknownShort {
            report.warn(
                line,
                format!(
                    "{key}: {name} is not a credentials provider this check knows; the daemon skips names it cannot load ({hint})"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_properties::parse::parse;

    fn run(text: &str, kcl: Detected) -> Vec<Finding> {
        let ctx = Context {
            kcl,
            stop_timeout_ms: 30_000,
            path_env: Some("/usr/bin:/bin".into()),
        };
        check(&parse(text.as_bytes()), &ctx)
    }

    const GOOD_V3: &str = "executableName = /bin/sh\nstreamName = s\napplicationName = a\n\
        AwsCredentialsProvider = DefaultCredentialsProvider\nretrievalMode = FANOUT\n\
        shutdownGraceMillis = 25000\n";
    const GOOD_V2: &str = "executableName = /bin/sh\nstreamName = s\napplicationName = a\n\
        AWSCredentialsProvider = DefaultAWSCredentialsProviderChain\nretrievalMode = FANOUT\n\
        shutdownGraceMillis = 25000\n";

    fn v3() -> Detected {
        Detected::Version(KclVersion::new(3, 5, 3))
    }

    fn v2() -> Detected {
        Detected::Version(KclVersion::new(2, 5, 8))
    }

    fn errors(f: &[Finding]) -> Vec<&str> {
        f.iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.message.as_str())
            .collect()
    }

    fn warnings(f: &[Finding]) -> Vec<&str> {
        f.iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(|f| f.message.as_str())
            .collect()
    }

    fn has(list: &[&str], needle: &str) -> bool {
        list.iter().any(|m| m.contains(needle))
    }

    #[test]
    fn good_files_are_clean() {
        assert_eq!(run(GOOD_V3, v3()), vec![]);
        assert_eq!(run(GOOD_V2, v2()), vec![]);
        // The 2.7 line already reads the 3.x-style credentials.
        assert_eq!(
            run(GOOD_V3, Detected::Version(KclVersion::new(2, 7, 3))),
            vec![]
        );
    }

    #[test]
    fn missing_required_keys() {
        let f = run("", v3());
        let e = errors(&f);
        assert!(has(&e, "executableName is missing"));
        assert!(has(&e, "applicationName"));
        assert!(has(&e, "streamName nor streamArn"));
        assert!(has(&e, "no credentials provider"));
        // streamArn alone is enough.
        let text = GOOD_V3.replace(
            "streamName = s",
            "streamArn = arn:aws:kinesis:us-east-1:123456789012:stream/s",
        );
        assert_eq!(run(&text, v3()), vec![]);
        let text = GOOD_V3.replace("streamName = s", "streamArn = s");
        assert!(has(&errors(&run(&text, v3())), "not a Kinesis stream ARN"));
    }

    #[test]
    fn placeholders_are_found_where_set_properties_puts_them() {
        assert_eq!(placeholder("@EXECUTABLE_NAME@"), Some("@EXECUTABLE_NAME@"));
        assert_eq!(placeholder("x @REGION@ y"), Some("@REGION@"));
        assert_eq!(placeholder("a@b.c @@ @lower@ @A"), None);
        assert_eq!(placeholder("me@example.com @X_Y@"), Some("@X_Y@"));
    }

    #[test]
    fn the_unrendered_template_is_called_so_and_not_a_bad_path() {
        let text = GOOD_V3
            .replace("/bin/sh", "@EXECUTABLE_NAME@")
            .replace("streamName = s", "streamName = @STREAM_NAME@")
            + "regionName = @REGION@\nstreamArn = @STREAM_ARN@\n";
        let f = run(&text, v3());
        let e = errors(&f);
        assert!(has(&e, "executableName = @EXECUTABLE_NAME@: @EXECUTABLE_NAME@ is an unrendered placeholder (set_properties.sh fills it from RECORD_PROCESSOR_BIN and LOG_DIR)"), "{e:?}");
        assert!(has(&e, "@STREAM_NAME@ is an unrendered placeholder (set_properties.sh fills it from STREAM_NAME)"));
        assert!(has(
            &e,
            "@REGION@ is an unrendered placeholder (set_properties.sh fills it from REGION)"
        ));
        assert!(has(
            &e,
            "@STREAM_ARN@ is an unrendered placeholder (set_properties.sh fills it from nothing"
        ));
        assert!(has(&e, "this is the unrendered template"));
        assert!(has(&e, "./set_properties.sh"));
        assert!(
            !has(&e, "PATH"),
            "no complaint about the placeholder as a path: {e:?}"
        );
        assert!(!has(&e, "not a Kinesis stream ARN"), "{e:?}");
        assert_eq!(e.len(), 5, "{e:?}");
        assert_eq!(
            f[0].line, None,
            "the how-to-render finding comes first: {f:?}"
        );
    }

    #[test]
    fn executable_rules() {
        let with = |exe: &str| run(&GOOD_V3.replace("/bin/sh", exe), v3());
        assert_eq!(with("/bin/sh --flag x"), vec![]);
        assert!(has(&errors(&with("/no/such/file")), "does not exist"));
        assert!(has(&errors(&with("/")), "not a regular file"));
        assert!(has(&errors(&with("bin/sh")), "relative path"));
        assert!(has(
            &errors(&with("no-such-command-xyz")),
            "not found in PATH"
        ));
        assert!(has(&warnings(&with("sh x.sh")), "bare name"));
        assert!(has(&errors(&with("\\ /bin/sh")), "starts with a space"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, "").unwrap();
        // access(X_OK) wants at least one x bit, for root too.
        assert!(has(
            &errors(&with(file.to_str().unwrap())),
            "not executable"
        ));
    }

    #[test]
    fn unknown_keys_and_mappings() {
        let f = run(
            &format!(
                "{GOOD_V3}RetrievalMode = POLLING\ncloudWatchEndpoint = http://x\nconsumerName = c\n\
                 StreamName = x\nmaxLeasesForWorkr = 3\nsomethingElse = 1\nkinesisClient.endpointOverride = http://y\n\
                 fanoutConfig.consumerName = c\n"
            ),
            v3(),
        );
        assert!(errors(&f).is_empty(), "{f:?}");
        let w = warnings(&f);
        assert!(has(
            &w,
            "RetrievalMode is not a KCL property and is silently ignored: use retrievalMode"
        ));
        assert!(has(&w, "use cloudWatchClient.endpointOverride"));
        assert!(has(&w, "use fanoutConfig.consumerName"));
        assert!(has(&w, "case-sensitive, did you mean streamName?"));
        assert!(has(&w, "did you mean maxLeasesForWorker?"));
        assert!(has(&w, "unknown key somethingElse"));
        assert_eq!(w.len(), 6, "{w:?}");
        let lines: Vec<_> = f.iter().map(|f| f.line).collect();
        assert_eq!(
            lines,
            vec![Some(7), Some(8), Some(9), Some(10), Some(11), Some(12)]
        );
    }

    #[test]
    fn version_specific_keys() {
        let text = format!("{GOOD_V2}clientVersionConfig = CLIENT_VERSION_CONFIG_3X\n");
        assert!(has(&warnings(&run(&text, v2())), "not read by KCL 2.5.8"));
        let text = format!("{GOOD_V3}clientVersionConfig = CLIENT_VERSION_CONFIG_3X\n");
        assert_eq!(run(&text, v3()), vec![]);
    }

    #[test]
    fn polling_keys_and_modes() {
        let text = format!(
            "{GOOD_V3}maxRecords = 100\npollingConfig.idleTimeBetweenReadsInMillis = 500\n"
        );
        let f = run(&text, v3());
        let w = warnings(&f);
        assert!(has(&w, "maxRecords is a polling setting and is ignored"));
        assert!(has(
            &w,
            "pollingConfig.idleTimeBetweenReadsInMillis is a polling setting"
        ));
        let text = text.replace("retrievalMode = FANOUT", "retrievalMode = default");
        assert!(has(
            &warnings(&run(&text, v3())),
            "silently switches retrievalMode DEFAULT to POLLING"
        ));
        let text = text.replace("retrievalMode = default\n", "");
        assert!(has(
            &warnings(&run(&text, v3())),
            "(unset, so DEFAULT) to POLLING"
        ));
        let text = format!("{GOOD_V3}maxRecords = 100\n").replace("FANOUT", "Polling");
        assert_eq!(run(&text, v3()), vec![]);
        // Zero counts as unset for the KCL.
        let text = format!("{GOOD_V3}maxRecords = 0\n");
        assert_eq!(run(&text, v3()), vec![]);
        let text = GOOD_V3.replace("FANOUT", "FANOUT ");
        assert!(has(
            &errors(&run(&text, v3())),
            "retrievalMode = \"FANOUT \" is not one of"
        ));
    }

    #[test]
    fn shutdown_grace() {
        let with = |v: &str| run(&GOOD_V3.replace("25000", v), v3());
        assert!(has(&warnings(&with("0")), "shutdownGraceMillis = 0"));
        assert!(has(&errors(&with("30000")), "not below the stop timeout"));
        assert!(has(&errors(&with("60000")), "not below the stop timeout"));
        assert!(has(&errors(&with("soon")), "not a whole number"));
        assert_eq!(with("29000"), vec![]);
        let unset = run(&GOOD_V3.replace("shutdownGraceMillis = 25000\n", ""), v3());
        assert!(has(&warnings(&unset), "shutdownGraceMillis is not set"));
    }

    #[test]
    fn credentials_v3() {
        let with = |line: &str| {
            run(
                &GOOD_V3.replace("AwsCredentialsProvider = DefaultCredentialsProvider", line),
                v3(),
            )
        };
        let f = with("AwsCredentialsProvider = DefaultAWSCredentialsProviderChain");
        assert!(has(
            &errors(&f),
            "DefaultAWSCredentialsProviderChain is an AWS SDK v1 class name"
        ));
        // Any case of the key works in 3.x.
        assert_eq!(
            with("AWSCredentialsProvider = DefaultCredentialsProvider"),
            vec![]
        );
        assert_eq!(
            with("awscredentialsprovider = ProfileCredentialsProvider"),
            vec![]
        );
        // One bad name among good ones only warns.
        let f = with("AwsCredentialsProvider = DefaultAWSCredentialsProviderChain,EnvironmentVariableCredentialsProvider");
        assert!(errors(&f).is_empty());
        assert!(has(&warnings(&f), "still work"));
        let f = with("AwsCredentialsProvider = NoSuchProvider");
        assert!(has(
            &warnings(&f),
            "not a credentials provider this check knows"
        ));
        let f = with("AwsCredentialsProviderDynamodb = DefaultCredentialsProvider");
        assert!(has(&errors(&f), "no main credentials provider"));
        assert!(has(
            &warnings(&f),
            "did you mean AwsCredentialsProviderDynamoDB"
        ));
        let f = with(
            "AwsCredentialsProvider = StsAssumeRoleCredentialsProvider|arn:aws:iam::1:role/r|s",
        );
        assert_eq!(f, vec![]);
    }

    #[test]
    fn credentials_v2() {
        let with = |line: &str| {
            run(
                &GOOD_V2.replace(
                    "AWSCredentialsProvider = DefaultAWSCredentialsProviderChain",
                    line,
                ),
                v2(),
            )
        };
        let f = with("AwsCredentialsProvider = DefaultCredentialsProvider");
        assert!(has(
            &errors(&f),
            "AwsCredentialsProvider is ignored by KCL 2.5.8"
        ));
        assert_eq!(errors(&f).len(), 1, "{f:?}");
        let f = with("AWSCredentialsProviderDynamoDB = DefaultAWSCredentialsProviderChain");
        assert!(has(&errors(&f), "no main credentials provider"));
        let f = with("AWSCredentialsProvider = DefaultCredentialsProvider");
        assert!(has(
            &errors(&f),
            "DefaultCredentialsProvider is an AWS SDK v2 class name"
        ));
        assert_eq!(
            with("AWSCredentialsProvider = EnvironmentVariableCredentialsProvider"),
            vec![]
        );
    }

    #[test]
    fn credentials_unknown_version_only_warns() {
        let unknown = Detected::Unknown("no jars".into());
        assert_eq!(run(GOOD_V3, unknown.clone()), vec![]);
        assert_eq!(run(GOOD_V2, unknown.clone()), vec![]);
        let f = run(
            &GOOD_V3.replace(
                "DefaultCredentialsProvider",
                "DefaultAWSCredentialsProviderChain",
            ),
            unknown.clone(),
        );
        // Key of one generation, value of the other: fits neither, but only a guess.
        assert!(errors(&f).is_empty(), "{f:?}");
        assert!(!warnings(&f).is_empty());
        let f = run(
            &GOOD_V3.replace("AwsCredentialsProvider = DefaultCredentialsProvider\n", ""),
            unknown,
        );
        assert!(has(&errors(&f), "no credentials provider"));
    }

    #[test]
    fn value_text_warnings() {
        let text = format!("{GOOD_V3}metricsLevel = \"SUMMARY\"\ntableName = t \n");
        let f = run(&text, v3());
        assert!(has(&warnings(&f), "in quotes"));
        assert!(has(&warnings(&f), "ends with whitespace"));
        // The quoted enum value is also refused by the daemon.
        assert!(has(&errors(&f), "metricsLevel"));
        let f = run(&format!("{GOOD_V3}tableName = tä\n"), v3());
        assert!(has(&warnings(&f), "ISO-8859-1"));
    }

    #[test]
    fn duplicates_and_parse_errors() {
        let f = run(
            &format!("{GOOD_V3}tableName = a\ntableName = b\nx = \\u00zz\n"),
            v3(),
        );
        assert!(has(&warnings(&f), "set again (first on line 7)"));
        assert!(has(&errors(&f), "malformed"));
    }

    #[test]
    fn arn_shapes() {
        assert!(stream_arn_ok(
            "arn:aws:kinesis:us-east-1:123456789012:stream/a"
        ));
        assert!(stream_arn_ok(
            "arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a:b"
        ));
        assert!(!stream_arn_ok("arn:aws:kinesis:us-east-1:12345:stream/a"));
        assert!(!stream_arn_ok(
            "arn:aws:sqs:us-east-1:123456789012:stream/a"
        ));
        assert!(!stream_arn_ok("arn:aws:kinesis::123456789012:stream/a"));
        assert!(!stream_arn_ok(
            "arn:aws:kinesis:us-east-1:123456789012:stream/"
        ));
    }
}
