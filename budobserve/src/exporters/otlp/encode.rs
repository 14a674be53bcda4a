//! OTLP protobuf written straight from spans: an `ExportTraceServiceRequest` encoded into one reused buffer, with no
//! intermediate message structs (the conversion through `opentelemetry-proto` builds an owned string for every key
//! and value, then drops them all, for each span).
//!
//! The output decodes to what `opentelemetry-proto`'s conversion produces from the same spans (tested): spans grouped
//! by instrumentation scope in the order scopes first appear, the same flags, ids, kinds, status and values. A
//! nested message is written after its tag, then its length is inserted before it (a move of the message's bytes,
//! which the inner messages of a span keep short).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanContext, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// `SpanFlags`: the parent's remoteness is known, and whether it is remote.
const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
const CONTEXT_IS_REMOTE: u32 = 0x200;

/// Writes the request for `spans` of `resource` into `out` (cleared first).
pub(crate) fn traces_request(out: &mut Vec<u8>, resource: &Resource, spans: &[SpanData]) {
    out.clear();
    if spans.is_empty() {
        return;
    }
    // ExportTraceServiceRequest.resource_spans = 1
    nested(out, 1, |out| {
        // ResourceSpans.resource = 1
        nested(out, 1, |out| {
            for (key, value) in resource.iter() {
                nested(out, 1, |out| key_value(out, key.as_str(), value));
            }
        });
        let mut scopes: Vec<&InstrumentationScope> = Vec::new();
        for span in spans {
            if !scopes.contains(&&span.instrumentation_scope) {
                scopes.push(&span.instrumentation_scope);
            }
        }
        for scope in scopes {
            // ResourceSpans.scope_spans = 2
            nested(out, 2, |out| {
                nested(out, 1, |out| instrumentation_scope(out, scope));
                for span in spans.iter().filter(|span| &span.instrumentation_scope == scope) {
                    nested(out, 2, |out| self::span(out, span));
                }
                string(out, 3, scope.schema_url().unwrap_or_default());
            });
        }
        string(out, 3, resource.schema_url().unwrap_or_default());
    });
}

fn instrumentation_scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    string(out, 1, scope.name());
    string(out, 2, scope.version().unwrap_or_default());
    for kv in scope.attributes() {
        nested(out, 3, |out| key_value(out, kv.key.as_str(), &kv.value));
    }
}

fn span(out: &mut Vec<u8>, span: &SpanData) {
    let context = &span.span_context;
    bytes(out, 1, &context.trace_id().to_bytes());
    bytes(out, 2, &context.span_id().to_bytes());
    trace_state(out, 3, context);
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        bytes(out, 4, &span.parent_span_id.to_bytes());
    }
    string(out, 5, &span.name);
    uint(out, 6, kind(&span.span_kind));
    fixed64(out, 7, nanos(span.start_time));
    fixed64(out, 8, nanos(span.end_time));
    attributes(out, 9, &span.attributes);
    uint(out, 10, u64::from(span.dropped_attributes_count));
    for event in &span.events.events {
        nested(out, 11, |out| {
            fixed64(out, 1, nanos(event.timestamp));
            string(out, 2, &event.name);
            attributes(out, 3, &event.attributes);
            uint(out, 4, u64::from(event.dropped_attributes_count));
        });
    }
    uint(out, 12, u64::from(span.events.dropped_count));
    for link in &span.links.links {
        nested(out, 13, |out| {
            let linked = &link.span_context;
            bytes(out, 1, &linked.trace_id().to_bytes());
            bytes(out, 2, &linked.span_id().to_bytes());
            trace_state(out, 3, linked);
            attributes(out, 4, &link.attributes);
            uint(out, 5, u64::from(link.dropped_attributes_count));
            fixed32(out, 6, flags(linked.is_remote(), linked));
        });
    }
    uint(out, 14, u64::from(span.links.dropped_count));
    // Always present, as the SDK's conversion writes it (an unset status is an empty message).
    nested(out, 15, |out| match &span.status {
        Status::Unset => {}
        Status::Ok => uint(out, 3, 1),
        Status::Error { description } => {
            string(out, 2, description);
            uint(out, 3, 2);
        }
    });
    fixed32(out, 16, flags(span.parent_span_is_remote, context));
}

fn flags(remote: bool, context: &SpanContext) -> u32 {
    let mut flags = u32::from(context.trace_flags().to_u8()) | CONTEXT_HAS_IS_REMOTE;
    if remote {
        flags |= CONTEXT_IS_REMOTE;
    }
    flags
}

fn trace_state(out: &mut Vec<u8>, field: u32, context: &SpanContext) {
    let state = context.trace_state();
    if *state != opentelemetry::trace::TraceState::NONE {
        string(out, field, &state.header());
    }
}

fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64)
}

fn attributes(out: &mut Vec<u8>, field: u32, attributes: &[KeyValue]) {
    for kv in attributes {
        nested(out, field, |out| key_value(out, kv.key.as_str(), &kv.value));
    }
}

/// `KeyValue`: the key, and the value (always present).
fn key_value(out: &mut Vec<u8>, key: &str, value: &Value) {
    string(out, 1, key);
    nested(out, 2, |out| any_value(out, value));
}

/// The fields of an `AnyValue`.
fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(text) => force_string(out, 1, text.as_str()),
        Value::Bool(flag) => {
            tag(out, 2, VARINT);
            varint(out, u64::from(*flag));
        }
        Value::I64(number) => {
            tag(out, 3, VARINT);
            varint(out, *number as u64);
        }
        Value::F64(number) => {
            tag(out, 4, FIXED64);
            out.extend_from_slice(&number.to_le_bytes());
        }
        Value::Array(array) => nested(out, 5, |out| match array {
            Array::Bool(items) => {
                items.iter().for_each(|item| nested(out, 1, |out| any_value(out, &Value::Bool(*item))))
            }
            Array::I64(items) => items.iter().for_each(|item| nested(out, 1, |out| any_value(out, &Value::I64(*item)))),
            Array::F64(items) => items.iter().for_each(|item| nested(out, 1, |out| any_value(out, &Value::F64(*item)))),
            Array::String(items) => {
                items.iter().for_each(|item| nested(out, 1, |out| force_string(out, 1, item.as_str())));
            }
            // A kind of array added to the API later: its text, rather than nothing.
            other => items_as_text(out, other),
        }),
        // A kind of value added to the API later: its text.
        other => force_string(out, 1, &other.to_string()),
    }
}

#[cold]
fn items_as_text(out: &mut Vec<u8>, array: &Array) {
    nested(out, 1, |out| force_string(out, 1, &array.to_string()));
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire)));
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A scalar field, left out when zero (proto3's default).
fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, VARINT);
        varint(out, value);
    }
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, FIXED64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, FIXED32);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// A string field, left out when empty (proto3's default).
fn string(out: &mut Vec<u8>, field: u32, text: &str) {
    if !text.is_empty() {
        force_string(out, field, text);
    }
}

/// A string field written even when empty: a member of a `oneof` is present by being written.
fn force_string(out: &mut Vec<u8>, field: u32, text: &str) {
    bytes_always(out, field, text.as_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    if !data.is_empty() {
        bytes_always(out, field, data);
    }
}

fn bytes_always(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    tag(out, field, LEN);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// A nested message: its tag, then what `write` appends, then its length inserted between the two.
fn nested(out: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
    tag(out, field, LEN);
    let start = out.len();
    write(out);
    let len = out.len() - start;
    if len < 0x80 {
        out.insert(start, len as u8);
        return;
    }
    let mut prefix = [0_u8; 10];
    let mut used = 0;
    let mut rest = len as u64;
    while rest >= 0x80 {
        prefix[used] = (rest as u8) | 0x80;
        rest >>= 7;
        used += 1;
    }
    prefix[used] = rest as u8;
    out.splice(start..start, prefix[..=used].iter().copied());
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use opentelemetry::trace::{Event, Link, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry::{KeyValue, StringValue};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message as _;

    use super::*;

    fn context(trace: u128, span: u64, flags: u8, remote: bool, state: &str) -> SpanContext {
        let state = if state.is_empty() {
            TraceState::NONE
        } else {
            TraceState::from_key_value([("vendor", state)]).unwrap_or_default()
        };
        SpanContext::new(TraceId::from(trace), SpanId::from(span), TraceFlags::new(flags), remote, state)
    }

    /// Every kind of value, with lengths that take one, two and three length bytes, and text that is not ASCII.
    fn values() -> Vec<KeyValue> {
        vec![
            KeyValue::new("text", "user 42 logged in"),
            KeyValue::new("empty", ""),
            KeyValue::new("unicode", "naïve — 東京 🚀"),
            KeyValue::new("long", "x".repeat(200)),
            KeyValue::new("longer", "y".repeat(20_000)),
            KeyValue::new("yes", true),
            KeyValue::new("no", false),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("negative", -42_i64),
            KeyValue::new("max", i64::MAX),
            KeyValue::new("min", i64::MIN),
            KeyValue::new("ratio", 0.5),
            KeyValue::new("zero.float", 0.0),
            KeyValue::new("infinite", f64::INFINITY),
            KeyValue::new("tags", Value::Array(Array::String(vec![StringValue::from("a"), StringValue::from("")]))),
            KeyValue::new("ints", Value::Array(Array::I64(vec![1, -2, 0]))),
            KeyValue::new("floats", Value::Array(Array::F64(vec![1.5, -0.25]))),
            KeyValue::new("flags", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("none", Value::Array(Array::I64(Vec::new()))),
            KeyValue::new("", "an empty key"),
        ]
    }

    fn span(n: u64, scope: &InstrumentationScope) -> SpanData {
        let start = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789 + n);
        let mut events = SpanEvents::default();
        let mut links = SpanLinks::default();
        if n.is_multiple_of(2) {
            events.events.push(Event::new("exception", start, vec![KeyValue::new("exception.message", "boom")], 1));
            events.events.push(Event::new(Cow::Borrowed(""), UNIX_EPOCH, Vec::new(), 0));
            events.dropped_count = 3;
            links.links.push(Link::new(context(7, 8, 1, true, "linked"), vec![KeyValue::new("reason", "batch")], 2));
            links.links.push(Link::new(context(9, 10, 0, false, ""), Vec::new(), 0));
            links.dropped_count = 1;
        }
        SpanData {
            span_context: context(
                u128::from(n) << 64 | 0xabc,
                n + 1,
                (n % 2) as u8,
                false,
                if n.is_multiple_of(3) { "s" } else { "" },
            ),
            parent_span_id: if n.is_multiple_of(4) { SpanId::INVALID } else { SpanId::from(n + 100) },
            parent_span_is_remote: n % 4 == 1,
            span_kind: [SpanKind::Internal, SpanKind::Server, SpanKind::Client, SpanKind::Producer, SpanKind::Consumer]
                [(n % 5) as usize]
                .clone(),
            name: if n == 5 { Cow::Borrowed("") } else { Cow::Owned(format!("span {n}")) },
            start_time: start,
            end_time: start + Duration::from_micros(n * 37),
            attributes: if n.is_multiple_of(2) { values() } else { vec![KeyValue::new("n", n as i64)] },
            dropped_attributes_count: (n % 3) as u32,
            events,
            links,
            status: match n % 3 {
                0 => Status::Unset,
                1 => Status::Ok,
                _ => Status::error(format!("failed {n}")),
            },
            instrumentation_scope: scope.clone(),
        }
    }

    #[test]
    fn the_request_decodes_to_what_opentelemetry_proto_converts() {
        let resource = Resource::builder_empty()
            .with_schema_url([KeyValue::new("service.name", "budapp")], "https://opentelemetry.io/schemas/1.26.0")
            .with_attribute(KeyValue::new("deployment.environment.name", "prod"))
            .build();
        let scopes = [
            InstrumentationScope::builder("budobserve").with_version("0.1.0").build(),
            InstrumentationScope::builder("budapp.client")
                .with_schema_url("https://example.com/schema")
                .with_attributes([KeyValue::new("scope.kind", "client")])
                .build(),
            InstrumentationScope::builder("").build(),
        ];
        // Scopes interleaved: grouped by scope, in the order each first appears.
        let spans: Vec<SpanData> = (0..24).map(|n| span(n, &scopes[(n % 3) as usize])).collect();
        let mut out = Vec::new();
        traces_request(&mut out, &resource, &spans);
        let ours = ExportTraceServiceRequest::decode(out.as_slice()).unwrap_or_default();
        let theirs = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans.clone(), &(&resource).into()),
        };
        assert_eq!(ours, theirs);
        assert_eq!(ours.resource_spans[0].scope_spans.len(), 3);
        assert_eq!(ours.resource_spans[0].scope_spans[0].spans.len(), 8);
        // The buffer is reused: a second, smaller request replaces the first.
        traces_request(&mut out, &resource, &spans[..1]);
        let one = ExportTraceServiceRequest::decode(out.as_slice()).unwrap_or_default();
        assert_eq!(one.resource_spans[0].scope_spans[0].spans.len(), 1);
        traces_request(&mut out, &resource, &[]);
        assert!(out.is_empty());
    }
}
