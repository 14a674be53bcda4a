//! Suppression: `suppress_instrumentation` records nothing on its thread — macro spans and logs (with any parent),
//! the OpenTelemetry API's spans and log records, metrics, the `tracing` bridge — and `suppress_scopes` silences
//! a scope's spans, log records and metrics, instruments made before and after alike.

use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use budobserve::opentelemetry::metrics::MeterProvider as _;
use budobserve::opentelemetry::trace::{Tracer as _, TracerProvider as _};
use budobserve::testing;
use budobserve::{BudObserve, KeyValue, bud_info, bud_span};
use tracing_subscriber::layer::SubscriberExt as _;

/// Records one of everything through `obs` and the current instance.
fn record_everything(obs: &BudObserve, tag: &str) {
    bud_info!("log {tag}", tag = tag.to_owned());
    let _span = bud_span!("span {tag}", tag = tag.to_owned()).entered();
    drop(obs.span_builder("root {tag}").attributes([KeyValue::new("tag", tag.to_owned())]).new_trace().start());
    let parent = budobserve::opentelemetry::Context::new();
    bud_info!("with a parent {tag}", _parent = &parent, tag = tag.to_owned());
    obs.tracer_provider().tracer("library").in_span(format!("library {tag}"), |_| {});
    let logger = obs.logger_provider().logger("library");
    let mut record = logger.create_log_record();
    record.set_body(format!("record {tag}").into());
    logger.emit(record);
    obs.counter("calls").build().add(1, &[]);
    obs.meter_provider().meter("library").u64_counter("library_calls").build().add(1, &[]);
    tracing::info!(tag, "tracing event");
}

#[test]
fn nothing_is_recorded_inside_suppress_instrumentation() {
    let capture = testing::capture();
    let subscriber = tracing_subscriber::registry().with(budobserve::integrations::tracing::layer());
    tracing::subscriber::with_default(subscriber, || {
        capture.run(|| {
            {
                let _quiet = budobserve::suppress_instrumentation();
                record_everything(capture.observe(), "quiet");
            }
            record_everything(capture.observe(), "loud");
        });
    });
    let mut names: Vec<String> = capture.spans().iter().map(|s| s.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        ["library loud", "log {tag}", "root {tag}", "span {tag}", "tracing event", "with a parent {tag}"],
        "only the second round"
    );
    assert!(capture.spans().iter().all(|s| testing::attribute(s, "tag").map(|v| v.as_str() == "loud") != Some(false)));
    let bodies: Vec<String> = capture.log_records().iter().filter_map(|r| r.body().map(|b| format!("{b:?}"))).collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("record loud"));
    assert_eq!(capture.metric_value("calls", &[]), Some(1.0));
    assert_eq!(capture.metric_value("library_calls", &[]), Some(1.0));
}

#[test]
fn suppressed_scopes_cover_metrics_made_before_and_after() {
    let capture = testing::capture();
    let obs = capture.observe();
    let early = obs.meter_provider().meter("chatty").u64_counter("chatty_early").build();
    let kept = obs.meter_provider().meter("useful").u64_counter("useful_calls").build();
    early.add(1, &[]);
    obs.suppress_scopes(["chatty"]);
    assert!(obs.meter_provider().is_suppressed("chatty"));
    let late = obs.meter_provider().meter("chatty").u64_counter("chatty_late").build();
    early.add(5, &[]);
    late.add(1, &[]);
    kept.add(2, &[]);
    obs.tracer_provider().tracer("chatty").in_span("chatty span", |_| {});
    let logger = obs.logger_provider().logger("chatty");
    let mut record = logger.create_log_record();
    record.set_body("chatty record".into());
    logger.emit(record);
    assert_eq!(capture.metric_value("useful_calls", &[]), Some(2.0));
    assert_eq!(capture.metric_value("chatty_late", &[]), None);
    // The early instrument's total stays what it was before the suppression: nothing after it counted.
    assert_eq!(capture.metric_value("chatty_early", &[]), Some(1.0));
    assert!(capture.spans().is_empty());
    assert!(capture.log_records().is_empty());
}
