//! Assertions on one given span: its attributes, events, status, level and parent, each failing with what the span
//! has.

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::constants;
use crate::level::Level;

/// The value of attribute `key` of a span.
///
/// ```
/// use budobserve::opentelemetry::Value;
///
/// let capture = budobserve::testing::capture();
/// capture.run(|| budobserve::bud_info!("rows {n}", n = 3));
/// let span = capture.span("rows {n}");
/// assert_eq!(budobserve::testing::attribute(&span, "n"), Some(&Value::I64(3)));
/// ```
pub fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

/// One exported span to assert on (see [`TestExporter::assert_span`](super::TestExporter::assert_span)). Each
/// method panics with the span's name and what it has when the assertion fails, and returns the assertion for the
/// next.
///
/// ```
/// use budobserve::opentelemetry::trace::Status;
/// use budobserve::{KeyValue, Level, bud_span, bud_warn};
///
/// let capture = budobserve::testing::capture();
/// capture.run(|| {
///     let mut request = bud_span!("request {id}", id = 7).entered();
///     bud_warn!("slow");
///     request.set_status(Status::Ok);
/// });
/// let request = capture.assert_span("request {id}").has_attribute(KeyValue::new("id", 7)).is_root().status_ok();
/// capture
///     .assert_span("slow")
///     .child_of(request.span())
///     .level(Level::Warn)
///     .lacks_attribute("user_id")
///     .status_unset();
/// ```
#[derive(Debug)]
pub struct SpanAssert {
    span: SpanData,
}

impl SpanAssert {
    pub(super) fn new(span: SpanData) -> SpanAssert {
        SpanAssert { span }
    }

    /// The span asserted on.
    pub fn span(&self) -> &SpanData {
        &self.span
    }

    /// The span, for assertions of the test's own.
    pub fn into_span(self) -> SpanData {
        self.span
    }

    fn name(&self) -> &str {
        &self.span.name
    }

    /// Asserts the span has this attribute with this value.
    #[track_caller]
    pub fn has_attribute(self, expected: KeyValue) -> SpanAssert {
        let found = attribute(&self.span, expected.key.as_str());
        assert!(
            found == Some(&expected.value),
            "span {:?}: attribute {:?} is {found:?}, expected {:?}; its attributes: {:#?}",
            self.name(),
            expected.key.as_str(),
            expected.value,
            self.span.attributes
        );
        self
    }

    /// Asserts the span has each of these attributes with these values.
    #[track_caller]
    pub fn has_attributes(self, expected: &[KeyValue]) -> SpanAssert {
        expected.iter().cloned().fold(self, SpanAssert::has_attribute)
    }

    /// Asserts the span has no attribute `key`.
    #[track_caller]
    pub fn lacks_attribute(self, key: &str) -> SpanAssert {
        let found = attribute(&self.span, key);
        assert!(found.is_none(), "span {:?}: has attribute {key:?} = {found:?}, expected none", self.name());
        self
    }

    /// Asserts the span has an event named `event` with (at least) these attributes.
    #[track_caller]
    pub fn has_event(self, event: &str, attributes: &[KeyValue]) -> SpanAssert {
        let found = self.span.events.iter().any(|e| {
            e.name == event
                && attributes
                    .iter()
                    .all(|expected| e.attributes.iter().any(|kv| kv.key == expected.key && kv.value == expected.value))
        });
        assert!(
            found,
            "span {:?}: no event {event:?} with {attributes:?}; its events: {:#?}",
            self.name(),
            self.span.events.iter().map(|e| (&e.name, &e.attributes)).collect::<Vec<_>>()
        );
        self
    }

    /// Asserts the span has no event named `event`.
    #[track_caller]
    pub fn lacks_event(self, event: &str) -> SpanAssert {
        assert!(
            self.span.events.iter().all(|e| e.name != event),
            "span {:?}: has an event {event:?}, expected none",
            self.name()
        );
        self
    }

    #[track_caller]
    fn status_is(self, expected: &str, matches: bool) -> SpanAssert {
        assert!(matches, "span {:?}: status {:?}, expected {expected}", self.name(), self.span.status);
        self
    }

    /// Asserts the status is unset.
    #[track_caller]
    pub fn status_unset(self) -> SpanAssert {
        let matches = self.span.status == Status::Unset;
        self.status_is("unset", matches)
    }

    /// Asserts the status is ok.
    #[track_caller]
    pub fn status_ok(self) -> SpanAssert {
        let matches = self.span.status == Status::Ok;
        self.status_is("ok", matches)
    }

    /// Asserts the status is an error with this description.
    #[track_caller]
    pub fn status_error(self, description: &str) -> SpanAssert {
        let matches = matches!(&self.span.status, Status::Error { description: d } if d == description);
        self.status_is(&format!("error {description:?}"), matches)
    }

    /// Asserts the span's level (`budobserve_level_num`).
    #[track_caller]
    pub fn level(self, level: Level) -> SpanAssert {
        let found = attribute(&self.span, constants::LEVEL_NUM);
        assert!(
            found == Some(&Value::I64(i64::from(level.number()))),
            "span {:?}: level number {found:?}, expected {} ({level})",
            self.name(),
            level.number()
        );
        self
    }

    /// Asserts the span's kind.
    #[track_caller]
    pub fn kind(self, kind: SpanKind) -> SpanAssert {
        assert!(
            self.span.span_kind == kind,
            "span {:?}: kind {:?}, expected {kind:?}",
            self.name(),
            self.span.span_kind
        );
        self
    }

    /// Asserts the span is a child of `parent`: its parent span id is `parent`'s, in the same trace.
    #[track_caller]
    pub fn child_of(self, parent: &SpanData) -> SpanAssert {
        let (context, parent_context) = (&self.span.span_context, &parent.span_context);
        assert!(
            self.span.parent_span_id == parent_context.span_id() && context.trace_id() == parent_context.trace_id(),
            "span {:?}: parent {:?} in trace {:?}, expected {:?} ({:?}) in trace {:?}",
            self.name(),
            self.span.parent_span_id,
            context.trace_id(),
            parent_context.span_id(),
            parent.name,
            parent_context.trace_id()
        );
        self
    }

    /// Asserts the span is the root of its trace (no parent).
    #[track_caller]
    pub fn is_root(self) -> SpanAssert {
        assert!(
            self.span.parent_span_id == SpanId::INVALID,
            "span {:?}: parent {:?}, expected none",
            self.name(),
            self.span.parent_span_id
        );
        self
    }
}
