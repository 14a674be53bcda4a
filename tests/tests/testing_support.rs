//! `budobserve::testing` beyond spans: metric points read by name, OpenTelemetry log records, assertions on one
//! span (each failing with what the span has), and the JSON snapshot options.

use budobserve::opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use budobserve::opentelemetry::trace::{SpanKind, Status};
use budobserve::testing::{self, JsonOptions, PointValue};
use budobserve::{KeyValue, Level, bud_info, bud_span};
use serde_json::json;

#[test]
fn metric_points_are_read_by_name() {
    let capture = testing::capture();
    let obs = capture.observe();
    let requests = obs.counter("requests").with_unit("{request}").build();
    requests.add(2, &[KeyValue::new("route", "/chat"), KeyValue::new("method", "POST")]);
    requests.add(1, &[KeyValue::new("method", "POST"), KeyValue::new("route", "/chat")]);
    requests.add(5, &[KeyValue::new("route", "/health")]);
    let latency = obs.histogram("latency").with_unit("s").with_boundaries(vec![0.1, 1.0]).build();
    latency.record(0.05, &[]);
    latency.record(0.5, &[]);
    latency.record(3.0, &[]);
    obs.gauge("queue_depth").build().record(7.0, &[]);
    obs.meter().i64_up_down_counter("in_flight").build().add(-2, &[]);

    assert_eq!(
        capture.metric_value("requests", &[KeyValue::new("route", "/chat"), KeyValue::new("method", "POST")]),
        Some(3.0)
    );
    assert_eq!(capture.metric_value("requests", &[KeyValue::new("route", "/health")]), Some(5.0));
    assert_eq!(capture.metric_value("requests", &[]), None, "no point without attributes");
    let points = capture.metric_points("requests");
    assert_eq!(points.len(), 2);
    assert!(points.iter().all(|p| p.unit == "{request}" && p.scope == "budobserve"));
    assert_eq!(
        capture.metric_points("latency")[0].value,
        PointValue::Histogram { count: 3, sum: 3.55, bounds: vec![0.1, 1.0], bucket_counts: vec![1, 1, 1] }
    );
    assert_eq!(capture.metric_value("queue_depth", &[]), Some(7.0));
    assert_eq!(capture.metric_value("in_flight", &[]), Some(-2.0));
    // Totals since the start: a later read adds.
    requests.add(4, &[KeyValue::new("route", "/health")]);
    assert_eq!(capture.metric_value("requests", &[KeyValue::new("route", "/health")]), Some(9.0));
    // The capture's own instance writes nothing else under these names.
    assert!(capture.metric_points("unknown").is_empty());
}

#[test]
fn log_records_are_kept_in_order() {
    let capture = testing::capture();
    let logger = capture.observe().logger_provider().logger("worker");
    for (body, severity) in [("started", Severity::Info), ("failed", Severity::Error)] {
        let mut record = logger.create_log_record();
        record.set_body(body.into());
        record.set_severity_number(severity);
        record.add_attribute("job", 7);
        logger.emit(record);
    }
    let records = capture.log_records();
    let seen: Vec<_> = records.iter().map(|r| (r.body().cloned(), r.severity_number())).collect();
    assert_eq!(
        seen,
        [
            (Some(AnyValue::from("started")), Some(Severity::Info)),
            (Some(AnyValue::from("failed")), Some(Severity::Error))
        ]
    );
    let job: Vec<_> = records[0].attributes_iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect();
    assert_eq!(job, [("job".to_owned(), AnyValue::Int(7))]);
    capture.clear_all();
    assert!(capture.log_records().is_empty());
}

fn request_and_child() -> testing::Capture {
    let capture = testing::capture();
    capture.run(|| {
        let mut request = bud_span!("request {id}", id = 7).entered();
        bud_info!("child");
        request.add_event("retry", vec![KeyValue::new("attempt", 2)]);
        request.set_status(Status::error("declined"));
    });
    capture
}

#[test]
fn one_span_is_asserted_on() {
    let capture = request_and_child();
    let request = capture
        .assert_span("request {id}")
        .has_attributes(&[KeyValue::new("id", 7), KeyValue::new("budobserve_msg", "request 7")])
        .has_event("retry", &[KeyValue::new("attempt", 2)])
        .lacks_event("exception")
        .lacks_attribute("user_id")
        .status_error("declined")
        .level(Level::Info)
        .kind(SpanKind::Internal)
        .is_root()
        .into_span();
    capture.assert_span("child").child_of(&request).level(Level::Info).status_unset();
}

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("the assertion fails");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_failed_assertion_says_what_the_span_has() {
    let capture = request_and_child();
    let span = || capture.assert_span("request {id}");
    let message = panic_message(|| drop(span().has_attribute(KeyValue::new("id", 8))));
    assert!(
        message.starts_with(r#"span "request {id}": attribute "id" is Some(I64(7)), expected I64(8)"#),
        "{message}"
    );
    let message = panic_message(|| drop(span().status_ok()));
    assert_eq!(message, r#"span "request {id}": status Error { description: "declined" }, expected ok"#);
    let message = panic_message(|| drop(span().has_event("retry", &[KeyValue::new("attempt", 3)])));
    assert!(message.starts_with(r#"span "request {id}": no event "retry" with"#), "{message}");
    let message = panic_message(|| drop(span().level(Level::Warn)));
    assert_eq!(message, r#"span "request {id}": level number Some(I64(9)), expected 13 (warn)"#);
    let request = capture.span("request {id}");
    let message = panic_message(|| drop(capture.assert_span("child").is_root()));
    assert!(message.starts_with(r#"span "child": parent "#), "{message}");
    let message = panic_message(|| drop(capture.assert_span("request {id}").child_of(&request)));
    assert!(message.contains(r#"("request {id}")"#), "{message}");
    let message = panic_message(|| drop(capture.assert_span("missing")));
    assert_eq!(message, r#"no span named "missing"; exported: ["child", "request {id}"]"#);
}

#[test]
fn json_snapshots_strip_code_locations_and_carry_the_resource() {
    let capture = testing::capture_with(|builder| builder.service_version("1.2.3"));
    let line = line!() + 1;
    capture.run(|| bud_info!("hello {name}", name = "ada"));
    let json = capture.exported_spans_as_json_with(JsonOptions::new().strip_code_paths().fixed_line_number(123));
    assert_eq!(json["resource"]["service.name"], "test");
    assert_eq!(json["resource"]["service.version"], "1.2.3");
    let attributes = &json["spans"][0]["attributes"];
    assert_eq!(attributes["code.filepath"], "testing_support.rs");
    assert_eq!(attributes["code.lineno"], 123);
    assert_eq!(attributes["code.namespace"], "testing_support");
    assert_eq!(attributes["budobserve_msg"], "hello ada");
    // Without options: the array of spans, as exported.
    let plain = capture.exported_spans_as_json();
    assert_eq!(plain[0]["attributes"]["code.filepath"], "tests/tests/testing_support.rs");
    assert_eq!(plain[0]["attributes"]["code.lineno"], json!(line));
    let bare = capture.exported_spans_as_json_with(JsonOptions::new().include_resource(false));
    assert_eq!(bare, plain);
}
