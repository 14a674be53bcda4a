//! Levels of logs and spans, and the kinds of span BudObserve writes.

use std::fmt;
use std::str::FromStr;

/// The level of a log or span.
///
/// The numbers are the OpenTelemetry severity numbers of the first value of each range (the same as Logfire's), so
/// they sort and compare across SDKs: trace 1, debug 5, info 9, notice 10, warn 13, error 17, fatal 21.
///
/// ```
/// use budobserve::Level;
///
/// let level: Level = "warn".parse()?;
/// assert_eq!(level.number(), 13);
/// assert!(level > Level::Info);
/// # Ok::<(), budobserve::ParseLevelError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// Very fine detail, usually off (1).
    Trace = 1,
    /// Detail useful while debugging (5).
    Debug = 5,
    /// Normal operation (9). The default level of spans.
    Info = 9,
    /// Normal but significant (10).
    Notice = 10,
    /// Something unexpected that the service recovered from (13).
    Warn = 13,
    /// A failed operation (17).
    Error = 17,
    /// The service cannot go on (21).
    Fatal = 21,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 7] =
        [Level::Trace, Level::Debug, Level::Info, Level::Notice, Level::Warn, Level::Error, Level::Fatal];

    /// The names accepted by [`Level::from_str`], for error messages.
    pub const ACCEPTED_NAMES: &'static str = "trace, debug, info, notice, warn (or warning), error, fatal";

    /// The level's number (`budobserve_level_num`).
    #[inline]
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The level's lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// The level with this number, if it is one of the seven.
    pub const fn from_number(number: u8) -> Option<Level> {
        match number {
            1 => Some(Level::Trace),
            5 => Some(Level::Debug),
            9 => Some(Level::Info),
            10 => Some(Level::Notice),
            13 => Some(Level::Warn),
            17 => Some(Level::Error),
            21 => Some(Level::Fatal),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Level`] from a name.
///
/// ```
/// use budobserve::Level;
///
/// let err = "loud".parse::<Level>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown level `loud`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level `{0}`: expected one of {accepted}", accepted = Level::ACCEPTED_NAMES)]
pub struct ParseLevelError(pub String);

impl FromStr for Level {
    type Err = ParseLevelError;

    /// Parses a level name, ignoring case and surrounding white space.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        let level = Level::ALL.into_iter().find(|level| level.as_str().eq_ignore_ascii_case(name));
        match level {
            Some(level) => Ok(level),
            None if name.eq_ignore_ascii_case("warning") => Ok(Level::Warn),
            None => Err(ParseLevelError(s.to_owned())),
        }
    }
}

/// What a span BudObserve writes stands for (`budobserve_span_type`).
///
/// ```
/// use budobserve::testing::{self, attribute};
///
/// let capture = testing::capture();
/// capture.run(|| budobserve::bud_info!("a log"));
/// let log = capture.span("a log");
/// assert_eq!(attribute(&log, "budobserve_span_type").map(|v| v.as_str().into_owned()), Some("log".into()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanType {
    /// An operation with a duration.
    Span,
    /// A log: a zero-duration span.
    Log,
    /// The record of a span that has started and not ended yet.
    PendingSpan,
    /// An operation an integration recorded (an HTTP request served or sent, a query, a cache command, an LLM
    /// call, a Dapr call): a span with a duration, not written by the service's own code.
    Integration,
}

impl SpanType {
    /// The value written to `budobserve_span_type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanType::Span => "span",
            SpanType::Log => "log",
            SpanType::PendingSpan => "pending_span",
            SpanType::Integration => "integration",
        }
    }
}

impl SpanType {
    /// Whether spans of this type have a duration (a span or an integration's span, not a log or a record).
    pub const fn is_span(self) -> bool {
        matches!(self, SpanType::Span | SpanType::Integration)
    }
}

impl fmt::Display for SpanType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_otel_severity() {
        let numbers: Vec<u8> = Level::ALL.iter().map(|l| l.number()).collect();
        assert_eq!(numbers, [1, 5, 9, 10, 13, 17, 21]);
        for level in Level::ALL {
            assert_eq!(Level::from_number(level.number()), Some(level));
        }
        assert_eq!(Level::from_number(2), None);
    }

    #[test]
    fn parses_names() {
        assert_eq!("WARNING".parse::<Level>(), Ok(Level::Warn));
        assert_eq!(" notice ".parse::<Level>(), Ok(Level::Notice));
        let err = "verbose".parse::<Level>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown level `verbose`: expected one of trace, debug, info, notice, warn (or warning), error, fatal"
        );
    }

    #[test]
    fn orders_by_severity() {
        assert!(Level::Debug < Level::Info && Level::Info < Level::Notice && Level::Error < Level::Fatal);
    }
}
