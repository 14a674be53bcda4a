//! The span processor that prints: a line when a span starts and when a log is written, exceptions under them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, Context, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use super::format::{
    backtrace_lines, find, format_duration, format_time, is_log, level_color, level_of, pretty_value, strip_colors,
};
use super::options::{ColorChoice, ConsoleOptions, ConsoleStyle};
use crate::constants;
use crate::exporters::prepare::Preparation;
use crate::level::Level;
use crate::providers::lock;

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

/// The span processor that prints to the console (see the [module docs](super)).
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

    /// Prints a span's line (at its start, or at its end for a client span) or a log's (at its end, with its
    /// exceptions). The lock is held until the text is written, so concurrent requests' lines come out in the order
    /// their context was worked out in.
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
        let deferred = !is_log && prints_at_end(data);
        if !is_log {
            let id = data.span_context.span_id();
            if printed {
                let line = (self.style == ConsoleStyle::ShowParents || deferred).then(|| self.body(data, level, depth));
                state.open.insert(id, Open { parent, depth, line });
            } else if let Some(open) = state.open.get(&parent) {
                // A span that is not printed does not indent its children: they hang where it would have, under
                // its printed parent.
                let hidden = Open { parent: open.parent, depth: open.depth, line: None };
                state.open.insert(id, hidden);
            }
        }
        if !printed || deferred {
            return;
        }
        let mut out = String::with_capacity(128);
        if self.style == ConsoleStyle::ShowParents {
            self.print_parents(&mut out, &mut state, parent);
            if !is_log {
                state.context.push(data.span_context.span_id());
            }
        }
        self.line(&mut out, data.start_time, &self.body(data, level, depth), false);
        if self.options.verbose {
            self.details(&mut out, data, level, depth);
        }
        if is_log {
            self.exceptions(&mut out, data, depth);
        }
        self.options.writer.write_line(&out);
        drop(state);
    }

    /// The printed lines `target` sits in that the last printed line was not in (dimmed), after which they are the
    /// context ([`ConsoleStyle::ShowParents`]). `target` is included when it is a printed span.
    fn print_parents(&self, out: &mut String, state: &mut ConsoleState, target: SpanId) {
        let wanted = chain(&state.open, target);
        let common = wanted.iter().zip(&state.context).take_while(|(a, b)| a == b).count();
        for id in &wanted[common..] {
            if let Some(line) = state.open.get(id).and_then(|open| open.line.as_deref()) {
                let line = line.to_owned();
                self.line(out, SystemTime::now(), &line, true);
            }
        }
        state.context = wanted;
    }

    /// How a server or client span ended, after its message: ` → 200 in 3.10 ms`, ` → error in 1.20 s: reason`.
    fn outcome(&self, data: &SpanData) -> String {
        let code = match find(&data.attributes, constants::http::RESPONSE_STATUS_CODE) {
            Some(Value::I64(code)) => Some(*code),
            _ => None,
        };
        let error = match &data.status {
            Status::Error { description } => Some(description.as_ref()),
            _ => None,
        };
        let result = match (code, error) {
            (Some(code), _) => code.to_string(),
            (None, Some(_)) => "error".to_owned(),
            (None, None) => "ok".to_owned(),
        };
        let duration = data.end_time.duration_since(data.start_time).unwrap_or_default();
        let mut text = format!("→ {result} in {}", format_duration(duration));
        // The outcome stays one line: a description's first line, control characters (escapes) shown as spaces.
        if let Some(line) = error.and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty())) {
            text.push_str(": ");
            text.extend(line.chars().map(|c| if c.is_control() { ' ' } else { c }));
        }
        let color = match code {
            _ if error.is_some() => Some("31"),
            Some(500..) => Some("31"),
            Some(400..) => Some("33"),
            _ => None,
        };
        let mut out = String::from(" ");
        match color {
            Some(color) => self.paint(&mut out, color, &text),
            None => out.push_str(&text),
        }
        out
    }

    /// The indented message and tags of a line, without its time.
    fn body(&self, data: &SpanData, level: Level, depth: usize) -> String {
        let attributes = &data.attributes;
        let mut body = String::with_capacity(64);
        for _ in 0..depth {
            body.push_str("  ");
        }
        let mut message = find(attributes, constants::MSG).map_or_else(|| data.name.clone(), Value::as_str);
        // A client request named by its method alone (`GET`, as the conventions name it) says where it went.
        if data.span_kind == SpanKind::Client
            && let Some(url) = find(attributes, constants::http::URL_FULL)
            && find(attributes, constants::http::REQUEST_METHOD).is_some_and(|method| method.as_str() == message)
        {
            message = format!("{message} {}", url.as_str()).into();
        }
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
            let Some(trace) = find(&event.attributes, constants::EXCEPTION_STACKTRACE) else { continue };
            let trace = trace.as_str();
            if self.options.backtraces {
                for frame in backtrace_lines(&trace) {
                    self.detail(out, &indent, &frame);
                }
            } else if let Some(location) = trace.lines().next().filter(|line| line.starts_with("panicked at ")) {
                // Where a panic happened is one line; its frames are asked for.
                self.detail(out, &indent, location);
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
            if let Some(prepared) = self.preparation.applied(data) {
                self.print(&prepared, true);
            }
        } else if data.events.events.is_empty() && data.span_kind != SpanKind::Server && !prints_at_end(data) {
            // Nothing of it is printed at its end but where it was: its text need not be prepared.
            self.end(data);
        } else if let Some(prepared) = self.preparation.applied(data) {
            self.end(&prepared);
        }
    }

    /// At a span's end: a server or client span's outcome line, and its exceptions — under its line.
    fn end(&self, data: &SpanData) {
        let id = data.span_context.span_id();
        let mut state = lock(&self.state);
        let Some(open) = state.open.get(&id) else { return };
        let (parent, depth) = (open.parent, open.depth);
        let level = level_of(&data.attributes);
        let with_outcome = prints_at_end(data) || data.span_kind == SpanKind::Server;
        let has_exceptions = data.events.iter().any(|event| event.name == constants::EXCEPTION_EVENT);
        let mut out = String::new();
        if level >= self.options.min_level && (with_outcome || has_exceptions) {
            if self.style == ConsoleStyle::ShowParents {
                // The outcome line stands for the span; exceptions alone sit under its line, printed again if
                // other lines came since.
                self.print_parents(&mut out, &mut state, if with_outcome { parent } else { id });
            }
            if with_outcome {
                let body = self.body(data, level, depth) + &self.outcome(data);
                self.line(&mut out, data.end_time, &body, false);
                if self.options.verbose && prints_at_end(data) {
                    self.details(&mut out, data, level, depth);
                }
            }
            self.exceptions(&mut out, data, depth);
        }
        state.open.remove(&id);
        if self.style == ConsoleStyle::ShowParents && state.context.contains(&id) {
            // The span is over: what comes next sits in its parent.
            state.context = chain(&state.open, parent);
        }
        if !out.is_empty() {
            self.options.writer.write_line(&out);
        }
        drop(state);
    }
}

/// Whether a span's line waits for its end, to carry its outcome: a client call (a query, a request to another
/// service) is one line.
fn prints_at_end(data: &SpanData) -> bool {
    data.span_kind == SpanKind::Client
}

impl SpanProcessor for ConsoleProcessor {
    fn on_start(&self, span: &mut Span, _cx: &Context) {
        let Some(mut data) = span.exported_data() else { return };
        if !is_log(&data.attributes) && self.preparation.apply(&mut data) {
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
