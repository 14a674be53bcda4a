//! Spans as `otel_traces` rows: `RowBinaryWithNamesAndTypes` and `JSONEachRow`, with attribute values as the
//! collector stringifies them (pdata's `AsString`) and kinds and status codes as its generation names them.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;

use super::layout::Layout;
use super::wire::{write_string, write_varint};
use crate::constants;

/// The resource's columns, encoded once per resource.
#[derive(Debug, Default)]
pub(super) struct ResourceColumns {
    service_name: String,
    /// `ResourceAttributes` as a RowBinary map.
    binary: Vec<u8>,
    /// `ResourceAttributes` as a JSON object.
    json: String,
}

impl ResourceColumns {
    pub(super) fn new(resource: &Resource) -> ResourceColumns {
        let mut attributes: Vec<(&str, &Value)> = resource.iter().map(|(key, value)| (key.as_str(), value)).collect();
        attributes.sort_by_key(|(key, _)| *key);
        let mut scratch = String::new();
        let mut binary = Vec::new();
        write_varint(&mut binary, attributes.len());
        let mut json = String::from("{");
        for (i, (key, value)) in attributes.iter().enumerate() {
            scratch.clear();
            stringify(&mut scratch, value);
            write_string(&mut binary, key);
            write_string(&mut binary, &scratch);
            if i > 0 {
                json.push(',');
            }
            json_string(&mut json, key);
            json.push(':');
            json_string(&mut json, &scratch);
        }
        json.push('}');
        let service_name = resource
            .get(&opentelemetry::Key::from_static_str(constants::SERVICE_NAME))
            .map(|value| value.as_str().into_owned())
            .unwrap_or_default();
        ResourceColumns { service_name, binary, json }
    }
}

/// The span's values that are not plain fields, computed once for either format.
struct Row<'a> {
    trace_id: [u8; 32],
    span_id: [u8; 16],
    parent_id: Option<[u8; 16]>,
    trace_state: String,
    kind: &'static str,
    status: (&'static str, &'a str),
    duration: u64,
}

impl<'a> Row<'a> {
    fn new(span: &'a SpanData, layout: &Layout) -> Row<'a> {
        let context = &span.span_context;
        Row {
            trace_id: hex_trace_id(context.trace_id()),
            span_id: hex_span_id(context.span_id()),
            parent_id: (span.parent_span_id != SpanId::INVALID).then(|| hex_span_id(span.parent_span_id)),
            trace_state: context.trace_state().header(),
            kind: layout.generation.span_kind(&span.span_kind),
            status: (
                layout.generation.status_code(&span.status),
                match &span.status {
                    Status::Error { description } => description.as_ref(),
                    Status::Unset | Status::Ok => "",
                },
            ),
            duration: span.end_time.duration_since(span.start_time).map_or(0, |d| d.as_nanos() as u64),
        }
    }

    fn parent_id(&self) -> &str {
        self.parent_id.as_ref().map_or("", |id| ascii(id))
    }
}

pub(super) fn encode_row_binary(
    spans: &[SpanData],
    resource: &ResourceColumns,
    layout: &Layout,
    scratch: &mut String,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&layout.header);
    for span in spans {
        let row = Row::new(span, layout);
        out.extend_from_slice(&(unix_nanos(span.start_time) / layout.time_unit).to_le_bytes());
        write_string(out, ascii(&row.trace_id));
        write_string(out, ascii(&row.span_id));
        write_string(out, row.parent_id());
        write_string(out, &row.trace_state);
        write_string(out, &span.name);
        write_string(out, row.kind);
        write_string(out, &resource.service_name);
        out.extend_from_slice(&resource.binary);
        write_string(out, span.instrumentation_scope.name());
        write_string(out, span.instrumentation_scope.version().unwrap_or(""));
        binary_map(out, scratch, &span.attributes);
        out.extend_from_slice(&row.duration.to_le_bytes());
        write_string(out, row.status.0);
        write_string(out, row.status.1);
        let events = &span.events.events;
        write_varint(out, events.len());
        for event in events {
            out.extend_from_slice(&(unix_nanos(event.timestamp) / layout.event_time_unit).to_le_bytes());
        }
        write_varint(out, events.len());
        for event in events {
            write_string(out, &event.name);
        }
        write_varint(out, events.len());
        for event in events {
            binary_map(out, scratch, &event.attributes);
        }
        let links = &span.links.links;
        write_varint(out, links.len());
        for link in links {
            write_string(out, ascii(&hex_trace_id(link.span_context.trace_id())));
        }
        write_varint(out, links.len());
        for link in links {
            write_string(out, ascii(&hex_span_id(link.span_context.span_id())));
        }
        write_varint(out, links.len());
        for link in links {
            write_string(out, &link.span_context.trace_state().header());
        }
        write_varint(out, links.len());
        for link in links {
            binary_map(out, scratch, &link.attributes);
        }
    }
}

pub(super) fn encode_json(
    spans: &[SpanData],
    resource: &ResourceColumns,
    layout: &Layout,
    scratch: &mut String,
    out: &mut Vec<u8>,
) {
    let mut line = String::with_capacity(1024);
    for span in spans {
        let row = Row::new(span, layout);
        line.clear();
        line.push_str("{\"Timestamp\":");
        json_time(&mut line, span.start_time);
        json_field(&mut line, "TraceId", ascii(&row.trace_id));
        json_field(&mut line, "SpanId", ascii(&row.span_id));
        json_field(&mut line, "ParentSpanId", row.parent_id());
        json_field(&mut line, "TraceState", &row.trace_state);
        json_field(&mut line, "SpanName", &span.name);
        json_field(&mut line, "SpanKind", row.kind);
        json_field(&mut line, "ServiceName", &resource.service_name);
        line.push_str(",\"ResourceAttributes\":");
        line.push_str(&resource.json);
        json_field(&mut line, "ScopeName", span.instrumentation_scope.name());
        json_field(&mut line, "ScopeVersion", span.instrumentation_scope.version().unwrap_or(""));
        line.push_str(",\"SpanAttributes\":");
        json_map(&mut line, scratch, &span.attributes);
        let _ = write!(line, ",\"Duration\":{}", row.duration);
        json_field(&mut line, "StatusCode", row.status.0);
        json_field(&mut line, "StatusMessage", row.status.1);
        let events = &span.events.events;
        json_array(&mut line, "Events.Timestamp", events, |line, event| json_time(line, event.timestamp));
        json_array(&mut line, "Events.Name", events, |line, event| json_string(line, &event.name));
        json_array(&mut line, "Events.Attributes", events, |line, event| {
            json_map(line, scratch, &event.attributes);
        });
        let links = &span.links.links;
        json_array(&mut line, "Links.TraceId", links, |line, link| {
            json_string(line, ascii(&hex_trace_id(link.span_context.trace_id())));
        });
        json_array(&mut line, "Links.SpanId", links, |line, link| {
            json_string(line, ascii(&hex_span_id(link.span_context.span_id())));
        });
        json_array(&mut line, "Links.TraceState", links, |line, link| {
            json_string(line, &link.span_context.trace_state().header());
        });
        json_array(&mut line, "Links.Attributes", links, |line, link| json_map(line, scratch, &link.attributes));
        line.push_str("}\n");
        out.extend_from_slice(line.as_bytes());
    }
}

fn unix_nanos(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [b'0'; N];
    for (i, byte) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(byte >> 4)];
        out[2 * i + 1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

fn hex_trace_id(id: TraceId) -> [u8; 32] {
    hex_into(&id.to_bytes())
}

fn hex_span_id(id: SpanId) -> [u8; 16] {
    hex_into(&id.to_bytes())
}

/// Hex digits as text (they are ASCII by construction).
fn ascii(hex: &[u8]) -> &str {
    std::str::from_utf8(hex).unwrap_or_default()
}

/// A value as the collector stringifies it (pdata's `AsString`).
fn stringify(out: &mut String, value: &Value) {
    match value {
        Value::String(text) => out.push_str(text.as_str()),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::I64(number) => {
            let _ = write!(out, "{number}");
        }
        Value::F64(number) if number.is_finite() => float(out, *number),
        Value::F64(number) => {
            // pdata's text for what JSON cannot hold, Go's `FormatFloat(f, 'g', -1, 64)` of it.
            let name = if number.is_nan() {
                "NaN"
            } else if *number > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            };
            let _ = write!(out, "json: unsupported value: {name}");
        }
        Value::Array(array) => go_json_array(out, array),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// A finite double as Go's `encoding/json` writes it (and pdata's `AsString`, which follows it): the shortest
/// decimal that reads back, with an exponent below 1e-6 and from 1e21, signed and unpadded (`5e-7`, `1e+21`).
fn float(out: &mut String, number: f64) {
    let magnitude = number.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let start = out.len();
        // Rust's `{:e}` is the same shortest mantissa, its exponent unpadded and unsigned when positive.
        let _ = write!(out, "{number:e}");
        if let Some(e) = out[start..].find('e')
            && !out[start + e + 1..].starts_with('-')
        {
            out.insert(start + e + 1, '+');
        }
    } else {
        let _ = write!(out, "{number}");
    }
}

/// An array as pdata's `AsString` writes it: Go's `json.Marshal` of its values. A value JSON cannot hold (NaN,
/// an infinity) fails the whole marshalling, and pdata then writes nothing.
fn go_json_array(out: &mut String, array: &Array) {
    let start = out.len();
    out.push('[');
    match array {
        Array::Bool(values) => join(out, values, |out, v| out.push_str(if *v { "true" } else { "false" })),
        Array::I64(values) => join(out, values, |out, v| {
            let _ = write!(out, "{v}");
        }),
        Array::F64(values) if values.iter().all(|v| v.is_finite()) => join(out, values, |out, v| float(out, *v)),
        Array::F64(_) => {
            out.truncate(start);
            return;
        }
        Array::String(values) => join(out, values, |out, v| go_json_string(out, v.as_str())),
        other => {
            out.truncate(start);
            let _ = write!(out, "{other}");
            return;
        }
    }
    out.push(']');
}

fn join<T>(out: &mut String, values: &[T], mut write: impl FnMut(&mut String, &T)) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, value);
    }
}

/// `text` as a JSON string, as ClickHouse reads it (`JSONEachRow`).
fn json_string(out: &mut String, text: &str) {
    escape_json(out, text, false);
}

/// `text` as a JSON string as Go's `encoding/json` writes it (pdata's array values): also HTML-safe (`<`, `>`, `&`
/// escaped), the line and paragraph separators escaped, `\b` and `\f` short (Go 1.22 and later).
fn go_json_string(out: &mut String, text: &str) {
    escape_json(out, text, true);
}

/// One JSON string escaper for both: copies runs of plain bytes, escapes the rest.
fn escape_json(out: &mut String, text: &str, go: bool) {
    out.push('"');
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let byte = bytes[i];
        // The escape, and how many bytes it replaces.
        let (short, unicode, len) = match byte {
            b'"' => ("\\\"", 0, 1),
            b'\\' => ("\\\\", 0, 1),
            b'\n' => ("\\n", 0, 1),
            b'\r' => ("\\r", 0, 1),
            b'\t' => ("\\t", 0, 1),
            0x08 if go => ("\\b", 0, 1),
            0x0c if go => ("\\f", 0, 1),
            0..=0x1f => ("", u32::from(byte), 1),
            b'<' | b'>' | b'&' if go => ("", u32::from(byte), 1),
            // U+2028 and U+2029, in UTF-8.
            0xe2 if go && bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) => {
                ("", 0x2000 + u32::from(bytes[i + 2] - 0x80), 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&text[start..i]);
        if short.is_empty() {
            let _ = write!(out, "\\u{unicode:04x}");
        } else {
            out.push_str(short);
        }
        i += len;
        start = i;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

fn json_field(out: &mut String, name: &str, value: &str) {
    out.push(',');
    json_string(out, name);
    out.push(':');
    json_string(out, value);
}

/// A time as the number `seconds.nanoseconds`, which ClickHouse reads into `DateTime64(9)` exactly (a quoted one
/// would be parsed as a date text, an integer as seconds).
fn json_time(out: &mut String, time: SystemTime) {
    let nanos = unix_nanos(time);
    let _ = write!(out, "{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
}

fn json_map(out: &mut String, scratch: &mut String, attributes: &[KeyValue]) {
    out.push('{');
    for (i, attribute) in attributes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, attribute.key.as_str());
        out.push(':');
        match &attribute.value {
            Value::String(text) => json_string(out, text.as_str()),
            value => {
                scratch.clear();
                stringify(scratch, value);
                json_string(out, scratch);
            }
        }
    }
    out.push('}');
}

fn json_array<T>(out: &mut String, name: &str, items: &[T], mut write: impl FnMut(&mut String, &T)) {
    out.push(',');
    json_string(out, name);
    out.push_str(":[");
    join(out, items, |out, item| write(out, item));
    out.push(']');
}

fn binary_map(out: &mut Vec<u8>, scratch: &mut String, attributes: &[KeyValue]) {
    write_varint(out, attributes.len());
    for attribute in attributes {
        write_string(out, attribute.key.as_str());
        match &attribute.value {
            Value::String(text) => write_string(out, text.as_str()),
            value => {
                scratch.clear();
                stringify(scratch, value);
                write_string(out, scratch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Value) -> String {
        let mut out = String::new();
        stringify(&mut out, &value);
        out
    }

    #[test]
    fn values_are_stringified_as_the_collector_does() {
        assert_eq!(text(Value::from("plain \"text\" <b>")), "plain \"text\" <b>");
        assert_eq!(text(Value::Bool(true)), "true");
        assert_eq!(text(Value::Bool(false)), "false");
        assert_eq!(text(Value::I64(-42)), "-42");
        assert_eq!(text(Value::F64(1.5)), "1.5");
        assert_eq!(text(Value::F64(3.0)), "3");
        assert_eq!(text(Value::F64(-0.0)), "-0");
        assert_eq!(text(Value::F64(0.000001)), "0.000001");
        assert_eq!(text(Value::F64(5e-7)), "5e-7");
        assert_eq!(text(Value::F64(-1.5e-10)), "-1.5e-10");
        assert_eq!(text(Value::F64(2.5e-300)), "2.5e-300");
        assert_eq!(text(Value::F64(1.2345678901234568e20)), "123456789012345680000");
        assert_eq!(text(Value::F64(1e21)), "1e+21");
        assert_eq!(text(Value::F64(-1.7976931348623157e308)), "-1.7976931348623157e+308");
        assert_eq!(text(Value::F64(f64::NAN)), "json: unsupported value: NaN");
        assert_eq!(text(Value::F64(f64::INFINITY)), "json: unsupported value: +Inf");
        assert_eq!(text(Value::F64(f64::NEG_INFINITY)), "json: unsupported value: -Inf");
        assert_eq!(text(Value::Array(Array::String(vec!["a".into(), "b\"c".into()]))), r#"["a","b\"c"]"#);
        assert_eq!(
            text(Value::Array(Array::String(vec!["<a&b>\u{8}\u{c}\u{1b}\u{2028}é".into()]))),
            r#"["\u003ca\u0026b\u003e\b\f\u001b\u2028é"]"#
        );
        assert_eq!(text(Value::Array(Array::I64(vec![1, 2]))), "[1,2]");
        assert_eq!(text(Value::Array(Array::Bool(vec![true, false]))), "[true,false]");
        assert_eq!(text(Value::Array(Array::F64(vec![0.5, 2.0, 5e-7, 1e21]))), "[0.5,2,5e-7,1e+21]");
        assert_eq!(text(Value::Array(Array::F64(vec![0.5, f64::NAN]))), "");
        assert_eq!(text(Value::Array(Array::String(vec![]))), "[]");
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\nd\u{1}é<&>\u{2028}");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é<&>\u{2028}\"", "only what JSON needs, for ClickHouse");
        assert_eq!(serde_json::from_str::<String>(&out).ok().as_deref(), Some("a\"b\\c\nd\u{1}é<&>\u{2028}"));
        let mut go = String::new();
        go_json_string(&mut go, "a\"b<&>\u{2028}\u{2029}\u{2027}€\u{8}");
        // U+2027 shares U+2028's first two UTF-8 bytes and is left as it is, as Go leaves it.
        assert_eq!(go, "\"a\\\"b\\u003c\\u0026\\u003e\\u2028\\u2029\u{2027}€\\b\"");
        assert_eq!(serde_json::from_str::<String>(&go).ok().as_deref(), Some("a\"b<&>\u{2028}\u{2029}\u{2027}€\u{8}"));
    }
}
