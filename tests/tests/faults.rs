//! Faults and hostile input, on loopback: user callbacks that panic (sampler, id generator, span and log
//! processors), a run-time template asking for an absurd precision, malformed `traceparent` and `baggage` headers
//! at the HTTP server layer, and a shutdown against a backend that never answers — the caller never sees a panic,
//! what is lost is counted by cause, and the shutdown keeps its deadline.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use budobserve::integrations::axum::ServerLayer;
use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use budobserve::opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId, TraceState};
use budobserve::opentelemetry::{Context, InstrumentationScope, KeyValue, SpanId};
use budobserve::opentelemetry_sdk::error::OTelSdkResult;
use budobserve::opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};
use budobserve::opentelemetry_sdk::trace::{
    IdGenerator, SamplingDecision, SamplingResult, ShouldSample, Span, SpanData, SpanProcessor,
};
use budobserve::testing::{self, attribute};
use budobserve::{BatchOptions, BudContext, BudObserve, ConfigBuilder, EnvSource, ExportStats, SpanLimits, bud_info};
use common::http::{run, serve};
use common::raw_backend::{Misbehaviour, RawBackend};
use common::receiver::{Receiver, Reply, attr, string};
use opentelemetry_proto::tonic::common::v1::any_value;

fn builder(receiver: &Receiver) -> ConfigBuilder {
    budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("faults")
        .endpoint(receiver.endpoint())
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .export_timeout(Duration::from_secs(5))
        .metrics_interval(Duration::from_secs(3600))
}

/// Panics for spans named `sampler bug`, samples everything else.
#[derive(Debug, Clone)]
struct PanickingSampler;

impl ShouldSample for PanickingSampler {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        _: TraceId,
        name: &str,
        _: &SpanKind,
        _: &[KeyValue],
        _: &[Link],
    ) -> SamplingResult {
        assert_ne!(name, "sampler bug", "a sampler with a bug");
        let trace_state = parent.map_or_else(TraceState::default, |cx| cx.span().span_context().trace_state().clone());
        SamplingResult { decision: SamplingDecision::RecordAndSample, attributes: Vec::new(), trace_state }
    }
}

/// Panics for every id.
#[derive(Debug)]
struct PanickingIds;

impl IdGenerator for PanickingIds {
    fn new_trace_id(&self) -> TraceId {
        panic!("an id generator with a bug")
    }

    fn new_span_id(&self) -> SpanId {
        panic!("an id generator with a bug")
    }
}

/// Panics on spans named `processor bug`.
#[derive(Debug)]
struct PanickingProcessor;

impl SpanProcessor for PanickingProcessor {
    fn on_start(&self, _: &mut Span, _: &Context) {}

    fn on_end(&self, span: SpanData) {
        assert_ne!(span.name, "processor bug", "a span processor with a bug");
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Panics on every record.
#[derive(Debug)]
struct PanickingLogProcessor;

impl LogProcessor for PanickingLogProcessor {
    fn emit(&self, _: &mut SdkLogRecord, _: &InstrumentationScope) {
        panic!("a log processor with a bug")
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}

#[test]
fn panicking_callbacks_are_contained_counted_and_the_rest_goes_on() {
    let receiver = Receiver::start();
    let observe = BudObserve::new(
        builder(&receiver)
            .sampler(PanickingSampler)
            .id_generator(PanickingIds)
            .span_processor(PanickingProcessor)
            .log_processor(PanickingLogProcessor)
            .build()
            .unwrap(),
    );
    budobserve::with_instance(&observe, || {
        bud_info!("sampler bug");
        bud_info!("processor bug");
        bud_info!("fine");
    });
    let logger = observe.logger_provider().logger("faults");
    let mut record = logger.create_log_record();
    record.set_body("a record".into());
    logger.emit(record);
    // An observable instrument whose callback panics, beside one that works.
    let _broken = observe.counter_callback("broken", |_| panic!("a metric callback with a bug")).build();
    let _working = observe.counter_callback("working", |observer| observer.observe(7, &[])).build();
    observe.force_flush().unwrap();
    let metrics: Vec<String> = receiver.metrics().into_iter().map(|m| m.name).collect();
    assert!(metrics.contains(&"working".to_owned()), "the reader goes on past the broken callback: {metrics:?}");
    let names: Vec<String> = receiver.spans().into_iter().map(|s| s.name).collect();
    // The sampler's span is dropped; the processor's still reaches the exporter; ids are drawn at random.
    assert_eq!(names, ["processor bug", "fine"]);
    for span in receiver.spans() {
        assert_eq!(span.trace_id.len(), 16);
        assert!(span.trace_id.iter().any(|b| *b != 0) && span.span_id.iter().any(|b| *b != 0));
    }
    let logs = receiver.log_records().len();
    assert_eq!(logs, 1, "the record still goes to the processors after the one that failed");
    let stats = observe.export_stats();
    // The sampler once, the id generator for each of the 3 spans' ids (trace and span ids), the processor once,
    // the log processor once, the metric callback once.
    assert!(stats.callback_failures >= 5, "{stats:?}");
    assert_eq!(stats.spans_exported, 2);

    // Afterwards the instance works as before.
    budobserve::with_instance(&observe, || bud_info!("after"));
    observe.force_flush().unwrap();
    assert_eq!(receiver.spans().last().map(|s| s.name.clone()).as_deref(), Some("after"));
}

#[test]
fn a_request_attributes_hook_that_panics_costs_its_attributes_only() {
    let capture = testing::capture();
    let status = run(&capture, async {
        let layer = ServerLayer::for_instance(capture.observe()).request_attributes(|parts| {
            assert_ne!(parts.uri.path(), "/bug", "a hook with a bug");
            vec![KeyValue::new("tenant", "t-1")]
        });
        let app = Router::new().route("/{path}", get(|| async { "ok" })).layer(layer);
        let address = serve(app).await;
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for path in ["/bug", "/fine"] {
            statuses.push(client.get(format!("http://{address}{path}")).send().await.unwrap().status().as_u16());
        }
        statuses
    });
    assert_eq!(status, [200, 200]);
    let spans: Vec<SpanData> = capture.spans().into_iter().filter(|s| s.span_kind == SpanKind::Server).collect();
    assert_eq!(spans.len(), 2, "both requests have their span");
    assert_eq!(attribute(&spans[0], "tenant"), None);
    assert_eq!(attribute(&spans[1], "tenant").map(|v| v.as_str().into_owned()).as_deref(), Some("t-1"));
    assert_eq!(capture.observe().export_stats().callback_failures, 1);
}

#[test]
fn a_run_time_template_with_an_absurd_precision_is_marked_not_a_panic() {
    let receiver = Receiver::start();
    let observe = BudObserve::new(builder(&receiver).build().unwrap());
    budobserve::with_instance(&observe, || {
        budobserve::info("ratio {x:.65536}", [KeyValue::new("x", 1.5)]);
        budobserve::info("ratio {x:.99999999999999999999}", [KeyValue::new("x", 1.5)]);
        budobserve::info("ratio {x:.2}", [KeyValue::new("x", 1.5)]);
    });
    observe.force_flush().unwrap();
    let messages: Vec<_> = receiver.spans().iter().map(|s| attr(&s.attributes, "budobserve_msg").cloned()).collect();
    assert_eq!(
        messages,
        [
            Some(string("ratio 1.5 [precision out of range]")),
            Some(string("ratio 1.5 [precision out of range]")),
            Some(string("ratio 1.50"))
        ]
    );
}

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN: &str = "b7ad6b7169203331";

#[test]
fn malformed_trace_headers_start_a_fresh_trace_and_every_request_gets_its_span() {
    let capture = testing::capture();
    let valid = format!("00-{TRACE}-{SPAN}-01");
    let headers: Vec<(String, bool)> = vec![
        (valid.clone(), true),
        (format!("cc-{TRACE}-{SPAN}-01-future"), true),
        ("00-a-b-01".to_owned(), false),
        (format!("00-{}-{SPAN}-01", TRACE.to_uppercase()), false),
        (format!("00-{TRACE}-{SPAN}-01-extra"), false),
        (format!("ff-{TRACE}-{SPAN}-01"), false),
        (format!("00-{}-{SPAN}-01", "0".repeat(32)), false),
        (format!("00-{TRACE}-{}-01", "0".repeat(16)), false),
        (format!("00-{TRACE}-{SPAN}"), false),
        ("garbage".to_owned(), false),
    ];
    let answered = run(&capture, async {
        let app = Router::new()
            .route("/ping", get(|| async { BudContext::current().project_id.unwrap_or_default() }))
            .layer(ServerLayer::for_instance(capture.observe()));
        let address = serve(app).await;
        let client = reqwest::Client::new();
        let mut answered = Vec::new();
        for (header, _) in &headers {
            let response = client
                .get(format!("http://{address}/ping"))
                .header("traceparent", header)
                .header("baggage", "bud.project_id=p-1,bad key=1,bud.endpoint_id=%ZZ,bud.model_id=m-2")
                .send()
                .await
                .unwrap();
            answered.push(response.text().await.unwrap());
        }
        answered
    });
    assert_eq!(answered, vec!["p-1"; headers.len()]);
    let spans: Vec<SpanData> = capture.spans().into_iter().filter(|s| s.span_kind == SpanKind::Server).collect();
    assert_eq!(spans.len(), headers.len(), "every request has its server span");
    let remote = TraceId::from_hex(TRACE).unwrap();
    let mut fresh = Vec::new();
    for (span, (header, valid)) in spans.iter().zip(&headers) {
        if *valid {
            assert_eq!(span.span_context.trace_id(), remote, "{header}");
            assert_eq!(span.parent_span_id, SpanId::from_hex(SPAN).unwrap(), "{header}");
        } else {
            assert_ne!(span.span_context.trace_id(), remote, "{header}");
            assert_eq!(span.parent_span_id, SpanId::INVALID, "{header}");
            fresh.push(span.span_context.trace_id());
        }
        // Bad baggage members are skipped alone.
        assert_eq!(attribute(span, "bud.project_id").map(|v| v.as_str().into_owned()).as_deref(), Some("p-1"));
        assert_eq!(attribute(span, "bud.model_id").map(|v| v.as_str().into_owned()).as_deref(), Some("m-2"));
        assert_eq!(attribute(span, "bud.endpoint_id"), None);
    }
    fresh.dedup();
    assert_eq!(fresh.len(), headers.iter().filter(|(_, valid)| !valid).count(), "each a trace of its own");
}

#[test]
fn a_shutdown_against_a_backend_that_never_answers_keeps_its_deadline_and_counts_what_it_lost() {
    let receiver = Receiver::start();
    receiver.stall(Some(Duration::from_secs(30)));
    let observe = BudObserve::new(
        builder(&receiver)
            .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)).max_export_batch_size(10))
            .export_timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    budobserve::with_instance(&observe, || {
        for n in 0..100 {
            bud_info!("span {n}");
        }
    });
    observe.counter("requests").build().add(1, &[]);
    let logger = observe.logger_provider().logger("faults");
    let mut record = logger.create_log_record();
    record.set_body("a record".into());
    logger.emit(record);

    let started = Instant::now();
    let result = observe.shutdown_with_timeout(Duration::from_secs(1));
    let took = started.elapsed();
    assert!(result.is_err(), "the backend never answered: {result:?}");
    // Traces, metrics and logs together within the deadline (it took 6 s when the providers shut down one after
    // another and the meter provider waited 5 s of its own).
    assert!(took < Duration::from_millis(2500), "shutdown took {took:?}");
    // What was still queued is counted as lost (by the span pipeline's own deadline, a tenth before the whole);
    // the batch in flight fails at the export timeout; then every span is accounted for.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = observe.export_stats();
        let accounted = stats.spans_exported + stats.spans_dropped + stats.spans_failed + stats.spans_lost_at_shutdown;
        if accounted == 100 {
            assert!(stats.spans_lost_at_shutdown >= 80, "{stats:?}");
            break;
        }
        assert!(Instant::now() < deadline, "not every span accounted for: {stats:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_queue_is_bounded_in_bytes_as_well_as_spans() {
    let receiver = Receiver::start();
    let observe = BudObserve::new(
        builder(&receiver)
            .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)).max_queue_bytes(32 << 20))
            .build()
            .unwrap(),
    );
    let value = "v".repeat(10 << 20);
    budobserve::with_instance(&observe, || {
        for n in 0..20 {
            bud_info!("huge {n}", body = value.as_str());
        }
    });
    // Three spans of 10 MiB fit in 32 MiB; the other 17 are dropped as the queue fills, never held.
    let stats = observe.export_stats();
    assert_eq!(stats.spans_dropped, 17, "{stats:?}");
    // The receiver refuses a 30 MiB request (413 from its HTTP server's body limit, or the connection closed while
    // the body is still being sent): the three are counted as failed, and the flush says it failed.
    let err = observe.force_flush().unwrap_err();
    assert_eq!(err.signal, "traces", "{err}");
    let stats = observe.export_stats();
    assert_eq!((stats.spans_exported, stats.spans_dropped, stats.spans_failed), (0, 17, 3), "{stats:?}");
    assert!(receiver.spans().is_empty());
}

#[test]
fn each_cause_of_loss_is_printed_under_load() {
    // A backend that refuses connections, and more spans than the queue holds: the queue fills (dropped) and every
    // export fails (failed). Each cause has its own warning: the export's failure is printed though the full
    // queue was reported first (one shared rate limit printed only the first).
    let endpoint = format!("http://{}", Receiver::free_address());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_otlp_export"))
        .args([endpoint.as_str(), "200", "10"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|line| line.starts_with("budobserve: ")).collect();
    assert!(lines.iter().any(|l| l.contains("the span export queue is full (10 spans")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("exporting 5 spans failed")), "{stderr}");
    // One line per cause within the minute.
    assert_eq!(lines.iter().filter(|l| l.contains("queue is full")).count(), 1, "{stderr}");
    assert_eq!(lines.iter().filter(|l| l.contains("spans failed")).count(), 1, "{stderr}");
    // Every span is accounted for.
    let counts: HashMap<&str, u64> = stdout
        .trim()
        .split(' ')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    assert_eq!(counts["exported"], 0, "{stdout}");
    assert_eq!(counts["dropped"] + counts["failed"] + counts["lost_at_shutdown"], 200, "{stdout}");
}

/// An instance exporting to `endpoint` with `timeout` for each export, its metrics left alone.
fn exporting_to(endpoint: impl Into<String>, timeout: Duration) -> BudObserve {
    BudObserve::new(
        budobserve::configure()
            .env(EnvSource::Map(HashMap::new()))
            .endpoint(endpoint.into())
            .export_timeout(timeout)
            .metrics_interval(Duration::from_secs(3600))
            .build()
            .unwrap(),
    )
}

/// Emits `spans` spans on `observe`, flushes, and returns the flush's error text and the stats.
fn export_failing(observe: &BudObserve, spans: u32) -> (String, ExportStats) {
    budobserve::with_instance(observe, || {
        for n in 0..spans {
            bud_info!("span {n}");
        }
    });
    let err = observe.force_flush().expect_err("the export fails");
    (err.to_string(), observe.export_stats())
}

#[test]
fn a_rejection_is_counted_as_such_with_the_backends_message_scrubbed() {
    let receiver = Receiver::start();
    receiver.script([Reply::Reject(
        500,
        "storage quota of tenant t-1 exceeded (request by Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0LTEifQ.c2lnbmF0dXJlMTIz)",
    )]);
    let observe = BudObserve::new(builder(&receiver).build().unwrap());
    let (err, stats) = export_failing(&observe, 3);
    assert!(
        err.contains(&format!(
            "the OTLP receiver at {} answered HTTP 500 Internal Server Error: storage quota of tenant t-1 exceeded \
             (request by [Scrubbed due to 'bearer token'])",
            receiver.endpoint()
        )),
        "{err}"
    );
    assert!(!err.contains("eyJzdWIiOiJ0LTEifQ"), "{err}");
    assert_eq!(
        (stats.spans_failed, stats.spans_rejected, stats.spans_unreachable, stats.spans_timed_out),
        (3, 3, 0, 0)
    );
}

#[test]
fn a_refused_connection_is_counted_as_unreachable() {
    let endpoint = format!("http://{}", Receiver::free_address());
    let observe = exporting_to(endpoint.as_str(), Duration::from_millis(300));
    let (err, stats) = export_failing(&observe, 4);
    // Where it tried, without the path (a URL may carry credentials; the address cannot).
    assert!(err.contains(&format!("the OTLP receiver at {endpoint} is unreachable: ")), "{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert!(!err.contains("/v1/traces"), "{err}");
    assert_eq!(
        (stats.spans_failed, stats.spans_unreachable, stats.spans_rejected, stats.spans_timed_out),
        (4, 4, 0, 0)
    );
}

#[test]
fn a_backend_that_never_answers_is_counted_as_timed_out() {
    let black_hole = RawBackend::start(Misbehaviour::BlackHole);
    let observe = exporting_to(black_hole.endpoint(), Duration::from_millis(500));
    let (err, stats) = export_failing(&observe, 5);
    assert!(err.contains(&format!("the OTLP receiver at {} did not answer in time", black_hole.endpoint())), "{err}");
    assert_eq!((stats.spans_failed, stats.spans_timed_out, stats.spans_unreachable), (5, 5, 0), "{stats:?}");
    assert!(black_hole.accepted() >= 1);
}

#[test]
fn an_answer_reset_midway_is_counted_as_unreachable() {
    let resetting = RawBackend::start(Misbehaviour::ResetMidAnswer);
    let observe = exporting_to(resetting.endpoint(), Duration::from_millis(800));
    let (err, stats) = export_failing(&observe, 6);
    let expected = format!("the OTLP receiver at {} broke off its answer: ", resetting.endpoint());
    assert!(err.contains(&expected) && err.contains("reset"), "{err}");
    assert_eq!((stats.spans_failed, stats.spans_unreachable), (6, 6), "{err} {stats:?}");
    // The exporter retries a broken connection within its timeout.
    assert!(resetting.accepted() >= 2, "{}", resetting.accepted());
}

#[test]
fn a_throttling_backend_is_waited_for_as_retry_after_says_and_nothing_is_lost() {
    let receiver = Receiver::start();
    receiver.script([Reply::Status(429, Some(1)), Reply::Status(503, Some(1))]);
    let observe = BudObserve::new(builder(&receiver).build().unwrap());
    budobserve::with_instance(&observe, || {
        for n in 0..7 {
            bud_info!("span {n}");
        }
    });
    let started = Instant::now();
    observe.force_flush().unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "two answers said to wait a second each: {took:?}");
    let stats = observe.export_stats();
    assert_eq!((stats.spans_exported, stats.spans_failed), (7, 0), "{stats:?}");
    let statuses: Vec<u16> = receiver.requests().iter().filter(|r| r.path == "/v1/traces").map(|r| r.status).collect();
    assert_eq!(statuses, [429, 503, 200]);
    assert_eq!(receiver.spans().len(), 7);
}

#[test]
fn over_long_values_are_cut_as_they_are_queued_and_scrubbed_before_the_exact_cut() {
    let receiver = Receiver::start();
    let observe = BudObserve::new(
        builder(&receiver)
            .span_limits(SpanLimits::new().attribute_value_length(1000))
            .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)).max_queue_bytes(4 << 20))
            .build()
            .unwrap(),
    );
    // A key straddling the limit: whole in what the queue holds, so it is found and redacted.
    let value = format!("{}sk-proj-0123456789abcdefghijklmnop {}", "x".repeat(990), "y".repeat(10 << 20));
    budobserve::with_instance(&observe, || {
        for n in 0..20 {
            bud_info!("huge {n}", body = value.as_str());
        }
    });
    observe.force_flush().unwrap();
    let stats = observe.export_stats();
    // 20 values of 10 MiB into a 4 MiB queue: each was cut as it was queued, none dropped for its size.
    assert_eq!((stats.spans_exported, stats.spans_dropped), (20, 0), "{stats:?}");
    for span in receiver.spans() {
        let Some(any_value::Value::StringValue(body)) = attr(&span.attributes, "body") else {
            panic!("no body on {}", span.name)
        };
        assert_eq!(body.chars().count(), 1000, "cut to the limit exactly on export");
        assert!(body.starts_with(&"x".repeat(990)), "{}", &body[..1000.min(body.len())]);
        assert!(!body.contains("0123456789abcdef"), "the key is redacted: {body}");
    }
}

/// An exporter of the user's that fails, quoting the key it was refused with.
#[derive(Debug)]
struct RefusingExporter;

impl budobserve::opentelemetry_sdk::trace::SpanExporter for RefusingExporter {
    async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
        Err(budobserve::opentelemetry_sdk::error::OTelSdkError::InternalFailure(
            "upstream refused key sk-proj-0123456789abcdefghijklmnop".into(),
        ))
    }
}

#[test]
fn a_user_exporters_failure_is_counted_and_its_text_scrubbed() {
    let observe = BudObserve::new(
        budobserve::configure()
            .env(EnvSource::Map(HashMap::new()))
            .span_exporter(RefusingExporter)
            .console(false)
            .metrics_interval(Duration::from_secs(3600))
            .build()
            .unwrap(),
    );
    let (err, stats) = export_failing(&observe, 2);
    assert!(err.contains("upstream refused key [Scrubbed due to 'api key']"), "{err}");
    assert!(!err.contains("0123456789abcdef"), "{err}");
    assert!(!err.contains("Operation failed: Operation failed"), "{err}");
    // No transport of BudObserve's saw it: failed, under no finer cause.
    assert_eq!(
        (stats.spans_failed, stats.spans_rejected, stats.spans_unreachable, stats.spans_timed_out),
        (2, 0, 0, 0)
    );
}
