//! [`FileLayer`]: the `tracing` layer that formats events into a [`LogFile`], and the
//! visitors that lay out their fields as text or JSON.

use std::fmt::{self, Write as _};
use std::io::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::bytes::Bytes;
use super::escape::{JsonInner, OneLine};
use super::head::write_head;
use super::{LogFile, LogFormat};

impl LogFile {
    /// The `tracing` layer that formats events into this file.
    pub fn layer(&self, format: LogFormat, level: Level) -> FileLayer {
        FileLayer {
            log: self.clone(),
            format,
            level,
        }
    }
}

/// The `tracing` layer writing to a [`LogFile`]; see [`LogFile::layer`].
#[derive(Debug)]
pub struct FileLayer {
    log: LogFile,
    format: LogFormat,
    level: Level,
}

impl<S> Layer<S> for FileLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.level() <= &self.level
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.level.into())
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let function = ctx.event_span(event).map_or("main", |s| s.name());
        let target = meta.target();
        let module = target
            .bytes()
            .rposition(|b| b == b':')
            .map_or(target, |i| &target[i + 1..]);
        let mut inner = self.log.lock();
        let start = inner.pending.len();
        // Formatted straight into the pending chunk: no copy per line.
        let out = &mut Bytes(&mut inner.pending);
        write_head(out, self.format, meta.level(), module, function);
        match self.format {
            LogFormat::Text => event.record(&mut TextVisitor {
                out: &mut *out,
                first: true,
            }),
            LogFormat::Json => {
                event.record(&mut JsonVisitor { out: &mut *out });
                out.push('}');
            }
        }
        out.push('\n');
        if inner.failed.is_some() {
            // The file takes nothing more (see `LogError`), and its failure was reported
            // when it happened; problems still reach the daemon's log through stderr.
            if *meta.level() <= Level::WARN {
                let _ = io::stderr().write_all(&inner.pending[start..]);
            }
            inner.pending.clear();
            return;
        }
        // Problems are rare and matter: get them into the file at once.
        let result = if *meta.level() <= Level::WARN {
            inner.write_pending()
        } else {
            inner.maybe_write()
        };
        if let Err(err) = result {
            // The file is the only log; stderr reaches the daemon's log instead.
            eprintln!("record processor: ERROR: {err}");
        }
    }
}

/// Lays out an event's fields for [`LogFormat::Text`]: the message, then ` name=value`.
struct TextVisitor<'a, 'b> {
    out: &'a mut Bytes<'b>,
    first: bool,
}

impl Visit for TextVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            if !self.first {
                self.out.push(' ');
            }
            let _ = write!(OneLine(self.out), "{value:?}");
        } else {
            let _ = write!(OneLine(self.out), " {}={value:?}", field.name());
        }
        self.first = false;
    }
}

/// Lays out an event's fields for [`LogFormat::Json`]: a member each.
struct JsonVisitor<'a, 'b> {
    out: &'a mut Bytes<'b>,
}

impl Visit for JsonVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let _ = write!(self.out, ",\"{}\":{value}", field.name());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let _ = write!(self.out, ",\"{}\":{value}", field.name());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = write!(self.out, ",\"{}\":{value}", field.name());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.out, ",\"{}\":\"", field.name());
        let _ = write!(JsonInner(self.out), "{value:?}");
        self.out.push('"');
    }
}
