//! The head of a line: everything before its message.

use std::time::{SystemTime, UNIX_EPOCH};

use tracing::Level;

use super::bytes::Bytes;
use super::clock::{write_clock, write_rfc3339};
use super::escape::push_json_str;
use super::LogFormat;

/// Everything of a line before its message, the same for `tracing` events and
/// [`InfoLines`](super::InfoLines): `HH:MM:SS.mmm [module] LEVEL  function - `, or for
/// JSON the object up to (not including) its message field.
pub(super) fn write_head(
    out: &mut Bytes<'_>,
    format: LogFormat,
    level: &Level,
    module: &str,
    function: &str,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    match format {
        LogFormat::Text => {
            write_clock(out, now.as_secs(), now.subsec_millis());
            out.push_str(" [");
            out.push_str(module);
            out.push_str("] ");
            out.push_str(level_name(level));
            out.push_str("  ");
            out.push_str(function);
            out.push_str(" - ");
        }
        LogFormat::Json => {
            out.push_str("{\"time\":\"");
            write_rfc3339(out, now.as_secs(), now.subsec_millis());
            out.push_str("\",\"level\":\"");
            out.push_str(level_name(level));
            out.push_str("\",\"module\":");
            push_json_str(out, module);
            out.push_str(",\"function\":");
            push_json_str(out, function);
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}
