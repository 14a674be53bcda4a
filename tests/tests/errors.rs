//! Errors and panics: source chains, status, levels, panics unwinding through entered spans and futures.

use std::error::Error;
use std::fmt;

use budobserve::opentelemetry::Value;
use budobserve::opentelemetry::trace::Status;
use budobserve::testing::{self, attribute};
use budobserve::{Instrument, KeyValue};
use opentelemetry_sdk::trace::SpanData;

#[derive(Debug)]
struct ConnectError;

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused")
    }
}

impl Error for ConnectError {}

#[derive(Debug)]
struct QueryError {
    source: ConnectError,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("query failed")
    }
}

impl Error for QueryError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

#[derive(Debug)]
struct RequestError {
    source: QueryError,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request failed")
    }
}

impl Error for RequestError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

fn error_chain() -> RequestError {
    RequestError { source: QueryError { source: ConnectError } }
}

fn event_attribute<'a>(span: &'a SpanData, event: usize, key: &str) -> Option<&'a Value> {
    span.events[event].attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

#[test]
fn record_exception_writes_the_source_chain_and_sets_error_status_and_level() {
    let capture = testing::capture();
    {
        let mut span = capture.observe().span("handle request", []);
        span.record_exception(&error_chain());
    }
    let span = capture.assert_span_exception::<RequestError>("handle request");
    assert_eq!(span.status, Status::error("request failed"));
    assert_eq!(attribute(&span, "budobserve_level_num"), Some(&Value::I64(17)));
    assert_eq!(span.events.len(), 3);
    assert!(span.events.iter().all(|e| e.name == "exception"));
    assert_eq!(event_attribute(&span, 0, "exception.type"), Some(&Value::from(std::any::type_name::<RequestError>())));
    assert_eq!(event_attribute(&span, 0, "exception.message"), Some(&Value::from("request failed")));
    assert_eq!(event_attribute(&span, 1, "exception.message"), Some(&Value::from("query failed")));
    assert_eq!(event_attribute(&span, 1, "budobserve_exception_cause_index"), Some(&Value::I64(1)));
    assert_eq!(event_attribute(&span, 2, "exception.message"), Some(&Value::from("connection refused")));
    assert_eq!(event_attribute(&span, 2, "budobserve_exception_cause_index"), Some(&Value::I64(2)));
}

#[test]
fn exception_log_is_an_error_log_with_the_exception_at_its_time() {
    let capture = testing::capture();
    capture.run(|| {
        budobserve::exception(&ConnectError, "could not reach {host}", [KeyValue::new("host", "db")]);
    });
    let log = capture.assert_has_span(
        "could not reach {host}",
        &[
            KeyValue::new("budobserve_span_type", "log"),
            KeyValue::new("budobserve_level_num", 17),
            KeyValue::new("budobserve_msg", "could not reach db"),
        ],
    );
    capture.assert_span_exception::<ConnectError>("could not reach {host}");
    assert_eq!(log.events[0].timestamp, log.start_time);
    assert_eq!(log.start_time, log.end_time);
}

#[test]
fn dyn_error_is_recorded_with_its_message() {
    let capture = testing::capture();
    let boxed: Box<dyn Error + Send + Sync> = Box::new(ConnectError);
    {
        let mut span = capture.observe().span("boxed", []);
        span.record_exception(boxed.as_ref());
    }
    let span = capture.assert_span_has_event("boxed", "exception");
    assert_eq!(event_attribute(&span, 0, "exception.message"), Some(&Value::from("connection refused")));
}

#[test]
fn panic_inside_an_entered_span_is_recorded_before_it_unwinds() {
    let capture = testing::capture();
    let obs = capture.observe().clone();
    let result = std::panic::catch_unwind(move || {
        let _outer = obs.span("outer", []).entered();
        let _risky = obs.span("risky", []).entered();
        let value = 42;
        panic!("boom {value}");
    });
    assert!(result.is_err());

    for name in ["risky", "outer"] {
        let span = capture.assert_span_status_error(name);
        assert_eq!(span.status, Status::error("boom 42"));
        assert_eq!(attribute(&span, "budobserve_level_num"), Some(&Value::I64(17)));
        assert_eq!(event_attribute(&span, 0, "exception.type"), Some(&Value::from("panic")));
        assert_eq!(event_attribute(&span, 0, "exception.message"), Some(&Value::from("boom 42")));
        assert_eq!(event_attribute(&span, 0, "exception.escaped"), Some(&Value::Bool(true)));
        let stacktrace = event_attribute(&span, 0, "exception.stacktrace").map(|v| v.as_str().into_owned());
        let stacktrace = stacktrace.unwrap_or_default();
        assert!(stacktrace.starts_with("panicked at tests/tests/errors.rs:"), "{stacktrace}");
    }
    // The inner span ended first, while unwinding.
    let names: Vec<_> = capture.spans().into_iter().map(|s| s.name.into_owned()).collect();
    assert_eq!(names, ["risky", "outer"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_inside_an_instrumented_task_is_recorded_even_though_tokio_catches_it() {
    let capture = testing::capture();
    let span = capture.observe().span("task", []);
    let joined = tokio::spawn(
        async {
            tokio::task::yield_now().await;
            panic!("task exploded");
        }
        .instrument(span),
    )
    .await;
    assert!(joined.is_err_and(|e| e.is_panic()));
    let span = capture.assert_span_status_error("task");
    assert_eq!(span.events.len(), 1, "recorded once: {:?}", span.events);
    assert_eq!(event_attribute(&span, 0, "exception.message"), Some(&Value::from("task exploded")));
}

#[test]
fn no_panic_no_exception() {
    let capture = testing::capture();
    {
        let _fine = capture.observe().span("fine", []).entered();
    }
    let span = capture.span("fine");
    assert!(span.events.is_empty());
    assert_eq!(span.status, Status::Unset);
}
