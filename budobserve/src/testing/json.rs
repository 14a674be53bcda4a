//! The exported spans as JSON, for snapshot tests: ids as numbers, times as nanoseconds, and the options that make
//! a snapshot stable across machines (code paths cut to file names, line numbers fixed, the resource included).

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Map, Value as Json, json};
use std::time::SystemTime;

use crate::constants;

/// How [`TestExporter::exported_spans_as_json_with`](super::TestExporter::exported_spans_as_json_with) writes the
/// spans.
///
/// ```
/// use budobserve::testing::{self, JsonOptions};
///
/// let capture = testing::capture();
/// capture.run(|| budobserve::bud_info!("hello"));
/// let json = capture.exported_spans_as_json_with(JsonOptions::new().strip_code_paths().fixed_line_number(123));
/// let file = json["spans"][0]["attributes"]["code.filepath"].as_str();
/// assert!(file.is_some_and(|name| name.ends_with(".rs") && !name.contains('/')), "a file name: {file:?}");
/// assert_eq!(json["spans"][0]["attributes"]["code.lineno"], 123);
/// assert_eq!(json["resource"]["service.name"], "test");
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct JsonOptions {
    strip_code_paths: bool,
    fixed_line_number: Option<i64>,
    include_resource: bool,
}

impl JsonOptions {
    /// The resource first, code paths and line numbers as exported.
    pub fn new() -> JsonOptions {
        JsonOptions { include_resource: true, ..JsonOptions::default() }
    }

    /// `code.filepath` cut to the file's name (`src/handlers/users.rs` → `users.rs`): the same on every machine
    /// and checkout.
    pub fn strip_code_paths(mut self) -> JsonOptions {
        self.strip_code_paths = true;
        self
    }

    /// `code.lineno` replaced by `line`: a snapshot that survives edits above the code.
    pub fn fixed_line_number(mut self, line: i64) -> JsonOptions {
        self.fixed_line_number = Some(line);
        self
    }

    /// Whether the output is `{"resource": {...}, "spans": [...]}` (the default) or the array of spans alone.
    pub fn include_resource(mut self, include: bool) -> JsonOptions {
        self.include_resource = include;
        self
    }
}

/// `spans` (sorted by the caller) as JSON, with `resource` when the options ask for it.
pub(super) fn spans_json(spans: &[SpanData], resource: Option<&Resource>, options: &JsonOptions) -> Json {
    let spans = Json::Array(spans.iter().map(|span| span_json(span, options)).collect());
    if !options.include_resource {
        return spans;
    }
    let mut attributes: Vec<KeyValue> =
        resource.map(|r| r.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect()).unwrap_or_default();
    attributes.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    json!({ "resource": attributes_json(&attributes), "spans": spans })
}

fn span_json(span: &SpanData, options: &JsonOptions) -> Json {
    let context = &span.span_context;
    let parent = if span.parent_span_id == SpanId::INVALID {
        Json::Null
    } else {
        json!({
            "trace_id": trace_id_json(context.trace_id()),
            "span_id": span_id_json(span.parent_span_id),
            "is_remote": span.parent_span_is_remote,
        })
    };
    let status = match &span.status {
        Status::Unset => json!({ "code": "unset" }),
        Status::Ok => json!({ "code": "ok" }),
        Status::Error { description } => json!({ "code": "error", "description": description }),
    };
    json!({
        "name": span.name,
        "context": {
            "trace_id": trace_id_json(context.trace_id()),
            "span_id": span_id_json(context.span_id()),
            "is_remote": context.is_remote(),
        },
        "parent": parent,
        "kind": format!("{:?}", span.span_kind).to_lowercase(),
        "scope": span.instrumentation_scope.name(),
        "start_time": time_json(span.start_time),
        "end_time": time_json(span.end_time),
        "attributes": code_attributes(attributes_json(&span.attributes), options),
        "events": span.events.iter().map(|event| json!({
            "name": event.name,
            "timestamp": time_json(event.timestamp),
            "attributes": attributes_json(&event.attributes),
        })).collect::<Vec<_>>(),
        "links": span.links.iter().map(|link| json!({
            "context": {
                "trace_id": trace_id_json(link.span_context.trace_id()),
                "span_id": span_id_json(link.span_context.span_id()),
                "is_remote": link.span_context.is_remote(),
            },
            "attributes": attributes_json(&link.attributes),
        })).collect::<Vec<_>>(),
        "status": status,
    })
}

/// The span's attributes with the code location as the options ask.
fn code_attributes(mut attributes: Json, options: &JsonOptions) -> Json {
    if let Json::Object(map) = &mut attributes {
        if options.strip_code_paths
            && let Some(Json::String(path)) = map.get_mut(constants::CODE_FILEPATH)
        {
            let name = path.rsplit(['/', '\\']).next().unwrap_or_default().to_owned();
            *path = name;
        }
        if let Some(line) = options.fixed_line_number
            && map.contains_key(constants::CODE_LINENO)
        {
            map.insert(constants::CODE_LINENO.to_owned(), json!(line));
        }
    }
    attributes
}

fn trace_id_json(id: TraceId) -> Json {
    let value = u128::from_be_bytes(id.to_bytes());
    match u64::try_from(value) {
        Ok(small) => json!(small),
        Err(_) => json!(id.to_string()),
    }
}

fn span_id_json(id: SpanId) -> Json {
    json!(u64::from_be_bytes(id.to_bytes()))
}

fn time_json(time: SystemTime) -> Json {
    let nanos = time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    json!(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn attributes_json(attributes: &[KeyValue]) -> Json {
    let mut map = Map::new();
    for kv in attributes {
        map.insert(kv.key.to_string(), value_json(&kv.value));
    }
    Json::Object(map)
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => json!(b),
        Value::I64(i) => json!(i),
        Value::F64(f) => json!(f),
        Value::String(s) => json!(s.as_str()),
        Value::Array(Array::Bool(items)) => json!(items),
        Value::Array(Array::I64(items)) => json!(items),
        Value::Array(Array::F64(items)) => json!(items),
        Value::Array(Array::String(items)) => {
            json!(items.iter().map(|s| s.as_str()).collect::<Vec<_>>())
        }
        other => json!(other.to_string()),
    }
}
