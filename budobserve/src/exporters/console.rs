//! The console exporter: one readable line per log and per span start, indented by nesting depth.
//!
//! ```text
//! 06:31:07.412 handling request [api]
//! 06:31:07.412   user 42 logged in
//! 06:31:07.413   processing 3 items
//! 06:31:07.415     quota at 93.5%
//! ```
//!
//! Times are UTC, `HH:MM:SS.mmm`. With colors, errors and fatals are red, warnings yellow, timestamps dimmed.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::SpanId;
use opentelemetry::{Array, Context, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::callsite;
use crate::constants;
use crate::level::{Level, SpanType};
use crate::providers::lock;

/// When to color the console output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// When the output is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Where the console writes.
#[derive(Clone, Default)]
pub enum ConsoleWriter {
    /// Standard error.
    #[default]
    Stderr,
    /// Standard output.
    Stdout,
    /// Any writer (a file, a buffer in a test).
    Shared(Arc<Mutex<dyn Write + Send>>),
}

impl fmt::Debug for ConsoleWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsoleWriter::Stderr => "Stderr",
            ConsoleWriter::Stdout => "Stdout",
            ConsoleWriter::Shared(_) => "Shared",
        })
    }
}

impl ConsoleWriter {
    fn is_terminal(&self) -> bool {
        match self {
            ConsoleWriter::Stderr => std::io::stderr().is_terminal(),
            ConsoleWriter::Stdout => std::io::stdout().is_terminal(),
            ConsoleWriter::Shared(_) => false,
        }
    }

    /// Writes one line; a failing console never breaks the host, so errors are dropped.
    fn write_line(&self, line: &str) {
        let _ = match self {
            ConsoleWriter::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
            ConsoleWriter::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            ConsoleWriter::Shared(writer) => lock(writer).write_all(line.as_bytes()),
        };
    }
}

/// Options of the console exporter.
#[derive(Clone, Debug)]
#[must_use]
pub struct ConsoleOptions {
    colors: ColorChoice,
    min_level: Level,
    include_timestamps: bool,
    writer: ConsoleWriter,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            colors: ColorChoice::Auto,
            min_level: Level::Info,
            include_timestamps: true,
            writer: ConsoleWriter::Stderr,
        }
    }
}

impl ConsoleOptions {
    /// Default options: colors when the output is a terminal, logs and spans from info up, timestamps, stderr.
    pub fn new() -> Self {
        Self::default()
    }

    /// When to color.
    pub fn colors(mut self, colors: ColorChoice) -> Self {
        self.colors = colors;
        self
    }

    /// The lowest level printed (default info); spans and logs below it are still exported elsewhere.
    pub fn min_level(mut self, level: Level) -> Self {
        self.min_level = level;
        self
    }

    /// Whether lines start with the time.
    pub fn include_timestamps(mut self, include: bool) -> Self {
        self.include_timestamps = include;
        self
    }

    /// Where to write.
    pub fn writer(mut self, writer: ConsoleWriter) -> Self {
        self.writer = writer;
        self
    }
}

/// The span processor that prints to the console (see the [module docs](self)).
#[derive(Debug)]
pub struct ConsoleProcessor {
    options: ConsoleOptions,
    colors: bool,
    /// Depth of the open spans that may have children, to indent those children.
    depths: Mutex<HashMap<SpanId, usize>>,
}

impl ConsoleProcessor {
    /// A console processor with these options.
    pub fn new(options: ConsoleOptions) -> ConsoleProcessor {
        let colors = match options.colors {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => std::env::var_os("NO_COLOR").is_none() && options.writer.is_terminal(),
        };
        ConsoleProcessor { options, colors, depths: Mutex::new(HashMap::new()) }
    }

    fn print(&self, data: &SpanData) {
        let attributes = &data.attributes;
        let is_log = find(attributes, constants::SPAN_TYPE).is_some_and(|v| v.as_str() == SpanType::Log.as_str());
        let level = match find(attributes, constants::LEVEL_NUM) {
            Some(Value::I64(n)) => u8::try_from(*n).ok().and_then(Level::from_number).unwrap_or(Level::Info),
            _ => Level::Info,
        };
        let printed = level >= self.options.min_level;
        let depth = {
            let mut depths = lock(&self.depths);
            let depth = depths.get(&data.parent_span_id).map_or(0, |d| d + 1);
            if !is_log {
                // A span that is not printed does not indent its children.
                let own = if printed { depth } else { depth.saturating_sub(1) };
                depths.insert(data.span_context.span_id(), own);
            }
            depth
        };
        if !printed {
            return;
        }
        let mut line = String::with_capacity(96);
        if self.options.include_timestamps {
            self.paint(&mut line, "2", &format_time(data.start_time));
            line.push(' ');
        }
        for _ in 0..depth {
            line.push_str("  ");
        }
        let message = callsite::message(attributes).unwrap_or_else(|| data.name.clone());
        let color = match level {
            Level::Error | Level::Fatal => Some("31"),
            Level::Warn => Some("33"),
            _ => None,
        };
        match color {
            Some(color) => self.paint(&mut line, color, &message),
            None => line.push_str(&message),
        }
        if let Some(Value::Array(Array::String(tags))) = find(attributes, constants::TAGS)
            && !tags.is_empty()
        {
            let tags: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
            line.push(' ');
            self.paint(&mut line, "36", &format!("[{}]", tags.join(",")));
        }
        line.push('\n');
        self.options.writer.write_line(&line);
    }

    fn paint(&self, line: &mut String, code: &str, text: &str) {
        if self.colors {
            let _ = write!(line, "\x1b[{code}m{text}\x1b[0m");
        } else {
            line.push_str(text);
        }
    }
}

impl SpanProcessor for ConsoleProcessor {
    fn on_start(&self, span: &mut Span, _cx: &Context) {
        if let Some(data) = span.exported_data() {
            self.print(&data);
        }
    }

    fn on_end(&self, span: SpanData) {
        lock(&self.depths).remove(&span.span_context.span_id());
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

/// `HH:MM:SS.mmm` in UTC.
fn format_time(time: SystemTime) -> String {
    let since_epoch = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let seconds = since_epoch.as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}.{:03}", seconds / 3600, seconds / 60 % 60, seconds % 60, since_epoch.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_time_of_day() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(86_400_000 * 3 + 3_723_045);
        assert_eq!(format_time(time), "01:02:03.045");
    }
}
