//! What the HTTP integrations share: the semantic-convention attributes of requests and responses, header capture,
//! trace-context propagation through `http::HeaderMap`, levels from status codes and the duration histograms.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Version};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::{Array, KeyValue, StringValue, Value};

use crate::constants::http as keys;
use crate::level::Level;
use crate::scrubbing;

/// Reads trace context and baggage from request headers.
#[cfg_attr(not(feature = "axum"), allow(dead_code, reason = "the HTTP server integration's"))]
pub(crate) struct HeaderExtractor<'a>(pub(crate) &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes trace context and baggage into request headers.
#[cfg_attr(not(feature = "reqwest"), allow(dead_code, reason = "the HTTP client integration's"))]
pub(crate) struct HeaderInjector<'a>(pub(crate) &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(&value)) {
            self.0.insert(name, value);
        }
    }
}

/// The method as the span name shows it and as `http.request.method` records it (`_OTHER` for an unknown one,
/// with `http.request.method_original`).
pub(crate) fn method(method: &Method, attributes: &mut Vec<KeyValue>) -> &'static str {
    let known = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => {
            attributes.push(KeyValue::new(keys::REQUEST_METHOD, "_OTHER"));
            attributes.push(KeyValue::new(keys::REQUEST_METHOD_ORIGINAL, method.as_str().to_owned()));
            return "HTTP";
        }
    };
    attributes.push(KeyValue::new(keys::REQUEST_METHOD, known));
    known
}

/// `network.protocol.version` of an HTTP version.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// The level of a response: 5xx error, 4xx warn, else info.
pub(crate) fn level(status: u16) -> Level {
    match status {
        500.. => Level::Error,
        400..=499 => Level::Warn,
        _ => Level::Info,
    }
}

/// A client span's outcome from its response status, by the semantic conventions' rule for client spans: from 400
/// on, `error.type` (the status code), an error status, and the level of the status (4xx warn, 5xx error).
#[cfg(feature = "reqwest")]
pub(crate) fn record_client_status(span: &mut crate::span::BudSpan, status: u16) {
    if status >= 400 {
        span.set_attribute(KeyValue::new(keys::ERROR_TYPE, status.to_string()));
        span.set_status(opentelemetry::trace::Status::error(""));
        span.set_level(level(status));
    }
}

/// A new request id: 32 hex digits, unique within the process and unlikely to repeat across processes.
#[cfg(any(feature = "axum", feature = "dapr"))]
pub(crate) fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        splitmix(nanos ^ u64::from(std::process::id()).rotate_left(32))
    });
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let high = splitmix(*SEED ^ count);
    let low = splitmix(high ^ count.rotate_left(29));
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(32);
    for word in [high, low] {
        for shift in (0..16).rev() {
            id.push(char::from(HEX[((word >> (shift * 4)) & 0xf) as usize]));
        }
    }
    id
}

#[cfg(any(feature = "axum", feature = "dapr"))]
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Header names to record, lowercased once.
#[derive(Clone, Debug, Default)]
pub(crate) struct CapturedHeaders(Vec<(HeaderName, String)>);

impl CapturedHeaders {
    /// `names` as recorded under `prefix` (`http.request.header` or `http.response.header`); names that are not
    /// valid header names are ignored.
    pub(crate) fn new<I, S>(prefix: &str, names: I) -> CapturedHeaders
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        CapturedHeaders(
            names
                .into_iter()
                .filter_map(|name| {
                    let name = HeaderName::from_bytes(name.as_ref().trim().to_ascii_lowercase().as_bytes()).ok()?;
                    let key = format!("{prefix}.{}", name.as_str());
                    Some((name, key))
                })
                .collect(),
        )
    }

    /// Adds the captured headers present in `headers`: each a string array of its values, credentials redacted
    /// (the span's scrubbing checks the rest).
    pub(crate) fn record(&self, headers: &HeaderMap, attributes: &mut Vec<KeyValue>) {
        for (name, key) in &self.0 {
            let values: Vec<StringValue> = headers
                .get_all(name)
                .iter()
                .map(|value| {
                    let text = String::from_utf8_lossy(value.as_bytes());
                    scrubbing::header_value(name.as_str(), &text).into_owned().into()
                })
                .collect();
            if !values.is_empty() {
                attributes.push(KeyValue::new(key.clone(), Value::Array(Array::String(values))));
            }
        }
    }
}

/// A reqwest response taken apart to rewrap its body; its parts keep what `reqwest::Response::url` reads, so the
/// response rebuilt with `reqwest::Response::from(http::Response::from_parts(parts, body))` has the same URL.
#[cfg(feature = "reqwest")]
pub(crate) fn split_response(response: reqwest::Response) -> (http::response::Parts, reqwest::Body) {
    use reqwest::ResponseBuilderExt as _;

    let url = response.url().clone();
    let response: http::Response<reqwest::Body> = response.into();
    let (mut parts, body) = response.into_parts();
    // `Response::url` survives the round trip through `http::Response` only as this extension.
    if let Ok(with_url) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    (parts, body)
}

/// What a response body's reader shows, as the caller reads it (see [`observe_body`]). An observer that must
/// record something when the caller drops the body unread does it in its `Drop`.
#[cfg(feature = "reqwest")]
pub(crate) trait BodyObserver: Send + Sync + 'static {
    /// A data frame went to the caller.
    fn data(&mut self, bytes: &[u8]);
    /// The body ended.
    fn end(&mut self);
    /// Reading the body failed.
    fn failed(&mut self, error: &reqwest::Error);
}

/// `response` with a body that shows `observer` each frame as the caller reads it, neither buffered nor delayed.
#[cfg(feature = "reqwest")]
pub(crate) fn observe_body(response: reqwest::Response, observer: impl BodyObserver) -> reqwest::Response {
    let (parts, inner) = split_response(response);
    reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(ObservedBody { inner, observer })))
}

#[cfg(feature = "reqwest")]
pin_project_lite::pin_project! {
    struct ObservedBody<O> {
        #[pin]
        inner: reqwest::Body,
        observer: O,
    }
}

#[cfg(feature = "reqwest")]
impl<O: BodyObserver> http_body::Body for ObservedBody<O> {
    type Data = bytes::Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, reqwest::Error>>> {
        use std::task::Poll;

        let this = self.project();
        let poll = this.inner.poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.observer.data(data);
                }
            }
            Poll::Ready(None) => this.observer.end(),
            Poll::Ready(Some(Err(err))) => this.observer.failed(err),
            Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// `host[:port]` split, for `server.address` / `server.port`.
#[cfg_attr(not(feature = "axum"), allow(dead_code, reason = "the HTTP server integration's"))]
pub(crate) fn host_and_port(authority: &str) -> (Cow<'_, str>, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        if let Some((host, port)) = rest.split_once(']') {
            return (Cow::Borrowed(host), port.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (Cow::Borrowed(host), port.parse().ok()),
        _ => (Cow::Borrowed(authority), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_other_with_the_original() {
        let mut attributes = Vec::new();
        assert_eq!(method(&Method::GET, &mut attributes), "GET");
        assert_eq!(attributes, [KeyValue::new(keys::REQUEST_METHOD, "GET")]);
        let mut attributes = Vec::new();
        let purge = Method::from_bytes(b"PURGE").unwrap_or(Method::GET);
        assert_eq!(method(&purge, &mut attributes), "HTTP");
        assert_eq!(
            attributes,
            [KeyValue::new(keys::REQUEST_METHOD, "_OTHER"), KeyValue::new(keys::REQUEST_METHOD_ORIGINAL, "PURGE")]
        );
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(host_and_port("api.example.com:8443"), (Cow::Borrowed("api.example.com"), Some(8443)));
        assert_eq!(host_and_port("api.example.com"), (Cow::Borrowed("api.example.com"), None));
        assert_eq!(host_and_port("[::1]:80"), (Cow::Borrowed("::1"), Some(80)));
        assert_eq!(host_and_port("::1"), (Cow::Borrowed("::1"), None));
    }

    #[test]
    fn captured_credentials_are_redacted() {
        let captured = CapturedHeaders::new(keys::REQUEST_HEADER, ["Authorization", "X-Tenant", "bad name"]);
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer sk-live"));
        headers.append("x-tenant", HeaderValue::from_static("t-1"));
        headers.append("x-tenant", HeaderValue::from_static("t-2"));
        let mut attributes = Vec::new();
        captured.record(&headers, &mut attributes);
        assert_eq!(
            attributes,
            [
                KeyValue::new(
                    "http.request.header.authorization",
                    Value::Array(Array::String(vec!["[Scrubbed due to 'authorization']".into()]))
                ),
                KeyValue::new(
                    "http.request.header.x-tenant",
                    Value::Array(Array::String(vec!["t-1".into(), "t-2".into()]))
                ),
            ]
        );
    }
}
