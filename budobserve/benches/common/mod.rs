//! What the overhead benchmarks and the profiling example (`examples/span_profile.rs`) share: the exporter that
//! drops everything, the raw SDK span with the attributes `bud_span!` writes, and the ten-attribute span of the
//! scrubbing scenario.

use std::future::Future;
use std::hint::black_box;

use budobserve::opentelemetry::trace::{Span as _, Tracer as _};
use budobserve::opentelemetry::{KeyValue, Value};
use budobserve::opentelemetry_sdk::error::OTelSdkResult;
use budobserve::opentelemetry_sdk::trace::{SdkTracer, SpanData, SpanExporter};

/// Drops everything: the cost measured is the instrumentation's, not an exporter's.
#[derive(Debug)]
pub(crate) struct DropEverything;

impl SpanExporter for DropEverything {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        drop(black_box(batch));
        std::future::ready(Ok(()))
    }
}

/// The raw SDK's span with the attributes BudObserve writes for `bud_span!("work", a = 1, b = "text", c = 2.5)`
/// (the three given, the code location and BudObserve's own): the SDK's floor for what the macro records.
pub(crate) fn raw_span_same_attributes(tracer: &SdkTracer) {
    let mut span = tracer.span_builder("work").with_attributes(same_attributes(1, "text", 2.5)).start(tracer);
    black_box(&span);
    span.end();
}

/// The attributes `bud_span!("work", a, b, c)` writes, with these values: the three given, the code location and
/// BudObserve's own. A `&'static str` for `b` is kept as it is (no allocation), as the macro keeps a literal.
pub(crate) fn same_attributes(a: i64, b: impl Into<Value>, c: f64) -> [KeyValue; 10] {
    [
        KeyValue::new("a", a),
        KeyValue::new("b", b),
        KeyValue::new("c", c),
        KeyValue::new("code.filepath", file!()),
        KeyValue::new("code.lineno", i64::from(line!())),
        KeyValue::new("code.namespace", module_path!()),
        KeyValue::new("budobserve_span_type", "span"),
        KeyValue::new("budobserve_level_num", 9),
        KeyValue::new("budobserve_msg_template", "work"),
        KeyValue::new("budobserve_msg", "work"),
    ]
}

/// A request span with ten attributes, two of them secrets by name (the scrubbing scenario).
pub(crate) fn ten_attributes() {
    let span = budobserve::bud_span!(
        "request",
        user_id = 42,
        route = "/v1/chat/completions",
        model = "llama-3-8b",
        tokens = 512,
        password = "hunter2",
        session_id = "3f2a9c",
        note = "hello world",
        region = "eu-west-1",
        status = 200,
        latency_ms = 12.5
    );
    black_box(&span);
}
