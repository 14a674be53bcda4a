//! The direct path (spans recorded without the SDK's span on the caller's thread, collected per thread, made into
//! `SpanData` on a collector thread) against the SDK's path: the same work exports the same spans — ids, parents,
//! names, kinds, times, attributes (scrubbed and completed), events, links, status, scope — and nothing is lost
//! across threads, at thread exit, at flush and at shutdown; a full queue drops and counts.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use budobserve::opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use budobserve::opentelemetry::{Context, KeyValue};
use budobserve::opentelemetry_sdk::error::OTelSdkResult;
use budobserve::opentelemetry_sdk::trace::{SimpleSpanProcessor, SpanData, SpanExporter};
use budobserve::providers::ProxySpan;
use budobserve::testing::{IncrementalIdGenerator, TestExporter};
use tracing_subscriber::layer::SubscriberExt as _;

use budobserve::{
    BatchOptions, BudContext, BudObserve, Clock, ConfigBuilder, EnvSource, Level, bud_info, bud_span, bud_warn,
    with_instance,
};

fn base() -> ConfigBuilder {
    budobserve::configure()
        .env(EnvSource::Map(Default::default()))
        .service_name("direct")
        .console(false)
        .clock(Clock::stepping())
        .id_generator(IncrementalIdGenerator::default())
}

/// An instance whose spans take the direct path (an exporter behind BudObserve's batch processor only).
fn direct(exporter: &TestExporter) -> BudObserve {
    let observe = BudObserve::new(base().span_exporter(exporter.clone()).build().unwrap());
    assert!(takes_direct_path(&observe), "an exporter-only pipeline takes the direct path");
    observe
}

/// An instance whose spans take the SDK's path (a processor given as such sees them on the caller's thread).
fn sdk(exporter: &TestExporter) -> BudObserve {
    let observe = BudObserve::new(base().span_processor(SimpleSpanProcessor::new(exporter.clone())).build().unwrap());
    assert!(!takes_direct_path(&observe));
    observe
}

/// The spans [`takes_direct_path`] records (one, named `probe`).
const PROBE: u64 = 1;

/// Whether `observe`'s tracers start direct spans: starts one, named `probe`, which is recorded.
fn takes_direct_path(observe: &BudObserve) -> bool {
    let span = observe.tracer_provider().tracer("probe").start("probe");
    matches!(span, ProxySpan::Direct(_))
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
}

/// Work that touches every part of a span, through the macros, the method API and the OpenTelemetry API, nested
/// both ways.
fn work(observe: &BudObserve) {
    with_instance(observe, || {
        let tracer = observe.tracer_provider().tracer_with_scope(
            budobserve::opentelemetry::InstrumentationScope::builder("budapp.client").with_version("1.2.0").build(),
        );
        let outer = bud_span!("import {file}", file = "users.csv", rows = 1200_i64).entered();
        bud_info!("parsed {count} rows", count = 1200_i64, ratio = 0.5);
        bud_warn!("login with {password}", password = "hunter2", dsn = "postgres://app:s3cret@db:5432/app");
        // An OpenTelemetry API span under BudObserve's, and BudObserve's under it.
        let mut api = tracer
            .span_builder("GET /users")
            .with_kind(SpanKind::Client)
            .with_start_time(at(10))
            .with_attributes([KeyValue::new("http.request.method", "GET")])
            .start(&tracer);
        api.set_attribute(KeyValue::new("http.response.status_code", 503_i64));
        api.add_event_with_timestamp("retry", at(11), vec![KeyValue::new("attempt", 2_i64)]);
        api.set_status(Status::error("upstream unavailable"));
        api.update_name(Cow::Borrowed("GET /users/{id}"));
        let api_cx = Context::current_with_span(api);
        {
            let _api = api_cx.clone().attach();
            let mut inner = bud_span!("cache lookup {key}", key = "user:7");
            inner.set_attribute(KeyValue::new("hit", false));
            inner.set_attribute(KeyValue::new("hit", true));
            inner.set_level(Level::Warn);
            if let Err(err) = "x".parse::<u32>() {
                inner.record_exception(&err);
            }
        }
        api_cx.span().end_with_timestamp(at(12));
        // Options: a link, a kind, a new trace linked to the current span, the bud context from baggage.
        let linked = observe.span_builder("batch").start();
        let _bud = BudContext::new().project_id("p-1").model_id("m-9").attach();
        observe
            .span_builder("consume {topic}")
            .attribute(KeyValue::new("topic", "orders"))
            .kind(SpanKind::Consumer)
            .level(Level::Debug)
            .link(linked.span_context().clone(), vec![KeyValue::new("reason", "batch")])
            .start()
            .end();
        drop(linked);
        observe.span_builder("detached").new_trace().log();
        // `tracing`'s spans and events through the bridge, under BudObserve's span and around one of its logs.
        let subscriber = tracing_subscriber::registry().with(budobserve::integrations::tracing::layer());
        tracing::subscriber::with_default(subscriber, || {
            let _bridged = tracing::info_span!("bridged", user = 7_i64).entered();
            bud_info!("under the bridged span");
            tracing::warn!(code = 3_i64, "a tracing event");
        });
        drop(outer);
    });
}

/// The spans in id order, each exception's stack trace (which names the test's own lines) left out.
fn sorted(mut spans: Vec<SpanData>) -> Vec<SpanData> {
    for span in &mut spans {
        for event in &mut span.events.events {
            event.attributes.retain(|kv| kv.key.as_str() != "exception.stacktrace");
        }
    }
    spans.sort_by_key(|span| (span.span_context.trace_id().to_bytes(), span.span_context.span_id().to_bytes()));
    spans
}

#[test]
fn the_direct_path_exports_what_the_sdk_path_exports() {
    let through_sdk = TestExporter::new();
    let observe = sdk(&through_sdk);
    work(&observe);
    observe.shutdown().unwrap();

    let through_direct = TestExporter::new();
    let observe = direct(&through_direct);
    work(&observe);
    observe.force_flush().unwrap();
    let direct_spans = sorted(through_direct.spans());
    let sdk_spans = sorted(through_sdk.spans());
    let names = |spans: &[SpanData]| spans.iter().map(|s| s.name.to_string()).collect::<Vec<_>>();
    assert_eq!(direct_spans.len(), 11 + PROBE as usize, "{:?} / {:?}", names(&direct_spans), names(&sdk_spans));
    assert_eq!(direct_spans.len(), sdk_spans.len());
    // The probe's times are the system clock's (an API span started without a time).
    for (direct, sdk) in direct_spans.iter().zip(&sdk_spans).filter(|(span, _)| span.name != "probe") {
        assert_eq!(direct, sdk, "span {}", sdk.name);
    }
    // A few of the facts the comparison covers, stated.
    let api = through_direct.span("GET /users/{id}");
    let import = through_direct.span("import {file}");
    let cache = through_direct.span("cache lookup {key}");
    assert_eq!(api.parent_span_id, import.span_context.span_id());
    assert_eq!(cache.parent_span_id, api.span_context.span_id(), "BudObserve's span nests under the API span");
    assert_eq!(api.instrumentation_scope.name(), "budapp.client");
    let bridged = through_direct.span("bridged");
    assert_eq!(bridged.parent_span_id, import.span_context.span_id(), "a tracing span nests under BudObserve's");
    let under = through_direct.span("under the bridged span");
    assert_eq!(under.parent_span_id, bridged.span_context.span_id(), "and BudObserve's log under it");
    assert_eq!(through_direct.span("a tracing event").parent_span_id, bridged.span_context.span_id());
    assert_eq!(api.instrumentation_scope.version(), Some("1.2.0"));
    assert_eq!(api.status, Status::error("upstream unavailable"));
    assert_eq!(api.events.events[0].name, "retry");
    let login = through_direct.span("login with {password}");
    let password = budobserve::testing::attribute(&login, "password").unwrap().as_str();
    assert!(!password.contains("hunter2"), "{password}");
    let consume = through_direct.span("consume {topic}");
    assert_eq!(consume.span_kind, SpanKind::Consumer);
    assert_eq!(consume.links.links.len(), 1);
    assert_eq!(budobserve::testing::attribute(&consume, "bud.project_id").unwrap().as_str(), "p-1");
    let level = |span: &SpanData| budobserve::testing::attribute(span, "budobserve_level_num").cloned();
    assert_eq!(level(&cache), Some(17_i64.into()), "a changed level, and an exception, replace the level");
    assert_eq!(cache.attributes.iter().filter(|kv| kv.key.as_str() == "budobserve_level_num").count(), 1);
    observe.shutdown().unwrap();
}

/// Work past every limit, through the OpenTelemetry API (whose spans the limits bound as they are written).
fn over_the_limits(observe: &BudObserve) {
    with_instance(observe, || {
        let tracer = observe.tracer_provider().tracer("limits");
        let many = |n: i64| (0..n).map(|i| KeyValue::new(format!("k{i}"), i)).collect::<Vec<_>>();
        let linked = |n: u64| {
            budobserve::opentelemetry::trace::SpanContext::new(
                budobserve::opentelemetry::trace::TraceId::from(u128::from(n)),
                budobserve::opentelemetry::trace::SpanId::from(n),
                budobserve::opentelemetry::trace::TraceFlags::SAMPLED,
                true,
                Default::default(),
            )
        };
        let mut span = tracer
            .span_builder("limited")
            .with_start_time(at(1))
            .with_links(vec![
                budobserve::opentelemetry::trace::Link::new(linked(1), many(4), 0),
                budobserve::opentelemetry::trace::Link::new(linked(2), many(1), 0),
                budobserve::opentelemetry::trace::Link::new(linked(3), Vec::new(), 0),
            ])
            .with_attributes(many(3))
            .start(&tracer);
        for n in 0..4 {
            span.add_event_with_timestamp(format!("event {n}"), at(2 + n), many(5));
        }
        span.add_link(linked(4), many(3));
        span.set_attributes(many(300));
        span.set_status(Status::Ok);
        span.set_status(Status::error("ignored: Ok wins"));
        span.end_with_timestamp(at(9));
    });
}

#[test]
fn limits_cut_what_the_sdk_cuts() {
    let limits = budobserve::SpanLimits::new()
        .attribute_count(8)
        .event_count(2)
        .link_count(2)
        .event_attribute_count(3)
        .link_attribute_count(2);
    let through_sdk = TestExporter::new();
    let observe = BudObserve::new(
        base().span_limits(limits).span_processor(SimpleSpanProcessor::new(through_sdk.clone())).build().unwrap(),
    );
    over_the_limits(&observe);
    observe.shutdown().unwrap();
    let through_direct = TestExporter::new();
    let observe = BudObserve::new(base().span_limits(limits).span_exporter(through_direct.clone()).build().unwrap());
    over_the_limits(&observe);
    assert!(takes_direct_path(&observe), "(checked after the work, whose ids then match the SDK path's)");
    observe.force_flush().unwrap();
    let direct = through_direct.span("limited");
    assert_eq!(direct, through_sdk.span("limited"));
    assert_eq!((direct.events.events.len(), direct.events.dropped_count), (2, 2));
    assert_eq!((direct.links.links.len(), direct.links.dropped_count), (2, 2));
    assert_eq!(direct.links.links[0].dropped_attributes_count, 2);
    assert_eq!(direct.events.events[0].dropped_attributes_count, 2);
    assert_eq!(direct.status, Status::Ok);
    observe.shutdown().unwrap();
}

#[test]
fn spans_ended_on_many_threads_are_all_exported_once_even_from_threads_that_ended() {
    let exporter = TestExporter::new();
    // A queue that holds the whole burst: this test is about where spans end, not about bounds (see below).
    let batch = BatchOptions::new().max_queue_size(16_384);
    let observe = BudObserve::new(base().span_exporter(exporter.clone()).batch_options(batch).build().unwrap());
    assert!(takes_direct_path(&observe));
    let threads: Vec<_> = (0..8_u64)
        .map(|thread| {
            let observe = observe.clone();
            std::thread::spawn(move || {
                with_instance(&observe, || {
                    // Not a multiple of the hand-off size: most threads leave records in their buffer as they end.
                    for n in 0..(100 + thread * 37) {
                        let _parent = bud_span!("parent {thread}", thread = thread as i64).entered();
                        bud_info!("child {n}", n = n as i64);
                    }
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    observe.force_flush().unwrap();
    let spans: Vec<SpanData> = exporter.spans().into_iter().filter(|span| span.name != "probe").collect();
    let produced: u64 = (0..8).map(|thread| 2 * (100 + thread * 37)).sum();
    assert_eq!(observe.export_stats().spans_dropped, 0);
    assert_eq!(spans.len() as u64, produced);
    let ids: std::collections::HashSet<_> = spans.iter().map(|span| span.span_context.span_id()).collect();
    assert_eq!(ids.len() as u64, produced, "each span once");
    // Every child's parent is one of the parents, in the same trace.
    let parents: std::collections::HashMap<_, _> = spans
        .iter()
        .filter(|span| span.name == "parent {thread}")
        .map(|span| (span.span_context.span_id(), span.span_context.trace_id()))
        .collect();
    for child in spans.iter().filter(|span| span.name == "child {n}") {
        assert_eq!(parents.get(&child.parent_span_id), Some(&child.span_context.trace_id()));
    }
    assert_eq!(observe.export_stats().spans_exported, produced + PROBE);
    observe.shutdown().unwrap();
}

#[test]
fn a_quiet_thread_is_drained_without_a_flush_and_shutdown_delivers_the_rest() {
    let exporter = TestExporter::new();
    let observe = BudObserve::new(
        base()
            .span_exporter(exporter.clone())
            .batch_options(BatchOptions::new().scheduled_delay(Duration::from_millis(50)))
            .build()
            .unwrap(),
    );
    assert!(takes_direct_path(&observe));
    with_instance(&observe, || bud_info!("alone"));
    // One record, far below a hand-off: the collector's period and the batch's delay bring it out.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while exporter.spans_named("alone").is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(exporter.spans_named("alone").len(), 1);
    with_instance(&observe, || bud_info!("last"));
    observe.shutdown().unwrap();
    assert_eq!(exporter.spans_named("last").len(), 1, "the shutdown drains the thread's buffer");
    // After the shutdown nothing records.
    assert!(!takes_direct_path_recording(&observe));
}

fn takes_direct_path_recording(observe: &BudObserve) -> bool {
    with_instance(observe, || bud_span!("after").is_recording())
}

/// An exporter that holds every export until opened.
#[derive(Debug, Clone, Default)]
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    exported: Arc<AtomicU64>,
    entered: Arc<AtomicBool>,
}

impl SpanExporter for Gate {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.entered.store(true, Ordering::SeqCst);
        let (open, opened) = &*self.open;
        drop(opened.wait_while(open.lock().unwrap(), |open| !*open).unwrap());
        self.exported.fetch_add(batch.len() as u64, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_full_queue_drops_and_counts_and_every_span_is_accounted_for() {
    let gate = Gate::default();
    let batch = BatchOptions::new().max_queue_size(256).max_export_batch_size(64);
    let observe = BudObserve::new(base().span_exporter(gate.clone()).batch_options(batch).build().unwrap());
    assert!(takes_direct_path(&observe));
    let produced = 20_000_u64;
    with_instance(&observe, || {
        for n in 0..produced {
            bud_info!("burst {n}", n = n as i64);
        }
    });
    let (open, opened) = &*gate.open;
    *open.lock().unwrap() = true;
    opened.notify_all();
    observe.force_flush().unwrap();
    let stats = observe.export_stats();
    assert!(stats.spans_dropped > 0, "{stats:?}");
    assert_eq!(gate.exported.load(Ordering::SeqCst), stats.spans_exported);
    assert_eq!(stats.spans_exported + stats.spans_dropped, produced + PROBE, "{stats:?}");
    observe.shutdown().unwrap();
}

#[test]
fn context_current_shows_the_entered_direct_span_and_propagation_carries_it() {
    let exporter = TestExporter::new();
    let observe = direct(&exporter);
    with_instance(&observe, || {
        let span = bud_span!("handler");
        let expected = span.span_context().clone();
        let _entered = span.entered();
        let current = Context::map_current(|cx| cx.span().span_context().clone());
        assert_eq!(current.span_id(), expected.span_id());
        assert!(current.is_sampled());
        let headers = budobserve::baggage::inject_headers(&Context::current());
        let traceparent = &headers["traceparent"];
        assert_eq!(traceparent, &format!("00-{}-{}-01", expected.trace_id(), expected.span_id()));
    });
    observe.shutdown().unwrap();
}

#[test]
fn other_configurations_keep_the_sdk_path() {
    let exporter = TestExporter::new();
    let with_console = BudObserve::new(base().span_exporter(exporter.clone()).console(true).build().unwrap());
    assert!(!takes_direct_path(&with_console), "the console reads spans on the caller's thread");
    let with_tail = BudObserve::new(
        base()
            .span_exporter(exporter.clone())
            .tail_sampling(budobserve::TailSampling::level_or_duration())
            .build()
            .unwrap(),
    );
    assert!(!takes_direct_path(&with_tail), "tail sampling holds traces on the caller's thread");
    // A provider set by hand gets every span.
    let observe = direct(&exporter);
    let replaced = observe
        .tracer_provider()
        .set_provider(Some(budobserve::opentelemetry_sdk::trace::SdkTracerProvider::builder().build()));
    assert!(!takes_direct_path(&observe));
    drop(replaced);
}
