//! Dapr: service invocation, pub/sub and state through the sidecar's HTTP API, with the trace and the bud context
//! carried across every hop (feature `dapr`).
//!
//! **Client side**, [`DaprClient`]: one span per call to the sidecar, the call's trace context and baggage sent
//! with it.
//!
//! - [`invoke`](DaprClient::invoke) (`/v1.0/invoke/{app-id}/method/{method}`): a client span `{app-id}/{method}`
//!   with `rpc.system = "dapr"`, `rpc.service`, `rpc.method`, the HTTP attributes and `dapr.app_id`,
//!   `dapr.method`; `traceparent`, `tracestate` and `baggage` go to the target app (the sidecars forward them).
//! - [`publish`](DaprClient::publish) and [`publish_bulk`](DaprClient::publish_bulk): a producer span
//!   `publish {topic}` (`messaging.system` = the component's type where known, `messaging.destination.name`,
//!   `messaging.operation.type = "send"`, `dapr.pubsub_name`, the message id or the batch size). Each event is
//!   sent as a CloudEvent whose `traceparent`/`tracestate` extension attributes carry the trace (the sidecar
//!   forwards them to subscribers) and whose `baggage` attribute carries the bud context.
//! - [`get_state`](DaprClient::get_state), [`save_state`](DaprClient::save_state),
//!   [`delete_state`](DaprClient::delete_state), [`transaction`](DaprClient::transaction): a database client span
//!   `{OPERATION} {store}` (`db.system.name` from the store's type where known, `db.operation.name`,
//!   `dapr.store_name`, `dapr.state.keys`); keys are recorded, values never.
//!
//! The `dapr-api-token` is sent, never recorded. Components' types come from [`DaprClient::component`] or from the
//! sidecar's metadata ([`DaprClient::load_components`]); without them `messaging.system`/`db.system.name` are
//! `dapr`.
//!
//! **Server side**, [`SubscriptionLayer`] on an app's subscription routes: it reads the CloudEvent the sidecar
//! delivers (single, or a bulk-subscribe envelope), and runs the handler in a consumer span `process {topic}`
//! (`messaging.operation.type = "process"`) — the child of the request's span when a server layer started one
//! (linked to the producer's span), else the child of the producer's span — with the producer's bud context; the
//! handler's answer (`SUCCESS`, `RETRY`, `DROP`) is recorded. Invoked methods are plain HTTP requests for the
//! [server layer](super::axum::ServerLayer). [`Subscription`] writes the `/dapr/subscribe` answer.
//!
//! ```no_run
//! use budobserve::integrations::dapr::DaprClient;
//!
//! # async fn run() -> Result<(), budobserve::integrations::dapr::DaprError> {
//! let dapr = DaprClient::from_env()?; // DAPR_HTTP_ENDPOINT or DAPR_HTTP_PORT, DAPR_API_TOKEN, APP_ID
//! dapr.publish("pubsub", "orders", &serde_json::json!({"order": 7})).await?;
//! let answer = dapr.invoke("billing", "charge").json(&serde_json::json!({"order": 7})).send().await?;
//! let cart: Option<serde_json::Value> = dapr.get_state("statestore", "cart-7").await?;
//! # drop((answer, cart));
//! # Ok(())
//! # }
//! ```
//!
//! Spans are written under the instrumentation scope `budobserve.dapr`. The `dapr` crate's gRPC client is not
//! instrumented: its supported constructors fix its transport, so no trace context can reach a call's metadata.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context as TaskContext, Poll};

use axum::body::Body;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use tower_layer::Layer;
use tower_service::Service;

use super::http::{HeaderInjector, level};
use crate::config::{ConfigError, EnvSource};
use crate::constants::{self, dapr as keys};
use crate::level::Level;
use crate::observe::{BudObserve, Settings};
use crate::span::BudSpan;

/// The instrumentation scope of the spans this integration writes.
pub const SCOPE: &str = "budobserve.dapr";

/// The CloudEvents type Dapr gives the events it wraps.
const EVENT_TYPE: &str = "com.dapr.event.sent";
/// The largest request or handler answer the subscription layer reads (a CloudEvent, a bulk envelope).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

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

/// A client of the Dapr sidecar's HTTP API whose calls are spans (see the [module](self)). Cheap to clone.
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
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Option<HeaderValue>,
    /// The CloudEvents `source` of published events.
    app_id: String,
    observe: BudObserve,
    /// Component name → type (`pubsub.kafka`, `state.redis`).
    components: RwLock<HashMap<String, String>>,
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
        let base = reqwest::Url::parse(address)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| DaprError::Address(address.to_owned()))?;
        let observe = crate::current().with_settings(Settings::new().scope(SCOPE));
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
        let invalid = |variable: &'static str, value: String, expected: &'static str| ConfigError::InvalidEnvVar {
            variable,
            value,
            expected: expected.into(),
        };
        let address = match (env.get(keys::ENV_HTTP_ENDPOINT)?, env.get(keys::ENV_HTTP_PORT)?) {
            (Some(endpoint), _) => endpoint,
            (None, Some(port)) => match port.parse::<u16>() {
                Ok(port) if port > 0 => format!("http://127.0.0.1:{port}"),
                _ => return Err(invalid(keys::ENV_HTTP_PORT, port, "a port number (1-65535)").into()),
            },
            (None, None) => "http://127.0.0.1:3500".to_owned(),
        };
        let mut client = DaprClient::new(&address)
            .map_err(|_| invalid(keys::ENV_HTTP_ENDPOINT, address.clone(), "an http:// or https:// URL"))?;
        if let Some(token) = env.get(keys::ENV_API_TOKEN)? {
            client = client
                .api_token(&token)
                .map_err(|_| invalid(keys::ENV_API_TOKEN, "<hidden>".to_owned(), "visible ASCII characters"))?;
        }
        client = client.app_id(env.get(keys::ENV_APP_ID)?.unwrap_or_else(|| "unknown_service".to_owned()));
        Ok(client)
    }

    /// The settings, copied first when the client is shared (settings are made before it is).
    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Writes to `observe` instead of the instance current when the client was made.
    pub fn for_instance(mut self, observe: &BudObserve) -> DaprClient {
        self.inner_mut().observe = observe.with_settings(Settings::new().scope(SCOPE));
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
    fn system(&self, component: &str) -> String {
        let components = self.inner.components.read().unwrap_or_else(PoisonError::into_inner);
        components
            .get(component)
            .and_then(|kind| kind.split_once('.'))
            .map_or_else(|| keys::SYSTEM.to_owned(), |(_, system)| system.to_owned())
    }

    /// The sidecar's URL with these path segments (each percent-encoded).
    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A `POST` of `body` (of `content_type`) to `url`.
    fn post(&self, url: reqwest::Url, content_type: &'static str, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.inner.http.post(url).header(http::header::CONTENT_TYPE, content_type).body(body)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.inner.token {
            Some(token) => request.header(keys::API_TOKEN_HEADER, token.clone()),
            None => request,
        }
    }

    /// A span of `kind`, child of the current context, with the sidecar's address; and its context.
    fn start(&self, name: String, kind: SpanKind, mut attributes: Vec<KeyValue>) -> (BudSpan, Context) {
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
    async fn send(
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

    /// An invocation of `method` of the app `app_id` (`POST` unless [`Invocation::method`] says otherwise).
    pub fn invoke(&self, app_id: impl Into<String>, method: impl Into<String>) -> Invocation {
        Invocation {
            client: self.clone(),
            app_id: app_id.into(),
            method: method.into(),
            http_method: Method::POST,
            headers: HeaderMap::new(),
            query: Vec::new(),
            body: Ok(None),
        }
    }

    /// Publishes `data` to `topic` of the pub/sub component `pubsub`, as a CloudEvent that carries the trace.
    pub async fn publish<T: Serialize + ?Sized>(&self, pubsub: &str, topic: &str, data: &T) -> Result<(), DaprError> {
        let data = serde_json::to_value(data)?;
        let id = super::axum::new_request_id();
        let mut attributes = self.messaging_attributes(pubsub, topic);
        attributes.push(KeyValue::new(keys::MESSAGING_MESSAGE_ID, id.clone()));
        let (mut span, context) = self.start(format!("publish {topic}"), SpanKind::Producer, attributes);
        let event = self.cloud_event(&context, id, data);
        let url = self.url(&["v1.0", "publish", pubsub, topic]);
        let request = self.post(url, "application/cloudevents+json", serde_json::to_vec(&event)?);
        let response = self.send(&mut span, &context, request).await?;
        finish(&mut span, api_result(response).await.map(drop))
    }

    /// Publishes every event of `events` to `topic` in one call (Dapr's bulk publish); the entries the sidecar
    /// could not publish are returned (and make the span an error).
    pub async fn publish_bulk<T: Serialize>(
        &self,
        pubsub: &str,
        topic: &str,
        events: &[T],
    ) -> Result<BulkPublished, DaprError> {
        let mut attributes = self.messaging_attributes(pubsub, topic);
        attributes.push(KeyValue::new(keys::MESSAGING_BATCH_MESSAGE_COUNT, events.len() as i64));
        let (mut span, context) = self.start(format!("publish {topic}"), SpanKind::Producer, attributes);
        let mut entries = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let event = self.cloud_event(&context, super::axum::new_request_id(), serde_json::to_value(event)?);
            entries.push(serde_json::json!({
                "entryId": index.to_string(),
                "event": event,
                "contentType": "application/cloudevents+json",
            }));
        }
        let url = self.url(&["v1.0-alpha1", "publish", "bulk", pubsub, topic]);
        let request = self.post(url, "application/json", serde_json::to_vec(&entries)?);
        let response = self.send(&mut span, &context, request).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(BulkPublished { failed: Vec::new() });
        }
        // Some entries failed: the answer names them.
        let bytes = response.bytes().await?;
        let answer: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
        let failed: Vec<FailedEntry> = answer
            .get("failedEntries")
            .and_then(|entries| serde_json::from_value(entries.clone()).ok())
            .unwrap_or_default();
        if failed.is_empty() {
            return finish(&mut span, Err(api_error(status.as_u16(), &bytes)));
        }
        span.set_attribute(KeyValue::new(keys::BULK_FAILED_ENTRIES, failed.len() as i64));
        span.record_error_message(
            "DaprBulkPublishError",
            format!("{} of {} events not published", failed.len(), events.len()),
        );
        Ok(BulkPublished { failed })
    }

    fn messaging_attributes(&self, pubsub: &str, topic: &str) -> Vec<KeyValue> {
        vec![
            KeyValue::new(keys::MESSAGING_SYSTEM, self.system(pubsub)),
            KeyValue::new(keys::MESSAGING_DESTINATION_NAME, topic.to_owned()),
            KeyValue::new(keys::MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(keys::MESSAGING_OPERATION_NAME, "publish"),
            KeyValue::new(keys::PUBSUB_NAME, pubsub.to_owned()),
        ]
    }

    /// A CloudEvent of `data`, with the trace (`traceparent`, `tracestate`) and the baggage of `context`.
    fn cloud_event(&self, context: &Context, id: String, data: Json) -> Json {
        let mut event = serde_json::Map::new();
        event.insert("specversion".to_owned(), Json::from("1.0"));
        event.insert("id".to_owned(), Json::from(id));
        event.insert("source".to_owned(), Json::from(self.inner.app_id.clone()));
        event.insert("type".to_owned(), Json::from(EVENT_TYPE));
        event.insert("datacontenttype".to_owned(), Json::from("application/json"));
        for (name, value) in crate::baggage::inject_headers(context) {
            event.insert(name, Json::from(value));
        }
        event.insert("data".to_owned(), data);
        Json::Object(event)
    }

    /// The value saved under `key` in the state store `store`, `None` when there is none.
    pub async fn get_state<T: DeserializeOwned>(&self, store: &str, key: &str) -> Result<Option<T>, DaprError> {
        let (mut span, context) = self.start_state("GET", store, &[key]);
        let request = self.inner.http.get(self.url(&["v1.0", "state", store, key]));
        let response = self.send(&mut span, &context, request).await?;
        let result = async {
            let response = api_result(response).await?;
            if response.status() == http::StatusCode::NO_CONTENT {
                return Ok(None);
            }
            let bytes = response.bytes().await?;
            Ok(Some(serde_json::from_slice(&bytes)?))
        }
        .await;
        finish(&mut span, result)
    }

    /// Saves `value` under `key` in the state store `store`.
    pub async fn save_state<T: Serialize + ?Sized>(&self, store: &str, key: &str, value: &T) -> Result<(), DaprError> {
        let body = serde_json::to_vec(&[serde_json::json!({"key": key, "value": value})])?;
        let (mut span, context) = self.start_state("SAVE", store, &[key]);
        let request = self.post(self.url(&["v1.0", "state", store]), "application/json", body);
        let response = self.send(&mut span, &context, request).await?;
        finish(&mut span, api_result(response).await.map(drop))
    }

    /// Deletes `key` from the state store `store`.
    pub async fn delete_state(&self, store: &str, key: &str) -> Result<(), DaprError> {
        let (mut span, context) = self.start_state("DELETE", store, &[key]);
        let request = self.inner.http.delete(self.url(&["v1.0", "state", store, key]));
        let response = self.send(&mut span, &context, request).await?;
        finish(&mut span, api_result(response).await.map(drop))
    }

    /// Applies `operations` to the state store `store` in one transaction.
    pub async fn transaction(&self, store: &str, operations: &[StateOperation]) -> Result<(), DaprError> {
        let keys: Vec<&str> = operations.iter().map(StateOperation::key).collect();
        let (mut span, context) = self.start_state("TRANSACTION", store, &keys);
        span.set_attribute(KeyValue::new(constants::db::OPERATION_BATCH_SIZE, operations.len() as i64));
        let body = serde_json::json!({"operations": operations});
        let url = self.url(&["v1.0", "state", store, "transaction"]);
        let request = self.post(url, "application/json", serde_json::to_vec(&body)?);
        let response = self.send(&mut span, &context, request).await?;
        finish(&mut span, api_result(response).await.map(drop))
    }

    fn start_state(&self, operation: &'static str, store: &str, keys_: &[&str]) -> (BudSpan, Context) {
        let keys_: Vec<StringValue> = keys_.iter().map(|key| (*key).to_owned().into()).collect();
        let attributes = vec![
            KeyValue::new(constants::db::SYSTEM_NAME, self.system(store)),
            KeyValue::new(constants::db::OPERATION_NAME, operation),
            KeyValue::new(keys::STORE_NAME, store.to_owned()),
            KeyValue::new(keys::STATE_KEYS, Value::Array(Array::String(keys_))),
        ];
        self.start(format!("{operation} {store}"), SpanKind::Client, attributes)
    }
}

/// Records the outcome of a call on its span: an error (level error, the error recorded) or nothing.
fn finish<T>(span: &mut BudSpan, result: Result<T, DaprError>) -> Result<T, DaprError> {
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
async fn api_result(response: reqwest::Response) -> Result<reqwest::Response, DaprError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let bytes = response.bytes().await?;
    Err(api_error(status.as_u16(), &bytes))
}

/// Dapr's error answer: `{"errorCode": "ERR_…", "message": "…"}`.
fn api_error(status: u16, body: &[u8]) -> DaprError {
    let answer: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
    let text = |key: &str| answer.get(key).and_then(Json::as_str).map(str::to_owned);
    DaprError::Api {
        status,
        code: text("errorCode").unwrap_or_default(),
        message: text("message").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    }
}

/// What a bulk publish could not publish.
///
/// ```
/// use budobserve::integrations::dapr::{DaprClient, DaprError};
///
/// async fn audit(dapr: &DaprClient, events: &[serde_json::Value]) -> Result<(), DaprError> {
///     let published = dapr.publish_bulk("pubsub", "audit", events).await?;
///     for failed in &published.failed {
///         eprintln!("event {} not published: {}", failed.entry_id, failed.error); // to retry, or to count
///     }
///     Ok(())
/// }
/// # drop(audit);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkPublished {
    /// The entries not published (their index in the events given, as a string, and the sidecar's error).
    pub failed: Vec<FailedEntry>,
}

/// An event a bulk publish could not publish.
///
/// ```
/// use budobserve::integrations::dapr::{BulkPublished, FailedEntry};
///
/// fn indexes(published: &BulkPublished) -> Vec<usize> {
///     published.failed.iter().filter_map(|entry: &FailedEntry| entry.entry_id.parse().ok()).collect()
/// }
/// assert!(indexes(&BulkPublished::default()).is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct FailedEntry {
    /// The event's index in the events given.
    #[serde(rename = "entryId")]
    pub entry_id: String,
    /// The sidecar's error.
    pub error: String,
}

/// An operation of a state [transaction](DaprClient::transaction).
///
/// ```
/// use budobserve::integrations::dapr::{DaprClient, DaprError, StateOperation};
///
/// async fn move_cart(dapr: &DaprClient) -> Result<(), DaprError> {
///     let operations = [
///         StateOperation::upsert("order-7", &serde_json::json!({"items": 2}))?,
///         StateOperation::delete("cart-7"),
///     ];
///     dapr.transaction("statestore", &operations).await   // one span, keys `order-7`, `cart-7`
/// }
/// # drop(move_cart);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum StateOperation {
    /// Saves a value under a key.
    Upsert {
        /// The key.
        key: String,
        /// The value.
        value: Json,
    },
    /// Deletes a key.
    Delete {
        /// The key.
        key: String,
    },
}

impl StateOperation {
    /// Saves `value` under `key`.
    pub fn upsert<T: Serialize + ?Sized>(key: impl Into<String>, value: &T) -> Result<StateOperation, DaprError> {
        Ok(StateOperation::Upsert { key: key.into(), value: serde_json::to_value(value)? })
    }

    /// Deletes `key`.
    pub fn delete(key: impl Into<String>) -> StateOperation {
        StateOperation::Delete { key: key.into() }
    }

    fn key(&self) -> &str {
        match self {
            StateOperation::Upsert { key, .. } | StateOperation::Delete { key } => key,
        }
    }
}

impl Serialize for StateOperation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let json = match self {
            StateOperation::Upsert { key, value } => {
                serde_json::json!({"operation": "upsert", "request": {"key": key, "value": value}})
            }
            StateOperation::Delete { key } => serde_json::json!({"operation": "delete", "request": {"key": key}}),
        };
        json.serialize(serializer)
    }
}

/// A service invocation being prepared (see [`DaprClient::invoke`]).
///
/// ```
/// use budobserve::integrations::dapr::DaprClient;
/// use http::{HeaderName, HeaderValue, Method};
///
/// async fn status(dapr: &DaprClient) -> Result<u16, budobserve::integrations::dapr::DaprError> {
///     let answer = dapr
///         .invoke("budmodel", "models/42/status")
///         .method(Method::GET)
///         .query("verbose", "true")
///         .header(HeaderName::from_static("x-tenant"), HeaderValue::from_static("t-1"))
///         .send()
///         .await?;
///     Ok(answer.status().as_u16())
/// }
/// # drop(status);
/// ```
#[derive(Debug)]
#[must_use = "an invocation does nothing until sent"]
pub struct Invocation {
    client: DaprClient,
    app_id: String,
    method: String,
    http_method: Method,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: Result<Option<reqwest::Body>, DaprError>,
}

impl Invocation {
    /// The HTTP method (default `POST`).
    pub fn method(mut self, method: Method) -> Invocation {
        self.http_method = method;
        self
    }

    /// A header for the target app (the sidecars forward it).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Invocation {
        self.headers.append(name, value);
        self
    }

    /// A query parameter for the target app.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Invocation {
        self.query.push((name.into(), value.into()));
        self
    }

    /// `value` as a JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Invocation {
        self.body = serde_json::to_vec(value).map(|bytes| Some(bytes.into())).map_err(DaprError::from);
        self.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self
    }

    /// A body as it is.
    pub fn body(mut self, body: impl Into<reqwest::Body>) -> Invocation {
        self.body = Ok(Some(body.into()));
        self
    }

    /// Calls the method: the target app's answer, whatever its status (a 4xx/5xx answer makes the span an error
    /// or warning, as for any HTTP client span); an error when the sidecar cannot be reached.
    pub async fn send(self) -> Result<reqwest::Response, DaprError> {
        let client = &self.client;
        let mut url = client.url(&["v1.0", "invoke", &self.app_id, "method"]);
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(self.method.split('/'));
        }
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        let attributes = vec![
            KeyValue::new(keys::RPC_SYSTEM, keys::SYSTEM),
            KeyValue::new(keys::RPC_SERVICE, self.app_id.clone()),
            KeyValue::new(keys::RPC_METHOD, self.method.clone()),
            KeyValue::new(keys::APP_ID, self.app_id.clone()),
            KeyValue::new(keys::METHOD, self.method.clone()),
            KeyValue::new(constants::http::REQUEST_METHOD, self.http_method.as_str().to_owned()),
            KeyValue::new(constants::http::URL_FULL, url.as_str().to_owned()),
        ];
        let (mut span, context) =
            client.start(format!("{}/{}", self.app_id, self.method), SpanKind::Client, attributes);
        let body = match self.body {
            Ok(body) => body,
            Err(err) => return finish(&mut span, Err(err)),
        };
        let mut request = client.inner.http.request(self.http_method, url).headers(self.headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = client.send(&mut span, &context, request).await?;
        let status = response.status().as_u16();
        let level = level(status);
        if level > span.level() {
            span.set_level(level);
        }
        if status >= 500 {
            span.set_attribute(KeyValue::new(constants::http::ERROR_TYPE, status.to_string()));
            span.set_status(Status::error(""));
        }
        Ok(response)
    }
}

/// A programmatic subscription, as an app lists it in its answer to the sidecar's `GET /dapr/subscribe`.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use budobserve::integrations::dapr::Subscription;
///
/// let subscriptions = vec![
///     Subscription::new("pubsub", "orders", "/events/orders"),
///     Subscription::new("pubsub", "audit", "/events/audit").bulk(100),
/// ];
/// let _app: Router = Router::new().route("/dapr/subscribe", get(move || async move { Json(subscriptions.clone()) }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// The pub/sub component.
    #[serde(rename = "pubsubname")]
    pub pubsub_name: String,
    /// The topic.
    pub topic: String,
    /// The app's route that receives the events.
    pub route: String,
    /// Bulk subscribe: the events arrive in batches (a bulk envelope).
    #[serde(rename = "bulkSubscribe", skip_serializing_if = "BulkSubscribe::is_off")]
    pub bulk_subscribe: BulkSubscribe,
}

/// The bulk-subscribe settings of a [`Subscription`].
///
/// ```
/// use budobserve::integrations::dapr::Subscription;
///
/// let subscription = Subscription::new("pubsub", "audit", "/events/audit").bulk(100);
/// assert!(subscription.bulk_subscribe.enabled);
/// assert_eq!(subscription.bulk_subscribe.max_messages_count, Some(100));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BulkSubscribe {
    /// Whether events arrive in batches.
    pub enabled: bool,
    /// The largest batch.
    #[serde(rename = "maxMessagesCount", skip_serializing_if = "Option::is_none")]
    pub max_messages_count: Option<u32>,
}

impl BulkSubscribe {
    fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Subscription {
    /// Events of `topic` on `pubsub_name`, delivered one by one to `route`.
    pub fn new(pubsub_name: impl Into<String>, topic: impl Into<String>, route: impl Into<String>) -> Subscription {
        Subscription {
            pubsub_name: pubsub_name.into(),
            topic: topic.into(),
            route: route.into(),
            bulk_subscribe: BulkSubscribe::default(),
        }
    }

    /// Events delivered in batches of at most `max_messages` (a bulk-subscribe envelope).
    pub fn bulk(mut self, max_messages: u32) -> Subscription {
        self.bulk_subscribe = BulkSubscribe { enabled: true, max_messages_count: Some(max_messages) };
        self
    }
}

/// A tower layer for an app's subscription routes: each delivered event is handled in a consumer span (see the
/// [module](self)).
///
/// ```
/// use axum::{Json, Router, routing::post};
/// use budobserve::integrations::dapr::SubscriptionLayer;
/// use serde_json::{Value, json};
///
/// async fn on_order(Json(event): Json<Value>) -> Json<Value> {
///     budobserve::bud_info!("order {order} received", order = event["data"]["order"].as_i64().unwrap_or_default());
///     Json(json!({"status": "SUCCESS"}))                   // or RETRY, DROP: recorded on the consumer span
/// }
///
/// let _app: Router = Router::new().route("/events/orders", post(on_order).layer(SubscriptionLayer::new()));
/// ```
#[derive(Clone, Debug)]
pub struct SubscriptionLayer {
    observe: BudObserve,
}

impl Default for SubscriptionLayer {
    fn default() -> Self {
        SubscriptionLayer::new()
    }
}

impl SubscriptionLayer {
    /// The layer writing to the instance current now.
    pub fn new() -> SubscriptionLayer {
        SubscriptionLayer::for_instance(&crate::current())
    }

    /// The layer writing to `observe`.
    pub fn for_instance(observe: &BudObserve) -> SubscriptionLayer {
        SubscriptionLayer { observe: observe.with_settings(Settings::new().scope(SCOPE)) }
    }
}

impl<S> Layer<S> for SubscriptionLayer {
    type Service = SubscriptionService<S>;

    fn layer(&self, inner: S) -> SubscriptionService<S> {
        SubscriptionService { inner, observe: self.observe.clone() }
    }
}

/// The service [`SubscriptionLayer`] makes.
///
/// ```
/// use axum::routing::{MethodRouter, post};
/// use budobserve::integrations::dapr::{SubscriptionLayer, SubscriptionService};
/// use tower_layer::Layer as _;
///
/// let handler: MethodRouter = post(|| async { r#"{"status":"SUCCESS"}"# });
/// let _service: SubscriptionService<MethodRouter> = SubscriptionLayer::new().layer(handler);
/// ```
#[derive(Clone, Debug)]
pub struct SubscriptionService<S> {
    inner: S,
    observe: BudObserve,
}

impl<S> Service<Request<Body>> for SubscriptionService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let observe = self.observe.clone();
        // The request's span (a server layer's), when there is one.
        let current = Context::current();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
                // Unreadable: the handler sees the same failure.
                let request = Request::from_parts(parts, Body::empty());
                return inner.call(request).await;
            };
            let event: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
            let (mut span, context) = start_process(&observe, &current, &event);
            let request = Request::from_parts(parts, Body::from(bytes));
            let future = {
                let _attached = context.clone().attach();
                inner.call(request)
            };
            let response = opentelemetry::context::FutureExt::with_context(future, context).await?;
            Ok(record_answer(&mut span, response).await)
        })
    }
}

/// The consumer span of a delivered event (a CloudEvent or a bulk envelope), and the context its handler runs in.
fn start_process(observe: &BudObserve, current: &Context, event: &Json) -> (BudSpan, Context) {
    let text = |json: &Json, key: &str| json.get(key).and_then(Json::as_str).map(str::to_owned);
    let topic = text(event, "topic").unwrap_or_default();
    let mut attributes = vec![
        KeyValue::new(keys::MESSAGING_SYSTEM, keys::SYSTEM),
        KeyValue::new(keys::MESSAGING_DESTINATION_NAME, topic.clone()),
        KeyValue::new(keys::MESSAGING_OPERATION_TYPE, "process"),
        KeyValue::new(keys::MESSAGING_OPERATION_NAME, "process"),
    ];
    if let Some(pubsub) = text(event, "pubsubname") {
        attributes.push(KeyValue::new(keys::PUBSUB_NAME, pubsub));
    }
    // The producers' contexts: the event's, or each entry's of a bulk envelope.
    let events: Vec<&Json> = match event.get("entries").and_then(Json::as_array) {
        Some(entries) => {
            attributes.push(KeyValue::new(keys::MESSAGING_BATCH_MESSAGE_COUNT, entries.len() as i64));
            entries.iter().filter_map(|entry| entry.get("event")).collect()
        }
        None => {
            for (key, field) in [
                (keys::MESSAGING_MESSAGE_ID, "id"),
                (keys::CLOUDEVENTS_SOURCE, "source"),
                (keys::CLOUDEVENTS_TYPE, "type"),
            ] {
                if let Some(value) = text(event, field) {
                    attributes.push(KeyValue::new(key, value));
                }
            }
            vec![event]
        }
    };
    let producers: Vec<Context> = events
        .iter()
        .map(|event| {
            let carrier: HashMap<String, String> = ["traceparent", "tracestate", "baggage"]
                .iter()
                .filter_map(|key| {
                    event.get(*key).and_then(Json::as_str).map(|value| ((*key).to_owned(), value.to_owned()))
                })
                .collect();
            crate::baggage::extract(&carrier)
        })
        .collect();
    // The request's span when a server layer continued the producer's trace; else the one producer's span. A
    // batch has no one producer: its span is the request's (or a root), linked to each.
    let single = (producers.len() == 1).then(|| &producers[0]);
    let request = current.span().span_context().clone();
    let mut parent = match single {
        Some(producer) if !request.is_valid() || request.trace_id() != producer.span().span_context().trace_id() => {
            producer.clone()
        }
        _ => current.clone(),
    };
    // The bud context travels in the events: the producer's entries join the request's own.
    if let Some(producer) = single {
        let mut entries: HashMap<String, KeyValue> = HashMap::new();
        for (key, (value, _)) in producer.baggage().iter().chain(parent.baggage().iter()) {
            entries.insert(key.to_string(), KeyValue::new(key.clone(), value.clone()));
        }
        parent = parent.with_baggage(entries.into_values());
    }
    let mut builder = observe.span_builder(format!("process {topic}")).kind(SpanKind::Consumer).parent(parent.clone());
    let mut linked: Vec<opentelemetry::trace::SpanContext> = Vec::new();
    for producer in &producers {
        let producer = producer.span().span_context().clone();
        if producer.is_valid() && &producer != parent.span().span_context() && !linked.contains(&producer) {
            linked.push(producer.clone());
            builder = builder.link(producer, Vec::new());
        }
    }
    let span = builder.attributes(attributes).start();
    let context = span.context_in(parent);
    (span, context)
}

/// Records the handler's answer — its status, and Dapr's `SUCCESS`/`RETRY`/`DROP` — and hands it back unchanged.
async fn record_answer(span: &mut BudSpan, response: Response<Body>) -> Response<Body> {
    let status = response.status();
    span.set_attribute(KeyValue::new(constants::http::RESPONSE_STATUS_CODE, i64::from(status.as_u16())));
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        span.record_error_message("DaprSubscriptionError", "the handler's answer could not be read".to_owned());
        return Response::from_parts(parts, Body::empty());
    };
    let answer: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
    // A single event's status, or the statuses of a bulk envelope's entries that did not succeed.
    let statuses: Vec<&str> = match answer.get("statuses").and_then(Json::as_array) {
        Some(statuses) => statuses.iter().filter_map(|s| s.get("status").and_then(Json::as_str)).collect(),
        None => answer.get("status").and_then(Json::as_str).into_iter().collect(),
    };
    let outcome = if !status.is_success() {
        // Dapr drops the event on 404 and retries it on other errors.
        if status == http::StatusCode::NOT_FOUND { "DROP" } else { "RETRY" }
    } else {
        statuses.iter().copied().find(|s| *s != "SUCCESS").unwrap_or("SUCCESS")
    }
    .to_owned();
    span.set_attribute(KeyValue::new(keys::SUBSCRIPTION_STATUS, outcome.clone()));
    if status.is_server_error() {
        span.set_level(Level::Error);
        span.set_status(Status::error(format!("the handler answered {status}")));
    } else if outcome != "SUCCESS" {
        span.set_level(Level::Warn);
    }
    Response::from_parts(parts, Body::from(bytes))
}
