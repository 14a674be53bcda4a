//! Proxy providers on an explicit instance: swapping the SDK provider, suppressing scopes, the logs signal.

use budobserve::Settings;
use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use budobserve::opentelemetry::trace::{Span as _, SpanId, Tracer as _, TracerProvider as _};
use budobserve::testing;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

fn names(exporter: &InMemorySpanExporter) -> Vec<String> {
    exporter.get_finished_spans().unwrap_or_default().into_iter().map(|s| s.name.into_owned()).collect()
}

#[test]
fn set_provider_redirects_existing_tracers_and_the_instance_itself() {
    let capture = testing::capture();
    let obs = capture.observe();
    let library_tracer = obs.tracer_provider().tracer("some-library");
    library_tracer.start("library before swap").end();
    obs.info("bud before swap", []);

    let swapped = InMemorySpanExporter::default();
    let previous = obs
        .tracer_provider()
        .set_provider(Some(SdkTracerProvider::builder().with_simple_exporter(swapped.clone()).build()));
    assert!(previous.is_some());
    library_tracer.start("library after swap").end();
    obs.info("bud after swap", []);

    let captured: Vec<_> = capture.spans().into_iter().map(|s| s.name.into_owned()).collect();
    assert_eq!(captured, ["library before swap", "bud before swap"]);
    assert_eq!(names(&swapped), ["library after swap", "bud after swap"]);
}

#[test]
fn suppressed_scopes_record_nothing_and_their_children_keep_the_outer_parent() {
    let capture = testing::capture();
    let obs = capture.observe();
    let noisy = obs.with_settings(Settings::new().scope("noisy-crate"));
    let noisy_tracer = obs.tracer_provider().tracer("noisy-crate");
    noisy.info("noisy before", []);
    assert!(!obs.tracer_provider().is_suppressed("noisy-crate"));

    obs.suppress_scopes(["noisy-crate"]);
    assert!(obs.tracer_provider().is_suppressed("noisy-crate"));
    {
        let _outer = obs.span("outer", []).entered();
        let _silenced = noisy.span("silenced", []).entered();
        noisy_tracer.start("raw silenced").end();
        obs.info("inside silenced", []);
    }
    let outer = capture.span("outer");
    assert_eq!(capture.span("noisy before").instrumentation_scope.name(), "noisy-crate");
    assert!(capture.spans_named("silenced").is_empty());
    assert!(capture.spans_named("raw silenced").is_empty());
    assert_eq!(capture.span("inside silenced").parent_span_id, outer.span_context.span_id());
    assert_eq!(outer.parent_span_id, SpanId::INVALID);
}

#[test]
fn scope_of_a_handle_is_written_on_its_spans() {
    let capture = testing::capture();
    let axum = capture.observe().with_settings(Settings::new().scope("budobserve.axum").tags(["http"]));
    axum.info("request", []);
    let span = capture.span("request");
    assert_eq!(span.instrumentation_scope.name(), "budobserve.axum");
    assert_eq!(span.instrumentation_scope.version(), Some(env!("CARGO_PKG_VERSION")));
}

#[test]
fn logger_obtained_before_a_provider_emits_after_and_respects_suppression() {
    let capture = testing::capture();
    let obs = capture.observe();
    let logger = obs.logger_provider().logger("app-logs");
    let quiet = obs.logger_provider().logger("quiet-logs");

    let exporter = InMemoryLogExporter::default();
    let _previous = obs
        .logger_provider()
        .set_provider(Some(SdkLoggerProvider::builder().with_simple_exporter(exporter.clone()).build()));
    obs.suppress_scopes(["quiet-logs"]);
    for (logger, body) in [(&logger, "kept"), (&quiet, "dropped")] {
        let mut record = logger.create_log_record();
        record.set_severity_number(Severity::Warn);
        record.set_body(body.into());
        record.add_attribute("user_id", 7);
        logger.emit(record);
    }
    let logs = exporter.get_emitted_logs().unwrap_or_default();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].instrumentation.name(), "app-logs");
    assert_eq!(logs[0].record.body(), Some(&"kept".into()));
    assert_eq!(logs[0].record.severity_number(), Some(Severity::Warn));
    let attributes: Vec<_> = logs[0].record.attributes_iter().cloned().collect();
    assert_eq!(attributes, [("user_id".into(), 7.into())]);
}

#[test]
fn instruments_of_a_dropped_meter_follow_every_new_provider() {
    use budobserve::opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    let proxy = budobserve::providers::ProxyMeterProvider::new();
    // The meter is a temporary: only the counter is kept, as a library's static would keep it.
    let counter = proxy.meter("library").u64_counter("jobs").build();
    let gauge_value = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(4));
    let observed = std::sync::Arc::clone(&gauge_value);
    let _gauge = proxy
        .meter("library")
        .u64_observable_gauge("queue")
        .with_callback(move |observer| observer.observe(observed.load(std::sync::atomic::Ordering::Relaxed), &[]))
        .build();
    counter.add(1, &[]);
    let total = |exporter: &InMemoryMetricExporter, name: &str| -> Option<u64> {
        let metrics = exporter.get_finished_metrics().ok()?;
        let last = metrics.last()?;
        last.scope_metrics().flat_map(|scope| scope.metrics()).find(|m| m.name() == name).and_then(|m| match m.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => sum.data_points().map(|p| p.value()).last(),
            AggregatedMetrics::U64(MetricData::Gauge(gauge)) => gauge.data_points().map(|p| p.value()).last(),
            _ => None,
        })
    };
    for round in 0..2_u64 {
        let exporter = InMemoryMetricExporter::default();
        let provider =
            SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
        proxy.set_provider(Some(provider.clone()));
        counter.add(2 + round, &[]);
        gauge_value.store(10 + round, std::sync::atomic::Ordering::Relaxed);
        provider.force_flush().unwrap();
        assert_eq!(
            total(&exporter, "jobs"),
            Some(2 + round),
            "round {round}: the counter records into the new provider"
        );
        assert_eq!(total(&exporter, "queue"), Some(10 + round), "round {round}: the callback is registered again");
    }
}
