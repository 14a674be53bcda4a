//! Logs: levels, numbers, span type, messages, tags, the minimum level.

use budobserve::opentelemetry::{Array, StringValue, Value};
use budobserve::testing::{self, attribute};
use budobserve::{KeyValue, Level};

#[test]
fn each_level_writes_a_zero_duration_log_span_with_its_number() {
    let capture = testing::capture();
    let obs = capture.observe();
    obs.trace("t", []);
    obs.debug("d", []);
    obs.info("i", []);
    obs.notice("n", []);
    obs.warn("w", []);
    obs.error("e", []);
    obs.fatal("f", []);

    let expected = [("t", 1), ("d", 5), ("i", 9), ("n", 10), ("w", 13), ("e", 17), ("f", 21)];
    let spans = capture.spans();
    assert_eq!(spans.len(), expected.len());
    for (span, (name, level)) in spans.iter().zip(expected) {
        assert_eq!(span.name, name);
        assert_eq!(attribute(span, "budobserve_span_type"), Some(&Value::from("log")));
        assert_eq!(attribute(span, "budobserve_level_num"), Some(&Value::I64(level)));
        assert_eq!(attribute(span, "budobserve_msg_template"), Some(&Value::from(name)));
        assert_eq!(attribute(span, "budobserve_msg"), Some(&Value::from(name)));
        assert_eq!(span.start_time, span.end_time, "a log has no duration");
    }
}

#[test]
fn message_is_rendered_from_attributes_and_attributes_are_kept() {
    let capture = testing::capture();
    capture.observe().info(
        "user {user_id} logged in from {ip=} ({ratio:.1})",
        [KeyValue::new("user_id", 42), KeyValue::new("ip", "10.0.0.1"), KeyValue::new("ratio", 0.25)],
    );
    capture.assert_has_span(
        "user {user_id} logged in from {ip=} ({ratio:.1})",
        &[
            KeyValue::new("budobserve_msg", "user 42 logged in from ip=10.0.0.1 (0.2)"),
            KeyValue::new("user_id", 42),
            KeyValue::new("ip", "10.0.0.1"),
            KeyValue::new("ratio", 0.25),
        ],
    );
}

#[test]
fn log_with_explicit_level_and_free_functions_use_the_current_instance() {
    let capture = testing::capture();
    capture.run(|| {
        budobserve::log(Level::Notice, "via log", []);
        budobserve::warn("via warn", [KeyValue::new("k", "v")]);
    });
    capture.assert_has_span("via log", &[KeyValue::new("budobserve_level_num", 10)]);
    capture.assert_has_span("via warn", &[KeyValue::new("budobserve_level_num", 13), KeyValue::new("k", "v")]);
}

#[test]
fn min_level_drops_lower_logs_and_spans() {
    let capture = testing::capture_with(|b| b.min_level(Level::Info));
    let obs = capture.observe();
    assert!(!obs.is_enabled(Level::Debug));
    assert!(obs.is_enabled(Level::Info));
    obs.trace("trace", []);
    obs.debug("debug", []);
    obs.info("info", []);
    obs.error("error", []);
    {
        let _dropped = obs.span_builder("debug span").level(Level::Debug).start().entered();
        obs.warn("inside debug span", []);
    }
    let names: Vec<_> = capture.spans().into_iter().map(|s| s.name.into_owned()).collect();
    assert_eq!(names, ["info", "error", "inside debug span"]);
    // The dropped span does not break parentage: the log inside it is a root.
    assert_eq!(capture.span("inside debug span").parent_span_id, budobserve::opentelemetry::SpanId::INVALID);

    obs.set_min_level(Level::Trace);
    obs.debug("debug after lowering", []);
    capture.assert_has_span("debug after lowering", &[KeyValue::new("budobserve_level_num", 5)]);
}

#[test]
fn tags_from_handle_and_call_are_merged_without_duplicates() {
    let capture = testing::capture();
    let billing = capture.observe().with_tags(["billing", "api"]);
    billing.span_builder("charged").tags(["api", "stripe"]).log();
    billing.info("plain", []);
    capture.observe().info("untagged", []);

    let tags =
        |names: &[&str]| Value::Array(Array::String(names.iter().map(|s| StringValue::from(s.to_string())).collect()));
    capture.assert_has_span("charged", &[KeyValue::new("budobserve_tags", tags(&["billing", "api", "stripe"]))]);
    capture.assert_has_span("plain", &[KeyValue::new("budobserve_tags", tags(&["billing", "api"]))]);
    assert_eq!(attribute(&capture.span("untagged"), "budobserve_tags"), None);
    assert_eq!(billing.tags(), ["billing", "api"]);
}

#[test]
fn span_name_can_differ_from_template_and_message_can_be_preformatted() {
    let capture = testing::capture();
    capture
        .observe()
        .span_builder("GET {route}")
        .name("GET /chat")
        .message("GET /chat took long")
        .attribute(KeyValue::new("route", "/chat"))
        .level(Level::Warn)
        .log();
    capture.assert_has_span(
        "GET /chat",
        &[
            KeyValue::new("budobserve_msg_template", "GET {route}"),
            KeyValue::new("budobserve_msg", "GET /chat took long"),
            KeyValue::new("budobserve_level_num", 13),
        ],
    );
}

#[test]
fn unconfigured_instance_records_nothing_and_does_not_fail() {
    // The global instance before `configure`: every call is a cheap no-op.
    budobserve::info("before configure", [KeyValue::new("k", 1)]);
    let span = budobserve::span("span before configure", []);
    assert!(!span.is_recording());
    assert!(!span.span_context().is_valid());
}
