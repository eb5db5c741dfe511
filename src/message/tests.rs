//! Tests of parsing and encoding the daemon's messages.

use super::encode::push_json_string;
use super::*;

fn parse(s: &str) -> Message<'_> {
    parse_message(s.as_bytes()).expect("parses")
}

#[test]
fn initialize_with_sentinel_and_nulls() {
    let m = parse(
        r#"{"action":"initialize","shardId":"shardId-000000000007","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}"#,
    );
    let Message::Initialize(i) = m else {
        panic!("{m:?}")
    };
    assert_eq!(i.shard_id, "shardId-000000000007");
    assert_eq!(i.sequence_number.as_deref(), Some("TRIM_HORIZON"));
    assert_eq!(i.sub_sequence_number, Some(0));
    let m = parse(
        r#"{"action":"initialize","shardId":"s","sequenceNumber":null,"subSequenceNumber":null}"#,
    );
    let Message::Initialize(i) = m else { panic!() };
    assert_eq!((i.sequence_number, i.sub_sequence_number), (None, None));
}

#[test]
fn a_sequence_number_sent_as_a_number_keeps_its_exact_digits() {
    let seq = "49590338271490256608559692538361571095921575989136588899";
    let line = format!(
        r#"{{"action":"initialize","shardId":"s","sequenceNumber":{seq},"subSequenceNumber":0}}"#
    );
    let Message::Initialize(i) = parse(&line) else {
        panic!()
    };
    assert_eq!(
        i.sequence_number.as_deref(),
        Some(seq),
        "not through an f64"
    );
    let Message::Checkpoint(c) = parse(&format!(
        r#"{{"action":"checkpoint","sequenceNumber":{seq},"subSequenceNumber":3,"error":null}}"#
    )) else {
        panic!()
    };
    assert_eq!(c.sequence_number.as_deref(), Some(seq));
    // A string is unescaped as usual.
    let Message::Initialize(i) =
        parse(r#"{"action":"initialize","shardId":"s","sequenceNumber":"4\u0032"}"#)
    else {
        panic!()
    };
    assert_eq!(i.sequence_number.as_deref(), Some("42"));
    // Any other number is refused, naming it, rather than logged as something else.
    for number in ["4.959033827149025e+55", "1e3", "1.5", "-5", "-0", "0.0"] {
        let line = format!(
            r#"{{"action":"initialize","shardId":"s","sequenceNumber":{number},"subSequenceNumber":0}}"#
        );
        let err = parse_message(line.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "sequenceNumber {number}: a sequence number sent as a JSON number must be a non-negative integer"
            )),
            "{err}"
        );
    }
}

#[test]
fn process_records_decodes_and_ignores_unknown_fields() {
    let line = r#"{"action":"processRecords","records":[{"data":"aGVsbG8=","partitionKey":"pk-1","sequenceNumber":"49590338271490256608559692538361571095921575989136588898","approximateArrivalTimestamp":1700000000123,"subSequenceNumber":0,"action":"record","future":{"x":[1]}},{"data":"AP8KDQ==","partitionKey":"pk-2","sequenceNumber":"10","approximateArrivalTimestamp":null,"subSequenceNumber":2,"action":"record"}],"millisBehindLatest":1234,"newField":true}"#;
    let m = parse(line);
    let Message::ProcessRecords {
        records,
        millis_behind_latest,
    } = m
    else {
        panic!()
    };
    assert_eq!(millis_behind_latest, Some(1234));
    let mut arena = Vec::new();
    let recs = decode_records(&records, &mut arena).unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].data, b"hello");
    assert_eq!(recs[0].partition_key, "pk-1");
    assert_eq!(recs[0].approximate_arrival_timestamp, Some(1700000000123));
    assert_eq!(recs[1].data, [0x00, 0xff, 0x0a, 0x0d]);
    assert_eq!(recs[1].sub_sequence_number, 2);
    assert_eq!(recs[1].approximate_arrival_timestamp, None);
    assert!(recs[1].data_utf8().is_err());
}

#[test]
fn escaped_strings_are_decoded_not_borrowed() {
    let m = parse(
        r#"{"action":"processRecords","records":[{"data":"YQ\u003d\u003d","partitionKey":"k\"\u00e9","sequenceNumber":"1","subSequenceNumber":0}]}"#,
    );
    let Message::ProcessRecords { records, .. } = m else {
        panic!()
    };
    let mut arena = Vec::new();
    let recs = decode_records(&records, &mut arena).unwrap();
    assert_eq!(recs[0].partition_key, "k\"é");
    assert!(matches!(recs[0].partition_key, Cow::Owned(_)));
    assert_eq!(recs[0].data, b"a");
    assert!(matches!(recs[0].sequence_number, Cow::Borrowed(_)));
}

#[test]
fn empty_and_null_batches() {
    let m = parse(r#"{"action":"processRecords","records":[],"millisBehindLatest":null}"#);
    let Message::ProcessRecords {
        records,
        millis_behind_latest,
    } = m
    else {
        panic!()
    };
    assert!(records.is_empty());
    assert_eq!(millis_behind_latest, None);
    let m = parse(r#"{"action":"processRecords","records":null}"#);
    assert!(matches!(m, Message::ProcessRecords { records, .. } if records.is_empty()));
}

#[test]
fn empty_data_is_an_empty_record() {
    let m = parse(
        r#"{"action":"processRecords","records":[{"data":"","partitionKey":"k","sequenceNumber":"1","subSequenceNumber":0}]}"#,
    );
    let Message::ProcessRecords { records, .. } = m else {
        panic!()
    };
    let mut arena = Vec::new();
    let recs = decode_records(&records, &mut arena).unwrap();
    assert_eq!(recs[0].data, b"");
}

#[test]
fn bad_records_are_errors_naming_the_record() {
    for (rec, want) in [
        (
            r#"{"data":"!!!","partitionKey":"k","sequenceNumber":"42","subSequenceNumber":3}"#,
            "42:3",
        ),
        (
            r#"{"data":null,"partitionKey":"k","sequenceNumber":"43"}"#,
            "43:0",
        ),
        (
            r#"{"data":"aGVsbG8=","partitionKey":"k"}"#,
            "without a sequenceNumber",
        ),
    ] {
        let line = format!(r#"{{"action":"processRecords","records":[{rec}]}}"#);
        let Message::ProcessRecords { records, .. } = parse_message(line.as_bytes()).unwrap()
        else {
            panic!()
        };
        let mut arena = Vec::new();
        let err = decode_records(&records, &mut arena)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn checkpoint_replies() {
    let Message::Checkpoint(c) = parse(
        r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":null}"#,
    ) else {
        panic!()
    };
    assert_eq!(
        c,
        CheckpointReply {
            sequence_number: None,
            sub_sequence_number: None,
            error: None
        }
    );
    let Message::Checkpoint(c) = parse(
        r#"{"action":"checkpoint","sequenceNumber":12345,"subSequenceNumber":2,"error":"ThrottlingException"}"#,
    ) else {
        panic!()
    };
    assert_eq!(c.sequence_number.as_deref(), Some("12345"));
    assert_eq!(c.error.as_deref(), Some("ThrottlingException"));
}

#[test]
fn simple_actions_and_legacy_shutdown() {
    assert!(matches!(
        parse(r#"{"action":"leaseLost"}"#),
        Message::LeaseLost
    ));
    assert!(matches!(
        parse(r#"{"action":"shardEnded"}"#),
        Message::ShardEnded
    ));
    assert!(matches!(
        parse("{\"action\":\"shutdownRequested\"}\r\n"),
        Message::ShutdownRequested
    ));
    assert!(matches!(
        parse(r#"{"action":"shutdown","reason":"TERMINATE"}"#),
        Message::Shutdown(ShutdownReason::Terminate)
    ));
    assert!(matches!(
        parse(r#"{"action":"shutdown","reason":"ZOMBIE"}"#),
        Message::Shutdown(ShutdownReason::Zombie)
    ));
    assert!(parse_message(br#"{"action":"shutdown","reason":"LATER"}"#).is_err());
}

#[test]
fn unknown_actions_even_with_odd_fields() {
    assert!(
        matches!(parse(r#"{"action":"prepareCheckpoint","x":1}"#), Message::Unknown(a) if a == "prepareCheckpoint")
    );
    assert!(
        matches!(parse(r#"{"action":"newThing","records":"not a list"}"#), Message::Unknown(a) if a == "newThing")
    );
}

#[test]
fn malformed_lines_name_the_problem() {
    for (line, want) in [
        ("hello", "not a JSON object"),
        ("{\"records\":[]}", "no \"action\""),
        ("{\"action\":null}", "no \"action\""),
        ("[1,2]", "not a JSON object"),
        (
            "{\"action\":\"processRecords\",\"records\":5}",
            "invalid type",
        ),
        ("{\"action\":\"initialize\"}", "without a shardId"),
    ] {
        let err = parse_message(line.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(want), "{line}: {err}");
        assert!(err.contains(line), "names the line: {err}");
    }
}

#[test]
fn non_utf8_input_is_repaired() {
    let mut line = br#"{"action":"initialize","shardId":"sh"#.to_vec();
    line.push(0xff);
    line.extend_from_slice(br#"","sequenceNumber":"1","subSequenceNumber":0}"#);
    let Message::Initialize(i) = parse_message(&line).unwrap() else {
        panic!()
    };
    assert_eq!(i.shard_id, "sh\u{fffd}");
}

#[test]
fn outgoing_is_exact_and_ascii() {
    let mut out = Vec::new();
    encode_status(&mut out, "processRecords");
    assert_eq!(
        out,
        br#"{"action":"status","responseFor":"processRecords"}"#
    );
    out.clear();
    encode_checkpoint(&mut out, Some("123"), Some(4));
    assert_eq!(
        out,
        br#"{"action":"checkpoint","sequenceNumber":"123","subSequenceNumber":4}"#
    );
    out.clear();
    encode_checkpoint(&mut out, None, None);
    assert_eq!(
        out,
        br#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}"#
    );
    out.clear();
    push_json_string(&mut out, "é\"\\\n\u{1}😀");
    assert_eq!(out, br#""\u00e9\"\\\n\u0001\ud83d\ude00""#);
    let back: String = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, "é\"\\\n\u{1}😀");
}
