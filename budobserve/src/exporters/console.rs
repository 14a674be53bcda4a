//! The console exporter: one readable line per span start and per log, indented by nesting depth.
//!
//! ```text
//! 06:31:07.412 handling request [api]
//! 06:31:07.412   user 42 logged in
//! 06:31:07.413   processing 3 items
//! 06:31:07.415     quota at 93.5%
//! 06:31:07.416     request failed
//!                    std::io::Error: connection reset
//! ```
//!
//! Times are UTC, `HH:MM:SS.mmm`. With colors, errors and fatals are red, warnings yellow, timestamps dimmed.
//! Recorded exceptions (type, message, backtrace when captured) are printed under their log, or under a span
//! when it ends. Styles ([`ConsoleStyle`]): `simple`, `indented` (default), `show-parents`; `verbose` adds the
//! code location, level and attributes under each line.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::SpanId;
use opentelemetry::{Array, Context, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::constants;
use crate::exporters::prepare::Preparation;
use crate::level::{Level, SpanType};
use crate::providers::lock;

/// When to color the console output.
///
/// ```
/// use budobserve::exporters::{ColorChoice, ConsoleOptions};
///
/// assert_eq!(ColorChoice::parse("never"), Some(ColorChoice::Never)); // as BUD_OBSERVE_CONSOLE_COLORS reads it
/// let _options = ConsoleOptions::new().colors(ColorChoice::Always);
/// ```
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
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use budobserve::exporters::{ConsoleOptions, ConsoleWriter};
///
/// let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));         // a test reading what the console printed
/// let _options = ConsoleOptions::new().writer(ConsoleWriter::Shared(buffer.clone()));
/// ```
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

/// How the console lays out lines.
///
/// ```
/// use budobserve::exporters::{ConsoleOptions, ConsoleStyle};
///
/// assert_eq!(ConsoleStyle::parse("show-parents"), Some(ConsoleStyle::ShowParents));
/// let _options = ConsoleOptions::new().style(ConsoleStyle::Simple);   // no indentation
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsoleStyle {
    /// One line each, no indentation.
    Simple,
    /// Indented by nesting depth (the default).
    #[default]
    Indented,
    /// Indented, and when lines of concurrent traces interleave, the parents of a line are printed again (dimmed)
    /// above it, so every line reads in its own context.
    ShowParents,
}

impl ConsoleStyle {
    /// What `BUD_OBSERVE_CONSOLE_STYLE` accepts.
    pub const ACCEPTED: &'static str = "`simple`, `indented` or `show-parents`";

    /// Parses `simple`, `indented` or `show-parents`.
    pub fn parse(text: &str) -> Option<ConsoleStyle> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "simple" => Some(ConsoleStyle::Simple),
            "indented" => Some(ConsoleStyle::Indented),
            "show-parents" => Some(ConsoleStyle::ShowParents),
            _ => None,
        }
    }
}

impl ColorChoice {
    /// What `BUD_OBSERVE_CONSOLE_COLORS` accepts.
    pub const ACCEPTED: &'static str = "`auto`, `always` or `never`";

    /// Parses `auto`, `always` or `never`.
    pub fn parse(text: &str) -> Option<ColorChoice> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(ColorChoice::Auto),
            "always" => Some(ColorChoice::Always),
            "never" => Some(ColorChoice::Never),
            _ => None,
        }
    }
}

/// Options of the console exporter.
///
/// ```
/// use budobserve::Level;
/// use budobserve::exporters::{ColorChoice, ConsoleOptions, ConsoleStyle};
///
/// let console = ConsoleOptions::new()
///     .colors(ColorChoice::Never)
///     .style(ConsoleStyle::ShowParents)
///     .min_level(Level::Debug)
///     .verbose(true);                                    // attributes under each line
/// let _guard = budobserve::configure().console_options(console).install();
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ConsoleOptions {
    pub(crate) colors: Option<ColorChoice>,
    pub(crate) style: Option<ConsoleStyle>,
    min_level: Level,
    include_timestamps: bool,
    verbose: bool,
    writer: ConsoleWriter,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            colors: None,
            style: None,
            min_level: Level::Info,
            include_timestamps: true,
            verbose: false,
            writer: ConsoleWriter::Stderr,
        }
    }
}

impl ConsoleOptions {
    /// Default options: colors when the output is a terminal that supports them, indented, logs and spans from
    /// info up, timestamps, stderr.
    pub fn new() -> Self {
        Self::default()
    }

    /// When to color (default `BUD_OBSERVE_CONSOLE_COLORS`, else [`ColorChoice::Auto`]).
    pub fn colors(mut self, colors: ColorChoice) -> Self {
        self.colors = Some(colors);
        self
    }

    /// How lines are laid out (default `BUD_OBSERVE_CONSOLE_STYLE`, else [`ConsoleStyle::Indented`]).
    pub fn style(mut self, style: ConsoleStyle) -> Self {
        self.style = Some(style);
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

    /// Whether each line is followed by where it was written, its level and its attributes.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Where to write.
    pub fn writer(mut self, writer: ConsoleWriter) -> Self {
        self.writer = writer;
        self
    }
}

/// A printed span that is still open: what its children need to be placed (and, with
/// [`ConsoleStyle::ShowParents`], its line to print again).
#[derive(Debug)]
struct Open {
    parent: SpanId,
    depth: usize,
    /// The line without its time, for [`ConsoleStyle::ShowParents`].
    line: Option<String>,
}

#[derive(Debug, Default)]
struct ConsoleState {
    /// Open spans that were printed (a span not printed does not indent its children).
    open: HashMap<SpanId, Open>,
    /// The printed spans the last line sits in, outermost first ([`ConsoleStyle::ShowParents`]).
    context: Vec<SpanId>,
}

/// The span processor that prints to the console (see the [module docs](self)).
///
/// ```
/// use budobserve::exporters::{ConsoleOptions, ConsoleProcessor};
///
/// // The console as a span processor of an instance of your own (`configure` adds it by itself).
/// let console = ConsoleProcessor::new(ConsoleOptions::new().verbose(true));
/// let _config = budobserve::configure().console(false).span_processor(console).build();
/// ```
#[derive(Debug)]
pub struct ConsoleProcessor {
    options: ConsoleOptions,
    preparation: Preparation,
    style: ConsoleStyle,
    colors: bool,
    state: Mutex<ConsoleState>,
}

/// Attributes shown by `verbose` are the span's own: BudObserve's and the code location are shown otherwise.
fn shown_in_verbose(key: &str) -> bool {
    !key.starts_with("budobserve_") && !key.starts_with("code.")
}

impl ConsoleProcessor {
    /// A console processor with these options.
    pub fn new(options: ConsoleOptions) -> ConsoleProcessor {
        let colors = match options.colors.unwrap_or_default() {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => auto_colors(options.writer.is_terminal()),
        };
        let style = options.style.unwrap_or_default();
        ConsoleProcessor {
            options,
            preparation: Preparation::default(),
            style,
            colors,
            state: Mutex::new(ConsoleState::default()),
        }
    }

    /// Prints spans prepared as the exporters get them (scrubbed with the configuration's scrubber).
    pub(crate) fn preparation(mut self, preparation: Preparation) -> ConsoleProcessor {
        self.preparation = preparation;
        self
    }

    /// Prints a span's line (at its start) or a log's (at its end, with its exceptions).
    fn print(&self, data: &SpanData, is_log: bool) {
        let attributes = &data.attributes;
        let level = level_of(attributes);
        let printed = level >= self.options.min_level;
        let mut state = lock(&self.state);
        let parent = data.parent_span_id;
        let depth = match self.style {
            ConsoleStyle::Simple => 0,
            _ => state.open.get(&parent).map_or(0, |open| open.depth + 1),
        };
        if !is_log {
            let id = data.span_context.span_id();
            if printed {
                let line = (self.style == ConsoleStyle::ShowParents).then(|| self.body(data, level, depth));
                state.open.insert(id, Open { parent, depth, line });
            } else if let Some(open) = state.open.get(&parent) {
                // A span that is not printed does not indent its children: they hang where it would have, under
                // its printed parent.
                let hidden = Open { parent: open.parent, depth: open.depth, line: None };
                state.open.insert(id, hidden);
            }
        }
        if !printed {
            return;
        }
        let mut out = String::with_capacity(128);
        if self.style == ConsoleStyle::ShowParents {
            self.print_parents(&mut out, &mut state, parent);
            state.context = chain(&state.open, parent);
            if !is_log {
                state.context.push(data.span_context.span_id());
            }
        }
        drop(state);
        self.line(&mut out, data.start_time, &self.body(data, level, depth), false);
        if self.options.verbose {
            self.details(&mut out, data, level, depth);
        }
        if is_log {
            self.exceptions(&mut out, data, depth);
        }
        self.options.writer.write_line(&out);
    }

    /// The parents of a line that the last printed line was not in, dimmed.
    fn print_parents(&self, out: &mut String, state: &mut ConsoleState, parent: SpanId) {
        let wanted = chain(&state.open, parent);
        let common = wanted.iter().zip(&state.context).take_while(|(a, b)| a == b).count();
        for id in &wanted[common..] {
            if let Some(line) = state.open.get(id).and_then(|open| open.line.as_deref()) {
                let line = line.to_owned();
                self.line(out, SystemTime::now(), &line, true);
            }
        }
    }

    /// The indented message and tags of a line, without its time.
    fn body(&self, data: &SpanData, level: Level, depth: usize) -> String {
        let attributes = &data.attributes;
        let mut body = String::with_capacity(64);
        for _ in 0..depth {
            body.push_str("  ");
        }
        let message = find(attributes, constants::MSG).map_or_else(|| data.name.clone(), Value::as_str);
        match level_color(level) {
            Some(color) => self.paint(&mut body, color, &message),
            None => body.push_str(&message),
        }
        if let Some(Value::Array(Array::String(tags))) = find(attributes, constants::TAGS)
            && !tags.is_empty()
        {
            let tags: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
            body.push(' ');
            self.paint(&mut body, "36", &format!("[{}]", tags.join(",")));
        }
        body
    }

    /// One line: the time (unless turned off), then `body`; all dimmed for a parent printed again.
    fn line(&self, out: &mut String, time: SystemTime, body: &str, dimmed: bool) {
        let mut line = String::with_capacity(body.len() + 16);
        if self.options.include_timestamps {
            self.paint(&mut line, "2", &format_time(time));
            line.push(' ');
        }
        if dimmed {
            self.paint(&mut line, "2", &strip_colors(body));
        } else {
            line.push_str(body);
        }
        out.push_str(&line);
        out.push('\n');
    }

    /// `verbose`: where, the level, and the attributes, under the line.
    fn details(&self, out: &mut String, data: &SpanData, level: Level, depth: usize) {
        let attributes = &data.attributes;
        let indent = self.detail_indent(depth);
        let mut text = String::new();
        let file = find(attributes, constants::CODE_FILEPATH);
        match file.zip(find(attributes, constants::CODE_LINENO)) {
            Some((file, line)) => {
                let _ = write!(text, "│ {file}:{line} {level}");
            }
            None => {
                let _ = write!(text, "│ {level}");
            }
        }
        self.detail(out, &indent, &text);
        for kv in attributes.iter().filter(|kv| shown_in_verbose(kv.key.as_str())) {
            let value = pretty_value(&kv.value);
            let mut lines = value.lines();
            let first = lines.next().unwrap_or_default();
            self.detail(out, &indent, &format!("│ {}={first}", kv.key));
            for rest in lines {
                self.detail(out, &indent, &format!("│   {rest}"));
            }
        }
    }

    /// The exceptions recorded on a span or log: type and message (red), then the backtrace (dimmed).
    fn exceptions(&self, out: &mut String, data: &SpanData, depth: usize) {
        let indent = self.detail_indent(depth);
        for event in data.events.iter().filter(|e| e.name == constants::EXCEPTION_EVENT) {
            let kind = find(&event.attributes, constants::EXCEPTION_TYPE).map(|v| v.as_str());
            let message = find(&event.attributes, constants::EXCEPTION_MESSAGE).map(|v| v.as_str());
            let cause = find(&event.attributes, constants::EXCEPTION_CAUSE_INDEX).is_some();
            let text = match (kind, message) {
                (Some(kind), Some(message)) => format!("{kind}: {message}"),
                (None, Some(message)) if cause => format!("caused by: {message}"),
                (Some(kind), None) => kind.into_owned(),
                (None, Some(message)) => message.into_owned(),
                (None, None) => continue,
            };
            let mut line = indent.clone();
            self.paint(&mut line, "31", &text);
            out.push_str(&line);
            out.push('\n');
            if let Some(trace) = find(&event.attributes, constants::EXCEPTION_STACKTRACE) {
                for frame in backtrace_lines(&trace.as_str()) {
                    self.detail(out, &indent, &frame);
                }
            }
        }
    }

    /// Detail lines sit under the message: past the time and the line's indentation.
    fn detail_indent(&self, depth: usize) -> String {
        let width = if self.options.include_timestamps { 13 } else { 0 } + 2 * depth + 2;
        " ".repeat(width)
    }

    fn detail(&self, out: &mut String, indent: &str, text: &str) {
        out.push_str(indent);
        self.paint(out, "2", text);
        out.push('\n');
    }

    fn paint(&self, line: &mut String, code: &str, text: &str) {
        if self.colors {
            let _ = write!(line, "\x1b[{code}m{text}\x1b[0m");
        } else {
            line.push_str(text);
        }
    }

    /// A span or log ended: a log's line, or a span's exceptions.
    pub(crate) fn ended(&self, data: &SpanData) {
        if is_log(&data.attributes) {
            self.print(&self.preparation.applied(data), true);
        } else if data.events.events.is_empty() {
            self.end(data);
        } else {
            self.end(&self.preparation.applied(data));
        }
    }

    /// At a span's end: its exceptions, under where its line was.
    fn end(&self, data: &SpanData) {
        let id = data.span_context.span_id();
        let open = {
            let mut state = lock(&self.state);
            state.context.retain(|c| *c != id);
            state.open.remove(&id)
        };
        let Some(open) = open else { return };
        if level_of(&data.attributes) < self.options.min_level {
            return;
        }
        let mut out = String::new();
        self.exceptions(&mut out, data, open.depth);
        if !out.is_empty() {
            self.options.writer.write_line(&out);
        }
    }
}

impl SpanProcessor for ConsoleProcessor {
    fn on_start(&self, span: &mut Span, _cx: &Context) {
        let Some(mut data) = span.exported_data() else { return };
        if !is_log(&data.attributes) {
            self.preparation.apply(&mut data);
            self.print(&data, false);
        }
    }

    fn on_end(&self, span: SpanData) {
        self.ended(&span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Colors by default: not when `NO_COLOR` is set or the terminal cannot show them, always when `CLICOLOR_FORCE`
/// says so, else when writing to a terminal (`CLICOLOR=0` turns them off).
fn auto_colors(is_terminal: bool) -> bool {
    if anstyle_query::no_color() {
        return false;
    }
    if anstyle_query::clicolor_force() {
        return true;
    }
    is_terminal && anstyle_query::term_supports_color() && anstyle_query::clicolor() != Some(false)
}

/// The printed spans `parent` sits in, outermost first.
fn chain(open: &HashMap<SpanId, Open>, parent: SpanId) -> Vec<SpanId> {
    let mut chain = Vec::new();
    let mut current = parent;
    while let Some(span) = open.get(&current) {
        if span.line.is_some() {
            chain.push(current);
        }
        current = span.parent;
        if chain.len() > 256 {
            break;
        }
    }
    chain.reverse();
    chain
}

fn is_log(attributes: &[KeyValue]) -> bool {
    find(attributes, constants::SPAN_TYPE).is_some_and(|v| v.as_str() == SpanType::Log.as_str())
}

/// The level a span or log ends with (the last `budobserve_level_num`: a changed level is appended).
fn level_of(attributes: &[KeyValue]) -> Level {
    let level = attributes.iter().rev().find(|kv| kv.key.as_str() == constants::LEVEL_NUM).map(|kv| &kv.value);
    match level {
        Some(Value::I64(n)) => u8::try_from(*n).ok().and_then(Level::from_number).unwrap_or(Level::Info),
        _ => Level::Info,
    }
}

fn level_color(level: Level) -> Option<&'static str> {
    match level {
        Level::Error | Level::Fatal => Some("31"),
        Level::Warn => Some("33"),
        _ => None,
    }
}

/// A value for `verbose`: JSON objects and arrays pretty-printed, strings as they are.
fn pretty_value(value: &Value) -> String {
    if let Value::String(text) = value {
        let text = text.as_str();
        if (text.starts_with('{') || text.starts_with('['))
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(text)
            && let Ok(pretty) = serde_json::to_string_pretty(&json)
        {
            return pretty;
        }
        return text.to_owned();
    }
    value.to_string()
}

/// The frames of a backtrace the console prints: none of BudObserve's own (those that recorded the error, and the
/// wrappers of instrumented functions, are noise), and at most [`CONSOLE_FRAMES`]; the whole backtrace stays in
/// `exception.stacktrace` for the exporters. A text that is not a backtrace is printed as it is.
fn backtrace_lines(trace: &str) -> Vec<Cow<'_, str>> {
    let lines: Vec<&str> = trace.lines().filter(|l| !l.trim().is_empty()).collect();
    if !lines.iter().any(|line| frame_symbol(line).is_some()) {
        return lines.into_iter().map(Cow::Borrowed).collect();
    }
    // Frames: a numbered symbol line and the `at file:line` lines under it.
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in lines {
        match frame_symbol(line) {
            Some(_) => frames.push(vec![line]),
            None => match frames.last_mut() {
                Some(frame) => frame.push(line),
                None => frames.push(vec![line]),
            },
        }
    }
    let ours = |frame: &Vec<&str>| {
        frame.first().and_then(|line| frame_symbol(line)).is_some_and(|symbol| symbol.contains("budobserve::"))
    };
    let kept: Vec<&Vec<&str>> = frames.iter().filter(|frame| !ours(frame)).collect();
    let mut out: Vec<Cow<'_, str>> =
        kept.iter().take(CONSOLE_FRAMES).flat_map(|frame| frame.iter().map(|line| Cow::Borrowed(*line))).collect();
    if kept.len() > CONSOLE_FRAMES {
        out.push(Cow::Owned(format!("      … {} more frames", kept.len() - CONSOLE_FRAMES)));
    }
    out
}

/// The symbol of a backtrace's frame line (`  3: service::handler`), `None` for other lines.
fn frame_symbol(line: &str) -> Option<&str> {
    line.trim_start()
        .split_once(": ")
        .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .map(|(_, symbol)| symbol)
}

/// The most backtrace frames the console prints under an error.
const CONSOLE_FRAMES: usize = 8;

/// `text` without its ANSI color sequences.
fn strip_colors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('\x1b') {
        out.push_str(&rest[..start]);
        match rest[start..].find('m') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
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
    fn backtraces_start_at_the_first_frame_outside_budobserve() {
        let trace = "   0: budobserve::span::BudSpan::record_error_chain\n             at ./budobserve/src/span.rs:176:25\n   1: <budobserve::private::X as Y>::record\n             at ./x.rs:1:1\n   2: service::handler\n             at ./src/main.rs:9:5\n   3: <C as budobserve::span::Completion<T>>::complete\n             at ./budobserve/src/span.rs:409:9\n   4: service::main\n";
        assert_eq!(
            backtrace_lines(trace),
            ["   2: service::handler", "             at ./src/main.rs:9:5", "   4: service::main"]
        );
        assert_eq!(backtrace_lines("disabled backtrace"), ["disabled backtrace"]);
    }

    #[test]
    fn long_backtraces_are_cut_on_the_console() {
        let trace: String =
            (0..20).map(|n| format!("  {n}: service::f{n}\n             at ./src/main.rs:{n}:1\n")).collect();
        let lines = backtrace_lines(&trace);
        assert_eq!(lines.len(), 2 * CONSOLE_FRAMES + 1);
        assert_eq!(lines[0], "  0: service::f0");
        assert_eq!(lines[2 * CONSOLE_FRAMES - 1], "             at ./src/main.rs:7:1");
        assert_eq!(lines[2 * CONSOLE_FRAMES], "      … 12 more frames");
    }

    #[test]
    fn formats_utc_time_of_day() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(86_400_000 * 3 + 3_723_045);
        assert_eq!(format_time(time), "01:02:03.045");
    }
}
