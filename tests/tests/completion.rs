//! Completion of macro spans: the code location, template and (when deferred) message written off the caller's
//! path are exactly what the caller would have written, on every export path, and no exporter sees the marker.

use std::fmt;

use budobserve::opentelemetry::Value;
use budobserve::opentelemetry_sdk::trace::{SimpleSpanProcessor, SpanData};
use budobserve::testing::{self, TestExporter, attribute};
use budobserve::{BudObserve, EnvSource, bud_info, bud_span, constants};
use serde::Serialize;

struct Celsius(f64);

impl fmt::Display for Celsius {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}°C", self.0)
    }
}

#[derive(Serialize)]
struct Model {
    name: &'static str,
    context: u32,
}

#[derive(Debug)]
#[allow(dead_code, reason = "read through Debug")]
struct Opaque {
    code: u16,
}

fn message(span: &SpanData) -> String {
    match attribute(span, constants::MSG) {
        Some(Value::String(message)) => message.as_str().to_owned(),
        other => panic!("no message on {}: {other:?}", span.name),
    }
}

fn assert_no_marker(spans: &[SpanData]) {
    for span in spans {
        assert!(
            span.attributes.iter().all(|kv| kv.key.as_str() != constants::CALLSITE),
            "{} still carries its callsite marker: {:?}",
            span.name,
            span.attributes
        );
    }
}

/// Every form of placeholder, rendered where the macro leaves it to the export side and where it formats itself.
fn log_every_form() {
    let user_id = 42_i64;
    let big = u64::MAX;
    let ratio = 0.25_f64;
    let narrow = 0.1_f32;
    let ok = true;
    let name = "ada";
    let owned = String::from("owned");
    let letter = 'x';
    let temperature = Celsius(21.04);
    let model = Model { name: "llama", context: 8192 };
    let opaque = Opaque { code: 7 };
    bud_info!("ints {user_id} {big}");
    bud_info!("floats {ratio} {narrow}");
    bud_info!("text {name} {owned} {letter} {ok}");
    bud_info!("display {temperature}");
    bud_info!("debug {name:?} {opaque:?}");
    bud_info!("echo {user_id=} {name=}");
    bud_info!("path {model.name} {model.context}");
    bud_info!("json {model}");
    bud_info!("spec {ratio:.1} {name:>5} {user_id:x}");
    bud_info!("mixed {name} {name:?}");
    bud_info!("literal {label}", label = "given");
    bud_info!("braces {{kept}} {name}");
    bud_info!("plain text");
}

const EXPECTED: [(&str, &str); 13] = [
    ("ints {user_id} {big}", "ints 42 18446744073709551615"),
    ("floats {ratio} {narrow}", "floats 0.25 0.1"),
    ("text {name} {owned} {letter} {ok}", "text ada owned x true"),
    ("display {temperature}", "display 21.0°C"),
    ("debug {name:?} {opaque:?}", "debug \"ada\" Opaque { code: 7 }"),
    ("echo {user_id=} {name=}", "echo user_id=42 name=ada"),
    ("path {model.name} {model.context}", "path llama 8192"),
    ("json {model}", "json {\"name\":\"llama\",\"context\":8192}"),
    ("spec {ratio:.1} {name:>5} {user_id:x}", "spec 0.2   ada 2a"),
    ("mixed {name} {name:?}", "mixed ada \"ada\""),
    ("literal {label}", "literal given"),
    ("braces {{kept}} {name}", "braces {kept} ada"),
    ("plain text", "plain text"),
];

fn assert_messages(spans: &[SpanData]) {
    assert_no_marker(spans);
    for (template, expected) in EXPECTED {
        let span = spans.iter().find(|s| s.name == template).unwrap_or_else(|| panic!("no span {template}"));
        assert_eq!(message(span), expected, "message of {template}");
        assert_eq!(attribute(span, constants::MSG_TEMPLATE), Some(&Value::from(template)));
        assert_eq!(span.attributes.iter().filter(|kv| kv.key.as_str() == constants::MSG).count(), 1);
    }
}

/// The spans of `log_every_form` through a span exporter (completed on the export worker) or a span processor
/// (completed on the caller's thread).
fn exported(on_worker: bool) -> TestExporter {
    let exporter = TestExporter::default();
    let builder = budobserve::configure().env(EnvSource::Map(Default::default())).service_name("test").console(false);
    let builder = if on_worker {
        builder.span_exporter(exporter.clone())
    } else {
        builder.span_processor(SimpleSpanProcessor::new(exporter.clone()))
    };
    let observe = BudObserve::new(builder.build().expect("valid configuration"));
    budobserve::with_instance(&observe, log_every_form);
    observe.force_flush().expect("flush");
    exporter
}

#[test]
fn messages_completed_on_the_export_side_match_the_formatted_ones() {
    assert_messages(&exported(true).spans());
}

#[test]
fn a_span_processor_gets_the_same_complete_spans_on_the_callers_thread() {
    let on_caller = exported(false);
    assert_messages(&on_caller.spans());
    // The same attributes, in the same order, as the export worker writes.
    let on_worker = exported(true);
    for (template, _) in EXPECTED {
        assert_eq!(
            on_caller.span(template).attributes,
            on_worker.span(template).attributes,
            "attributes of {template}"
        );
    }
}

#[test]
fn span_exporter_completes_spans_on_the_batch_thread() {
    let exporter = TestExporter::default();
    let config = budobserve::configure()
        .env(EnvSource::Map(Default::default()))
        .service_name("test")
        .console(false)
        .span_exporter(exporter.clone())
        .build()
        .expect("valid configuration");
    let observe = BudObserve::new(config);
    budobserve::with_instance(&observe, || {
        let user_id = 7;
        let _span = bud_span!("request from {user_id}", route = "/chat");
    });
    observe.force_flush().expect("flush");
    let span = exporter.span("request from {user_id}");
    assert_no_marker(std::slice::from_ref(&span));
    assert_eq!(message(&span), "request from 7");
    assert_eq!(attribute(&span, "user_id"), Some(&Value::I64(7)));
    assert_eq!(attribute(&span, "route"), Some(&Value::from("/chat")));
    assert_eq!(attribute(&span, constants::CODE_FILEPATH), Some(&Value::from("tests/tests/completion.rs")));
    assert_eq!(attribute(&span, constants::CODE_NAMESPACE), Some(&Value::from("completion")));
    assert!(matches!(attribute(&span, constants::CODE_LINENO), Some(Value::I64(line)) if *line > 100));
    observe.shutdown().expect("shutdown");
}

#[budobserve::instrument]
fn instrumented(user_id: u32) -> u32 {
    user_id + 1
}

#[budobserve::instrument(msg_template = "lookup {user_id:>4}")]
fn instrumented_with_spec(user_id: u32) -> u32 {
    user_id + 1
}

#[test]
fn instrumented_functions_get_their_function_and_message() {
    let capture = testing::capture();
    capture.run(|| {
        instrumented(1);
        instrumented_with_spec(2);
    });
    assert_no_marker(&capture.spans());
    let span = capture.span("Calling completion::instrumented");
    assert_eq!(message(&span), "Calling completion::instrumented");
    assert_eq!(attribute(&span, constants::CODE_FUNCTION), Some(&Value::from("instrumented")));
    let span = capture.span("lookup {user_id:>4}");
    assert_eq!(message(&span), "lookup    2");
    assert_eq!(attribute(&span, constants::CODE_FUNCTION), Some(&Value::from("instrumented_with_spec")));
}
