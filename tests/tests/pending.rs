//! `pending_span` records: sent when a span starts, to the test exporter and processors; to exporters only when
//! asked.

use std::collections::HashMap;

use budobserve::opentelemetry::Value;
use budobserve::opentelemetry::trace::SpanId;
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{self, TestExporter, attribute};
use budobserve::{BudObserve, EnvSource, bud_info, bud_span, constants};

fn span_type(span: &SpanData) -> Option<String> {
    attribute(span, constants::SPAN_TYPE).map(|v| v.as_str().into_owned())
}

#[test]
fn a_pending_record_is_sent_when_a_span_starts() {
    let capture = testing::capture_with(|b| b.pending_spans(true));
    capture.run(|| {
        let n = 1;
        let outer = bud_span!("outer {n}").entered();
        // Before anything ends, the pending record is there.
        let pending = capture.spans();
        assert_eq!(pending.len(), 1, "{pending:?}");
        let inner = bud_span!("inner").entered();
        bud_info!("a log has no pending record");
        drop(inner);
        drop(outer);
    });
    let spans = capture.spans();
    let names: Vec<(String, Option<String>)> = spans.iter().map(|s| (s.name.to_string(), span_type(s))).collect();
    assert_eq!(
        names,
        [
            ("outer {n}".to_owned(), Some("pending_span".to_owned())),
            ("inner".to_owned(), Some("pending_span".to_owned())),
            ("a log has no pending record".to_owned(), Some("log".to_owned())),
            ("inner".to_owned(), Some("span".to_owned())),
            ("outer {n}".to_owned(), Some("span".to_owned())),
        ]
    );
    let (pending_outer, pending_inner, inner, outer) = (&spans[0], &spans[1], &spans[3], &spans[4]);
    // The record hangs under the span it stands for; its pending parent is that span's parent.
    assert_eq!(pending_outer.parent_span_id, outer.span_context.span_id());
    assert_eq!(pending_outer.span_context.trace_id(), outer.span_context.trace_id());
    assert_ne!(pending_outer.span_context.span_id(), outer.span_context.span_id());
    assert_eq!(attribute(pending_outer, constants::PENDING_PARENT_ID), Some(&Value::from(SpanId::INVALID.to_string())));
    assert_eq!(pending_inner.parent_span_id, inner.span_context.span_id());
    assert_eq!(
        attribute(pending_inner, constants::PENDING_PARENT_ID),
        Some(&Value::from(outer.span_context.span_id().to_string()))
    );
    // Zero duration, at the span's start, with its message and attributes, complete.
    assert_eq!(pending_outer.start_time, outer.start_time);
    assert_eq!(pending_outer.end_time, pending_outer.start_time);
    assert_eq!(attribute(pending_outer, constants::MSG), Some(&Value::from("outer 1")));
    assert_eq!(attribute(pending_outer, "n"), Some(&Value::I64(1)));
    assert_eq!(attribute(pending_outer, constants::CODE_FILEPATH), Some(&Value::from("tests/tests/pending.rs")));
    assert!(pending_outer.attributes.iter().all(|kv| kv.key.as_str() != constants::CALLSITE));
    // The real spans carry no trace of it.
    assert_eq!(attribute(outer, constants::PENDING_PARENT_ID), None);
}

#[test]
fn off_by_default() {
    let capture = testing::capture();
    capture.run(|| drop(bud_span!("work")));
    assert_eq!(capture.spans().len(), 1);
}

fn exported(export_pending: bool) -> Vec<SpanData> {
    let exporter = TestExporter::default();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .console(false)
        .span_exporter(exporter.clone())
        .pending_spans(true)
        .export_pending_spans(export_pending)
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    budobserve::with_instance(&observe, || drop(bud_span!("work")));
    observe.force_flush().unwrap();
    exporter.spans()
}

#[test]
fn exporters_get_pending_records_only_when_asked() {
    let types = |spans: Vec<SpanData>| spans.iter().map(span_type).collect::<Vec<_>>();
    assert_eq!(types(exported(false)), [Some("span".to_owned())]);
    assert_eq!(types(exported(true)), [Some("pending_span".to_owned()), Some("span".to_owned())]);
}
