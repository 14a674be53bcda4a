//! The one timed span every integration that times a request or query uses: the span, when it started, and the
//! histogram of the operation's duration. Ending it — or dropping it, on any path, a panic's included — records the
//! duration with the metric's attributes and ends the span, exactly once.

use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;

use crate::span::BudSpan;

/// A span timed into a duration histogram (see the [module](self)).
pub(crate) struct TimedSpan {
    span: Option<BudSpan>,
    started: Instant,
    duration: Histogram<f64>,
    /// The duration metric's attributes, completed as the outcome becomes known.
    attributes: Vec<KeyValue>,
}

impl TimedSpan {
    /// Times `span` from now into `duration`, with the metric attributes known at the start.
    pub(crate) fn new(span: BudSpan, duration: &Histogram<f64>, attributes: Vec<KeyValue>) -> TimedSpan {
        TimedSpan { span: Some(span), started: Instant::now(), duration: duration.clone(), attributes }
    }

    /// When the operation started.
    #[cfg(feature = "llm")]
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// The span, until it ends.
    #[cfg(any(feature = "axum", feature = "reqwest", feature = "sqlx"))]
    pub(crate) fn span(&mut self) -> Option<&mut BudSpan> {
        self.span.as_mut()
    }

    /// Adds an attribute of the duration metric.
    #[cfg(any(feature = "axum", feature = "reqwest"))]
    pub(crate) fn metric_attribute(&mut self, attribute: KeyValue) {
        self.attributes.push(attribute);
    }

    /// The duration metric's attributes so far (other metrics of the operation share them).
    #[cfg(feature = "llm")]
    pub(crate) fn metric_attributes(&self) -> &[KeyValue] {
        &self.attributes
    }

    /// Marks a failed operation the way database clients report one: `error.type` (on the span and the metric),
    /// the server's status code when it gave one, an error status with `message`, the error level.
    #[cfg(any(feature = "redis", feature = "sqlx"))]
    pub(crate) fn fail(&mut self, error_type: String, status_code: Option<String>, message: String) {
        use crate::constants::{db, http};
        if let Some(span) = &mut self.span {
            let mut attributes = vec![KeyValue::new(http::ERROR_TYPE, error_type.clone())];
            if let Some(code) = status_code {
                attributes.push(KeyValue::new(db::RESPONSE_STATUS_CODE, code));
            }
            span.set_attributes(attributes);
            span.set_status(opentelemetry::trace::Status::error(message));
            span.set_level(crate::level::Level::Error);
        }
        self.attributes.push(KeyValue::new(http::ERROR_TYPE, error_type));
    }

    /// Records the duration and ends the span (once; later calls do nothing). During a panic the span records
    /// the panic as it ends.
    pub(crate) fn end(&mut self) {
        if let Some(span) = self.span.take() {
            self.duration.record(self.started.elapsed().as_secs_f64(), &self.attributes);
            drop(span);
        }
    }
}

impl Drop for TimedSpan {
    fn drop(&mut self) {
        self.end();
    }
}

/// A client span named `name`, child of the current context; and the context of what runs inside it (trace
/// context and baggage to propagate).
#[cfg(any(feature = "reqwest", feature = "redis", feature = "sqlx"))]
pub(crate) fn start_client_span(
    observe: &crate::observe::BudObserve,
    name: impl Into<std::borrow::Cow<'static, str>>,
    attributes: Vec<KeyValue>,
) -> (BudSpan, opentelemetry::Context) {
    use opentelemetry::Context;
    let parent = Context::current();
    let span = observe
        .span_builder(name)
        .kind(opentelemetry::trace::SpanKind::Client)
        .parent(parent.clone())
        .attributes(attributes)
        .start();
    let context = span.context_in(parent);
    (span, context)
}
