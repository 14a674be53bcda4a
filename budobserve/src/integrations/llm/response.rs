//! What a response reports, and the span of the call that gets it.

use std::sync::Arc;
use std::time::Instant;

use opentelemetry::{Array, KeyValue, StringValue, Value};
use serde_json::Value as Json;

use super::stream::StreamState;
use super::{Api, Config};
use crate::constants::{self, gen_ai as keys};
use crate::level::Level;
use crate::span::BudSpan;

/// An LLM call in flight.
pub(crate) struct Call {
    pub(super) span: Option<BudSpan>,
    pub(super) api: Api,
    /// The request asked for a stream.
    pub(super) stream: bool,
    pub(super) started: Instant,
    pub(super) config: Arc<Config>,
    pub(super) provider: String,
    pub(super) request_model: String,
}

/// What a response (whole or streamed) reported.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) id: Option<String>,
    pub(super) model: Option<String>,
    pub(super) finish_reasons: Vec<String>,
    pub(super) input_tokens: Option<i64>,
    pub(super) output_tokens: Option<i64>,
    pub(super) total_tokens: Option<i64>,
    pub(super) cached_tokens: Option<i64>,
    pub(super) content: String,
    pub(super) time_to_first_chunk: Option<f64>,
    /// The provider's end marker arrived (`[DONE]`, `message_stop`), or the stream ended after a finish reason.
    pub(super) complete: bool,
}

impl Seen {
    /// Usage of OpenAI (`prompt_tokens`…) or Anthropic (`input_tokens`…) shape. Input tokens count every input
    /// token, cached ones included (Anthropic reports cache reads and writes apart: they are added).
    fn usage(&mut self, usage: &Json, anthropic: bool) {
        let int = |key: &str| usage.get(key).and_then(Json::as_i64);
        if let Some(n) = int("prompt_tokens").or_else(|| int("input_tokens")) {
            let cache = if anthropic {
                int("cache_read_input_tokens").unwrap_or(0) + int("cache_creation_input_tokens").unwrap_or(0)
            } else {
                0
            };
            self.input_tokens = Some(n + cache);
        }
        if let Some(n) = int("completion_tokens").or_else(|| int("output_tokens")) {
            self.output_tokens = Some(n);
        }
        if let Some(n) = int("total_tokens") {
            self.total_tokens = Some(n);
        }
        let cached = usage
            .get("prompt_tokens_details")
            .or_else(|| usage.get("input_tokens_details"))
            .and_then(|d| d.get("cached_tokens"))
            .and_then(Json::as_i64)
            .or_else(|| int("cache_read_input_tokens"));
        if let Some(n) = cached {
            self.cached_tokens = Some(n);
        }
    }

    fn finish_reason(&mut self, reason: &Json) {
        if let Some(reason) = reason.as_str()
            && !self.finish_reasons.iter().any(|r| r == reason)
        {
            self.finish_reasons.push(reason.to_owned());
        }
    }

    /// A whole response body.
    fn response(&mut self, json: &Json, anthropic: bool) {
        self.id = json.get("id").and_then(Json::as_str).map(str::to_owned);
        self.model = json.get("model").and_then(Json::as_str).map(str::to_owned);
        if let Some(usage) = json.get("usage") {
            self.usage(usage, anthropic);
        }
        if let Some(Json::Array(choices)) = json.get("choices") {
            for choice in choices {
                self.finish_reason(choice.get("finish_reason").unwrap_or(&Json::Null));
                if let Some(text) = choice
                    .pointer("/message/content")
                    .and_then(Json::as_str)
                    .or_else(|| choice.get("text").and_then(Json::as_str))
                {
                    self.content.push_str(text);
                }
            }
        }
        // Anthropic.
        self.finish_reason(json.get("stop_reason").unwrap_or(&Json::Null));
        if let Some(Json::Array(blocks)) = json.get("content") {
            for block in blocks {
                if let Some(text) = block.get("text").and_then(Json::as_str) {
                    self.content.push_str(text);
                }
            }
        }
        // The Responses API: the text of its output messages.
        self.response_status(json);
        if let Some(Json::Array(items)) = json.get("output") {
            for item in items.iter().filter(|item| item.get("type").and_then(Json::as_str) == Some("message")) {
                if let Some(Json::Array(parts)) = item.get("content") {
                    for part in parts {
                        if let Some(text) = part.get("text").and_then(Json::as_str) {
                            self.content.push_str(text);
                        }
                    }
                }
            }
        }
    }

    /// The Responses API's status as the finish reason: `completed`, `failed`, or why it is `incomplete`
    /// (`max_output_tokens`, `content_filter`).
    fn response_status(&mut self, json: &Json) {
        match json.get("status").and_then(Json::as_str) {
            Some("incomplete") => {
                let reason = json.pointer("/incomplete_details/reason").and_then(Json::as_str).unwrap_or("incomplete");
                self.finish_reason(&Json::String(reason.to_owned()));
            }
            Some(status @ ("completed" | "failed" | "cancelled")) => {
                self.finish_reason(&Json::String(status.to_owned()));
            }
            _ => {}
        }
    }

    /// One event of a stream.
    pub(super) fn event(&mut self, json: &Json, started: Instant) {
        let mut content = false;
        match json.get("type").and_then(Json::as_str) {
            // Anthropic's events.
            Some("message_start") => {
                if let Some(message) = json.get("message") {
                    self.id = message.get("id").and_then(Json::as_str).map(str::to_owned);
                    self.model = message.get("model").and_then(Json::as_str).map(str::to_owned);
                    if let Some(usage) = message.get("usage") {
                        self.usage(usage, true);
                    }
                }
            }
            Some("content_block_delta") => {
                if let Some(text) = json.pointer("/delta/text").and_then(Json::as_str) {
                    self.content.push_str(text);
                    content = true;
                }
            }
            Some("message_delta") => {
                self.finish_reason(json.pointer("/delta/stop_reason").unwrap_or(&Json::Null));
                if let Some(usage) = json.get("usage") {
                    self.usage(usage, true);
                }
            }
            Some("message_stop") => self.complete = true,
            // The Responses API's events.
            Some("response.created" | "response.in_progress") => {
                if let Some(response) = json.get("response") {
                    self.id = response.get("id").and_then(Json::as_str).map(str::to_owned);
                    self.model = response.get("model").and_then(Json::as_str).map(str::to_owned);
                }
            }
            Some("response.output_text.delta" | "response.refusal.delta") => {
                if let Some(text) = json.get("delta").and_then(Json::as_str) {
                    self.content.push_str(text);
                    content = !text.is_empty();
                }
            }
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                if let Some(response) = json.get("response") {
                    // The text arrived in deltas: the final response adds its ids, usage and status.
                    self.id = response.get("id").and_then(Json::as_str).map(str::to_owned).or(self.id.take());
                    self.model = response.get("model").and_then(Json::as_str).map(str::to_owned).or(self.model.take());
                    if let Some(usage) = response.get("usage").filter(|u| !u.is_null()) {
                        self.usage(usage, false);
                    }
                    self.response_status(response);
                }
                self.complete = true;
            }
            Some(kind) if kind.starts_with("response.") => {}
            _ => {
                // OpenAI's chunks.
                if self.id.is_none() {
                    self.id = json.get("id").and_then(Json::as_str).map(str::to_owned);
                }
                if let Some(model) = json.get("model").and_then(Json::as_str) {
                    self.model = Some(model.to_owned());
                }
                if let Some(Json::Array(choices)) = json.get("choices") {
                    for choice in choices {
                        if let Some(text) = choice
                            .pointer("/delta/content")
                            .and_then(Json::as_str)
                            .or_else(|| choice.get("text").and_then(Json::as_str))
                        {
                            self.content.push_str(text);
                            content = content || !text.is_empty();
                        }
                        self.finish_reason(choice.get("finish_reason").unwrap_or(&Json::Null));
                    }
                }
                if let Some(usage) = json.get("usage").filter(|u| !u.is_null()) {
                    self.usage(usage, false);
                }
            }
        }
        if content && self.time_to_first_chunk.is_none() {
            self.time_to_first_chunk = Some(started.elapsed().as_secs_f64());
        }
    }
}

impl Call {
    /// Records a whole response and ends the span.
    fn response(&mut self, json: &Json) {
        let mut seen = Seen::default();
        seen.response(json, self.api == Api::Messages);
        self.end(seen, false);
    }

    /// Reads the response of the call: a stream is handed back with a body that records it as the caller reads
    /// it; a whole answer is read (it is complete anyway), recorded, and handed back unchanged.
    pub(crate) async fn finish(mut self, response: reqwest::Response) -> Result<reqwest::Response, reqwest::Error> {
        let status = response.status();
        let event_stream = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        if status.is_success() && (event_stream || self.stream) {
            return Ok(self.stream(response));
        }
        let (parts, body) = super::super::http::split_response(response);
        let bytes = match http_body_util::BodyExt::collect(body).await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                self.failed("reqwest::Error", &err);
                return Err(err);
            }
        };
        let json = serde_json::from_slice::<Json>(&bytes).ok();
        match json {
            Some(json) if status.is_success() => self.response(&json),
            Some(json) => self.api_error_body(status.as_u16(), &json),
            None if !status.is_success() => self.api_error(status.as_u16(), None, None),
            // A success the call cannot read as JSON: what the request said, and the time it took.
            None => self.end(Seen::default(), false),
        }
        Ok(reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::from(bytes))))
    }

    /// Records an attribute on the call's span.
    #[cfg(feature = "openai")]
    pub(crate) fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(span) = self.span.as_mut() {
            span.set_attribute(attribute);
        }
    }

    /// The call failed without an answer (a connection error, a body cut off): the error, recorded on its span.
    pub(crate) fn failed(&mut self, type_name: &'static str, error: &(dyn std::error::Error + Send + Sync + 'static)) {
        self.record_metrics(None, &Seen::default(), Some(type_name));
        if let Some(mut span) = self.span.take() {
            span.record_error_parts(type_name, error);
            drop(span);
        }
    }

    /// An API error answered as JSON (`{"error": {"type", "code", "message"}}`, Anthropic's and OpenAI's shape).
    fn api_error_body(&mut self, status: u16, json: &Json) {
        let error = json.get("error").unwrap_or(json);
        let text = |key: &str| error.get(key).and_then(Json::as_str);
        self.api_error(status, text("type").or_else(|| text("code")), text("message"));
    }

    /// Records an API error (status, the provider's error type and message) and ends the span.
    pub(crate) fn api_error(&mut self, status: u16, kind: Option<&str>, message: Option<&str>) {
        let error_type = kind.map_or_else(|| status.to_string(), str::to_owned);
        self.record_metrics(None, &Seen::default(), Some(&error_type));
        if let Some(mut span) = self.span.take() {
            span.set_attribute(KeyValue::new(constants::http::RESPONSE_STATUS_CODE, i64::from(status)));
            span.set_attribute(KeyValue::new(constants::http::ERROR_TYPE, error_type));
            span.record_error_message(
                static_kind(kind),
                message.map_or_else(|| format!("HTTP {status}"), str::to_owned),
            );
            span.set_level(Level::Error);
            drop(span);
        }
    }

    /// The call's cost in US dollars (see [`super::cost`]).
    fn cost(&self, model: &str, seen: &Seen) -> Option<f64> {
        let configured = self.config.prices.get(model).or_else(|| self.config.prices.get(&self.request_model));
        super::cost::usd(configured, &self.provider, model, seen)
    }

    /// `gen_ai.client.operation.duration` and `gen_ai.client.token.usage`.
    fn record_metrics(&self, response_model: Option<&str>, seen: &Seen, error_type: Option<&str>) {
        let mut attributes = vec![
            KeyValue::new(keys::OPERATION_NAME, self.api.operation()),
            KeyValue::new(keys::PROVIDER_NAME, self.provider.clone()),
            KeyValue::new(keys::REQUEST_MODEL, self.request_model.clone()),
        ];
        if let Some(model) = response_model {
            attributes.push(KeyValue::new(keys::RESPONSE_MODEL, model.to_owned()));
        }
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new(constants::http::ERROR_TYPE, error_type.to_owned()));
        }
        self.config.duration.record(self.started.elapsed().as_secs_f64(), &attributes);
        for (kind, tokens) in [("input", seen.input_tokens), ("output", seen.output_tokens)] {
            if let Some(tokens) = tokens.and_then(|t| u64::try_from(t).ok()) {
                let mut attributes = attributes.clone();
                attributes.push(KeyValue::new(keys::TOKEN_TYPE, kind));
                self.config.tokens.record(tokens, &attributes);
            }
        }
    }

    /// Records what a response showed and ends the span.
    pub(super) fn end(&mut self, seen: Seen, streamed: bool) {
        let Some(mut span) = self.span.take() else { return };
        let mut attributes = Vec::with_capacity(10);
        if let Some(id) = &seen.id {
            attributes.push(KeyValue::new(keys::RESPONSE_ID, id.clone()));
        }
        if let Some(model) = &seen.model {
            attributes.push(KeyValue::new(keys::RESPONSE_MODEL, model.clone()));
        }
        if !seen.finish_reasons.is_empty() {
            let reasons: Vec<StringValue> = seen.finish_reasons.iter().map(|r| r.clone().into()).collect();
            attributes.push(KeyValue::new(keys::RESPONSE_FINISH_REASONS, Value::Array(Array::String(reasons))));
        }
        for (key, value) in [
            (keys::USAGE_INPUT_TOKENS, seen.input_tokens),
            (keys::USAGE_OUTPUT_TOKENS, seen.output_tokens),
            (keys::USAGE_CACHE_READ_INPUT_TOKENS, seen.cached_tokens),
        ] {
            if let Some(value) = value {
                attributes.push(KeyValue::new(key, value));
            }
        }
        let total = seen.total_tokens.or(match (seen.input_tokens, seen.output_tokens) {
            (Some(input), Some(output)) => Some(input + output),
            _ => None,
        });
        if let Some(total) = total {
            attributes.push(KeyValue::new(keys::USAGE_TOTAL_TOKENS, total));
        }
        if let Some(ttfc) = seen.time_to_first_chunk {
            attributes.push(KeyValue::new(keys::RESPONSE_TIME_TO_FIRST_CHUNK, ttfc));
        }
        let model = seen.model.clone().unwrap_or_else(|| self.request_model.clone());
        if let Some(cost) = self.cost(&model, &seen) {
            attributes.push(KeyValue::new(keys::USAGE_COST, cost));
        }
        self.record_metrics(seen.model.as_deref(), &seen, None);
        if self.api != Api::Embeddings {
            let mut message = serde_json::Map::new();
            message.insert("role".to_owned(), Json::String("assistant".to_owned()));
            if let Some(reason) = seen.finish_reasons.first() {
                message.insert("finish_reason".to_owned(), Json::String(reason.clone()));
            }
            if self.config.record_content {
                message.insert("content".to_owned(), Json::String(seen.content.clone()));
            }
            attributes.push(KeyValue::new(keys::OUTPUT_MESSAGES, Json::Array(vec![Json::Object(message)]).to_string()));
        }
        if streamed && !seen.complete {
            attributes.push(KeyValue::new(keys::STREAM_INCOMPLETE, true));
            span.set_level(Level::Warn);
        }
        span.set_attributes(attributes);
        drop(span);
    }

    /// The response with a body that records the stream as the caller reads it.
    fn stream(self, response: reqwest::Response) -> reqwest::Response {
        let started = self.started;
        let state = StreamState { call: self, seen: Seen::default(), line: Vec::new(), started };
        super::super::http::observe_body(response, state)
    }
}

/// An error type's name as the exception records it.
fn static_kind(kind: Option<&str>) -> &'static str {
    match kind {
        Some("rate_limit_error" | "rate_limit_exceeded") => "RateLimitError",
        Some("invalid_request_error") => "InvalidRequestError",
        Some("authentication_error" | "invalid_api_key") => "AuthenticationError",
        Some("overloaded_error") => "OverloadedError",
        _ => "APIError",
    }
}
