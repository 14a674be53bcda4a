//! What a request asks for: its parameters and messages.

use opentelemetry::{Array, KeyValue, StringValue, Value};
use serde_json::Value as Json;

use super::api::Api;
use crate::constants::gen_ai as keys;

/// The request's parameters and messages.
pub(super) fn attributes(body: &Json, api: Api, record_content: bool, attributes: &mut Vec<KeyValue>) {
    if let Some(t) = body.get("temperature").and_then(Json::as_f64) {
        attributes.push(KeyValue::new(keys::REQUEST_TEMPERATURE, t));
    }
    if let Some(p) = body.get("top_p").and_then(Json::as_f64) {
        attributes.push(KeyValue::new(keys::REQUEST_TOP_P, p));
    }
    let max_tokens =
        body.get("max_tokens").or_else(|| body.get("max_completion_tokens")).or_else(|| body.get("max_output_tokens"));
    if let Some(m) = max_tokens.and_then(Json::as_i64) {
        attributes.push(KeyValue::new(keys::REQUEST_MAX_TOKENS, m));
    }
    if let Some(seed) = body.get("seed").and_then(Json::as_i64) {
        attributes.push(KeyValue::new(keys::REQUEST_SEED, seed));
    }
    let stop = body.get("stop").or_else(|| body.get("stop_sequences"));
    let stops: Vec<StringValue> = match stop {
        Some(Json::String(s)) => vec![s.clone().into()],
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).map(|s| s.to_owned().into()).collect(),
        _ => Vec::new(),
    };
    if !stops.is_empty() {
        attributes.push(KeyValue::new(keys::REQUEST_STOP_SEQUENCES, Value::Array(Array::String(stops))));
    }
    if let Some(stream) = body.get("stream").and_then(Json::as_bool) {
        attributes.push(KeyValue::new(keys::REQUEST_STREAM, stream));
    }
    if api == Api::Embeddings {
        return;
    }
    let mut messages: Vec<Json> = Vec::new();
    // Anthropic's `system`, the Responses API's `instructions`.
    if let Some(system) = body.get("system").or_else(|| body.get("instructions")) {
        messages.push(message("system", system, record_content));
    }
    // Chat messages, or the Responses API's input items (messages among them).
    if let Some(Json::Array(items)) = body.get("messages").or_else(|| body.get("input")) {
        for item in items {
            let role = item.get("role").and_then(Json::as_str);
            let kind = item.get("type").and_then(Json::as_str);
            match (role, kind) {
                (Some(role), _) => {
                    messages.push(message(role, item.get("content").unwrap_or(&Json::Null), record_content))
                }
                (None, None) => messages.push(message("user", item, record_content)),
                // Tool outputs, reasoning and other items of the Responses API: their type.
                (None, Some(kind)) => {
                    let mut shape = serde_json::Map::new();
                    shape.insert("type".to_owned(), Json::String(kind.to_owned()));
                    messages.push(Json::Object(shape));
                }
            }
        }
    } else if let Some(prompt) = body.get("prompt").or_else(|| body.get("input")) {
        messages.push(message("user", prompt, record_content));
    }
    if !messages.is_empty() {
        attributes.push(KeyValue::new(keys::INPUT_MESSAGES, Json::Array(messages).to_string()));
    }
}

/// A message as recorded: its role, and its content only when asked.
fn message(role: &str, content: &Json, record_content: bool) -> Json {
    let mut message = serde_json::Map::new();
    message.insert("role".to_owned(), Json::String(role.to_owned()));
    if record_content && !content.is_null() {
        message.insert("content".to_owned(), content.clone());
    }
    Json::Object(message)
}
