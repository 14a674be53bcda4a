//! LLM spans for the [`async-openai`](async_openai) client (feature `openai`).
//!
//! The client is used as it is; one step instruments it:
//!
//! ```no_run
//! use async_openai::Client;
//! use async_openai::config::OpenAIConfig;
//!
//! let client = budobserve::integrations::openai::instrument(Client::with_config(OpenAIConfig::new()));
//! // client.chat().create(request).await, client.chat().create_stream(request).await,
//! // client.embeddings().create(request).await… as before, each now an LLM span.
//! # drop(client);
//! ```
//!
//! Every call writes the span of the [LLM integration](super) — the same name (`Chat Completion with
//! gpt-4o`), gen_ai attributes, usage, cost, streams recorded as the caller reads them, API errors and metrics —
//! because the adapter sits at `async-openai`'s own HTTP boundary ([`HttpRequestFactory`] in, the HTTP response
//! out): chat completions, completions, embeddings and the Responses API are recognised; other calls (files,
//! models…) pass through untouched. The span covers the call with the client's retries (a rate-limited call retried
//! to success is one successful span with `http.request.resend_count`), and the call's trace context and baggage
//! are sent with every attempt.
//!
//! [`instrument`] keeps `async-openai`'s default retries and uses a default `reqwest::Client`;
//! [`instrument_with`] takes the middleware's settings (provider name, content recording, prices) and the HTTP
//! client. For a tower stack of your own, put [`OpenAiLayer`] outermost:
//!
//! ```no_run
//! use async_openai::Client;
//! use async_openai::config::OpenAIConfig;
//! use async_openai::middleware::{ReqwestService, retry::OpenAIRetryLayer};
//! use budobserve::integrations::llm::LlmMiddleware;
//! use budobserve::integrations::openai::OpenAiLayer;
//! use tower_layer::Layer;
//!
//! let http = reqwest::Client::new();
//! let service = OpenAiLayer::from(LlmMiddleware::new().provider("budgateway"))
//!     .layer(OpenAIRetryLayer::new(5).layer(ReqwestService::new(http)));
//! let client = Client::with_config(OpenAIConfig::new().with_api_base("http://budgateway:8000/v1"))
//!     .with_http_service(service);
//! # drop(client);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use async_openai::Client;
use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use http::HeaderMap;
use opentelemetry::KeyValue;
use tower_layer::Layer;
use tower_service::Service;

use super::middleware::LlmMiddleware;
use crate::constants;
use crate::integrations::http::HeaderInjector;

/// `client` with LLM spans for its calls, written to the instance current now: `async-openai`'s default retries
/// over a default `reqwest::Client` (this replaces an HTTP client or service set on `client` before; see
/// [`instrument_with`] to keep one).
///
/// ```
/// use async_openai::{Client, config::OpenAIConfig};
///
/// let client = budobserve::integrations::openai::instrument(Client::with_config(OpenAIConfig::new()));
/// # drop(client);
/// ```
pub fn instrument<C: Config>(client: Client<C>) -> Client<C> {
    instrument_with(client, LlmMiddleware::new(), reqwest::Client::new())
}

/// `client` with the LLM spans of `llm` (its instance, provider name, content recording and prices) for its calls,
/// made by `http` with `async-openai`'s default retries.
///
/// ```
/// use std::time::Duration;
///
/// use async_openai::{Client, config::OpenAIConfig};
/// use budobserve::integrations::llm::LlmMiddleware;
///
/// let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
/// let client = budobserve::integrations::openai::instrument_with(
///     Client::with_config(OpenAIConfig::new().with_api_base("http://litellm:4000/v1")),
///     LlmMiddleware::new().provider("litellm"),
///     http,
/// );
/// # drop(client);
/// # Ok::<(), reqwest::Error>(())
/// ```
pub fn instrument_with<C: Config>(client: Client<C>, llm: LlmMiddleware, http: reqwest::Client) -> Client<C> {
    let service = OpenAiLayer::from(llm).layer(OpenAIRetryLayer::default().layer(ReqwestService::new(http)));
    client.with_http_service(service)
}

/// A tower layer writing an LLM span per call of an `async-openai` HTTP service (see the [module](self)).
///
/// ```
/// use async_openai::middleware::{ReqwestService, retry::OpenAIRetryLayer};
/// use async_openai::{Client, config::OpenAIConfig};
/// use budobserve::integrations::openai::OpenAiLayer;
/// use tower_layer::Layer as _;
///
/// // Outermost, so that one span covers the retries inside it.
/// let service = OpenAiLayer::new().layer(OpenAIRetryLayer::new(2).layer(ReqwestService::new(reqwest::Client::new())));
/// let client = Client::with_config(OpenAIConfig::new()).with_http_service(service);
/// # drop(client);
/// ```
#[derive(Clone, Debug, Default)]
pub struct OpenAiLayer {
    llm: LlmMiddleware,
}

impl OpenAiLayer {
    /// The layer writing to the instance current now, with the middleware's defaults.
    pub fn new() -> OpenAiLayer {
        OpenAiLayer::default()
    }
}

impl From<LlmMiddleware> for OpenAiLayer {
    fn from(llm: LlmMiddleware) -> OpenAiLayer {
        OpenAiLayer { llm }
    }
}

impl<S> Layer<S> for OpenAiLayer {
    type Service = OpenAiService<S>;

    fn layer(&self, inner: S) -> OpenAiService<S> {
        OpenAiService { inner, llm: self.llm.clone() }
    }
}

/// The service [`OpenAiLayer`] makes.
///
/// ```
/// use async_openai::middleware::ReqwestService;
/// use budobserve::integrations::openai::{OpenAiLayer, OpenAiService};
/// use tower_layer::Layer as _;
///
/// // Without async-openai's retries: one attempt per call.
/// let service: OpenAiService<ReqwestService> = OpenAiLayer::new().layer(ReqwestService::new(reqwest::Client::new()));
/// let client = async_openai::Client::with_config(async_openai::config::OpenAIConfig::new()).with_http_service(service);
/// # drop(client);
/// ```
#[derive(Clone, Debug)]
pub struct OpenAiService<S> {
    inner: S,
    llm: LlmMiddleware,
}

impl<S> Service<HttpRequestFactory> for OpenAiService<S>
where
    S: Service<HttpRequestFactory, Response = reqwest::Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<OpenAIError>,
{
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        // The service made ready is the one called; a clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let llm = self.llm.clone();
        Box::pin(async move {
            // Built once here to see what the call is; the first attempt sends this request, retries rebuild it.
            let request = factory.build().await?;
            let Some((mut call, context)) = llm.begin(&request) else {
                let replay = Replay::new(request, factory, HeaderMap::new());
                return inner.call(replay.factory()).await.map_err(Into::into);
            };
            let mut headers = HeaderMap::new();
            crate::baggage::inject(&context, &mut HeaderInjector(&mut headers));
            let replay = Replay::new(request, factory, headers);
            let result = inner.call(replay.factory()).await.map_err(Into::into);
            let resends = replay.attempts.load(Ordering::Relaxed) - 1;
            if resends > 0 {
                call.set_attribute(KeyValue::new(constants::http::REQUEST_RESEND_COUNT, resends));
            }
            match result {
                Ok(response) => call.finish(response).await.map_err(OpenAIError::Reqwest),
                // A rate limit the client's retries gave up on, read by them.
                Err(OpenAIError::ApiError(error)) => {
                    let api = &error.api_error;
                    let kind = api.r#type.as_deref().or(api.code.as_deref());
                    call.api_error(error.status_code.as_u16(), kind, Some(&api.message));
                    Err(OpenAIError::ApiError(error))
                }
                Err(OpenAIError::Reqwest(error)) => {
                    call.failed("reqwest::Error", &error);
                    Err(OpenAIError::Reqwest(error))
                }
                Err(error) => {
                    call.failed("async_openai::error::OpenAIError", &error);
                    Err(error)
                }
            }
        })
    }
}

/// The request factory handed on: the request already built for the first attempt, a rebuilt one for each retry,
/// each with the call's context headers.
struct Replay {
    first: Arc<Mutex<Option<reqwest::Request>>>,
    factory: HttpRequestFactory,
    headers: Arc<HeaderMap>,
    attempts: Arc<AtomicI64>,
}

impl Replay {
    fn new(first: reqwest::Request, factory: HttpRequestFactory, headers: HeaderMap) -> Replay {
        Replay {
            first: Arc::new(Mutex::new(Some(first))),
            factory,
            headers: Arc::new(headers),
            attempts: Arc::new(AtomicI64::new(0)),
        }
    }

    fn factory(&self) -> HttpRequestFactory {
        let (first, factory, headers, attempts) =
            (Arc::clone(&self.first), self.factory.clone(), Arc::clone(&self.headers), Arc::clone(&self.attempts));
        HttpRequestFactory::new(move || {
            attempts.fetch_add(1, Ordering::Relaxed);
            let first = first.lock().unwrap_or_else(PoisonError::into_inner).take();
            let (factory, headers) = (factory.clone(), Arc::clone(&headers));
            async move {
                let mut request = match first {
                    Some(request) => request,
                    None => factory.build().await?,
                };
                for (name, value) in headers.iter() {
                    request.headers_mut().insert(name, value.clone());
                }
                Ok(request)
            }
        })
    }
}
