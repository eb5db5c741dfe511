//! Events through the `tracing` layer: their messages and fields escaped by the rules.

use tracing::Level;

use super::{file_bytes, reference_escape, temp_log};
use crate::logging::escape::Escaping;
use crate::logging::LogFormat;

/// Every character up to U+0100 and a few beyond, in messages long enough for every scan
/// (the AVX2 one from 1,024 bytes): an event's line is the rules' bytes, whichever kernels
/// the build and the CPU run.
#[test]
fn events_are_escaped_by_the_rules() {
    let all: String = (0u8..=0xff)
        .map(char::from)
        .chain("é😀\u{201b}\u{109b}".chars())
        .collect();
    let messages = [
        all.clone(),
        format!("{}{all}", "x".repeat(1500)),
        format!("{}\u{9b}{}", "y".repeat(1023), "z".repeat(40)),
    ];
    for format in [LogFormat::Text, LogFormat::Json] {
        let (dir, log) = temp_log(format);
        use tracing_subscriber::layer::SubscriberExt as _;
        let subscriber = tracing_subscriber::registry().with(log.layer(format, Level::INFO));
        tracing::subscriber::with_default(subscriber, || {
            for m in &messages {
                tracing::info!(field = m.as_str(), "{m}");
            }
        });
        log.flush().unwrap();
        let written = String::from_utf8(file_bytes(&dir)).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(
            lines.len(),
            messages.len(),
            "{format:?}: one line per event"
        );
        let escaping = Escaping::of(format);
        for (line, m) in lines.iter().zip(&messages) {
            let escaped = reference_escape(escaping, m);
            match format {
                LogFormat::Text => {
                    let want = format!(" - {escaped} field={escaped}");
                    assert!(line.ends_with(&want), "{format:?}: {line}");
                }
                LogFormat::Json => {
                    let value: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert_eq!(value["message"], m.as_str(), "{format:?}");
                    assert_eq!(value["field"], m.as_str(), "{format:?}");
                    let want = format!(",\"message\":\"{escaped}\",\"field\":\"{escaped}\"}}");
                    assert!(line.ends_with(&want), "{format:?}: {line}");
                }
            }
        }
    }
}
