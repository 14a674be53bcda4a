//! The client of the sidecar's HTTP API: its configuration, and what every call shares — the span, the request
//! with the trace context and the token, the outcome.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use http::{HeaderMap, HeaderValue};
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};
use serde_json::Value as Json;

use crate::config::EnvSource;
use crate::config::setting::{Setting, text};
use crate::constants::{self, dapr as keys};
use crate::error::ConfigError;
use crate::integrations::http::HeaderInjector;
use crate::observe::BudObserve;
use crate::span::BudSpan;

/// The sidecar's HTTP port when neither `DAPR_HTTP_ENDPOINT` nor `DAPR_HTTP_PORT` says otherwise.
const DEFAULT_PORT: u16 = 3500;

const ENDPOINT: Setting<reqwest::Url> =
    Setting { option: "address", variables: &[keys::ENV_HTTP_ENDPOINT], parse: sidecar_url };
const PORT: Setting<u16> = Setting { option: "address", variables: &[keys::ENV_HTTP_PORT], parse: port };
const APP_ID: Setting<String> = Setting { option: "app_id", variables: &[keys::ENV_APP_ID], parse: text };

/// An `http://` or `https://` URL with a host.
fn sidecar_url(address: &str) -> Result<reqwest::Url, Cow<'static, str>> {
    reqwest::Url::parse(address)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        .ok_or(Cow::Borrowed("an http:// or https:// URL"))
}

fn port(value: &str) -> Result<u16, Cow<'static, str>> {
    value.trim().parse::<u16>().ok().filter(|port| *port > 0).ok_or(Cow::Borrowed("a port number (1-65535)"))
}

/// The instrumentation scope of the spans this integration writes.
pub const SCOPE: &str = "budobserve.dapr";

/// What went wrong with a call to the Dapr sidecar.
///
/// ```
/// use budobserve::integrations::dapr::{DaprClient, DaprError};
///
/// async fn cart(dapr: &DaprClient) -> Result<Option<serde_json::Value>, DaprError> {
///     match dapr.get_state("statestore", "cart-7").await {
///         Err(DaprError::Api { code, .. }) if code == "ERR_STATE_STORE_NOT_FOUND" => Ok(None),
///         other => other,
///     }
/// }
/// # drop(cart);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaprError {
    /// The configuration (an environment variable, a setting) holds a value that is not accepted.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The sidecar's address is not a URL.
    #[error("the Dapr sidecar address {0:?} is not an http:// or https:// URL")]
    Address(String),
    /// The sidecar could not be reached, or its answer not read.
    #[error("the Dapr sidecar could not be reached: {0}")]
    Http(#[from] reqwest::Error),
    /// The sidecar answered with an error (`errorCode` and `message` of its JSON answer).
    #[error("the Dapr sidecar answered {status}: {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Dapr's error code (`ERR_STATE_STORE_NOT_FOUND`…), empty when the answer had none.
        code: String,
        /// Dapr's message.
        message: String,
    },
    /// A value could not be written or read as JSON.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A client of the Dapr sidecar's HTTP API whose calls are spans (see the [module](super)). Cheap to clone.
///
/// ```
/// use budobserve::integrations::dapr::DaprClient;
///
/// let dapr = DaprClient::new("http://127.0.0.1:3500")?
///     .app_id("budcluster")
///     .component("pubsub", "pubsub.kafka")               // messaging.system = "kafka"
///     .component("statestore", "state.redis");           // db.system.name = "redis"
/// # drop(dapr);
/// # Ok::<(), budobserve::integrations::dapr::DaprError>(())
/// ```
#[derive(Clone)]
pub struct DaprClient {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) base: reqwest::Url,
    pub(super) token: Option<HeaderValue>,
    /// The CloudEvents `source` of published events.
    pub(super) app_id: String,
    pub(super) observe: BudObserve,
    /// Component name → type (`pubsub.kafka`, `state.redis`).
    pub(super) components: RwLock<HashMap<String, String>>,
}

impl Clone for Inner {
    fn clone(&self) -> Inner {
        Inner {
            http: self.http.clone(),
            base: self.base.clone(),
            token: self.token.clone(),
            app_id: self.app_id.clone(),
            observe: self.observe.clone(),
            components: RwLock::new(self.components.read().unwrap_or_else(PoisonError::into_inner).clone()),
        }
    }
}

impl std::fmt::Debug for DaprClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaprClient")
            .field("base", &self.inner.base.as_str())
            .field("app_id", &self.inner.app_id)
            .field("api_token", &self.inner.token.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl DaprClient {
    /// A client of the sidecar at `address` (`http://127.0.0.1:3500`), writing to the instance current now; the
    /// events it publishes have the source `unknown_service` until [`app_id`](Self::app_id) names the app.
    pub fn new(address: &str) -> Result<DaprClient, DaprError> {
        let base = sidecar_url(address).map_err(|_| DaprError::Address(address.to_owned()))?;
        let observe = crate::integrations::handle::integration(&crate::current(), SCOPE);
        let app_id = "unknown_service".to_owned();
        Ok(DaprClient {
            inner: Arc::new(Inner {
                http: reqwest::Client::new(),
                base,
                token: None,
                app_id,
                observe,
                components: RwLock::new(HashMap::new()),
            }),
        })
    }

    /// A client configured as Dapr configures apps: `DAPR_HTTP_ENDPOINT` (a URL), else `DAPR_HTTP_PORT` on
    /// `127.0.0.1` (default 3500); `DAPR_API_TOKEN` when set; `APP_ID` as the source of published events (default:
    /// `unknown_service`). A value that cannot be used is an error naming the variable.
    pub fn from_env() -> Result<DaprClient, DaprError> {
        DaprClient::from_env_source(&EnvSource::Process)
    }

    /// [`from_env`](Self::from_env) reading the variables from `env`.
    pub fn from_env_source(env: &EnvSource) -> Result<DaprClient, DaprError> {
        let address = match ENDPOINT.read_env(env)? {
            Some(url) => url.to_string(),
            None => format!("http://127.0.0.1:{}", PORT.read_env(env)?.unwrap_or(DEFAULT_PORT)),
        };
        let mut client = DaprClient::new(&address)?;
        // Not a `Setting`: a token that cannot be sent is reported without its value.
        if let Some(token) = env.get(keys::ENV_API_TOKEN)? {
            client = client.api_token(&token).map_err(|_| ConfigError::InvalidEnvVar {
                variable: keys::ENV_API_TOKEN,
                value: "<hidden>".to_owned(),
                expected: "visible ASCII characters".into(),
            })?;
        }
        client = client.app_id(APP_ID.read_env(env)?.unwrap_or_else(|| "unknown_service".to_owned()));
        Ok(client)
    }

    /// The settings, copied first when the client is shared (settings are made before it is).
    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Writes to `observe` instead of the instance current when the client was made.
    pub fn for_instance(mut self, observe: &BudObserve) -> DaprClient {
        self.inner_mut().observe = crate::integrations::handle::integration(observe, SCOPE);
        self
    }

    /// The HTTP client that makes the calls (its timeouts, pool, TLS).
    pub fn http_client(mut self, http: reqwest::Client) -> DaprClient {
        self.inner_mut().http = http;
        self
    }

    /// The `dapr-api-token` sent with every call (never recorded).
    pub fn api_token(mut self, token: &str) -> Result<DaprClient, DaprError> {
        let mut value = HeaderValue::from_str(token).map_err(|_| ConfigError::InvalidOption {
            option: "api_token",
            value: "<hidden>".to_owned(),
            expected: "visible ASCII characters".into(),
        })?;
        value.set_sensitive(true);
        self.inner_mut().token = Some(value);
        Ok(self)
    }

    /// The app id written as the `source` of published CloudEvents.
    pub fn app_id(mut self, app_id: impl Into<String>) -> DaprClient {
        self.inner_mut().app_id = app_id.into();
        self
    }

    /// The type of a component (`pubsub.kafka`, `state.redis`, as Dapr names them): its second part is recorded
    /// as `messaging.system` or `db.system.name`.
    pub fn component(self, name: impl Into<String>, kind: impl Into<String>) -> DaprClient {
        self.inner.components.write().unwrap_or_else(PoisonError::into_inner).insert(name.into(), kind.into());
        self
    }

    /// Reads the components' types from the sidecar's metadata (`GET /v1.0/metadata`).
    pub async fn load_components(&self) -> Result<(), DaprError> {
        let url = self.url(&["v1.0", "metadata"]);
        let response = self.authorized(self.inner.http.get(url)).send().await?;
        let bytes = api_result(response).await?.bytes().await?;
        let metadata: Json = serde_json::from_slice(&bytes)?;
        let mut components = self.inner.components.write().unwrap_or_else(PoisonError::into_inner);
        for component in metadata.get("components").and_then(Json::as_array).into_iter().flatten() {
            if let (Some(name), Some(kind)) =
                (component.get("name").and_then(Json::as_str), component.get("type").and_then(Json::as_str))
            {
                components.insert(name.to_owned(), kind.to_owned());
            }
        }
        Ok(())
    }

    /// The system a component is built on (`kafka` for `pubsub.kafka`), `dapr` when unknown.
    pub(super) fn system(&self, component: &str) -> String {
        let components = self.inner.components.read().unwrap_or_else(PoisonError::into_inner);
        components
            .get(component)
            .and_then(|kind| kind.split_once('.'))
            .map_or_else(|| keys::SYSTEM.to_owned(), |(_, system)| system.to_owned())
    }

    /// The sidecar's URL with these path segments (each percent-encoded).
    pub(super) fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A `POST` of `body` (of `content_type`) to `url`.
    pub(super) fn post(&self, url: reqwest::Url, content_type: &'static str, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.inner.http.post(url).header(http::header::CONTENT_TYPE, content_type).body(body)
    }

    pub(super) fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.inner.token {
            Some(token) => request.header(keys::API_TOKEN_HEADER, token.clone()),
            None => request,
        }
    }

    /// A span of `kind`, child of the current context, with the sidecar's address; and its context.
    pub(super) fn start(&self, name: String, kind: SpanKind, mut attributes: Vec<KeyValue>) -> (BudSpan, Context) {
        if let Some(host) = self.inner.base.host_str() {
            attributes.push(KeyValue::new(constants::http::SERVER_ADDRESS, host.to_owned()));
        }
        if let Some(port) = self.inner.base.port_or_known_default() {
            attributes.push(KeyValue::new(constants::http::SERVER_PORT, i64::from(port)));
        }
        let parent = Context::current();
        let span =
            self.inner.observe.span_builder(name).kind(kind).parent(parent.clone()).attributes(attributes).start();
        let context = span.context_in(parent);
        (span, context)
    }

    /// Sends `request` in `span` (its context injected, the token added): the sidecar's answer, or its error
    /// recorded on the span.
    pub(super) async fn send(
        &self,
        span: &mut BudSpan,
        context: &Context,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DaprError> {
        let mut headers = HeaderMap::new();
        crate::baggage::inject(context, &mut HeaderInjector(&mut headers));
        let result = self.authorized(request.headers(headers)).send().await;
        let response = match result {
            Ok(response) => response,
            Err(err) => {
                span.record_error_parts("reqwest::Error", &err);
                return Err(err.into());
            }
        };
        span.set_attribute(KeyValue::new(constants::http::RESPONSE_STATUS_CODE, i64::from(response.status().as_u16())));
        Ok(response)
    }
}

/// Records the outcome of a call on its span: an error (level error, the error recorded) or nothing.
pub(super) fn finish<T>(span: &mut BudSpan, result: Result<T, DaprError>) -> Result<T, DaprError> {
    if let Err(err) = &result {
        if let DaprError::Api { code, .. } = err
            && !code.is_empty()
        {
            span.set_attribute(KeyValue::new(constants::http::ERROR_TYPE, code.clone()));
        }
        span.record_error_parts("budobserve::integrations::dapr::DaprError", err);
    }
    result
}

/// The sidecar's answer when it is a success; its error otherwise.
pub(super) async fn api_result(response: reqwest::Response) -> Result<reqwest::Response, DaprError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let bytes = response.bytes().await?;
    Err(api_error(status.as_u16(), &bytes))
}

/// Dapr's error answer: `{"errorCode": "ERR_…", "message": "…"}`.
pub(super) fn api_error(status: u16, body: &[u8]) -> DaprError {
    let answer: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
    let text = |key: &str| answer.get(key).and_then(Json::as_str).map(str::to_owned);
    DaprError::Api {
        status,
        code: text("errorCode").unwrap_or_default(),
        message: text("message").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    }
}
