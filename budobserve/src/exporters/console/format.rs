//! How the console writes what a span holds: levels and their colors, values, backtraces, times.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::{KeyValue, Value};

use crate::constants;
use crate::level::{Level, SpanType};

pub(super) fn is_log(attributes: &[KeyValue]) -> bool {
    find(attributes, constants::SPAN_TYPE).is_some_and(|v| v.as_str() == SpanType::Log.as_str())
}

/// The level a span or log ends with (the last `budobserve_level_num`: a changed level is appended).
pub(super) fn level_of(attributes: &[KeyValue]) -> Level {
    let level = attributes.iter().rev().find(|kv| kv.key.as_str() == constants::LEVEL_NUM).map(|kv| &kv.value);
    match level {
        Some(Value::I64(n)) => u8::try_from(*n).ok().and_then(Level::from_number).unwrap_or(Level::Info),
        _ => Level::Info,
    }
}

pub(super) fn level_color(level: Level) -> Option<&'static str> {
    match level {
        Level::Error | Level::Fatal => Some("31"),
        Level::Warn => Some("33"),
        _ => None,
    }
}

/// A value for `verbose`: JSON objects and arrays pretty-printed, strings as they are.
pub(super) fn pretty_value(value: &Value) -> String {
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
pub(super) fn backtrace_lines(trace: &str) -> Vec<Cow<'_, str>> {
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
pub(super) fn frame_symbol(line: &str) -> Option<&str> {
    line.trim_start()
        .split_once(": ")
        .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .map(|(_, symbol)| symbol)
}

/// The most backtrace frames the console prints under an error.
pub(super) const CONSOLE_FRAMES: usize = 8;

/// `text` without its ANSI color sequences.
pub(super) fn strip_colors(text: &str) -> String {
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

pub(super) fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

/// `HH:MM:SS.mmm` in UTC.
pub(super) fn format_time(time: SystemTime) -> String {
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
