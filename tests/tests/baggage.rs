//! Baggage for any key: set in a scope, read back, refused beyond W3C's limits with the context unchanged, carried
//! in outgoing headers, and — with `baggage_to_attributes` — copied onto every span, checked in what an OTLP
//! receiver decodes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use budobserve::baggage::{self, BaggageError, MAX_BYTES, MAX_MEMBERS};
use budobserve::opentelemetry::trace::{Tracer as _, TracerProvider as _};
use budobserve::testing;
use budobserve::{BatchOptions, BudContext, BudObserve, EnvSource, KeyValue, bud_info, bud_span};
use common::receiver::{Receiver, attr, spans_of, string};

fn entries(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn baggage_is_set_in_a_scope_and_read_back() {
    assert!(baggage::get_baggage().is_empty());
    {
        let _outer = baggage::set_baggage([("tenant", "acme"), ("plan", "pro")]).unwrap();
        assert_eq!(baggage::get_baggage(), entries(&[("plan", "pro"), ("tenant", "acme")]));
        {
            let _inner = baggage::set_baggage([("plan", "enterprise"), ("region", "eu-1")]).unwrap();
            let _bud = BudContext::new().project_id("p-1").attach();
            assert_eq!(
                baggage::get_baggage(),
                entries(&[("bud.project_id", "p-1"), ("plan", "enterprise"), ("region", "eu-1"), ("tenant", "acme")])
            );
            let headers = baggage::inject_headers(&budobserve::opentelemetry::Context::current());
            let carried = baggage::baggage_of(&baggage::extract(&headers));
            assert_eq!(carried, baggage::get_baggage(), "every entry travels");
        }
        assert_eq!(baggage::get_baggage(), entries(&[("plan", "pro"), ("tenant", "acme")]));
    }
    assert!(baggage::get_baggage().is_empty());
}

#[test]
fn baggage_beyond_w3c_limits_is_refused_and_the_context_kept() {
    let _kept = baggage::set_baggage([("tenant", "acme")]).unwrap();
    for key in ["", "bad key", "a,b", "k=v", "ключ"] {
        assert_eq!(baggage::set_baggage([(key, "x")]).err(), Some(BaggageError::InvalidKey(key.to_owned())));
    }
    let many: Vec<(String, String)> = (0..MAX_MEMBERS).map(|n| (format!("k{n}"), "v".to_owned())).collect();
    let error = baggage::set_baggage(many).expect_err("65 members with the tenant");
    assert_eq!(error, BaggageError::TooLarge { members: MAX_MEMBERS + 1, bytes: error_bytes(&error) });
    assert!(error.to_string().contains("over W3C's 64 members or 8192 bytes"), "{error}");
    let big = "x".repeat(3000);
    let error = baggage::set_baggage([("a", big.as_str()), ("b", big.as_str()), ("c", big.as_str())]).err();
    assert!(matches!(error, Some(BaggageError::TooLarge { members: 4, bytes }) if bytes > MAX_BYTES), "{error:?}");
    // One large member is carried while the whole stays within the limits.
    let huge = "y".repeat(5000);
    assert_eq!(baggage::set_baggage([("huge", huge.as_str())]).map(|_| baggage::get_baggage().len()).ok(), Some(2));
    // Nothing of the refused calls stuck.
    assert_eq!(baggage::get_baggage(), entries(&[("tenant", "acme")]));
    // Percent-encoded values count as encoded: 2,000 spaces are 6,000 bytes on the wire.
    let spaces = format!("a{}a", " ".repeat(2000));
    assert!(baggage::set_baggage([("s1", spaces.as_str())]).is_ok());
    assert!(matches!(
        baggage::set_baggage([("s1", spaces.as_str()), ("s2", spaces.as_str())]).err(),
        Some(BaggageError::TooLarge { .. })
    ));
}

fn error_bytes(error: &BaggageError) -> usize {
    match error {
        BaggageError::TooLarge { bytes, .. } => *bytes,
        _ => 0,
    }
}

#[test]
fn spans_carry_all_baggage_only_when_asked() {
    let all = testing::capture_with(|builder| builder.baggage_to_attributes(true));
    let bud_only = testing::capture();
    for capture in [&all, &bud_only] {
        capture.run(|| {
            let _tenant = baggage::set_baggage([("tenant", "acme"), ("plan", "pro")]).unwrap();
            let _bud = BudContext::new().project_id("p-1").attach();
            bud_info!("log");
            bud_info!("explicit", plan = "given");
            let tracer = capture.observe().tracer_provider().tracer("library");
            tracer.in_span("library span", |_| {});
            let _span = bud_span!("span").entered();
        });
    }
    for name in ["log", "library span", "span"] {
        let span = all.span(name);
        let keys: Vec<&str> = span
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .filter(|key| ["bud.project_id", "plan", "tenant"].contains(key))
            .collect();
        assert_eq!(keys, ["bud.project_id", "plan", "tenant"], "{name}: the bud keys first, then by key");
        all.assert_has_span(name, &[KeyValue::new("tenant", "acme"), KeyValue::new("bud.project_id", "p-1")]);
        bud_only.assert_has_span(name, &[KeyValue::new("bud.project_id", "p-1")]);
        assert!(testing::attribute(&bud_only.span(name), "tenant").is_none(), "{name}: only the bud context");
    }
    let explicit = all.assert_has_span("explicit", &[KeyValue::new("plan", "given")]);
    assert_eq!(explicit.attributes.iter().filter(|kv| kv.key.as_str() == "plan").count(), 1, "the explicit wins");
}

#[test]
fn inbound_baggage_reaches_the_exported_spans() {
    let receiver = Receiver::start();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("baggage-test")
        .console(false)
        .endpoint(receiver.endpoint())
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .baggage_to_attributes(true)
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    let headers = HashMap::from([
        ("traceparent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
        ("baggage".to_owned(), "tenant=acme%20corp,bud.request_id=r-9,bad key=x,password=hunter2-secret,note=dsn%20postgres://app:s3cr3t@db/app".to_owned()),
    ]);
    let cx = baggage::extract(&headers);
    budobserve::with_instance(&observe, || {
        let _attached = cx.attach();
        bud_info!("handled");
    });
    observe.force_flush().unwrap();
    let spans: Vec<_> = receiver.trace_requests().into_iter().flat_map(spans_of).collect();
    assert_eq!(spans.len(), 1);
    assert_eq!(attr(&spans[0].attributes, "tenant"), Some(&string("acme corp")));
    assert_eq!(attr(&spans[0].attributes, "bud.request_id"), Some(&string("r-9")));
    assert_eq!(attr(&spans[0].attributes, "bad key"), None, "the malformed member is skipped");
    // Secrets that arrive in baggage are scrubbed on the way out like any attribute: by key and inside values.
    let sent = format!("{:?}", spans[0].attributes);
    assert!(!sent.contains("hunter2-secret") && !sent.contains("s3cr3t"), "{sent}");
    assert!(attr(&spans[0].attributes, "password").is_some(), "the key stays, its value redacted");
    observe.shutdown().unwrap();
}
