//! The global instance: instruments and tracers obtained before `configure` record after it; the guard shuts down
//! what it installed. One test, since the global instance is shared by the whole test binary.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use budobserve::opentelemetry::metrics::{Counter, Histogram};
use budobserve::opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use budobserve::{ConfigError, KeyValue, Level};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};

static REQUESTS: LazyLock<Counter<u64>> = LazyLock::new(|| {
    budobserve::meter().u64_counter("requests").with_unit("{request}").with_description("Requests served").build()
});
static LATENCY: LazyLock<Histogram<f64>> =
    LazyLock::new(|| budobserve::global().histogram("latency").with_unit("s").build());
static QUEUE_DEPTH: AtomicU64 = AtomicU64::new(0);

fn u64_sum(exporter: &InMemoryMetricExporter, name: &str) -> Option<u64> {
    let metrics = exporter.get_finished_metrics().ok()?;
    let last = metrics.last()?;
    last.scope_metrics().flat_map(|scope| scope.metrics()).find(|m| m.name() == name).and_then(|metric| {
        match metric.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => Some(sum.data_points().map(|p| p.value()).sum()),
            AggregatedMetrics::U64(MetricData::Gauge(gauge)) => gauge.data_points().map(|p| p.value()).last(),
            _ => None,
        }
    })
}

fn histogram_count(exporter: &InMemoryMetricExporter, name: &str) -> Option<u64> {
    let metrics = exporter.get_finished_metrics().ok()?;
    let last = metrics.last()?;
    last.scope_metrics().flat_map(|scope| scope.metrics()).find(|m| m.name() == name).and_then(|metric| {
        match metric.data() {
            AggregatedMetrics::F64(MetricData::Histogram(h)) => Some(h.data_points().map(|p| p.count()).sum()),
            _ => None,
        }
    })
}

#[test]
fn instruments_and_tracers_from_before_configure_record_after_it() {
    // Before configure: created, used, recorded nowhere.
    REQUESTS.add(5, &[]);
    LATENCY.record(0.5, &[]);
    let early_tracer = budobserve::tracer_provider().tracer("early-library");
    early_tracer.start("before configure").end();
    let _gauge = budobserve::global()
        .meter()
        .u64_observable_gauge("queue_depth")
        .with_callback(|observer| observer.observe(QUEUE_DEPTH.load(Ordering::Relaxed), &[]))
        .build();

    // An invalid environment value is an error, and installs nothing.
    let err = budobserve::configure()
        .env(budobserve::EnvSource::Map([("BUD_OBSERVE_MIN_LEVEL".to_owned(), "chatty".to_owned())].into()))
        .install()
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidEnvVar { variable: "BUD_OBSERVE_MIN_LEVEL", .. }));
    // A test clock is refused for the global instance.
    let err = budobserve::configure().clock(budobserve::Clock::stepping()).install().map(|_| ()).unwrap_err();
    assert!(matches!(err, ConfigError::InvalidOption { option: "clock", .. }), "{err}");

    let metrics = InMemoryMetricExporter::default();
    let spans = InMemorySpanExporter::default();
    let guard = budobserve::configure()
        .env(budobserve::EnvSource::Map(Default::default()))
        .service_name("global-test")
        .console(false)
        .min_level(Level::Debug)
        .metric_reader(PeriodicReader::builder(metrics.clone()).build())
        .span_processor(SimpleSpanProcessor::new(spans.clone()))
        .install()
        .expect("valid configuration");
    assert_eq!(budobserve::global().min_level(), Level::Debug);

    REQUESTS.add(2, &[KeyValue::new("route", "/chat")]);
    REQUESTS.add(1, &[KeyValue::new("route", "/chat")]);
    LATENCY.record(0.25, &[]);
    QUEUE_DEPTH.store(7, Ordering::Relaxed);
    early_tracer.start("after configure").end();
    budobserve::info("hello from the global instance", []);
    // A library written against the OpenTelemetry API joins the same pipeline.
    budobserve::opentelemetry::global::tracer("third-party").start("third-party span").end();
    budobserve::trace("below the minimum level", []);
    // The macros' first check is the global minimum level (one load), kept in step with `set_min_level`, and
    // passed over while another instance is current somewhere.
    budobserve::bud_trace!("macro below the minimum level");
    budobserve::bud_debug!("macro at the minimum level");
    budobserve::global().set_min_level(Level::Info);
    budobserve::bud_debug!("debug after the level was raised");
    let capture = budobserve::testing::capture();
    budobserve::with_instance(capture.observe(), || budobserve::bud_trace!("trace in an override"));
    capture.assert_has_span("trace in an override", &[]);
    budobserve::global().set_min_level(Level::Debug);
    budobserve::bud_debug!("debug after the level was lowered");
    budobserve::force_flush().expect("flush");

    assert_eq!(u64_sum(&metrics, "requests"), Some(3), "only what was added after configure");
    assert_eq!(histogram_count(&metrics, "latency"), Some(1));
    assert_eq!(u64_sum(&metrics, "queue_depth"), Some(7));
    let names: Vec<_> = spans.get_finished_spans().unwrap_or_default().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "after configure",
            "hello from the global instance",
            "third-party span",
            "macro at the minimum level",
            "debug after the level was lowered"
        ]
    );
    let finished = spans.get_finished_spans().unwrap_or_default();
    let resource_name = finished[1].attributes.iter().find(|kv| kv.key.as_str() == "service.name");
    assert!(resource_name.is_none(), "service.name is a resource attribute, not a span attribute");

    // Installing again replaces the configuration; the first guard then no longer owns the instance, so dropping it
    // leaves the second configuration recording.
    let second_spans = InMemorySpanExporter::default();
    let second_guard = budobserve::configure()
        .env(budobserve::EnvSource::Map(Default::default()))
        .console(false)
        .span_processor(SimpleSpanProcessor::new(second_spans.clone()))
        .install()
        .expect("valid configuration");
    drop(guard);
    budobserve::info("after the first guard dropped", []);
    let second: Vec<_> = second_spans.get_finished_spans().unwrap_or_default().into_iter().map(|s| s.name).collect();
    assert_eq!(second, ["after the first guard dropped"]);
    let guard = second_guard;

    // Dropping the guard shuts the configuration down: nothing is recorded afterwards.
    guard.shutdown().expect("shutdown");
    let after = budobserve::span("after shutdown", []);
    assert!(!after.is_recording());
    drop(after);
    early_tracer.start("tracer after shutdown").end();
    assert!(!second_spans.get_finished_spans().unwrap_or_default().iter().any(|s| s.name == "tracer after shutdown"));
}
