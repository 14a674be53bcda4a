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
//! `Responses API with …`, `Message with claude-…`), tagged `LLM`, and records per the OpenTelemetry gen_ai conventions:
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
//! **The Responses API** (`…/responses`) is recognised apart: `Responses API with {model}`, its `instructions` and
//! `input` items as input messages, the text of its output messages, its usage, its `status` (or why it is
//! `incomplete`) as the finish reason, and its streamed events (`response.output_text.delta`…
//! `response.completed`).
//!
//! Spans are written under the instrumentation scope `budobserve.llm`. The `async-openai` client gets the same
//! spans from [`integrations::openai`](super::openai) (feature `openai`).

mod cost;
mod request;
mod response;
mod stream;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use http::Extensions;
use opentelemetry::metrics::Histogram;
use opentelemetry::{Context, KeyValue};
use reqwest_middleware::{Middleware, Next};
use serde_json::Value as Json;

pub use self::cost::ModelPrice;
use self::response::Call;
use super::http::HeaderInjector;
use crate::constants::{self, gen_ai as keys};
use crate::observe::{BudObserve, Settings};

/// The instrumentation scope of the spans this middleware writes.
pub const SCOPE: &str = "budobserve.llm";

/// What an LLM call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// OpenAI-style chat completions.
    Chat,
    /// OpenAI's Responses API.
    Responses,
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
        if path.ends_with("/chat/completions") {
            Some(Api::Chat)
        } else if path.ends_with("/responses") {
            Some(Api::Responses)
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
            Api::Chat | Api::Responses | Api::Messages => "chat",
            Api::Completion => "text_completion",
            Api::Embeddings => "embeddings",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Api::Chat => "Chat Completion",
            Api::Responses => "Responses API",
            Api::Completion => "Completion",
            Api::Embeddings => "Embedding Creation",
            Api::Messages => "Message",
        }
    }
}

/// LLM spans for the requests of a reqwest client (see the [module](self)).
///
/// ```
/// use budobserve::integrations::llm::{LlmMiddleware, ModelPrice};
///
/// let llm = LlmMiddleware::new()
///     .provider("budgateway")                            // gen_ai.provider.name
///     .record_content(false)                             // roles and finish reasons only (the default)
///     .price("bud-llama-3-8b", ModelPrice { input_per_million: 0.2, output_per_million: 0.4, cached_input_per_million: None });
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(llm).build();
/// # drop(client);
/// ```
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
        let Some((mut call, context)) = self.begin(&request) else {
            return next.run(request, extensions).await;
        };
        crate::baggage::inject(&context, &mut HeaderInjector(request.headers_mut()));
        match next.run(request, extensions).await {
            Ok(response) => call.finish(response).await.map_err(reqwest_middleware::Error::Reqwest),
            Err(err) => {
                call.failed("reqwest_middleware::Error", &err);
                Err(err)
            }
        }
    }
}

impl LlmMiddleware {
    /// The LLM call `request` makes, if it makes one: its span started, with the context to inject into the request.
    pub(crate) fn begin(&self, request: &reqwest::Request) -> Option<(Call, Context)> {
        let api = Api::of_path(request.url().path())?;
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
            request::attributes(body, api, config.record_content, &mut attributes);
        }
        let (span, context) =
            super::client::start_client_span(&config.observe, format!("{} with {model}", api.title()), attributes);
        let call = Call {
            span: Some(span),
            api,
            stream,
            started: Instant::now(),
            config: Arc::clone(config),
            provider: provider.into_owned(),
            request_model: model.to_owned(),
        };
        Some((call, context))
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
        assert_eq!(Api::of_path("/v1/responses"), Some(Api::Responses));
        assert_eq!(Api::of_path("/v1/messages"), Some(Api::Messages));
        assert_eq!(Api::of_path("/v1/models"), None);
    }
}
