//! The `reqwest-middleware` middleware: recognises an LLM call, starts its span, injects its context.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::Extensions;
use opentelemetry::{Context, KeyValue};
use reqwest_middleware::{Middleware, Next};
use serde_json::Value as Json;

use super::api::Api;
use super::call::{Call, Config};
use super::cost::ModelPrice;
use super::request;
use crate::constants::{self, gen_ai as keys};
use crate::integrations::http::HeaderInjector;
use crate::integrations::timed::{self, TimedSpan};
use crate::observe::{BudObserve, Settings};

/// The instrumentation scope of the spans this middleware writes.
pub const SCOPE: &str = "budobserve.llm";

/// LLM spans for the requests of a reqwest client (see the [module](super)).
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
        let (observe, duration) = crate::integrations::handle::scoped(
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
            timed::start_client_span(&config.observe, format!("{} with {model}", api.title()), attributes);
        let metric = vec![
            KeyValue::new(keys::OPERATION_NAME, api.operation()),
            KeyValue::new(keys::PROVIDER_NAME, provider.to_string()),
            KeyValue::new(
                keys::REQUEST_MODEL,
                config.observe.scrubbed_metric_value(keys::REQUEST_MODEL, model.to_owned()),
            ),
        ];
        let call = Call {
            timed: TimedSpan::new(span, &config.duration, metric),
            api,
            stream,
            config: Arc::clone(config),
            provider: provider.into_owned(),
            request_model: model.to_owned(),
        };
        Some((call, context))
    }
}
