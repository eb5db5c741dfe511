//! Checks of single values: the stream ARN, the enumerations, the retrieval mode and its
//! polling keys, the shutdown grace.

use std::collections::HashMap;

use super::super::keys::{self, Known};
use super::super::parse::Entry;
use super::Report;

/// The daemon validates streamArn against
/// `arn:aws[^:]*:kinesis:<region>:<12 digits>:stream/<name>` and fails otherwise.
pub(super) fn check_stream_arn(entry: &Entry, report: &mut Report) {
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

pub(super) fn stream_arn_ok(v: &str) -> bool {
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
pub(super) fn check_enums(effective: &HashMap<&str, &Entry>, report: &mut Report) {
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
pub(super) fn check_retrieval(
    entries: &[Entry],
    effective: &HashMap<&str, &Entry>,
    report: &mut Report,
) {
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

pub(super) fn polling_value_unset(entry: &Entry) -> bool {
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
pub(super) fn check_shutdown_grace(
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
