//! The exception callback: it sees each error a span records, with the span, and changes the level, adds
//! attributes or keeps the error from being recorded — checked in what an OTLP receiver decodes and in the
//! exported spans; a callback that panics is contained and counted; callbacks belong to their instance.

mod common;

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use budobserve::opentelemetry::Value;
use budobserve::opentelemetry::trace::Status;
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{self, attribute};
use budobserve::{BatchOptions, BudObserve, EnvSource, KeyValue, Level, RecordedError, bud_exception, bud_span};
use common::receiver::{Receiver, attr, int, spans_of, string};

#[derive(Debug)]
struct NotFound(u64);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user {} not found", self.0)
    }
}

impl Error for NotFound {}

/// An error with a cause, to see the chain.
#[derive(Debug)]
struct Upstream(std::io::Error);

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream failed")
    }
}

impl Error for Upstream {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

/// What the callback of these tests saw: type name, message, causes, span level, whether the error object was
/// given.
type Seen = Arc<Mutex<Vec<(String, String, Vec<String>, Level, bool)>>>;

/// The callback of these tests: `NotFound` is a warning with a status code; a timeout is not recorded but marked;
/// everything is written down.
fn callback(seen: Seen) -> impl Fn(&mut RecordedError<'_>) + Send + Sync + 'static {
    move |error: &mut RecordedError<'_>| {
        seen.lock().unwrap().push((
            error.type_name().to_owned(),
            error.message().to_owned(),
            error.causes().map(ToString::to_string).collect(),
            error.span_level(),
            error.error().is_some(),
        ));
        assert_eq!(error.level(), Level::Error.max(error.span_level()), "error unless changed");
        assert!(error.span_context().is_valid());
        if error.is::<NotFound>() {
            error.set_level(Level::Warn);
            error.add_attribute(KeyValue::new("http.response.status_code", 404));
        }
        if error.message().contains("timed out") {
            error.skip_recording();
            error.add_attribute(KeyValue::new("retried", true));
        }
    }
}

fn level(span: &SpanData) -> Option<i64> {
    match attribute(span, "budobserve_level_num") {
        Some(Value::I64(n)) => Some(*n),
        _ => None,
    }
}

fn exception_events(span: &SpanData) -> Vec<String> {
    span.events
        .iter()
        .filter(|event| event.name == "exception")
        .map(|event| {
            event
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "exception.message")
                .map(|kv| kv.value.as_str().into_owned())
                .unwrap_or_default()
        })
        .collect()
}

#[budobserve::instrument]
fn load(id: u64) -> Result<(), Box<dyn Error + Send + Sync>> {
    Err(Box::new(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("load {id} timed out"))))
}

#[test]
fn the_callback_changes_level_attributes_and_recording() {
    let seen = Seen::default();
    let capture = testing::capture_with(|builder| builder.exception_callback(callback(Arc::clone(&seen))));
    capture.run(|| {
        bud_span!("lookup").record_exception(&NotFound(7));
        let mut notice = bud_span!("notice span", _level = "notice");
        notice.record_exception(&Upstream(std::io::Error::other("connection reset")));
        drop(notice);
        let _ = load(3);
        bud_exception!(&NotFound(9), "log of a missing user");
    });

    let lookup = capture.assert_has_span("lookup", &[KeyValue::new("http.response.status_code", 404)]);
    assert_eq!(lookup.status, Status::Unset, "below error: the status stays unset");
    assert_eq!(level(&lookup), Some(13));
    assert_eq!(exception_events(&lookup), ["user 7 not found"]);

    let upstream = capture.assert_span_status_error("notice span");
    assert_eq!(level(&upstream), Some(17));
    assert_eq!(exception_events(&upstream), ["upstream failed", "connection reset"]);

    let skipped = capture.assert_has_span("Calling exception_callback::load", &[KeyValue::new("retried", true)]);
    assert!(exception_events(&skipped).is_empty(), "not recorded");
    assert_eq!(skipped.status, Status::Unset);
    assert_eq!(level(&skipped), Some(9), "the level stays the span's");

    let log = capture.assert_has_span("log of a missing user", &[KeyValue::new("http.response.status_code", 404)]);
    assert_eq!(level(&log), Some(13));
    assert_eq!(log.status, Status::Unset);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("exception_callback::NotFound".to_owned(), "user 7 not found".to_owned(), vec![], Level::Info, false),
            (
                "exception_callback::Upstream".to_owned(),
                "upstream failed".to_owned(),
                vec!["connection reset".to_owned()],
                Level::Notice,
                false
            ),
            (
                std::any::type_name::<Box<dyn Error + Send + Sync>>().to_owned(),
                "load 3 timed out".to_owned(),
                vec![],
                Level::Info,
                true
            ),
            ("exception_callback::NotFound".to_owned(), "user 9 not found".to_owned(), vec![], Level::Error, false),
        ]
    );
}

#[test]
fn a_boxed_error_can_be_downcast() {
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&kinds);
    let capture = testing::capture_with(move |builder| {
        builder.exception_callback(move |error: &mut RecordedError<'_>| {
            let kind = error.error().and_then(|e| e.downcast_ref::<std::io::Error>()).map(std::io::Error::kind);
            kept.lock().unwrap().push((kind, error.is::<std::io::Error>(), error.is::<NotFound>()));
        })
    });
    capture.run(|| {
        let _ = load(1);
    });
    assert_eq!(*kinds.lock().unwrap(), [(Some(std::io::ErrorKind::TimedOut), true, false)]);
}

#[test]
fn a_panicking_callback_is_contained_and_counted() {
    let capture = testing::capture_with(|builder| {
        builder.exception_callback(|error: &mut RecordedError<'_>| {
            error.set_level(Level::Debug);
            panic!("the callback failed on {}", error.message());
        })
    });
    capture.run(|| bud_span!("failing").record_exception(&NotFound(1)));
    let span = capture.assert_span_status_error("failing");
    assert_eq!(level(&span), Some(17), "recorded as without a callback");
    assert_eq!(exception_events(&span), ["user 1 not found"]);
    assert_eq!(capture.observe().export_stats().callback_failures, 1);
}

#[test]
fn callbacks_belong_to_their_instance_and_panics_skip_them() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let own = testing::capture_with(move |builder| {
        builder.exception_callback(move |error: &mut RecordedError<'_>| {
            counted.fetch_add(1, Ordering::Relaxed);
            error.skip_recording();
        })
    });
    let other = testing::capture();
    // A span of `own` records through its callback while `other` is current, and the other way round.
    other.run(|| {
        let obs: &BudObserve = own.observe();
        budobserve::bud_span!(obs => "own span").record_exception(&NotFound(2));
        bud_span!("other span").record_exception(&NotFound(3));
    });
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(exception_events(&own.span("own span")).is_empty());
    assert_eq!(exception_events(&other.span("other span")), ["user 3 not found"]);

    // A panic unwinding through a span is recorded without the callback.
    let unwound = std::panic::catch_unwind(|| {
        own.run(|| {
            let _span = bud_span!("panicking").entered();
            panic!("boom");
        })
    });
    assert!(unwound.is_err());
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    own.assert_span_status_error("panicking");
}

#[test]
fn what_leaves_over_otlp_follows_the_callback() {
    let receiver = Receiver::start();
    let seen = Seen::default();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("exception-callback")
        .console(false)
        .endpoint(receiver.endpoint())
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .exception_callback(callback(seen))
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    budobserve::with_instance(&observe, || {
        bud_span!("lookup").record_exception(&NotFound(5));
        let _ = load(8);
    });
    observe.force_flush().unwrap();
    let spans: Vec<_> = receiver.trace_requests().into_iter().flat_map(spans_of).collect();
    let by_name = |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}"));
    let lookup = by_name("lookup");
    assert_eq!(attr(&lookup.attributes, "http.response.status_code"), Some(&int(404)));
    assert_eq!(attr(&lookup.attributes, "budobserve_level_num"), Some(&int(13)));
    assert_eq!(lookup.status.as_ref().map(|s| s.code), Some(0), "unset");
    assert_eq!(lookup.events.len(), 1);
    assert_eq!(attr(&lookup.events[0].attributes, "exception.message"), Some(&string("user 5 not found")));
    let load = by_name("Calling exception_callback::load");
    assert!(load.events.is_empty());
    assert_eq!(attr(&load.attributes, "budobserve_level_num"), Some(&int(9)));
    observe.shutdown().unwrap();
}
