//! What the integration tests share: the binary under test and the daemon's side of the
//! protocol, written once.
//!
//! Each test file is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::path::PathBuf;

/// The `record_processor` binary Cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_record_processor"))
}

/// A `processRecords` line as the daemon (Jackson) writes it: `records` are
/// (base64 data, sequence number, sub-sequence number).
pub fn process_records(records: &[(&str, &str, u64)], millis_behind_latest: u64) -> String {
    let recs: Vec<String> = records
        .iter()
        .map(|(data, seq, sub)| {
            format!(
                r#"{{"data":"{data}","partitionKey":"pk","sequenceNumber":"{seq}","approximateArrivalTimestamp":1700000000123,"subSequenceNumber":{sub},"action":"record"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"action":"processRecords","records":[{}],"millisBehindLatest":{millis_behind_latest}}}"#,
        recs.join(",")
    )
}

/// The status the processor answers `action` with.
pub fn status(action: &str) -> String {
    format!(r#"{{"action":"status","responseFor":"{action}"}}"#)
}

/// The daemon's reply to a checkpoint request (`null` where `None`).
pub fn checkpoint_reply(seq: Option<&str>, sub: Option<u64>, error: Option<&str>) -> String {
    let q = |v: Option<&str>| v.map_or("null".to_string(), |s| format!("\"{s}\""));
    let n = sub.map_or("null".to_string(), |n| n.to_string());
    format!(
        r#"{{"action":"checkpoint","sequenceNumber":{},"subSequenceNumber":{n},"error":{}}}"#,
        q(seq),
        q(error)
    )
}
