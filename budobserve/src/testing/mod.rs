//! Testing support: capture what a piece of code records and assert on it.
//!
//! [`capture`] builds an isolated instance — incremental trace and span ids, a clock that moves one second per read,
//! no console, no environment — whose spans land in a [`TestExporter`] as soon as they end. Make it current with
//! [`Capture::run`] (or [`Capture::run_async`]) and the macros and free functions write into it, so tests running
//! in parallel threads each see only their own spans.
//!
//! ```
//! use budobserve::testing;
//! use opentelemetry::KeyValue;
//!
//! let capture = testing::capture();
//! capture.run(|| budobserve::info("user {user_id} logged in", [KeyValue::new("user_id", 42)]));
//! capture.assert_has_span(
//!     "user {user_id} logged in",
//!     &[KeyValue::new("budobserve_msg", "user 42 logged in"), KeyValue::new("user_id", 42)],
//! );
//! ```

use std::any::type_name;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::SdkLogRecord;
use opentelemetry_sdk::metrics::PeriodicReader;
use opentelemetry_sdk::trace::{IdGenerator, SimpleSpanProcessor, SpanData, SpanExporter};
use serde_json::Value as Json;

mod assert;
mod json;
mod signals;

pub use self::assert::{SpanAssert, attribute};
pub use self::json::JsonOptions;
use self::signals::{LogStore, MetricStore};
pub use self::signals::{MetricPoint, PointValue};

use crate::clock::Clock;
use crate::config::{ConfigBuilder, EnvSource, configure};
use crate::constants;
use crate::instance::{WithInstance, with_instance, with_instance_async};
use crate::observe::BudObserve;
use crate::providers::lock;

/// An in-memory span exporter. Clones share the same spans.
///
/// ```
/// let capture = budobserve::testing::capture();
/// capture.run(|| budobserve::bud_info!("first"));
/// assert_eq!(capture.exporter().spans_named("first").len(), 1);
/// capture.exporter().clear();                            // between the steps of a test
/// assert!(capture.spans().is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct TestExporter {
    spans: Arc<Mutex<Vec<SpanData>>>,
    /// The resource the provider gave the exporter.
    resource: Arc<Mutex<Option<Resource>>>,
}

impl SpanExporter for TestExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        lock(&self.spans).extend(batch);
        std::future::ready(Ok(()))
    }

    fn set_resource(&mut self, resource: &Resource) {
        *lock(&self.resource) = Some(resource.clone());
    }
}

/// Trace ids and span ids counting up from 1, so exported ids are the same at every run.
///
/// ```
/// use budobserve::testing::IncrementalIdGenerator;
///
/// // The ids of `testing::capture`, for an instance of your own.
/// let config = budobserve::configure().id_generator(IncrementalIdGenerator::default()).console(false).build()?;
/// # drop(config);
/// # Ok::<(), budobserve::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct IncrementalIdGenerator {
    trace: AtomicU64,
    span: AtomicU64,
}

impl IdGenerator for IncrementalIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        TraceId::from(u128::from(self.trace.fetch_add(1, Ordering::Relaxed) + 1))
    }

    fn new_span_id(&self) -> SpanId {
        SpanId::from(self.span.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// Trace and span ids that look random (every bit as likely set as not, as samplers and backends expect of real
/// ids) and are the same at every run for the same seed: for tests and snapshots where incremental ids would hide a
/// dependence on the ids' bits.
///
/// ```
/// use budobserve::opentelemetry_sdk::trace::IdGenerator as _;
/// use budobserve::testing::SeededIdGenerator;
///
/// let (a, b) = (SeededIdGenerator::new(7), SeededIdGenerator::new(7));
/// assert_eq!(a.new_trace_id(), b.new_trace_id());
/// assert_ne!(a.new_span_id(), SeededIdGenerator::new(8).new_span_id());
/// let capture = budobserve::testing::capture_with(|builder| builder.id_generator(SeededIdGenerator::new(7)));
/// # drop(capture);
/// ```
#[derive(Debug)]
pub struct SeededIdGenerator {
    seed: u64,
    draws: AtomicU64,
}

impl SeededIdGenerator {
    /// A generator whose ids follow from `seed`.
    pub fn new(seed: u64) -> SeededIdGenerator {
        SeededIdGenerator { seed, draws: AtomicU64::new(0) }
    }

    /// The next 64 bits: splitmix64 of the seed and the draw's number, never zero.
    fn next(&self) -> u64 {
        loop {
            let n = self.draws.fetch_add(1, Ordering::Relaxed);
            let mut z = self.seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            if z != 0 {
                return z;
            }
        }
    }
}

impl IdGenerator for SeededIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        TraceId::from(u128::from(self.next()) << 64 | u128::from(self.next()))
    }

    fn new_span_id(&self) -> SpanId {
        SpanId::from(self.next())
    }
}

/// An isolated instance and the exporter its spans go to (see the [module docs](self)).
///
/// ```
/// use budobserve::{KeyValue, bud_span};
///
/// let capture = budobserve::testing::capture();
/// capture.run(|| {
///     let _span = bud_span!("parent").entered();
///     budobserve::bud_warn!("low disk {pct}%", pct = 91);
/// });
/// let parent = capture.span("parent");
/// let warning = capture.assert_has_span("low disk {pct}%", &[KeyValue::new("pct", 91)]);
/// assert_eq!(warning.parent_span_id, parent.span_context.span_id());
/// ```
#[derive(Debug)]
pub struct Capture {
    observe: BudObserve,
    exporter: TestExporter,
    metrics: MetricStore,
    logs: LogStore,
}

/// Builds a [`Capture`]: deterministic ids and clock, every level recorded, no console, no environment read; its
/// metrics are read on demand ([`Capture::metric_points`]) and its OpenTelemetry log records kept
/// ([`Capture::log_records`]).
///
/// ```
/// let capture = budobserve::testing::capture();
/// capture.run(|| budobserve::bud_info!("hello"));
/// assert_eq!(capture.spans()[0].name, "hello");
/// ```
pub fn capture() -> Capture {
    capture_with(|builder| builder)
}

/// Builds a [`Capture`] with more configuration (a minimum level, extra processors…).
///
/// ```
/// use budobserve::Level;
///
/// let capture = budobserve::testing::capture_with(|builder| builder.min_level(Level::Info));
/// capture.run(|| budobserve::bud_debug!("dropped"));
/// assert!(capture.spans().is_empty());
/// ```
pub fn capture_with(configure_more: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Capture {
    let exporter = TestExporter::default();
    let metrics = MetricStore::default();
    let logs = LogStore::default();
    // Collected when asked (a flush), never on a timer.
    let reader = PeriodicReader::builder(metrics.clone()).with_interval(Duration::from_secs(365 * 24 * 3600)).build();
    let builder = configure()
        .env(EnvSource::Map(Default::default()))
        .service_name("test")
        .console(false)
        .clock(Clock::stepping())
        .id_generator(IncrementalIdGenerator::default())
        .span_processor(SimpleSpanProcessor::new(exporter.clone()))
        .metric_reader(reader)
        .log_processor(logs.clone());
    let config = match configure_more(builder).build() {
        Ok(config) => config,
        Err(err) => panic!("invalid test configuration: {err}"),
    };
    Capture { observe: BudObserve::new(config), exporter, metrics, logs }
}

impl Capture {
    /// The captured instance.
    pub fn observe(&self) -> &BudObserve {
        &self.observe
    }

    /// The exporter its spans go to.
    pub fn exporter(&self) -> &TestExporter {
        &self.exporter
    }

    /// Runs `f` with the captured instance current on this thread.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        with_instance(&self.observe, f)
    }

    /// Wraps `future` so that the captured instance is current whenever it is polled.
    pub fn run_async<F: Future>(&self, future: F) -> WithInstance<F> {
        with_instance_async(&self.observe, future)
    }

    /// Every metric point recorded so far (collected now: counters' totals, gauges' last values, histograms'
    /// counts and buckets), the instance's own export metrics included.
    ///
    /// ```
    /// use budobserve::KeyValue;
    ///
    /// let capture = budobserve::testing::capture();
    /// let requests = capture.observe().counter("requests").build();
    /// requests.add(2, &[KeyValue::new("route", "/chat")]);
    /// requests.add(1, &[KeyValue::new("route", "/chat")]);
    /// assert_eq!(capture.metric_value("requests", &[KeyValue::new("route", "/chat")]), Some(3.0));
    /// assert_eq!(capture.metric_points("requests")[0].scope, "budobserve");
    /// ```
    pub fn metrics(&self) -> Vec<MetricPoint> {
        // The reader collects on a flush; an error here is the spans' or logs' and leaves the points as read.
        let _ = self.observe.force_flush();
        self.metrics.points()
    }

    /// The points of the metric named `name`.
    pub fn metric_points(&self, name: &str) -> Vec<MetricPoint> {
        self.metrics().into_iter().filter(|point| point.name == name).collect()
    }

    /// The value of the sum or gauge named `name` at exactly these attributes (in any order), if it has a point
    /// there.
    pub fn metric_value(&self, name: &str, attributes: &[KeyValue]) -> Option<f64> {
        let mut wanted = attributes.to_vec();
        wanted.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
        self.metric_points(name).into_iter().find(|point| point.attributes == wanted).and_then(|p| p.number())
    }

    /// The OpenTelemetry log records emitted through the instance's logger provider (the logs signal), in order.
    ///
    /// ```
    /// use budobserve::opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
    ///
    /// let capture = budobserve::testing::capture();
    /// let logger = capture.observe().logger_provider().logger("worker");
    /// let mut record = logger.create_log_record();
    /// record.set_body("job done".into());
    /// logger.emit(record);
    /// assert_eq!(capture.log_records()[0].body(), Some(&AnyValue::from("job done")));
    /// ```
    pub fn log_records(&self) -> Vec<SdkLogRecord> {
        self.logs.records()
    }

    /// Forgets the spans and log records collected so far (metrics are totals: read them before and after).
    pub fn clear_all(&self) {
        self.exporter.clear();
        self.logs.clear();
    }
}

impl std::ops::Deref for Capture {
    type Target = TestExporter;

    fn deref(&self) -> &TestExporter {
        &self.exporter
    }
}

impl TestExporter {
    /// A new, empty exporter.
    pub fn new() -> TestExporter {
        TestExporter::default()
    }

    /// The spans exported so far, in the order they ended.
    pub fn spans(&self) -> Vec<SpanData> {
        lock(&self.spans).clone()
    }

    /// The spans named `name`.
    pub fn spans_named(&self, name: &str) -> Vec<SpanData> {
        lock(&self.spans).iter().filter(|s| s.name == name).cloned().collect()
    }

    /// Forgets the spans exported so far.
    pub fn clear(&self) {
        lock(&self.spans).clear();
    }

    /// The first span named `name`; panics, listing what was exported, when there is none.
    #[track_caller]
    pub fn span(&self, name: &str) -> SpanData {
        // Found first: the lock is released before the message lists the names.
        let found = lock(&self.spans).iter().find(|s| s.name == name).cloned();
        match found {
            Some(span) => span,
            None => panic!("no span named {name:?}; exported: {:?}", self.names()),
        }
    }

    fn names(&self) -> Vec<String> {
        lock(&self.spans).iter().map(|s| s.name.to_string()).collect()
    }

    /// The first span named `name`, to assert on (see [`SpanAssert`]); panics, listing what was exported, when there
    /// is none.
    #[track_caller]
    pub fn assert_span(&self, name: &str) -> SpanAssert {
        SpanAssert::new(self.span(name))
    }

    /// Asserts that a span named `name` has (at least) these attributes with these values, and returns it.
    pub fn assert_has_span(&self, name: &str, attributes: &[KeyValue]) -> SpanData {
        let candidates = self.spans_named(name);
        if candidates.is_empty() {
            panic!("no span named {name:?}; exported: {:?}", self.names());
        }
        let matching = candidates.iter().find(|span| {
            attributes.iter().all(|expected| attribute(span, expected.key.as_str()) == Some(&expected.value))
        });
        match matching {
            Some(span) => span.clone(),
            None => panic!(
                "no span named {name:?} has attributes {attributes:?}; spans of that name have: {:#?}",
                candidates.iter().map(|s| &s.attributes).collect::<Vec<_>>()
            ),
        }
    }

    /// Asserts that the span named `name` ended with an error status, and returns it.
    pub fn assert_span_status_error(&self, name: &str) -> SpanData {
        let span = self.span(name);
        assert!(
            matches!(span.status, Status::Error { .. }),
            "span {name:?} has status {:?}, expected an error",
            span.status
        );
        span
    }

    /// Asserts that the span named `name` ended with status ok, and returns it.
    ///
    /// ```
    /// use budobserve::opentelemetry::trace::Status;
    ///
    /// let capture = budobserve::testing::capture();
    /// capture.run(|| {
    ///     let mut span = budobserve::bud_span!("charge");
    ///     span.set_status(Status::Ok);
    /// });
    /// capture.assert_span_status_ok("charge");
    /// ```
    pub fn assert_span_status_ok(&self, name: &str) -> SpanData {
        let span = self.span(name);
        assert!(span.status == Status::Ok, "span {name:?} has status {:?}, expected ok", span.status);
        span
    }

    /// Asserts that the span named `name` has an event named `event`, and returns the span.
    pub fn assert_span_has_event(&self, name: &str, event: &str) -> SpanData {
        let span = self.span(name);
        assert!(
            span.events.iter().any(|e| e.name == event),
            "span {name:?} has no event {event:?}; its events: {:?}",
            span.events.iter().map(|e| e.name.as_ref()).collect::<Vec<_>>()
        );
        span
    }

    /// Asserts that the span named `name` recorded an error of type `E` (an `exception` event whose
    /// `exception.type` is `E`'s type name, by its public path: `std::io::Error`) and ended with an error status; returns the span.
    pub fn assert_span_exception<E: ?Sized>(&self, name: &str) -> SpanData {
        let span = self.assert_span_status_error(name);
        let expected = crate::type_name::readable(type_name::<E>());
        let found = span.events.iter().any(|event| {
            event.name == constants::EXCEPTION_EVENT
                && event
                    .attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == constants::EXCEPTION_TYPE && kv.value.as_str() == expected)
        });
        assert!(found, "span {name:?} has no exception of type {expected}; its events: {:?}", span.events);
        span
    }

    /// The exported spans as JSON, sorted by start time, with ids as numbers and times as nanoseconds since the
    /// epoch: with [`capture`]'s ids and clock, the same code gives the same JSON at every run. The array of spans
    /// alone, code locations as exported; see [`exported_spans_as_json_with`](Self::exported_spans_as_json_with)
    /// for the options.
    pub fn exported_spans_as_json(&self) -> Json {
        self.exported_spans_as_json_with(JsonOptions::new().include_resource(false))
    }

    /// [`exported_spans_as_json`](Self::exported_spans_as_json) written as `options` say: code paths cut to file
    /// names, line numbers fixed, the resource the spans were exported with included.
    pub fn exported_spans_as_json_with(&self, options: JsonOptions) -> Json {
        let mut spans = self.spans();
        spans.sort_by_key(|s| (s.start_time, u64::from_be_bytes(s.span_context.span_id().to_bytes())));
        json::spans_json(&spans, lock(&self.resource).as_ref(), &options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_repeat_for_a_seed_and_look_random() {
        let ids = |seed: u64| {
            let generator = SeededIdGenerator::new(seed);
            (0..1_000).map(|_| (generator.new_trace_id(), generator.new_span_id())).collect::<Vec<_>>()
        };
        assert_eq!(ids(7), ids(7));
        assert!(ids(7).iter().zip(ids(8)).all(|(a, b)| a.0 != b.0 && a.1 != b.1));
        let generator = SeededIdGenerator::new(0);
        let traces: Vec<u128> = (0..4_096).map(|_| u128::from_be_bytes(generator.new_trace_id().to_bytes())).collect();
        for bit in 0..128 {
            let ones = traces.iter().filter(|id| (*id >> bit) & 1 == 1).count();
            assert!((1_800..2_300).contains(&ones), "bit {bit} set in {ones} of 4096 ids");
        }
        assert!((0..10_000).all(|_| generator.new_span_id() != SpanId::INVALID));
    }

    #[test]
    #[should_panic(expected = "expected ok")]
    fn assert_span_status_ok_fails_on_an_error_status() {
        let capture = capture();
        capture.run(|| {
            let mut span = crate::bud_span!("charge");
            span.set_status(Status::error("declined"));
        });
        capture.assert_span_status_ok("charge");
    }

    #[test]
    fn a_seeded_capture_exports_the_same_ids_at_every_run() {
        let run = || {
            let capture = capture_with(|builder| builder.id_generator(SeededIdGenerator::new(42)));
            capture.run(|| {
                let _outer = crate::bud_span!("outer").entered();
                crate::bud_info!("inner");
            });
            let (outer, inner) = (capture.span("outer"), capture.span("inner"));
            assert_eq!(inner.parent_span_id, outer.span_context.span_id());
            (outer.span_context.trace_id(), outer.span_context.span_id(), inner.span_context.span_id())
        };
        let first = run();
        assert_eq!(first, run());
        assert_ne!(first.0, TraceId::from(1_u128), "not the incremental ids");
    }
}
