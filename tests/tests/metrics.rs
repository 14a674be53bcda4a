//! Metrics through an instance's proxy meter provider: every instrument kind, units and descriptions, callbacks,
//! and a provider swap that re-registers callbacks.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use budobserve::KeyValue;
use budobserve::opentelemetry::metrics::MeterProvider as _;
use budobserve::testing;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

fn collect(observe: &budobserve::BudObserve, exporter: &InMemoryMetricExporter) -> ResourceMetrics {
    exporter.reset();
    observe.force_flush().expect("flush");
    let mut metrics = exporter.get_finished_metrics().expect("metrics");
    metrics.pop().expect("one collection")
}

fn metric<'a>(metrics: &'a ResourceMetrics, name: &str) -> &'a Metric {
    metrics
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn i64_value(metric: &Metric) -> i64 {
    match metric.data() {
        AggregatedMetrics::I64(MetricData::Sum(sum)) => sum.data_points().map(|p| p.value()).sum(),
        AggregatedMetrics::I64(MetricData::Gauge(gauge)) => gauge.data_points().map(|p| p.value()).sum(),
        other => panic!("unexpected data {other:?}"),
    }
}

fn f64_value(metric: &Metric) -> f64 {
    match metric.data() {
        AggregatedMetrics::F64(MetricData::Gauge(gauge)) => gauge.data_points().map(|p| p.value()).sum(),
        AggregatedMetrics::F64(MetricData::Histogram(h)) => h.data_points().map(|p| p.sum()).sum(),
        other => panic!("unexpected data {other:?}"),
    }
}

fn u64_value(metric: &Metric) -> u64 {
    match metric.data() {
        AggregatedMetrics::U64(MetricData::Sum(sum)) => sum.data_points().map(|p| p.value()).sum(),
        other => panic!("unexpected data {other:?}"),
    }
}

#[test]
fn every_instrument_kind_records_with_unit_and_description() {
    let exporter = InMemoryMetricExporter::default();
    let capture = testing::capture_with(|b| b.metric_reader(PeriodicReader::builder(exporter.clone()).build()));
    let obs = capture.observe();
    let in_flight = Arc::new(AtomicI64::new(0));

    let tokens = obs.counter("llm.tokens").with_unit("{token}").with_description("Tokens used").build();
    let latency = obs.histogram("llm.latency").with_unit("s").build();
    let temperature = obs.gauge("gpu.temperature").with_unit("Cel").build();
    let queue = obs.up_down_counter("queue.size").build();
    let _served =
        obs.counter_callback("requests.served", |o| o.observe(11, &[KeyValue::new("route", "/chat")])).build();
    let _load = obs.gauge_callback("gpu.load", |o| o.observe(0.75, &[])).build();
    let observed = in_flight.clone();
    let _in_flight = obs
        .up_down_counter_callback("requests.in_flight", move |o| o.observe(observed.load(Ordering::Relaxed), &[]))
        .build();

    tokens.add(100, &[KeyValue::new("model", "llama")]);
    tokens.add(20, &[KeyValue::new("model", "llama")]);
    latency.record(0.5, &[]);
    latency.record(1.5, &[]);
    temperature.record(71.5, &[]);
    queue.add(5, &[]);
    queue.add(-2, &[]);
    in_flight.store(4, Ordering::Relaxed);

    let metrics = collect(obs, &exporter);
    let tokens = metric(&metrics, "llm.tokens");
    assert_eq!((tokens.unit(), tokens.description()), ("{token}", "Tokens used"));
    assert_eq!(u64_value(tokens), 120);
    assert_eq!(metric(&metrics, "llm.latency").unit(), "s");
    assert_eq!(f64_value(metric(&metrics, "llm.latency")), 2.0);
    assert_eq!(f64_value(metric(&metrics, "gpu.temperature")), 71.5);
    assert_eq!(i64_value(metric(&metrics, "queue.size")), 3);
    assert_eq!(u64_value(metric(&metrics, "requests.served")), 11);
    assert_eq!(f64_value(metric(&metrics, "gpu.load")), 0.75);
    assert_eq!(i64_value(metric(&metrics, "requests.in_flight")), 4);
    let scope = metrics.scope_metrics().next().expect("scope").scope().name().to_owned();
    assert_eq!(scope, "budobserve");
}

#[test]
fn a_swapped_meter_provider_receives_existing_instruments_and_callbacks() {
    let capture = testing::capture();
    let obs = capture.observe();
    let counter = obs.counter("jobs").build();
    let _callback = obs.counter_callback("ticks", |o| o.observe(3, &[])).build();
    let library_meter = obs.meter_provider().meter("library");
    let library_counter = library_meter.u64_counter("library.calls").build();

    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    let _previous = obs.meter_provider().set_provider(Some(provider.clone()));
    counter.add(2, &[]);
    library_counter.add(9, &[]);
    provider.force_flush().expect("flush");

    let metrics = exporter.get_finished_metrics().expect("metrics").pop().expect("collection");
    assert_eq!(u64_value(metric(&metrics, "jobs")), 2);
    assert_eq!(u64_value(metric(&metrics, "ticks")), 3);
    assert_eq!(u64_value(metric(&metrics, "library.calls")), 9);
}
