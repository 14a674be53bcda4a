//! What the client integrations (HTTP, databases) share: an integration's scoped handle and duration histogram, and
//! client spans started as children of the current context.

use std::borrow::Cow;

use opentelemetry::metrics::Histogram;
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};

use crate::observe::{BudObserve, Settings};
use crate::span::BudSpan;

/// An integration's handle on `observe`, under its instrumentation scope, and its histogram of durations (seconds,
/// the semantic conventions' buckets).
pub(crate) fn scoped(
    observe: &BudObserve,
    scope: &'static str,
    name: &'static str,
    description: &'static str,
) -> (BudObserve, Histogram<f64>) {
    let observe = observe.with_settings(Settings::new().scope(scope));
    let histogram = observe
        .histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(vec![0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0])
        .build();
    (observe, histogram)
}

/// A client span named `name`, child of the current context; and the context of what runs inside it (trace
/// context and baggage to propagate).
#[cfg_attr(not(any(feature = "reqwest", feature = "redis", feature = "sqlx")), allow(dead_code))]
pub(crate) fn start_client_span(
    observe: &BudObserve,
    name: impl Into<Cow<'static, str>>,
    attributes: Vec<KeyValue>,
) -> (BudSpan, Context) {
    let parent = Context::current();
    let span = observe.span_builder(name).kind(SpanKind::Client).parent(parent.clone()).attributes(attributes).start();
    let context = span.context_in(parent);
    (span, context)
}
