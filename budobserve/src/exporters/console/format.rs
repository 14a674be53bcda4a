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

/// The frames of a backtrace the console prints: the service's (see [`is_noise`]), at most [`CONSOLE_FRAMES`]; the
/// whole backtrace stays in `exception.stacktrace` for the exporters. A text that is not a backtrace is printed as it is.
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
    let noise = |frame: &Vec<&str>| frame.first().and_then(|line| frame_symbol(line)).is_some_and(is_noise);
    let kept: Vec<&Vec<&str>> = frames.iter().filter(|frame| !noise(frame)).collect();
    let mut out: Vec<Cow<'_, str>> =
        kept.iter().take(CONSOLE_FRAMES).flat_map(|frame| frame.iter().map(|line| Cow::Borrowed(*line))).collect();
    if kept.len() > CONSOLE_FRAMES {
        out.push(Cow::Owned(format!("      … {} more frames", kept.len() - CONSOLE_FRAMES)));
    }
    out
}

/// Frames that say nothing of the service: BudObserve's own (those that recorded the error, the wrappers of
/// instrumented functions), the standard library's and the async runtime's and HTTP stack's machinery.
fn is_noise(symbol: &str) -> bool {
    const NOISE: [&str; 10] = [
        "budobserve::",
        "std::",
        "core::",
        "alloc::",
        "tokio::",
        "futures_util::",
        "futures_core::",
        "hyper::",
        "hyper_util::",
        "tower::",
    ];
    let symbol = symbol.trim_start_matches('<');
    symbol.contains("budobserve::") || NOISE.iter().any(|prefix| symbol.starts_with(prefix))
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
/// A span's duration as the console shows it: `0.42 ms`, `12.3 ms`, `1.25 s`, `2 min 5 s`.
pub(super) fn format_duration(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else if duration.as_secs() < 60 {
        format!("{:.2} s", duration.as_secs_f64())
    } else {
        format!("{} min {} s", duration.as_secs() / 60, duration.as_secs() % 60)
    }
}

pub(super) fn format_time(time: SystemTime) -> String {
    let since_epoch = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let seconds = since_epoch.as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}.{:03}", seconds / 3600, seconds / 60 % 60, seconds % 60, since_epoch.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtraces_keep_the_services_frames() {
        let trace = "   0: budobserve::span::BudSpan::record_error_chain\n             at ./budobserve/src/span.rs:176:25\n   1: <budobserve::private::X as Y>::record\n             at ./x.rs:1:1\n   2: service::handler\n             at ./src/main.rs:9:5\n   3: <C as budobserve::span::Completion<T>>::complete\n             at ./budobserve/src/span.rs:409:9\n   4: <core::pin::Pin<P> as core::future::future::Future>::poll\n   5: tokio::runtime::task::raw::poll\n   6: service::main\n";
        assert_eq!(
            backtrace_lines(trace),
            ["   2: service::handler", "             at ./src/main.rs:9:5", "   6: service::main"]
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
        assert_eq!(format_duration(Duration::from_micros(420)), "0.42 ms");
        assert_eq!(format_duration(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(format_duration(Duration::from_millis(1_250)), "1.25 s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(format_time(time), "01:02:03.045");
    }
}
