//! An LLM call in flight: its timed span, and how what it showed — an answer, an API error, a failure — is recorded
//! on the span and in the GenAI metrics.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::metrics::Histogram;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use serde_json::Value as Json;

use super::api::Api;
use super::cost::ModelPrice;
use super::seen::Seen;
use crate::constants::{self, gen_ai as keys};
use crate::integrations::timed::TimedSpan;
use crate::level::Level;
use crate::observe::BudObserve;

/// The middleware's settings, shared by its calls.
#[derive(Clone)]
pub(super) struct Config {
    pub(super) observe: BudObserve,
    pub(super) provider: Option<Cow<'static, str>>,
    pub(super) record_content: bool,
    pub(super) prices: HashMap<String, ModelPrice>,
    pub(super) duration: Histogram<f64>,
    pub(super) tokens: Histogram<u64>,
}

/// An LLM call in flight.
pub(crate) struct Call {
    pub(super) timed: TimedSpan,
    pub(super) api: Api,
    /// The request asked for a stream.
    pub(super) stream: bool,
    pub(super) config: Arc<Config>,
    pub(super) provider: String,
    pub(super) request_model: String,
}

impl Call {
    /// Records a whole response and ends the span.
    pub(super) fn response(&mut self, json: &Json) {
        let mut seen = Seen::default();
        seen.response(json, self.api == Api::Messages);
        self.end(seen, false);
    }

    /// Records an attribute on the call's span.
    #[cfg(feature = "openai")]
    pub(crate) fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(span) = self.timed.span() {
            span.set_attribute(attribute);
        }
    }

    /// The call failed without an answer (a connection error, a body cut off): the error, recorded on its span.
    pub(crate) fn failed(&mut self, type_name: &'static str, error: &(dyn std::error::Error + Send + Sync + 'static)) {
        self.record_metrics(None, &Seen::default(), Some(type_name));
        if let Some(span) = self.timed.span() {
            span.record_error_parts(type_name, error);
        }
        self.timed.end();
    }

    /// An API error answered as JSON (`{"error": {"type", "code", "message"}}`, Anthropic's and OpenAI's shape).
    pub(super) fn api_error_body(&mut self, status: u16, json: &Json) {
        let error = json.get("error").unwrap_or(json);
        let text = |key: &str| error.get(key).and_then(Json::as_str);
        self.api_error(status, text("type").or_else(|| text("code")), text("message"));
    }

    /// Records an API error (status, the provider's error type and message) and ends the span.
    pub(crate) fn api_error(&mut self, status: u16, kind: Option<&str>, message: Option<&str>) {
        let error_type = kind.map_or_else(|| status.to_string(), str::to_owned);
        self.record_metrics(None, &Seen::default(), Some(&error_type));
        if let Some(span) = self.timed.span() {
            span.set_attribute(KeyValue::new(constants::http::RESPONSE_STATUS_CODE, i64::from(status)));
            span.set_attribute(KeyValue::new(constants::http::ERROR_TYPE, error_type));
            span.record_error_message(
                static_kind(kind),
                message.map_or_else(|| format!("HTTP {status}"), str::to_owned),
            );
            span.set_level(Level::Error);
        }
        self.timed.end();
    }

    /// The call's cost in US dollars (see [`super::cost`]).
    fn cost(&self, model: &str, seen: &Seen) -> Option<f64> {
        let configured = self.config.prices.get(model).or_else(|| self.config.prices.get(&self.request_model));
        super::cost::usd(configured, &self.provider, model, seen)
    }

    /// The outcome's attributes of `gen_ai.client.operation.duration` (recorded when the span ends), and
    /// `gen_ai.client.token.usage`.
    fn record_metrics(&mut self, response_model: Option<&str>, seen: &Seen, error_type: Option<&str>) {
        if self.timed.span().is_none() {
            return;
        }
        // The models and the provider's error type come from the request and the answer: checked like span values.
        let observe = &self.config.observe;
        if let Some(model) = response_model {
            let model = observe.scrubbed_metric_value(keys::RESPONSE_MODEL, model.to_owned());
            self.timed.metric_attribute(KeyValue::new(keys::RESPONSE_MODEL, model));
        }
        if let Some(error_type) = error_type {
            let error_type = observe.scrubbed_metric_value(constants::http::ERROR_TYPE, error_type.to_owned());
            self.timed.metric_attribute(KeyValue::new(constants::http::ERROR_TYPE, error_type));
        }
        for (kind, tokens) in [("input", seen.input_tokens), ("output", seen.output_tokens)] {
            if let Some(tokens) = tokens.and_then(|t| u64::try_from(t).ok()) {
                let mut attributes = self.timed.metric_attributes().to_vec();
                attributes.push(KeyValue::new(keys::TOKEN_TYPE, kind));
                self.config.tokens.record(tokens, &attributes);
            }
        }
    }

    /// Records what a response showed and ends the span.
    pub(super) fn end(&mut self, seen: Seen, streamed: bool) {
        if self.timed.span().is_none() {
            return;
        }
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
            attributes.push(KeyValue::new(keys::INFERENCE_COST, cost));
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
        let incomplete = streamed && !seen.complete;
        if incomplete {
            attributes.push(KeyValue::new(keys::STREAM_INCOMPLETE, true));
        }
        if let Some(span) = self.timed.span() {
            if incomplete {
                span.set_level(Level::Warn);
            }
            span.set_attributes(attributes);
        }
        self.timed.end();
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
