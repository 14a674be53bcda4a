//! The log and span macros: templates, values, options, the minimum level.

use std::cell::Cell;
use std::collections::BTreeMap;

use budobserve::opentelemetry::trace::SpanId;
use budobserve::opentelemetry::{Array, StringValue, Value};
use budobserve::testing::{self, attribute};
use budobserve::{KeyValue, Level, bud_debug, bud_error, bud_info, bud_log, bud_span, bud_warn};
use serde::Serialize;

#[derive(Serialize)]
struct Order {
    id: u64,
    items: Vec<String>,
    total: f64,
}

#[derive(Debug)]
#[allow(dead_code, reason = "read through Debug")]
struct Opaque {
    code: u16,
}

fn string(s: &str) -> Value {
    Value::String(StringValue::from(s.to_owned()))
}

#[test]
fn implicit_capture_named_arguments_and_field_paths() {
    let capture = testing::capture();
    let user_id = 42;
    let order = Order { id: 7, items: vec!["gpu".into()], total: 9.5 };
    let used = 93.5_f64;
    capture.run(|| bud_info!("user {user_id} paid order {order.id} ({pct:.1}%)", pct = used, extra = "yes"));

    let span = capture.assert_has_span(
        "user {user_id} paid order {order.id} ({pct:.1}%)",
        &[
            KeyValue::new("budobserve_msg", "user 42 paid order 7 (93.5%)"),
            KeyValue::new("budobserve_msg_template", "user {user_id} paid order {order.id} ({pct:.1}%)"),
            KeyValue::new("budobserve_span_type", "log"),
            KeyValue::new("budobserve_level_num", 9),
            KeyValue::new("user_id", 42),
            KeyValue::new("order.id", 7),
            KeyValue::new("pct", 93.5),
            KeyValue::new("extra", "yes"),
        ],
    );
    assert_eq!(attribute(&span, "code.filepath"), Some(&string("tests/tests/macro_logs.rs")));
    assert!(matches!(attribute(&span, "code.lineno"), Some(Value::I64(line)) if *line > 30));
    assert_eq!(attribute(&span, "code.namespace"), Some(&string("macro_logs")));
    // The whole order is not an attribute: the template only reads a field of it.
    assert_eq!(attribute(&span, "order"), None);
}

#[test]
fn echo_specs_debug_and_braces() {
    let capture = testing::capture();
    let model = "llama-3";
    let latency = 0.123456_f64;
    let opaque = Opaque { code: 503 };
    let id = 255_u32;
    capture.run(|| bud_warn!("{model=} took {latency:.3}s {{literal}} {opaque:?} {id:#x} {id:>5}"));
    capture.assert_has_span(
        "{model=} took {latency:.3}s {{literal}} {opaque:?} {id:#x} {id:>5}",
        &[
            KeyValue::new("budobserve_msg", "model=llama-3 took 0.123s {literal} Opaque { code: 503 } 0xff   255"),
            KeyValue::new("model", "llama-3"),
            KeyValue::new("latency", 0.123456),
            KeyValue::new("opaque", "Opaque { code: 503 }"),
            KeyValue::new("id", 255),
            KeyValue::new("budobserve_level_num", 13),
        ],
    );
}

#[test]
fn json_values_arrays_options_and_shorthand() {
    let capture = testing::capture();
    let order = Order { id: 7, items: vec!["gpu".into(), "ram".into()], total: 9.5 };
    let scores = vec![1.5, 2.5];
    let tags = ["a", "b"];
    let missing: Option<u32> = None;
    let present: Option<u32> = Some(3);
    let labels: BTreeMap<&str, &str> = [("team", "llm")].into();
    capture.run(|| bud_info!("order {order} with {missing} and {present}", scores, tags, labels));

    let span = capture.assert_has_span(
        "order {order} with {missing} and {present}",
        &[
            KeyValue::new("budobserve_msg", r#"order {"id":7,"items":["gpu","ram"],"total":9.5} with None and 3"#),
            KeyValue::new("order", r#"{"id":7,"items":["gpu","ram"],"total":9.5}"#),
            KeyValue::new("present", 3),
            KeyValue::new("scores", Value::Array(Array::F64(vec![1.5, 2.5]))),
            KeyValue::new("tags", Value::Array(Array::String(vec!["a".into(), "b".into()]))),
            KeyValue::new("labels", r#"{"team":"llm"}"#),
        ],
    );
    assert_eq!(attribute(&span, "missing"), None, "None is recorded as absent");
    let schema: serde_json::Value =
        serde_json::from_str(&attribute(&span, "budobserve_json_schema").expect("schema").as_str()).expect("json");
    assert_eq!(
        schema,
        serde_json::json!({"type": "object", "properties": {
            "order": {"type": "object", "properties": {
                "id": {"type": "integer"},
                "items": {"type": "array", "items": {"type": "string"}},
                "total": {"type": "number"}
            }},
            // A map's keys are data: the schema gives the type of its values, never its keys.
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
        }})
    );
}

#[test]
fn levels_tags_and_explicit_instance() {
    let capture = testing::capture();
    let obs = capture.observe();
    bud_debug!(obs => "debug via instance");
    bud_error!(obs => "error with tags", _tags = ["billing", "urgent"]);
    let level = Level::Notice;
    bud_log!(obs => level, "dynamic level {n}", n = 1);
    capture.run(|| bud_log!(Level::Fatal, "fatal via current"));

    capture.assert_has_span("debug via instance", &[KeyValue::new("budobserve_level_num", 5)]);
    capture.assert_has_span(
        "error with tags",
        &[
            KeyValue::new("budobserve_level_num", 17),
            KeyValue::new("budobserve_tags", Value::Array(Array::String(vec!["billing".into(), "urgent".into()]))),
        ],
    );
    capture.assert_has_span("dynamic level {n}", &[KeyValue::new("budobserve_level_num", 10)]);
    capture.assert_has_span("fatal via current", &[KeyValue::new("budobserve_level_num", 21)]);
}

#[test]
fn spans_with_name_level_parent_and_links() {
    let capture = testing::capture();
    let obs = capture.observe();
    let count = 3;
    let other = bud_span!(obs => "other");
    let other_context = other.span_context().clone();
    drop(other);
    let parent = bud_span!(obs => "parent");
    {
        let _span = bud_span!(obs => "processing {count} items", _span_name = "processing", _level = "debug",
            _parent = &parent, _links = [&other_context], _tags = ["batch"])
        .entered();
        bud_info!(obs => "inside");
    }
    let parent_id = parent.span_context().span_id();
    drop(parent);
    let span = capture.assert_has_span(
        "processing",
        &[
            KeyValue::new("budobserve_msg_template", "processing {count} items"),
            KeyValue::new("budobserve_msg", "processing 3 items"),
            KeyValue::new("budobserve_span_type", "span"),
            KeyValue::new("budobserve_level_num", 5),
            KeyValue::new("count", 3),
        ],
    );
    assert_eq!(span.parent_span_id, parent_id);
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.links[0].span_context, other_context);
    assert_eq!(capture.span("inside").parent_span_id, span.span_context.span_id());
    assert_ne!(span.parent_span_id, SpanId::INVALID);
}

#[test]
fn a_disabled_log_evaluates_no_argument() {
    // The rule: below the minimum level, a macro evaluates none of its arguments — named arguments, captured
    // variables and extra attributes alike — and formats and allocates nothing.
    let capture = testing::capture_with(|b| b.min_level(Level::Info));
    let evaluations = Cell::new(0);
    let expensive = || {
        evaluations.set(evaluations.get() + 1);
        "expensive"
    };
    capture.run(|| {
        bud_debug!("value {v}", v = expensive(), also = expensive());
        let span = bud_span!("span {v}", v = expensive(), _level = "debug");
        assert!(!span.is_recording());
    });
    assert_eq!(evaluations.get(), 0);
    assert!(capture.spans().is_empty());

    capture.run(|| bud_info!("value {v}", v = expensive()));
    assert_eq!(evaluations.get(), 1, "an enabled log evaluates each argument once");
}

#[test]
fn arguments_are_evaluated_once_even_when_used_twice() {
    let capture = testing::capture();
    let evaluations = Cell::new(0);
    let next = || {
        evaluations.set(evaluations.get() + 1);
        evaluations.get()
    };
    capture.run(|| bud_info!("{n} and again {n} and {n:?}", n = next()));
    assert_eq!(evaluations.get(), 1);
    capture.assert_has_span("{n} and again {n} and {n:?}", &[KeyValue::new("budobserve_msg", "1 and again 1 and 1")]);
}

#[test]
fn question_mark_works_inside_arguments() {
    fn parse(text: &str) -> Result<i64, std::num::ParseIntError> {
        let capture = testing::capture();
        capture.run(|| -> Result<(), std::num::ParseIntError> {
            bud_info!("parsed {value}", value = text.parse::<i64>()?);
            Ok(())
        })?;
        capture.assert_has_span("parsed {value}", &[KeyValue::new("value", 12)]);
        Ok(12)
    }
    assert_eq!(parse("12").ok(), Some(12));
    assert!(parse("x").is_err());
}

struct Address(&'static str);

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tcp://{}", self.0)
    }
}

#[test]
fn display_only_values_are_recorded_as_their_text() {
    let capture = testing::capture();
    let peer = Address("10.0.0.7:9000");
    let err = std::io::Error::other("connection reset");
    capture.run(|| bud_warn!("lost {peer}: {err}", upstream = Address("10.0.0.8:80")));
    capture.assert_has_span(
        "lost {peer}: {err}",
        &[
            KeyValue::new("budobserve_msg", "lost tcp://10.0.0.7:9000: connection reset"),
            KeyValue::new("peer", "tcp://10.0.0.7:9000"),
            KeyValue::new("err", "connection reset"),
            KeyValue::new("upstream", "tcp://10.0.0.8:80"),
        ],
    );
}
