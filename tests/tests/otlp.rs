//! OTLP/HTTP export end to end, against a real receiver on loopback: what arrives (decoded with
//! `opentelemetry-proto`), and what happens when the receiver is down, failing, throttling or slow.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use budobserve::{BatchOptions, BudObserve, ConfigBuilder, EnvSource, KeyValue, bud_exception, bud_span, bud_warn};
use common::receiver::{Receiver, Reply, attr, int, spans_of, string};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

#[derive(serde::Serialize)]
struct Order {
    id: u32,
    items: Vec<&'static str>,
}

fn base(endpoint: &str) -> ConfigBuilder {
    budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("otlp-test")
        .service_version("1.2.3")
        .environment("test")
        .resource_attribute(KeyValue::new("bud.cluster_id", "c-1"))
        .endpoint(endpoint)
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .export_timeout(Duration::from_secs(3))
        .metrics_interval(Duration::from_secs(3600))
}

fn instance(builder: ConfigBuilder) -> BudObserve {
    BudObserve::new(builder.build().unwrap())
}

/// One span per call, named `span {n}`, with `n` recorded.
fn emit(observe: &BudObserve, range: std::ops::Range<i64>) {
    budobserve::with_instance(observe, || {
        for n in range {
            let _span = bud_span!("span {n}");
        }
    });
}

fn numbers(receiver: &Receiver) -> Vec<i64> {
    let mut numbers: Vec<i64> = receiver
        .spans()
        .iter()
        .filter_map(|s| match attr(&s.attributes, "n") {
            Some(any_value::Value::IntValue(n)) => Some(*n),
            _ => None,
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

#[test]
fn spans_metrics_and_logs_arrive_complete() {
    let receiver = Receiver::start();
    let observe = instance(base(&receiver.endpoint()).token("api-key").header("x-tenant", "t-7"));
    assert!(!format!("{:?}", observe).contains("api-key"));

    budobserve::with_instance(&observe, || {
        let user_id = 42;
        let order = Order { id: 7, items: vec!["gpu"] };
        let root = bud_span!("request {user_id}", _tags = ["api"], order).entered();
        bud_warn!("slow {user_id}", elapsed_ms = 1500);
        let err = std::io::Error::other("boom");
        bud_exception!(&err, "failed for {user_id}");
        drop(root);
    });
    observe.counter("requests").build().add(3, &[KeyValue::new("route", "/chat")]);
    let logger = observe.logger_provider().logger("otlp-test");
    let mut record = logger.create_log_record();
    record.set_body("log body".into());
    record.set_severity_number(Severity::Warn);
    logger.emit(record);
    observe.force_flush().unwrap();

    // Spans: resource, scope, every attribute BudObserve writes, parents, levels, events, status.
    let requests = receiver.trace_requests();
    assert_eq!(requests.len(), 1, "{:?}", receiver.summary());
    let resource = requests[0].resource_spans[0].resource.clone().unwrap();
    assert_eq!(attr(&resource.attributes, "service.name"), Some(&string("otlp-test")));
    assert_eq!(attr(&resource.attributes, "service.version"), Some(&string("1.2.3")));
    assert_eq!(attr(&resource.attributes, "deployment.environment.name"), Some(&string("test")));
    assert_eq!(attr(&resource.attributes, "bud.cluster_id"), Some(&string("c-1")));
    let scope = requests[0].resource_spans[0].scope_spans[0].scope.clone().unwrap();
    assert_eq!(scope.name, "budobserve");
    let spans = spans_of(requests[0].clone());
    assert_eq!(spans.len(), 3);
    let by_name = |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}"));

    let root = by_name("request {user_id}");
    assert_eq!(attr(&root.attributes, "user_id"), Some(&int(42)));
    assert_eq!(attr(&root.attributes, "budobserve_span_type"), Some(&string("span")));
    assert_eq!(attr(&root.attributes, "budobserve_level_num"), Some(&int(9)));
    assert_eq!(attr(&root.attributes, "budobserve_msg_template"), Some(&string("request {user_id}")));
    assert_eq!(attr(&root.attributes, "budobserve_msg"), Some(&string("request 42")));
    let tags = match attr(&root.attributes, "budobserve_tags") {
        Some(any_value::Value::ArrayValue(array)) => array.values.clone(),
        other => panic!("tags: {other:?}"),
    };
    assert_eq!(tags, [common::receiver::any(string("api"))]);
    assert_eq!(attr(&root.attributes, "code.filepath"), Some(&string("tests/tests/otlp.rs")));
    assert_eq!(attr(&root.attributes, "code.namespace"), Some(&string("otlp")));
    assert!(matches!(attr(&root.attributes, "code.lineno"), Some(any_value::Value::IntValue(line)) if *line > 60));
    assert!(root.parent_span_id.is_empty());
    assert_eq!(attr(&root.attributes, "order"), Some(&string(r#"{"id":7,"items":["gpu"]}"#)));
    let schema = match attr(&root.attributes, "budobserve_json_schema") {
        Some(any_value::Value::StringValue(schema)) => schema.clone(),
        other => panic!("json schema: {other:?}"),
    };
    let schema: serde_json::Value = serde_json::from_str(&schema).unwrap();
    assert_eq!(schema["properties"]["order"]["type"], "object", "{schema}");
    for span in &spans {
        assert!(span.attributes.iter().all(|kv| kv.key != "budobserve_callsite"), "{span:?}");
    }

    let warning = by_name("slow {user_id}");
    assert_eq!(warning.parent_span_id, root.span_id);
    assert_eq!(warning.trace_id, root.trace_id);
    assert_eq!(attr(&warning.attributes, "budobserve_span_type"), Some(&string("log")));
    assert_eq!(attr(&warning.attributes, "budobserve_level_num"), Some(&int(13)));
    assert_eq!(attr(&warning.attributes, "budobserve_msg"), Some(&string("slow 42")));
    assert_eq!(attr(&warning.attributes, "elapsed_ms"), Some(&int(1500)));
    assert_eq!(warning.start_time_unix_nano, warning.end_time_unix_nano);

    let failure = by_name("failed for {user_id}");
    assert_eq!(failure.parent_span_id, root.span_id);
    assert_eq!(attr(&failure.attributes, "budobserve_level_num"), Some(&int(17)));
    assert_eq!(failure.status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32));
    let event = &failure.events[0];
    assert_eq!(event.name, "exception");
    assert_eq!(attr(&event.attributes, "exception.message"), Some(&string("boom")));
    assert_eq!(attr(&event.attributes, "exception.type"), Some(&string("std::io::Error")));

    // Headers: the token as a bearer, the extra header, protobuf.
    let request = receiver.requests().into_iter().find(|r| r.path == "/v1/traces").unwrap();
    assert_eq!(request.headers["authorization"], "Bearer api-key");
    assert_eq!(request.headers["x-tenant"], "t-7");
    assert_eq!(request.headers["content-type"], "application/x-protobuf");
    assert!(!request.gzip);

    // Metrics: the counter, and BudObserve's own drop counter (nothing dropped).
    let metrics = receiver.metrics();
    let requests_metric = metrics.iter().find(|m| m.name == "requests").expect("the requests counter");
    let Some(metric::Data::Sum(sum)) = &requests_metric.data else { panic!("a sum: {requests_metric:?}") };
    assert_eq!(sum.data_points.len(), 1);
    assert_eq!(
        sum.data_points[0].value,
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(3))
    );
    assert_eq!(attr(&sum.data_points[0].attributes, "route"), Some(&string("/chat")));
    let dropped = metrics.iter().find(|m| m.name == "budobserve.spans.dropped").expect("the drop counter");
    let Some(metric::Data::Sum(dropped)) = &dropped.data else { panic!("a sum") };
    assert!(
        dropped
            .data_points
            .iter()
            .all(|p| p.value == Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(0)))
    );
    let mut reasons: Vec<String> = dropped
        .data_points
        .iter()
        .filter_map(|p| match attr(&p.attributes, "reason") {
            Some(any_value::Value::StringValue(reason)) => Some(reason.clone()),
            _ => None,
        })
        .collect();
    reasons.sort();
    let expected =
        ["callback_failed", "export_failed", "queue_full", "rejected", "shutdown_deadline", "timed_out", "unreachable"];
    assert_eq!(reasons, expected, "one series per cause");

    // Logs of the OpenTelemetry logs signal.
    let records = receiver.log_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].body.as_ref().and_then(|b| b.value.clone()), Some(string("log body")));
    assert_eq!(records[0].severity_number, Severity::Warn as i32);

    let stats = observe.export_stats();
    assert_eq!((stats.spans_exported, stats.spans_dropped, stats.spans_failed), (3, 0, 0));
    observe.shutdown().unwrap();
}

#[test]
fn gzip_compresses_requests() {
    let receiver = Receiver::start();
    let observe = instance(base(&receiver.endpoint()).gzip(true));
    emit(&observe, 0..5);
    observe.force_flush().unwrap();
    let requests = receiver.requests();
    let traces: Vec<_> = requests.iter().filter(|r| r.path == "/v1/traces").collect();
    assert!(traces.iter().all(|r| r.gzip && r.headers["content-encoding"] == "gzip"), "{:?}", receiver.summary());
    assert_eq!(numbers(&receiver), [0, 1, 2, 3, 4]);
}

#[test]
fn server_errors_and_throttling_are_retried() {
    let receiver = Receiver::start();
    receiver.script([Reply::Status(503, None), Reply::Status(429, Some(1)), Reply::Status(502, None)]);
    let observe = instance(base(&receiver.endpoint()).export_timeout(Duration::from_secs(8)));
    emit(&observe, 0..10);
    observe.force_flush().unwrap();
    let traces: Vec<_> = receiver.summary().into_iter().filter(|(path, _)| path == "/v1/traces").collect();
    assert_eq!(
        traces,
        [
            ("/v1/traces".to_owned(), 503),
            ("/v1/traces".to_owned(), 429),
            ("/v1/traces".to_owned(), 502),
            ("/v1/traces".to_owned(), 200)
        ]
    );
    assert_eq!(numbers(&receiver), (0..10).collect::<Vec<_>>());
    let stats = observe.export_stats();
    assert_eq!((stats.spans_exported, stats.spans_failed, stats.failed_exports), (10, 0, 0));
}

#[test]
fn a_rejected_export_is_counted_not_retried() {
    let receiver = Receiver::start();
    receiver.script([Reply::Status(400, None)]);
    let observe = instance(base(&receiver.endpoint()));
    emit(&observe, 0..4);
    assert!(observe.force_flush().is_err());
    let traces: Vec<_> = receiver.summary().into_iter().filter(|(path, _)| path == "/v1/traces").collect();
    assert_eq!(traces, [("/v1/traces".to_owned(), 400)]);
    let stats = observe.export_stats();
    assert_eq!((stats.spans_exported, stats.spans_failed, stats.failed_exports), (0, 4, 1));
    // The next export goes through.
    emit(&observe, 4..6);
    observe.force_flush().unwrap();
    assert_eq!(numbers(&receiver), [4, 5]);
}

#[test]
fn a_collector_down_at_start_then_up_gets_what_follows() {
    let addr = Receiver::free_address();
    let observe = instance(base(&format!("http://{addr}")).export_timeout(Duration::from_millis(500)));
    emit(&observe, 0..3);
    assert!(observe.force_flush().is_err(), "nothing listens yet");
    let stats = observe.export_stats();
    assert_eq!((stats.spans_exported, stats.spans_failed), (0, 3));

    let receiver = Receiver::start_on(addr);
    emit(&observe, 3..8);
    observe.force_flush().unwrap();
    assert_eq!(numbers(&receiver), [3, 4, 5, 6, 7]);
    assert_eq!(observe.export_stats().spans_exported, 5);
}

#[test]
fn a_collector_down_mid_run_then_back() {
    let receiver = Receiver::start();
    let observe = instance(base(&receiver.endpoint()).export_timeout(Duration::from_millis(500)));
    emit(&observe, 0..2);
    observe.force_flush().unwrap();
    let (addr, before) = receiver.stop();
    assert_eq!(before.iter().filter(|r| r.path == "/v1/traces").count(), 1);

    emit(&observe, 2..4);
    assert!(observe.force_flush().is_err());
    let receiver = Receiver::restart(addr);
    emit(&observe, 4..7);
    observe.force_flush().unwrap();
    assert_eq!(numbers(&receiver), [4, 5, 6]);
    let stats = observe.export_stats();
    assert_eq!((stats.spans_exported, stats.spans_failed), (5, 2));
}

#[test]
fn a_slow_collector_times_out_and_never_blocks_the_caller() {
    let receiver = Receiver::start();
    // Every request stalls past the exporter's timeout.
    receiver.stall(Some(Duration::from_millis(1500)));
    let observe = instance(base(&receiver.endpoint()).export_timeout(Duration::from_millis(400)).batch_options(
        BatchOptions::new().max_queue_size(20).max_export_batch_size(10).scheduled_delay(Duration::from_secs(60)),
    ));
    // The worker is stuck exporting: the queue fills and the rest is dropped, without waiting. At most 40 spans
    // are accepted: what the worker took (at most a full queue) and a full queue again.
    emit(&observe, 0..200);
    let stats = observe.export_stats();
    assert!(stats.spans_dropped >= 200 - 40, "{stats:?}");
    assert!(observe.force_flush().is_err());
    let stats = observe.export_stats();
    // Every span is accounted for: exported, dropped or lost.
    assert_eq!(stats.spans_exported + stats.spans_dropped + stats.spans_failed, 200, "{stats:?}");
    assert_eq!(stats.spans_exported, 0, "{stats:?}");

    // Once the collector answers in time, spans arrive again.
    receiver.stall(None);
    emit(&observe, 200..203);
    observe.force_flush().unwrap();
    assert_eq!(numbers(&receiver), [200, 201, 202]);
}

#[test]
fn the_queue_is_bounded_and_drops_are_reported() {
    let addr = Receiver::free_address();
    let observe = instance(base(&format!("http://{addr}")).export_timeout(Duration::from_millis(200)).batch_options(
        BatchOptions::new().max_queue_size(100).max_export_batch_size(50).scheduled_delay(Duration::from_secs(60)),
    ));
    emit(&observe, 0..5_000);
    let _ = observe.force_flush();
    let stats = observe.export_stats();
    assert_eq!(stats.spans_exported, 0);
    assert_eq!(stats.spans_dropped + stats.spans_failed, 5_000, "{stats:?}");
    assert!(stats.spans_dropped >= 4_000, "{stats:?}");
}

#[test]
fn flush_and_shutdown_give_up_after_their_timeout() {
    let receiver = Receiver::start();
    receiver.stall(Some(Duration::from_secs(2)));
    let observe = instance(base(&receiver.endpoint()).export_timeout(Duration::from_secs(10)));
    emit(&observe, 0..3);
    let err = observe.force_flush_with_timeout(Duration::from_millis(100)).unwrap_err();
    assert_eq!((err.signal, err.action), ("traces", "flush"));
    // The SDK's provider reports its processors' errors as text (each provider is given the timeout less a tenth,
    // to report before the whole has passed).
    assert!(err.to_string().contains("Timeout(90ms)"), "{err}");
    // The flush returned; its export of 0..3 is still stalled. New spans queue behind it, and the shutdown's
    // deadline passes with them queued: they are counted as lost, never exported later.
    emit(&observe, 3..6);
    let err = observe.shutdown_with_timeout(Duration::from_millis(100)).unwrap_err();
    assert_eq!((err.signal, err.action), ("traces", "shut down"));
    assert!(err.to_string().contains("Timeout(90ms)"), "{err}");
    // The stalled export completes in the background once the collector answers.
    receiver.stall(None);
    receiver.wait_for("the stalled export", |r| numbers(r) == [0, 1, 2]);
    let stats = observe.export_stats();
    assert_eq!((stats.spans_lost_at_shutdown, stats.spans_failed, stats.spans_dropped), (3, 0, 0), "{stats:?}");
    receiver.wait_for("the count of the stalled export", |_| observe.export_stats().spans_exported == 3);
}
