//! HTTP client spans for reqwest (feature `reqwest`), as `reqwest-middleware` middleware.
//!
//! ```
//! use budobserve::integrations::reqwest::{ClientMiddleware, UrlTemplate};
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(ClientMiddleware::new().capture_request_headers(["x-tenant"]))
//!     .build();
//! // A request whose span is named `GET /users/{id}` rather than `GET`:
//! let request = client.get("http://users.internal/users/42").with_extension(UrlTemplate::new("/users/{id}"));
//! # drop(request);
//! ```
//!
//! Each request (each attempt, when a retry middleware is added before this one) is a client span:
//! - named `"{method}"`, or `"{method} {url.template}"` when a [`UrlTemplate`] extension is given;
//! - with `http.request.method`, `url.full` (credentials in the URL redacted, the query scrubbed like every
//!   attribute), `url.template`, `server.address`, `server.port`, `http.response.status_code`,
//!   `network.protocol.version`, `http.request.resend_count` (from the second attempt on) and the headers asked
//!   for (credentials redacted);
//! - a child of the current span, whose trace context (`traceparent`, `tracestate`) and baggage (the bud context)
//!   are injected into the request, so the called service continues the trace;
//! - an error with `error.type` for a 4xx or 5xx response (the status), or for a request that failed (the
//!   error's kind); level error for 5xx and failures, warn for 4xx;
//! - optionally with the request body (`http.request.body.text`, when the body is in memory) and the response
//!   body (`http.response.body.text`), each up to a size limit; a captured response body is recorded as it is
//!   read, never buffered ahead of the caller, and the span then ends when the body has been read (or dropped).
//!
//! `http.client.request.duration` (seconds) is recorded for every request. Spans are written under the
//! instrumentation scope `budobserve.reqwest`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::Extensions;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use reqwest_middleware::{Middleware, Next};

use super::http::{self as shared, CapturedHeaders, HeaderInjector};
use super::timed::{self, TimedSpan};
use crate::constants::{self, http as keys};
use crate::level::Level;
use crate::observe::BudObserve;

/// The instrumentation scope of the spans this middleware writes.
pub const SCOPE: &str = "budobserve.reqwest";

/// The route template of a request (`/users/{id}`), given as a request extension: it names the span and is
/// recorded as `url.template`.
///
/// ```
/// use budobserve::integrations::reqwest::{ClientMiddleware, UrlTemplate};
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(ClientMiddleware::new()).build();
/// // The span is `GET /models/{id}` and records `url.template`, whatever the id.
/// let request = client.get("http://budmodel/models/42").with_extension(UrlTemplate::new("/models/{id}"));
/// # drop(request);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(Cow<'static, str>);

impl UrlTemplate {
    /// A template such as `/users/{id}`.
    pub fn new(template: impl Into<Cow<'static, str>>) -> UrlTemplate {
        UrlTemplate(template.into())
    }
}

/// How many times this request was sent before (kept in the request's extensions across a retry middleware's
/// attempts).
#[derive(Clone, Copy, Debug, Default)]
struct Attempts(u32);

/// Adds a client span to every request (see the [module](self)).
///
/// ```
/// use budobserve::integrations::reqwest::ClientMiddleware;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(ClientMiddleware::new().capture_response_headers(["retry-after"]).capture_response_body(4096))
///     .build();
/// # drop(client);
/// ```
#[derive(Clone)]
pub struct ClientMiddleware {
    config: Arc<ClientConfig>,
}

#[derive(Clone)]
struct ClientConfig {
    observe: BudObserve,
    request_headers: CapturedHeaders,
    response_headers: CapturedHeaders,
    request_body: Option<usize>,
    response_body: Option<usize>,
    duration: Histogram<f64>,
}

impl fmt::Debug for ClientMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMiddleware")
            .field("request_headers", &self.config.request_headers)
            .field("response_headers", &self.config.response_headers)
            .field("request_body", &self.config.request_body)
            .field("response_body", &self.config.response_body)
            .finish_non_exhaustive()
    }
}

impl Default for ClientMiddleware {
    fn default() -> Self {
        ClientMiddleware::new()
    }
}

impl ClientMiddleware {
    /// Middleware writing to the instance current now (the global one, unless inside
    /// [`with_instance`](crate::with_instance)).
    pub fn new() -> ClientMiddleware {
        ClientMiddleware::for_instance(&crate::current())
    }

    /// Middleware writing to `observe`.
    pub fn for_instance(observe: &BudObserve) -> ClientMiddleware {
        let (observe, duration) = super::handle::scoped(
            observe,
            SCOPE,
            constants::metrics::HTTP_CLIENT_REQUEST_DURATION,
            "Duration of HTTP client requests.",
        );
        ClientMiddleware {
            config: Arc::new(ClientConfig {
                observe,
                request_headers: CapturedHeaders::default(),
                response_headers: CapturedHeaders::default(),
                request_body: None,
                response_body: None,
                duration,
            }),
        }
    }

    /// Request headers recorded as `http.request.header.<name>` (string arrays; credentials redacted, every value
    /// scrubbed). The trace headers this middleware adds are not among them.
    pub fn capture_request_headers<I, S>(mut self, names: I) -> ClientMiddleware
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Arc::make_mut(&mut self.config).request_headers = CapturedHeaders::new(keys::REQUEST_HEADER, names);
        self
    }

    /// Response headers recorded as `http.response.header.<name>`.
    pub fn capture_response_headers<I, S>(mut self, names: I) -> ClientMiddleware
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Arc::make_mut(&mut self.config).response_headers = CapturedHeaders::new(keys::RESPONSE_HEADER, names);
        self
    }

    /// Records request bodies that are in memory, up to `max_bytes` (as text, invalid UTF-8 replaced; streamed
    /// bodies are not read).
    pub fn capture_request_body(mut self, max_bytes: usize) -> ClientMiddleware {
        Arc::make_mut(&mut self.config).request_body = Some(max_bytes);
        self
    }

    /// Records response bodies up to `max_bytes`, as the caller reads them (nothing is read ahead); the span then
    /// lasts until the body has been read.
    pub fn capture_response_body(mut self, max_bytes: usize) -> ClientMiddleware {
        Arc::make_mut(&mut self.config).response_body = Some(max_bytes);
        self
    }
}

#[async_trait::async_trait]
impl Middleware for ClientMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let config = &self.config;
        let attempt = {
            let attempts = extensions.get_or_insert_default::<Attempts>();
            attempts.0 += 1;
            attempts.0 - 1
        };
        let mut attributes = Vec::with_capacity(12);
        let method = shared::method(request.method(), &mut attributes);
        let url = request.url();
        attributes.push(KeyValue::new(keys::URL_FULL, redacted_url(url)));
        if let Some(host) = url.host_str() {
            attributes.push(KeyValue::new(keys::SERVER_ADDRESS, host.to_owned()));
        }
        if let Some(port) = url.port_or_known_default() {
            attributes.push(KeyValue::new(keys::SERVER_PORT, i64::from(port)));
        }
        let template = extensions.get::<UrlTemplate>().map(|template| template.0.clone());
        if let Some(template) = &template {
            attributes.push(KeyValue::new(keys::URL_TEMPLATE, template.to_string()));
        }
        if attempt > 0 {
            attributes.push(KeyValue::new(keys::REQUEST_RESEND_COUNT, i64::from(attempt)));
        }
        config.request_headers.record(request.headers(), &mut attributes);
        if let Some(limit) = config.request_body
            && let Some(bytes) = request.body().and_then(reqwest::Body::as_bytes)
        {
            attributes.push(KeyValue::new(keys::REQUEST_BODY_TEXT, truncated_text(bytes, limit)));
        }
        let name: Cow<'static, str> = match &template {
            Some(template) => Cow::Owned(format!("{method} {template}")),
            None => Cow::Borrowed(method),
        };
        let (span, context) = timed::start_client_span(&config.observe, name, attributes);
        crate::baggage::inject(&context, &mut HeaderInjector(request.headers_mut()));

        let mut metric_attributes = vec![KeyValue::new(keys::REQUEST_METHOD, method)];
        if let Some(host) = request.url().host_str() {
            metric_attributes.push(KeyValue::new(keys::SERVER_ADDRESS, host.to_owned()));
        }
        if let Some(port) = request.url().port_or_known_default() {
            metric_attributes.push(KeyValue::new(keys::SERVER_PORT, i64::from(port)));
        }
        let timed = TimedSpan::new(span, &config.duration, metric_attributes);
        let mut state = ClientState { timed, config: Arc::clone(config) };
        match next.run(request, extensions).await {
            Ok(response) => {
                state.respond(&response);
                match config.response_body {
                    Some(limit) => Ok(capture_body(response, limit, state)),
                    None => Ok(response),
                }
            }
            Err(err) => {
                state.fail(&err);
                Err(err)
            }
        }
    }
}

/// A request's span until its response (or, with body capture, its response body) ends.
struct ClientState {
    timed: TimedSpan,
    config: Arc<ClientConfig>,
}

impl ClientState {
    fn respond(&mut self, response: &reqwest::Response) {
        let status = response.status().as_u16();
        let mut attributes = vec![KeyValue::new(keys::RESPONSE_STATUS_CODE, i64::from(status))];
        self.timed.metric_attribute(KeyValue::new(keys::RESPONSE_STATUS_CODE, i64::from(status)));
        if let Some(protocol) = shared::protocol_version(response.version()) {
            attributes.push(KeyValue::new(keys::NETWORK_PROTOCOL_VERSION, protocol));
            self.timed.metric_attribute(KeyValue::new(keys::NETWORK_PROTOCOL_VERSION, protocol));
        }
        self.config.response_headers.record(response.headers(), &mut attributes);
        if status >= 400 {
            self.timed.metric_attribute(KeyValue::new(keys::ERROR_TYPE, status.to_string()));
        }
        if let Some(span) = self.timed.span() {
            span.set_attributes(attributes);
            shared::record_client_status(span, status);
        }
    }

    fn fail(&mut self, err: &reqwest_middleware::Error) {
        let kind = error_type(err);
        self.timed.metric_attribute(KeyValue::new(keys::ERROR_TYPE, kind));
        if let Some(span) = self.timed.span() {
            span.set_attribute(KeyValue::new(keys::ERROR_TYPE, kind));
            span.record_error_parts(kind, err);
            span.set_level(Level::Error);
        }
    }
}

/// `error.type` of a failed request.
fn error_type(err: &reqwest_middleware::Error) -> &'static str {
    match err {
        reqwest_middleware::Error::Reqwest(err) if err.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(err) if err.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(err) if err.is_body() => "body",
        reqwest_middleware::Error::Reqwest(err) if err.is_request() => "request",
        reqwest_middleware::Error::Reqwest(_) => "reqwest::Error",
        reqwest_middleware::Error::Middleware(_) => "middleware",
    }
}

/// The URL with credentials replaced, as `url.full` requires.
fn redacted_url(url: &reqwest::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.as_str().to_owned();
    }
    let mut url = url.clone();
    // Only fails for URLs that cannot have credentials, which have none.
    let _ = url.set_username("REDACTED");
    if url.password().is_some() {
        let _ = url.set_password(Some("REDACTED"));
    }
    url.into()
}

/// At most `limit` bytes as text (invalid UTF-8 replaced; a cut character dropped).
fn truncated_text(bytes: &[u8], limit: usize) -> String {
    let cut = &bytes[..bytes.len().min(limit)];
    match std::str::from_utf8(cut) {
        Ok(text) => text.to_owned(),
        Err(err) if err.error_len().is_none() => String::from_utf8_lossy(&cut[..err.valid_up_to()]).into_owned(),
        Err(_) => String::from_utf8_lossy(cut).into_owned(),
    }
}

/// The response with a body that records what the caller reads (up to `limit`) and ends the span at its end.
fn capture_body(response: reqwest::Response, limit: usize, state: ClientState) -> reqwest::Response {
    super::http::observe_body(response, BodyCapture { captured: Vec::new(), limit, state: Some(state) })
}

/// What a captured response body has shown so far; recorded on the span when the body ends or is dropped.
struct BodyCapture {
    captured: Vec<u8>,
    limit: usize,
    state: Option<ClientState>,
}

impl BodyCapture {
    fn finish(&mut self) {
        if let Some(mut state) = self.state.take()
            && let Some(span) = state.timed.span()
        {
            span.set_attribute(KeyValue::new(keys::RESPONSE_BODY_TEXT, truncated_text(&self.captured, self.limit)));
        }
    }
}

impl Drop for BodyCapture {
    fn drop(&mut self) {
        // Dropped before its end: what was read is recorded.
        self.finish();
    }
}

impl super::http::BodyObserver for BodyCapture {
    fn data(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.captured.len());
        self.captured.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end(&mut self) {
        self.finish();
    }

    fn failed(&mut self, error: &reqwest::Error) {
        if let Some(state) = self.state.as_mut()
            && let Some(span) = state.timed.span()
        {
            span.record_error_parts("body", error);
        }
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_redacted() {
        let url = reqwest::Url::parse("https://user:pass@api.example.com/v1?x=1").unwrap_or_else(|_| unreachable!());
        assert_eq!(redacted_url(&url), "https://REDACTED:REDACTED@api.example.com/v1?x=1");
        let plain = reqwest::Url::parse("http://api.example.com/").unwrap_or_else(|_| unreachable!());
        assert_eq!(redacted_url(&plain), "http://api.example.com/");
    }

    #[test]
    fn bodies_are_cut_at_the_limit_on_a_character_boundary() {
        assert_eq!(truncated_text(b"hello world", 5), "hello");
        assert_eq!(truncated_text("héllo".as_bytes(), 2), "h");
        assert_eq!(truncated_text(b"ok", 10), "ok");
        assert_eq!(truncated_text(&[0xff, b'a'], 10), "\u{fffd}a");
    }
}
