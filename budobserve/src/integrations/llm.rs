//! LLM spans for OpenAI-style and Anthropic APIs, as `reqwest-middleware` middleware (feature `llm`).
//!
//! [`LlmMiddleware`] recognises the requests of any reqwest-based client to OpenAI-style endpoints
//! (`…/chat/completions`, `…/completions`, `…/embeddings`, `…/responses`) — OpenAI itself and every
//! OpenAI-compatible gateway (budgateway, a LiteLLM proxy) — and Anthropic's `…/v1/messages`, and writes one LLM
//! span per call; other requests pass through untouched.
//!
//! ```
//! use budobserve::integrations::llm::LlmMiddleware;
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(LlmMiddleware::new().provider("budgateway"))
//!     .build();
//! # drop(client);
//! ```
//!
//! Each span is named like Logfire's (`Chat Completion with gpt-4o`, `Embedding Creation with …`,
//! `Message with claude-…`), tagged `LLM`, and records per the OpenTelemetry gen_ai conventions:
//! `gen_ai.operation.name`, `gen_ai.provider.name` (and `gen_ai.system`), `gen_ai.request.model`, `.temperature`,
//! `.max_tokens`, `.top_p`, `.stop_sequences`, `.seed`, `.stream`, `gen_ai.response.model`, `.id`,
//! `.finish_reasons`, `gen_ai.usage.input_tokens`, `.output_tokens`, `.total_tokens`,
//! `.cache_read.input_tokens`, and for streams `gen_ai.response.time_to_first_chunk` (seconds). Messages are
//! recorded as `gen_ai.input.messages` / `gen_ai.output.messages`: their shape (roles, finish reasons) by default,
//! their content only with [`record_content`](LlmMiddleware::record_content) — and through scrubbing either way.
//! An API error (4xx/5xx, rate limits included) is an error span with the provider's error type and message as
//! an exception. The call's trace context and baggage (the bud context) are injected into the request, so a gateway
//! continues the caller's trace.
//!
//! **Streams** (`text/event-stream`) reach the caller chunk by chunk as before — nothing is buffered — while the
//! span accumulates content, finish reasons and usage (OpenAI's `stream_options.include_usage`, Anthropic's
//! `message_start`/`message_delta`); it ends when the stream ends, and a stream that ends before the provider's
//! end marker (`[DONE]`, `message_stop`, or at least a finish reason), fails, or is dropped by the caller ends it with
//! what was seen, `budobserve_llm_stream_incomplete = true` and level warn.
//!
//! **Cost**: `gen_ai.usage.cost` (US dollars) from the price data of `genai-prices` (Pydantic's, the same Logfire
//! uses), or from a [price](LlmMiddleware::price) configured for a model; a model neither knows gets no cost
//! attribute — never a made-up price. `gen_ai.client.operation.duration` (seconds) and `gen_ai.client.token.usage`
//! (tokens, by `gen_ai.token.type`) are recorded per call.
//!
//! Spans are written under the instrumentation scope `budobserve.llm`. Not yet here: typed adapters
//! (`async-openai`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::Extensions;
use http_body::{Frame, SizeHint};
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use reqwest_middleware::{Middleware, Next};
use serde_json::Value as Json;

use super::http::HeaderInjector;
use crate::constants::{self, gen_ai as keys};
use crate::level::Level;
use crate::observe::{BudObserve, Settings};
use crate::span::BudSpan;

/// The instrumentation scope of the spans this middleware writes.
pub const SCOPE: &str = "budobserve.llm";

/// What an LLM call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// OpenAI-style chat completions (or responses).
    Chat,
    /// OpenAI-style text completions.
    Completion,
    /// OpenAI-style embeddings.
    Embeddings,
    /// Anthropic messages.
    Messages,
}

impl Api {
    fn of_path(path: &str) -> Option<Api> {
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") || path.ends_with("/responses") {
            Some(Api::Chat)
        } else if path.ends_with("/completions") {
            Some(Api::Completion)
        } else if path.ends_with("/embeddings") {
            Some(Api::Embeddings)
        } else if path.ends_with("/v1/messages") {
            Some(Api::Messages)
        } else {
            None
        }
    }

    fn operation(self) -> &'static str {
        match self {
            Api::Chat | Api::Messages => "chat",
            Api::Completion => "text_completion",
            Api::Embeddings => "embeddings",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Api::Chat => "Chat Completion",
            Api::Completion => "Completion",
            Api::Embeddings => "Embedding Creation",
            Api::Messages => "Message",
        }
    }
}

/// LLM spans for the requests of a reqwest client (see the [module](self)).
#[derive(Clone)]
pub struct LlmMiddleware {
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    observe: BudObserve,
    provider: Option<Cow<'static, str>>,
    record_content: bool,
    prices: HashMap<String, ModelPrice>,
    duration: Histogram<f64>,
    tokens: Histogram<u64>,
}

/// Prices in US dollars per million tokens, for a model the bundled price data does not know or to override it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelPrice {
    /// Per million input tokens (not read from cache).
    pub input_per_million: f64,
    /// Per million output tokens.
    pub output_per_million: f64,
    /// Per million input tokens read from cache (default: the input price).
    pub cached_input_per_million: Option<f64>,
}

impl fmt::Debug for LlmMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmMiddleware")
            .field("provider", &self.config.provider)
            .field("record_content", &self.config.record_content)
            .finish_non_exhaustive()
    }
}

impl Default for LlmMiddleware {
    fn default() -> Self {
        LlmMiddleware::new()
    }
}

impl LlmMiddleware {
    /// Middleware writing to the instance current now.
    pub fn new() -> LlmMiddleware {
        LlmMiddleware::for_instance(&crate::current())
    }

    /// Middleware writing to `observe`.
    pub fn for_instance(observe: &BudObserve) -> LlmMiddleware {
        // The bundled price data is decoded on first use (tens of milliseconds): done now, off the request path.
        let _ = std::thread::Builder::new().name("budobserve-prices".into()).spawn(|| {
            let _ = genai_prices::Calculator::bundled();
        });
        let (observe, duration) = super::client::scoped(
            observe,
            SCOPE,
            constants::metrics::GEN_AI_CLIENT_OPERATION_DURATION,
            "Duration of GenAI client operations.",
        );
        let tokens = observe
            .meter()
            .u64_histogram(constants::metrics::GEN_AI_CLIENT_TOKEN_USAGE)
            .with_unit("{token}")
            .with_description("Tokens used by GenAI client operations.")
            .with_boundaries(vec![
                1.0,
                4.0,
                16.0,
                64.0,
                256.0,
                1024.0,
                4096.0,
                16384.0,
                65536.0,
                262_144.0,
                1_048_576.0,
            ])
            .build();
        LlmMiddleware {
            config: Arc::new(Config {
                observe: observe.with_settings(Settings::new().tags([keys::TAG])),
                provider: None,
                record_content: false,
                prices: HashMap::new(),
                duration,
                tokens,
            }),
        }
    }

    /// The price of `model` (matched exactly against the response's, then the request's model), used instead of
    /// the bundled price data.
    pub fn price(mut self, model: impl Into<String>, price: ModelPrice) -> LlmMiddleware {
        Arc::make_mut(&mut self.config).prices.insert(model.into(), price);
        self
    }

    /// The provider recorded as `gen_ai.provider.name` (default: `anthropic` for Anthropic's API, `openai` for the
    /// OpenAI-style ones; name a gateway here, e.g. `budgateway` or `litellm`).
    pub fn provider(mut self, provider: impl Into<Cow<'static, str>>) -> LlmMiddleware {
        Arc::make_mut(&mut self.config).provider = Some(provider.into());
        self
    }

    /// Whether message contents are recorded (default off: roles and finish reasons only).
    pub fn record_content(mut self, record: bool) -> LlmMiddleware {
        Arc::make_mut(&mut self.config).record_content = record;
        self
    }
}

#[async_trait::async_trait]
impl Middleware for LlmMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let Some(api) = Api::of_path(request.url().path()) else {
            return next.run(request, extensions).await;
        };
        let body: Option<Json> =
            request.body().and_then(reqwest::Body::as_bytes).and_then(|bytes| serde_json::from_slice(bytes).ok());
        let config = &self.config;
        let provider =
            config.provider.clone().unwrap_or(Cow::Borrowed(if api == Api::Messages { "anthropic" } else { "openai" }));
        let mut attributes = vec![
            KeyValue::new(keys::OPERATION_NAME, api.operation()),
            KeyValue::new(keys::PROVIDER_NAME, provider.to_string()),
            KeyValue::new(keys::SYSTEM, provider.to_string()),
        ];
        let model = body.as_ref().and_then(|b| b.get("model")).and_then(Json::as_str).unwrap_or("unknown");
        attributes.push(KeyValue::new(keys::REQUEST_MODEL, model.to_owned()));
        let stream = body.as_ref().and_then(|b| b.get("stream")).and_then(Json::as_bool).unwrap_or(false);
        if let Some(body) = &body {
            request_attributes(body, api, config.record_content, &mut attributes);
        }
        let name = format!("{} with {model}", api.title());
        let model = model.to_owned();
        let (span, context) = super::client::start_client_span(&config.observe, name, attributes);
        crate::baggage::inject(&context, &mut HeaderInjector(request.headers_mut()));
        let mut call = Call {
            span: Some(span),
            api,
            started: Instant::now(),
            config: Arc::clone(config),
            provider: provider.into_owned(),
            request_model: model.to_owned(),
        };
        let response = match next.run(request, extensions).await {
            Ok(response) => response,
            Err(err) => {
                if let Some(span) = call.span.as_mut() {
                    span.record_error_parts("reqwest_middleware::Error", &err);
                }
                return Err(err);
            }
        };
        let status = response.status();
        let event_stream = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        if status.is_success() && (event_stream || stream) {
            return Ok(call.stream(response));
        }
        // A complete JSON answer: read (it is whole anyway), recorded, and handed back unchanged.
        let (parts, body) = super::http::split_response(response);
        let bytes = match http_body_util::BodyExt::collect(body).await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                if let Some(span) = call.span.as_mut() {
                    span.record_error_parts("reqwest::Error", &err);
                }
                return Err(reqwest_middleware::Error::Middleware(anyhow::Error::msg(err.to_string())));
            }
        };
        if let Ok(json) = serde_json::from_slice::<Json>(&bytes) {
            if status.is_success() {
                call.response(&json);
            } else {
                call.api_error(status.as_u16(), &json);
            }
        } else if !status.is_success() {
            call.api_error(status.as_u16(), &Json::Null);
        }
        Ok(reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::from(bytes))))
    }
}

/// The request's parameters and messages.
fn request_attributes(body: &Json, api: Api, record_content: bool, attributes: &mut Vec<KeyValue>) {
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
    if let Some(system) = body.get("system") {
        messages.push(message("system", system, record_content));
    }
    if let Some(Json::Array(items)) = body.get("messages") {
        for item in items {
            let role = item.get("role").and_then(Json::as_str).unwrap_or("user");
            messages.push(message(role, item.get("content").unwrap_or(&Json::Null), record_content));
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

/// An LLM call in flight.
struct Call {
    span: Option<BudSpan>,
    api: Api,
    started: Instant,
    config: Arc<Config>,
    provider: String,
    request_model: String,
}

/// What a response (whole or streamed) reported.
#[derive(Default)]
struct Seen {
    id: Option<String>,
    model: Option<String>,
    finish_reasons: Vec<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    total_tokens: Option<i64>,
    cached_tokens: Option<i64>,
    content: String,
    time_to_first_chunk: Option<f64>,
    /// The provider's end marker arrived (`[DONE]`, `message_stop`), or the stream ended after a finish reason.
    complete: bool,
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
    }

    /// One event of a stream.
    fn event(&mut self, json: &Json, started: Instant) {
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

    /// Records an API error (status, the provider's error type and message) and ends the span.
    fn api_error(&mut self, status: u16, json: &Json) {
        let error = json.get("error").unwrap_or(json);
        let kind = error.get("type").and_then(Json::as_str).or_else(|| error.get("code").and_then(Json::as_str));
        let message =
            error.get("message").and_then(Json::as_str).map_or_else(|| format!("HTTP {status}"), str::to_owned);
        let error_type = kind.map_or_else(|| status.to_string(), str::to_owned);
        self.record_metrics(None, &Seen::default(), Some(&error_type));
        if let Some(mut span) = self.span.take() {
            span.set_attribute(KeyValue::new(constants::http::RESPONSE_STATUS_CODE, i64::from(status)));
            span.set_attribute(KeyValue::new(
                constants::http::ERROR_TYPE,
                kind.map_or_else(|| status.to_string(), str::to_owned),
            ));
            span.record_error_message(static_kind(kind), message);
            span.set_level(Level::Error);
            drop(span);
        }
    }

    /// The call's cost in US dollars: a configured price, else the bundled price data; none for a model neither
    /// knows (never a made-up price) or without usage.
    fn cost(&self, model: &str, seen: &Seen) -> Option<f64> {
        let input = seen.input_tokens? as f64;
        let output = seen.output_tokens.unwrap_or(0) as f64;
        let cached = seen.cached_tokens.unwrap_or(0) as f64;
        let configured = self.config.prices.get(model).or_else(|| self.config.prices.get(&self.request_model));
        if let Some(price) = configured {
            let cached_price = price.cached_input_per_million.unwrap_or(price.input_per_million);
            return Some(
                ((input - cached) * price.input_per_million
                    + cached * cached_price
                    + output * price.output_per_million)
                    / 1e6,
            );
        }
        let usage = genai_prices::Usage::from([
            (genai_prices::UsageKey::INPUT_TOKENS, input),
            (genai_prices::UsageKey::OUTPUT_TOKENS, output),
            (genai_prices::UsageKey::CACHE_READ_TOKENS, cached),
        ]);
        let mut request = genai_prices::PriceRequest::new(model, &usage);
        if matches!(self.provider.as_str(), "openai" | "anthropic") {
            request = request.with_provider_id(&self.provider);
        }
        genai_prices::calculate(&request).ok().map(|price| price.total_price)
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
    fn end(&mut self, seen: Seen, streamed: bool) {
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
        let (parts, body) = super::http::split_response(response);
        let started = self.started;
        let body = StreamBody {
            inner: body,
            state: StreamState { call: self, seen: Seen::default(), line: Vec::new(), started },
        };
        reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
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

pin_project_lite::pin_project! {
    struct StreamBody {
        #[pin]
        inner: reqwest::Body,
        state: StreamState,
    }
}

/// A stream being read: the events parsed so far; the span ends with the stream, or when it is dropped.
struct StreamState {
    call: Call,
    seen: Seen,
    /// The current, unfinished line.
    line: Vec<u8>,
    started: Instant,
}

impl StreamState {
    /// Feeds bytes; complete `data:` lines are parsed as events.
    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
            } else {
                self.line.push(byte);
            }
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else { return };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data == b"[DONE]" {
            self.seen.complete = true;
            return;
        }
        if let Ok(json) = serde_json::from_slice::<Json>(data) {
            self.seen.event(&json, self.started);
        }
    }

    fn finish(&mut self) {
        let seen = std::mem::take(&mut self.seen);
        self.call.end(seen, true);
    }
}

impl Drop for StreamState {
    fn drop(&mut self) {
        // Dropped before the end: what was seen is recorded, the span marked incomplete (unless the end arrived).
        self.finish();
    }
}

impl http_body::Body for StreamBody {
    type Data = bytes::Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, reqwest::Error>>> {
        let this = self.project();
        let poll = this.inner.poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.state.feed(data);
                }
            }
            Poll::Ready(None) => {
                let rest = std::mem::take(&mut this.state.line);
                this.state.line_done(&rest);
                // Ended by the server: complete if the provider's end marker or a finish reason came.
                let seen = &mut this.state.seen;
                seen.complete = seen.complete || !seen.finish_reasons.is_empty();
                this.state.finish();
            }
            Poll::Ready(Some(Err(err))) => {
                if let Some(span) = this.state.call.span.as_mut() {
                    span.record_error_parts("reqwest::Error", err);
                    span.set_status(Status::error(err.to_string()));
                }
                this.state.finish();
            }
            Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_recognised_by_path() {
        assert_eq!(Api::of_path("/v1/chat/completions"), Some(Api::Chat));
        assert_eq!(Api::of_path("/openai/deployments/x/chat/completions/"), Some(Api::Chat));
        assert_eq!(Api::of_path("/v1/completions"), Some(Api::Completion));
        assert_eq!(Api::of_path("/v1/embeddings"), Some(Api::Embeddings));
        assert_eq!(Api::of_path("/v1/responses"), Some(Api::Chat));
        assert_eq!(Api::of_path("/v1/messages"), Some(Api::Messages));
        assert_eq!(Api::of_path("/v1/models"), None);
    }
}
