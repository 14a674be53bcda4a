//! Span limits: how many attributes, events and links a span keeps, and how long a string value may be — and the
//! one function that applies them to an ended span.
//!
//! The limits are the OpenTelemetry ones, with the standard variables and defaults. What BudObserve adds is
//! *which* attributes go when a span has too many: never its own. A span's attributes are counted together, and
//! when there are more than [`attribute_count`](SpanLimits::attribute_count) the user's attributes written last are
//! dropped; BudObserve's keys (`budobserve_*`), the code location (`code.*`) and the bud context (`bud.*`) are
//! always kept (so a limit below their number keeps them alone). The number dropped is exported as the span's
//! `dropped_attributes_count`, as are the SDK's counts of dropped events and links.
//!
//! | variable | builder | default |
//! |---|---|---|
//! | `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` (then `OTEL_ATTRIBUTE_COUNT_LIMIT`) | [`attribute_count`](SpanLimits::attribute_count) | 128 |
//! | `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` (then `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`) | [`attribute_value_length`](SpanLimits::attribute_value_length) | unlimited |
//! | `OTEL_SPAN_EVENT_COUNT_LIMIT` | [`event_count`](SpanLimits::event_count) | 128 |
//! | `OTEL_SPAN_LINK_COUNT_LIMIT` | [`link_count`](SpanLimits::link_count) | 128 |
//! | `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT` (then `OTEL_ATTRIBUTE_COUNT_LIMIT`) | [`event_attribute_count`](SpanLimits::event_attribute_count) | 128 |
//! | `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT` (then `OTEL_ATTRIBUTE_COUNT_LIMIT`) | [`link_attribute_count`](SpanLimits::link_attribute_count) | 128 |
//!
//! A value of the builder wins over the variable; a variable that is not a whole number is a
//! [`ConfigError`] naming it.

use std::borrow::Cow;

use opentelemetry::trace::{Event, Link};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::config::setting::{EnvSource, Setting};
use crate::constants::{self, env};
use crate::error::ConfigError;

/// The OpenTelemetry default of every count limit.
pub const DEFAULT_COUNT: u32 = 128;

/// The limits of every span (see the [module](self)): pass to
/// [`ConfigBuilder::span_limits`](crate::ConfigBuilder::span_limits).
///
/// ```
/// use budobserve::SpanLimits;
///
/// let config = budobserve::configure()
///     .span_limits(SpanLimits::new().attribute_count(64).attribute_value_length(4096))
///     .console(false)
///     .build()?;
/// assert_eq!(config.span_limits().attribute_count_limit(), 64);
/// assert_eq!(config.span_limits().event_count_limit(), 128);          // not set: the variable's or the default
/// # Ok::<(), budobserve::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanLimits {
    attribute_count: Option<u32>,
    attribute_value_length: Option<u32>,
    event_count: Option<u32>,
    link_count: Option<u32>,
    event_attribute_count: Option<u32>,
    link_attribute_count: Option<u32>,
}

impl SpanLimits {
    /// Limits with nothing set: each comes from its variable, else its default.
    pub fn new() -> SpanLimits {
        SpanLimits::default()
    }

    /// The most attributes a span keeps, BudObserve's own included (they are never the ones dropped).
    pub fn attribute_count(mut self, limit: u32) -> Self {
        self.attribute_count = Some(limit);
        self
    }

    /// The longest string value a user attribute keeps, in characters; longer values are cut (strings, and each
    /// string of an array). BudObserve's own values are bounded by themselves (see `template`).
    pub fn attribute_value_length(mut self, limit: u32) -> Self {
        self.attribute_value_length = Some(limit);
        self
    }

    /// The most events a span keeps.
    pub fn event_count(mut self, limit: u32) -> Self {
        self.event_count = Some(limit);
        self
    }

    /// The most links a span keeps.
    pub fn link_count(mut self, limit: u32) -> Self {
        self.link_count = Some(limit);
        self
    }

    /// The most attributes an event keeps.
    pub fn event_attribute_count(mut self, limit: u32) -> Self {
        self.event_attribute_count = Some(limit);
        self
    }

    /// The most attributes a link keeps.
    pub fn link_attribute_count(mut self, limit: u32) -> Self {
        self.link_attribute_count = Some(limit);
        self
    }

    /// See [`attribute_count`](Self::attribute_count).
    pub fn attribute_count_limit(&self) -> u32 {
        self.attribute_count.unwrap_or(DEFAULT_COUNT)
    }

    /// See [`attribute_value_length`](Self::attribute_value_length); `None`: unlimited.
    pub fn attribute_value_length_limit(&self) -> Option<u32> {
        self.attribute_value_length
    }

    /// See [`event_count`](Self::event_count).
    pub fn event_count_limit(&self) -> u32 {
        self.event_count.unwrap_or(DEFAULT_COUNT)
    }

    /// See [`link_count`](Self::link_count).
    pub fn link_count_limit(&self) -> u32 {
        self.link_count.unwrap_or(DEFAULT_COUNT)
    }

    /// See [`event_attribute_count`](Self::event_attribute_count).
    pub fn event_attribute_count_limit(&self) -> u32 {
        self.event_attribute_count.unwrap_or(DEFAULT_COUNT)
    }

    /// See [`link_attribute_count`](Self::link_attribute_count).
    pub fn link_attribute_count_limit(&self) -> u32 {
        self.link_attribute_count.unwrap_or(DEFAULT_COUNT)
    }

    /// The builder's limits, each unset one from its variable.
    pub(crate) fn resolve(given: Option<SpanLimits>, env: &EnvSource) -> Result<SpanLimits, ConfigError> {
        let given = given.unwrap_or_default();
        Ok(SpanLimits {
            attribute_count: ATTRIBUTE_COUNT.resolve(given.attribute_count, env)?,
            attribute_value_length: VALUE_LENGTH.resolve(given.attribute_value_length, env)?,
            event_count: EVENT_COUNT.resolve(given.event_count, env)?,
            link_count: LINK_COUNT.resolve(given.link_count, env)?,
            event_attribute_count: EVENT_ATTRIBUTE_COUNT.resolve(given.event_attribute_count, env)?,
            link_attribute_count: LINK_ATTRIBUTE_COUNT.resolve(given.link_attribute_count, env)?,
        })
    }

    /// The SDK's limits. Events and links are the SDK's to count and drop. Attributes are this module's: the SDK
    /// drops the last ones, which would be BudObserve's own, so its limit is only a bound on memory, above
    /// anything a span holds when BudObserve's limit is kept where attributes are written (a span start keeps the
    /// caller's attributes within the limit; a `BudSpan` keeps its later ones within it).
    pub(crate) fn sdk(&self) -> opentelemetry_sdk::trace::SpanLimits {
        opentelemetry_sdk::trace::SpanLimits {
            max_events_per_span: self.event_count_limit(),
            max_attributes_per_span: self.attribute_count_limit().saturating_mul(2).saturating_add(SDK_ROOM),
            max_links_per_span: self.link_count_limit(),
            max_attributes_per_event: self.event_attribute_count_limit(),
            max_attributes_per_link: self.link_attribute_count_limit(),
        }
    }
}

/// Room in the SDK's attribute bound for BudObserve's own attributes and the bud context (at most 180 entries in
/// W3C baggage), beyond twice the user's limit (the attributes a span starts with, and those set later).
const SDK_ROOM: u32 = 256;

const COUNT_EXPECTED: &str = "a whole number (0 or more)";

fn count(value: &str) -> Result<u32, Cow<'static, str>> {
    value.trim().parse::<u32>().map_err(|_| Cow::Borrowed(COUNT_EXPECTED))
}

const ATTRIBUTE_COUNT: Setting<u32> = Setting {
    option: "span_limits",
    variables: &[env::OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, env::OTEL_ATTRIBUTE_COUNT_LIMIT],
    parse: count,
};
const VALUE_LENGTH: Setting<u32> = Setting {
    option: "span_limits",
    variables: &[env::OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, env::OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT],
    parse: count,
};
const EVENT_COUNT: Setting<u32> =
    Setting { option: "span_limits", variables: &[env::OTEL_SPAN_EVENT_COUNT_LIMIT], parse: count };
const LINK_COUNT: Setting<u32> =
    Setting { option: "span_limits", variables: &[env::OTEL_SPAN_LINK_COUNT_LIMIT], parse: count };
const EVENT_ATTRIBUTE_COUNT: Setting<u32> = Setting {
    option: "span_limits",
    variables: &[env::OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT, env::OTEL_ATTRIBUTE_COUNT_LIMIT],
    parse: count,
};
const LINK_ATTRIBUTE_COUNT: Setting<u32> = Setting {
    option: "span_limits",
    variables: &[env::OTEL_LINK_ATTRIBUTE_COUNT_LIMIT, env::OTEL_ATTRIBUTE_COUNT_LIMIT],
    parse: count,
};

/// Whether `key` is one of BudObserve's own (`budobserve_*`), a code location (`code.*`) or the bud context
/// (`bud.*`): the keys attribute limits never drop.
pub(crate) fn is_own_key(key: &str) -> bool {
    key.starts_with("budobserve_") || key.starts_with("code.") || key.starts_with("bud.")
}

/// Keeps at most `limit` attributes: every one of BudObserve's own, then the user's in order until the limit.
/// Returns how many were dropped. The one rule of which attributes go, wherever a count is kept.
pub(crate) fn keep_within(attributes: &mut Vec<KeyValue>, limit: usize) -> usize {
    if attributes.len() <= limit {
        return 0;
    }
    let own = attributes.iter().filter(|kv| is_own_key(kv.key.as_str())).count();
    let mut room = limit.saturating_sub(own);
    let before = attributes.len();
    attributes.retain(|kv| {
        if is_own_key(kv.key.as_str()) {
            return true;
        }
        let keep = room > 0;
        room = room.saturating_sub(1);
        keep
    });
    before - attributes.len()
}

/// Applies `limits` to an ended span whose keys are unique: the attribute count (adding what the caller's thread
/// dropped, as its marker says) and the length of string values. Events and links were limited by the SDK.
pub(crate) fn apply(span: &mut SpanData, limits: &SpanLimits) {
    let mut dropped = take_dropped_marker(&mut span.attributes);
    dropped += keep_within(&mut span.attributes, limits.attribute_count_limit() as usize);
    if dropped > 0 {
        span.dropped_attributes_count =
            span.dropped_attributes_count.saturating_add(u32::try_from(dropped).unwrap_or(u32::MAX));
    }
    if let Some(max) = limits.attribute_value_length {
        cut_values(span, max as usize);
    }
}

/// Cuts the user's string values (BudObserve's own keys aside), and those of events and links, to `max` characters.
fn cut_values(span: &mut SpanData, max: usize) {
    cut_values_of(&mut span.attributes, &mut span.events.events, &mut span.links.links, max);
}

/// [`cut_values`] on a span's parts.
fn cut_values_of(attributes: &mut [KeyValue], events: &mut [Event], links: &mut [Link], max: usize) {
    for kv in attributes.iter_mut().filter(|kv| !is_own_key(kv.key.as_str())) {
        cut_value(&mut kv.value, max);
    }
    let events = events.iter_mut().map(|event| &mut event.attributes);
    let links = links.iter_mut().map(|link| &mut link.attributes);
    for kv in events.chain(links).flatten() {
        cut_value(&mut kv.value, max);
    }
}

/// Characters kept beyond the value length limit as a span is queued: the limit itself is applied after scrubbing
/// (`apply`), and a secret that starts within the limit is still whole in what the queue holds, so it is found.
const QUEUE_MARGIN: usize = 256;

/// Cuts the string values far over the value length limit (limit + 256 characters) as a span is queued for export,
/// so that a burst of huge values costs the queue at most that much each (see `BatchOptions::max_queue_bytes`).
/// A no-op without a limit; values within it are passed over by their byte length alone.
pub(crate) fn cut_for_queue(span: &mut SpanData, limits: &SpanLimits) {
    if let Some(max) = queue_cut(limits) {
        cut_values(span, max);
    }
}

/// The length values are cut to as spans are queued (the limit and the margin); `None` without a limit.
pub(crate) fn queue_cut(limits: &SpanLimits) -> Option<usize> {
    limits.attribute_value_length.map(|max| max as usize + QUEUE_MARGIN)
}

/// [`cut_for_queue`] on a span's parts, to `max` (see [`queue_cut`]).
pub(crate) fn cut_parts_for_queue(attributes: &mut [KeyValue], events: &mut [Event], links: &mut [Link], max: usize) {
    cut_values_of(attributes, events, links, max);
}

/// Removes the marker of attributes dropped on the caller's thread; its count (0 without one).
fn take_dropped_marker(attributes: &mut Vec<KeyValue>) -> usize {
    // Read first: most spans have no marker, and this runs on every one.
    if !attributes.iter().any(|kv| kv.key.as_str() == constants::DROPPED_ATTRIBUTES) {
        return 0;
    }
    let mut dropped = 0;
    attributes.retain(|kv| {
        if kv.key.as_str() != constants::DROPPED_ATTRIBUTES {
            return true;
        }
        if let Value::I64(n) = kv.value {
            dropped += usize::try_from(n).unwrap_or(0);
        }
        false
    });
    dropped
}

/// The marker a span start writes when it dropped `dropped` of the caller's attributes.
pub(crate) fn dropped_marker(dropped: usize) -> KeyValue {
    KeyValue::new(constants::DROPPED_ATTRIBUTES, i64::try_from(dropped).unwrap_or(i64::MAX))
}

/// Cuts a string value (or each string of an array) to `max` characters.
fn cut_value(value: &mut Value, max: usize) {
    match value {
        Value::String(text) => {
            if let Some(cut) = cut(text.as_str(), max) {
                *text = StringValue::from(cut);
            }
        }
        Value::Array(Array::String(items)) => {
            for item in items.iter_mut() {
                if let Some(cut) = cut(item.as_str(), max) {
                    *item = StringValue::from(cut);
                }
            }
        }
        _ => {}
    }
}

/// `text`'s first `max` characters, when it has more.
fn cut(text: &str, max: usize) -> Option<String> {
    // No more bytes than `max`: no more characters either.
    if text.len() <= max {
        return None;
    }
    let (end, _) = text.char_indices().nth(max)?;
    Some(text[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_users_attributes_go_first_and_in_order() {
        let mut attributes: Vec<KeyValue> = (0..6).map(|i| KeyValue::new(format!("k{i}"), i)).collect();
        attributes.insert(2, KeyValue::new(constants::SPAN_TYPE, "log"));
        attributes.push(KeyValue::new(constants::MSG, "m"));
        attributes.push(KeyValue::new(constants::bud::PROJECT_ID, "p"));
        assert_eq!(keep_within(&mut attributes, 5), 4);
        let keys: Vec<&str> = attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["k0", "k1", constants::SPAN_TYPE, constants::MSG, constants::bud::PROJECT_ID]);
        // A limit below BudObserve's own keeps them alone.
        assert_eq!(keep_within(&mut attributes, 1), 2);
        assert_eq!(attributes.len(), 3);
    }

    #[test]
    fn values_are_cut_on_characters() {
        let mut value = Value::from("héllo wörld");
        cut_value(&mut value, 4);
        assert_eq!(value, Value::from("héll"));
        let mut array = Value::Array(Array::String(vec!["abcdef".into(), "ab".into()]));
        cut_value(&mut array, 3);
        assert_eq!(array, Value::Array(Array::String(vec!["abc".into(), "ab".into()])));
        let mut number = Value::I64(123_456);
        cut_value(&mut number, 2);
        assert_eq!(number, Value::I64(123_456));
    }

    #[test]
    fn limits_come_from_the_builder_then_the_variables() {
        let env = |pairs: &[(&str, &str)]| {
            EnvSource::Map(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>())
        };
        let limits = SpanLimits::resolve(
            Some(SpanLimits::new().event_count(3)),
            &env(&[
                (env::OTEL_SPAN_EVENT_COUNT_LIMIT, "9"),
                (env::OTEL_ATTRIBUTE_COUNT_LIMIT, "40"),
                (env::OTEL_LINK_ATTRIBUTE_COUNT_LIMIT, "7"),
                (env::OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, "100"),
            ]),
        )
        .unwrap();
        assert_eq!(limits.event_count_limit(), 3);
        assert_eq!(limits.attribute_count_limit(), 40);
        assert_eq!(limits.event_attribute_count_limit(), 40);
        assert_eq!(limits.link_attribute_count_limit(), 7);
        assert_eq!(limits.link_count_limit(), DEFAULT_COUNT);
        assert_eq!(limits.attribute_value_length_limit(), Some(100));
        let error = SpanLimits::resolve(None, &env(&[(env::OTEL_SPAN_LINK_COUNT_LIMIT, "many")])).unwrap_err();
        assert!(
            matches!(&error, ConfigError::InvalidEnvVar { variable, value, .. }
                if *variable == env::OTEL_SPAN_LINK_COUNT_LIMIT && value == "many"),
            "{error:?}"
        );
        assert!(error.to_string().contains(COUNT_EXPECTED), "{error}");
    }
}
