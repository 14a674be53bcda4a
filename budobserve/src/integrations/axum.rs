//! HTTP server spans for axum and any tower service (feature `axum`).
//!
//! [`ServerLayer`] is a `tower::Layer`: one server span per request, the request handled inside it.
//!
//! ```
//! use axum::{Router, routing::get};
//! use budobserve::integrations::axum::ServerLayer;
//!
//! # fn main() -> Result<(), budobserve::ConfigError> {
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .layer(ServerLayer::new().excluded_urls(["^/health$"])?.capture_request_headers(["x-tenant"]));
//! # Ok(()) }
//! ```
//!
//! Each span:
//! - is named `"{method} {route}"` from axum's `MatchedPath` (`GET /users/{id}`; the raw path never becomes the
//!   name), or `"{method}"` where no route is known (a plain tower service, or a layer outside the router); its
//!   message shows the path (`GET /users/42`);
//! - records `http.request.method`, `url.path`, `url.query`, `url.scheme`, `http.route`,
//!   `http.response.status_code`, `server.address`/`server.port` (the `Host`), `client.address` (the first
//!   `X-Forwarded-For` hop, else axum's `ConnectInfo<SocketAddr>`), `user_agent.original`,
//!   `network.protocol.version`, and the headers asked for as `http.request.header.<name>` /
//!   `http.response.header.<name>` (credentials redacted, everything through scrubbing);
//! - is at level error with an error status for 5xx (`error.type` the status), warn for 4xx;
//! - continues the caller's trace: `traceparent`/`tracestate` and `baggage` (the bud context) are extracted;
//! - carries the request id: `x-request-id` (or the bud context's), else a new one, as `bud.request_id` on this and
//!   every span of the request, echoed back in the response's `x-request-id`;
//! - is current while the handler runs and while the response body streams, and ends when the body has been sent
//!   (a streaming response is measured to its end), or when the handler panics (the panic recorded as an
//!   exception, the span an error).
//!
//! `http.server.request.duration` (seconds) is recorded for every request with the method, scheme, route, status
//! code and protocol version. Spans are written under the instrumentation scope `budobserve.axum`.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::extract::{ConnectInfo, MatchedPath};
use http::{HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Context, KeyValue};
use regex::RegexSet;
use tower_layer::Layer;
use tower_service::Service;

use super::http::{self as shared, CapturedHeaders, HeaderExtractor};
use super::timed::TimedSpan;
use crate::constants::{self, bud, http as keys};
use crate::error::ConfigError;
use crate::level::Level;
use crate::observe::BudObserve;
use crate::span::BudSpan;

/// The instrumentation scope of the spans this layer writes.
pub const SCOPE: &str = "budobserve.axum";

/// Adds a server span to every request (see the [module](self)).
///
/// ```
/// use axum::{Router, routing::get};
/// use budobserve::integrations::axum::ServerLayer;
///
/// let layer = ServerLayer::new()
///     .excluded_urls(["^/health$", "^/metrics$"])?      // no spans for probes
///     .capture_request_headers(["x-tenant"])
///     .capture_response_headers(["x-cache"]);
/// let _app: Router = Router::new().route("/users/{id}", get(|| async { "user" })).layer(layer);
/// # Ok::<(), budobserve::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ServerLayer {
    config: Arc<ServerConfig>,
}

type RequestAttributes = dyn Fn(&http::request::Parts) -> Vec<KeyValue> + Send + Sync;

#[derive(Clone)]
struct ServerConfig {
    observe: BudObserve,
    excluded: Option<RegexSet>,
    request_headers: CapturedHeaders,
    response_headers: CapturedHeaders,
    request_attributes: Option<Arc<RequestAttributes>>,
    duration: Histogram<f64>,
}

impl fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLayer")
            .field("excluded", &self.config.excluded)
            .field("request_headers", &self.config.request_headers)
            .field("response_headers", &self.config.response_headers)
            .finish_non_exhaustive()
    }
}

impl Default for ServerLayer {
    fn default() -> Self {
        ServerLayer::new()
    }
}

impl ServerLayer {
    /// A layer writing to the instance current now (the global one, unless inside
    /// [`with_instance`](crate::with_instance)).
    pub fn new() -> ServerLayer {
        ServerLayer::for_instance(&crate::current())
    }

    /// A layer writing to `observe`.
    pub fn for_instance(observe: &BudObserve) -> ServerLayer {
        let (observe, duration) = super::handle::scoped(
            observe,
            SCOPE,
            constants::metrics::HTTP_SERVER_REQUEST_DURATION,
            "Duration of HTTP server requests.",
        );
        ServerLayer {
            config: Arc::new(ServerConfig {
                observe,
                excluded: None,
                request_headers: CapturedHeaders::default(),
                response_headers: CapturedHeaders::default(),
                request_attributes: None,
                duration,
            }),
        }
    }

    fn config_mut(&mut self) -> &mut ServerConfig {
        // Built before it is shared: the `Arc` has one owner until the layer is cloned into services.
        Arc::make_mut(&mut self.config)
    }

    /// Requests whose path matches one of these regular expressions get no span (health checks, metrics scrapes).
    pub fn excluded_urls<I, S>(mut self, patterns: I) -> Result<ServerLayer, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns: Vec<String> = patterns.into_iter().map(|p| p.as_ref().to_owned()).collect();
        let set = RegexSet::new(&patterns).map_err(|err| ConfigError::InvalidOption {
            option: "excluded_urls",
            value: patterns.join(", "),
            expected: format!("regular expressions ({err})").into(),
        })?;
        self.config_mut().excluded = Some(set);
        Ok(self)
    }

    /// Request headers recorded as `http.request.header.<name>` (string arrays; `Authorization`, `Cookie` and
    /// the like redacted, every value scrubbed).
    pub fn capture_request_headers<I, S>(mut self, names: I) -> ServerLayer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config_mut().request_headers = CapturedHeaders::new(keys::REQUEST_HEADER, names);
        self
    }

    /// Response headers recorded as `http.response.header.<name>` (as for requests).
    pub fn capture_response_headers<I, S>(mut self, names: I) -> ServerLayer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config_mut().response_headers = CapturedHeaders::new(keys::RESPONSE_HEADER, names);
        self
    }

    /// Attributes added to each request's span from the request's head (method, URI, headers, extensions).
    pub fn request_attributes(
        mut self,
        attributes: impl Fn(&http::request::Parts) -> Vec<KeyValue> + Send + Sync + 'static,
    ) -> ServerLayer {
        self.config_mut().request_attributes = Some(Arc::new(attributes));
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> ServerService<S> {
        ServerService { inner, config: Arc::clone(&self.config) }
    }
}

/// The service of [`ServerLayer`].
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
/// use budobserve::integrations::axum::{ServerLayer, ServerService};
/// use tower_layer::Layer as _;
///
/// // Any tower service: here a whole router, served as one service.
/// let router: Router = Router::new().route("/", get(|| async { "ok" }));
/// let _service: ServerService<Router> = ServerLayer::new().layer(router);
/// ```
#[derive(Clone)]
pub struct ServerService<S> {
    inner: S,
    config: Arc<ServerConfig>,
}

impl<S> fmt::Debug for ServerService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerService").finish_non_exhaustive()
    }
}

impl<S, B, RB> Service<Request<B>> for ServerService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: fmt::Display,
    RB: Body,
    RB::Error: fmt::Display,
{
    type Response = Response<InstrumentedBody<RB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let config = &self.config;
        if config.excluded.as_ref().is_some_and(|set| set.is_match(request.uri().path())) {
            return ResponseFuture { inner: self.inner.call(request), state: None, context: Context::current() };
        }
        let (state, context, request) = start(config, request);
        let inner = {
            let _entered = context.clone().attach();
            self.inner.call(request)
        };
        ResponseFuture { inner, state: Some(state), context }
    }
}

/// Starts a request's span: its attributes, its parent from the headers, its request id.
fn start<B>(config: &Arc<ServerConfig>, request: Request<B>) -> (RequestState, Context, Request<B>) {
    let (mut parts, body) = request.into_parts();
    let mut attributes = Vec::with_capacity(16);
    let method = shared::method(&parts.method, &mut attributes);
    let path = parts.uri.path();
    let mut message = String::with_capacity(method.len() + 1 + path.len());
    message.push_str(method);
    message.push(' ');
    message.push_str(path);
    attributes.push(KeyValue::new(keys::URL_PATH, path.to_owned()));
    if let Some(query) = parts.uri.query() {
        attributes.push(KeyValue::new(keys::URL_QUERY, query.to_owned()));
    }
    let scheme: &'static str = if parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS) { "https" } else { "http" };
    attributes.push(KeyValue::new(keys::URL_SCHEME, scheme));
    let route = parts.extensions.get::<MatchedPath>().map(|matched| matched.as_str().to_owned());
    if let Some(route) = &route {
        attributes.push(KeyValue::new(keys::ROUTE, route.clone()));
    }
    let authority = parts
        .uri
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .or_else(|| parts.headers.get(http::header::HOST).and_then(|host| host.to_str().ok()).map(str::to_owned));
    if let Some(authority) = &authority {
        let (host, port) = shared::host_and_port(authority);
        attributes.push(KeyValue::new(keys::SERVER_ADDRESS, host.into_owned()));
        // A host without a port is at its scheme's.
        let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
        attributes.push(KeyValue::new(keys::SERVER_PORT, i64::from(port)));
    }
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .map(|client| client.trim().to_owned())
        .filter(|client| !client.is_empty());
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| *address);
    match (forwarded, peer) {
        // The client is who the proxy says; its port is not known.
        (Some(client), _) => attributes.push(KeyValue::new(keys::CLIENT_ADDRESS, client)),
        (None, Some(peer)) => {
            attributes.push(KeyValue::new(keys::CLIENT_ADDRESS, peer.ip().to_string()));
            attributes.push(KeyValue::new(keys::CLIENT_PORT, i64::from(peer.port())));
        }
        (None, None) => {}
    }
    if let Some(agent) = parts.headers.get(http::header::USER_AGENT).and_then(|value| value.to_str().ok()) {
        attributes.push(KeyValue::new(keys::USER_AGENT_ORIGINAL, agent.to_owned()));
    }
    let protocol = shared::protocol_version(parts.version);
    if let Some(protocol) = protocol {
        attributes.push(KeyValue::new(keys::NETWORK_PROTOCOL_VERSION, protocol));
    }
    config.request_headers.record(&parts.headers, &mut attributes);
    if let Some(hook) = &config.request_attributes {
        // A hook that panics costs its attributes only: the request and its span go on.
        let counters = &config.observe.instance.export_counters;
        attributes.extend(
            counters.contain("the server layer's request_attributes hook", 0, || hook(&parts)).into_iter().flatten(),
        );
    }

    // The caller's trace and baggage (read only when sent), with this request's id in the bud context.
    let parent = if TRACE_HEADERS.iter().any(|name| parts.headers.contains_key(*name)) {
        crate::baggage::extract(&HeaderExtractor(&parts.headers))
    } else {
        Context::current()
    };
    let header_id =
        parts.headers.get(keys::REQUEST_ID_HEADER).and_then(|value| value.to_str().ok()).filter(|id| !id.is_empty());
    let baggage_id = parent.baggage().get(bud::REQUEST_ID).map(|id| id.as_str().to_owned());
    let (request_id, parent) = match (header_id, baggage_id) {
        (Some(header), Some(baggage)) if header == baggage => (baggage, parent),
        (None, Some(baggage)) => (baggage, parent),
        (header, _) => {
            let id = header.map_or_else(shared::new_request_id, str::to_owned);
            // The caller's other baggage entries stay.
            let parent = crate::baggage::with_entries(&parent, [(bud::REQUEST_ID, id.clone())]);
            (id, parent)
        }
    };

    let mut name = String::with_capacity(method.len() + 1 + route.as_ref().map_or(0, String::len));
    name.push_str(method);
    if let Some(route) = &route {
        name.push(' ');
        name.push_str(route);
    }
    let span = config
        .observe
        .span_builder(name)
        .message(message)
        .kind(SpanKind::Server)
        .parent(parent.clone())
        .attributes(attributes)
        .start();
    let context = span.context_in(parent);
    let mut metric_attributes = Vec::with_capacity(6);
    metric_attributes.push(KeyValue::new(keys::REQUEST_METHOD, method));
    metric_attributes.push(KeyValue::new(keys::URL_SCHEME, scheme));
    if let Some(route) = route {
        metric_attributes.push(KeyValue::new(keys::ROUTE, route));
    }
    if let Some(protocol) = protocol {
        metric_attributes.push(KeyValue::new(keys::NETWORK_PROTOCOL_VERSION, protocol));
    }
    parts.extensions.insert(RequestId(request_id.clone()));
    let timed = TimedSpan::new(span, &config.duration, metric_attributes);
    let state = RequestState { timed, config: Arc::clone(config), request_id, status: None };
    (state, context, Request::from_parts(parts, body))
}

/// The request id of the request being handled, in the request's extensions (`Extension<RequestId>` in axum).
///
/// ```
/// use axum::Extension;
/// use budobserve::integrations::axum::RequestId;
///
/// async fn handler(Extension(RequestId(id)): Extension<RequestId>) -> String {
///     format!("request {id}")                            // the same id as `bud.request_id` and `x-request-id`
/// }
/// # drop(handler);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The headers that carry a caller's trace context or baggage.
const TRACE_HEADERS: [&str; 3] = ["traceparent", "tracestate", "baggage"];

/// A request's span until its response body ends; dropping it ends the span and records the duration.
struct RequestState {
    timed: TimedSpan,
    config: Arc<ServerConfig>,
    request_id: String,
    status: Option<u16>,
}

impl RequestState {
    fn span(&mut self) -> Option<&mut BudSpan> {
        self.timed.span()
    }

    /// Records the response head: status, level, captured headers; echoes the request id.
    fn respond<RB>(&mut self, response: &mut Response<RB>) {
        let status = response.status().as_u16();
        self.status = Some(status);
        if !response.headers().contains_key(keys::REQUEST_ID_HEADER)
            && let Ok(value) = HeaderValue::from_str(&self.request_id)
        {
            response.headers_mut().insert(keys::REQUEST_ID_HEADER, value);
        }
        let mut attributes = vec![KeyValue::new(keys::RESPONSE_STATUS_CODE, i64::from(status))];
        self.config.response_headers.record(response.headers(), &mut attributes);
        if status >= 500 {
            attributes.push(KeyValue::new(keys::ERROR_TYPE, status.to_string()));
        }
        if let Some(span) = self.span() {
            span.set_attributes(attributes);
            let level = shared::level(status);
            if level > span.level() {
                span.set_level(level);
            }
            if status >= 500 {
                span.set_status(Status::error(""));
            }
        }
    }

    /// Records a failure of the service or of the response body.
    fn fail(&mut self, kind: &str, message: String) {
        if let Some(span) = self.span() {
            span.set_attribute(KeyValue::new(keys::ERROR_TYPE, kind.to_owned()));
            span.record_error_message("http::Error", message);
        }
    }
}

impl Drop for RequestState {
    fn drop(&mut self) {
        match self.status {
            Some(status) => {
                self.timed.metric_attribute(KeyValue::new(keys::RESPONSE_STATUS_CODE, i64::from(status)));
                if status >= 500 {
                    self.timed.metric_attribute(KeyValue::new(keys::ERROR_TYPE, status.to_string()));
                }
            }
            None if std::thread::panicking() => self.timed.metric_attribute(KeyValue::new(keys::ERROR_TYPE, "panic")),
            None => self.timed.metric_attribute(KeyValue::new(keys::ERROR_TYPE, "_OTHER")),
        }
        if std::thread::panicking()
            && let Some(span) = self.span()
        {
            // The span records the panic itself when it ends; a panicking handler is a server error.
            span.set_level(Level::Error);
            span.set_attribute(KeyValue::new(keys::ERROR_TYPE, "panic"));
        }
        self.timed.end();
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ServerService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<RequestState>,
        context: Context,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: fmt::Display,
    RB: Body,
{
    type Output = Result<Response<InstrumentedBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.context.clone().attach();
        // Held in a local while the handler runs: a panic unwinding through here drops it, which ends the span
        // with the panic recorded (executors catch a task's panic before dropping the task).
        let mut state = this.state.take();
        match this.inner.poll(cx) {
            Poll::Pending => {
                *this.state = state;
                Poll::Pending
            }
            Poll::Ready(Ok(mut response)) => {
                if let Some(state) = &mut state {
                    state.respond(&mut response);
                }
                let context = this.context.clone();
                Poll::Ready(Ok(response.map(|inner| InstrumentedBody { inner, state, context })))
            }
            Poll::Ready(Err(err)) => {
                if let Some(state) = &mut state {
                    state.fail("service_error", err.to_string());
                }
                Poll::Ready(Err(err))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its request's span when it ends (or is dropped).
    pub struct InstrumentedBody<B> {
        #[pin]
        inner: B,
        state: Option<RequestState>,
        context: Context,
    }
}

impl<B> fmt::Debug for InstrumentedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedBody").finish_non_exhaustive()
    }
}

impl<B: Body> Body for InstrumentedBody<B>
where
    B::Error: fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let _entered = this.state.is_some().then(|| this.context.clone().attach());
        let poll = this.inner.poll_frame(cx);
        match &poll {
            Poll::Ready(None) => drop(this.state.take()),
            Poll::Ready(Some(Err(err))) => {
                if let Some(mut state) = this.state.take() {
                    state.fail("body_error", err.to_string());
                }
            }
            _ => {}
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
    fn request_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (shared::new_request_id(), shared::new_request_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
