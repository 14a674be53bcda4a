//! Which HTTP semantic conventions spans carry: the stable keys (`http.request.method`, `url.path`,
//! `server.address`, …), and on request the keys of the conventions before them (`http.method`, `http.target`,
//! `net.host.name`, …) as well — what OpenTelemetry's Python instrumentations write by default, so one dashboard
//! can group a fleet that mixes both.
//!
//! OpenTelemetry's migration switch is `OTEL_SEMCONV_STABILITY_OPT_IN`: an instrumentation that writes the old keys
//! writes the stable ones with `http`, and both with `http/dup`. BudObserve writes the stable keys; with `http/dup`
//! (or [`HttpConventions::StableAndOld`]) it writes the old ones too. The old keys are derived from the stable
//! ones in one place, as every exit prepares a span, so the console, OTLP and ClickHouse all get them.

use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::constants::{http as stable, http_old as old};

/// Which HTTP keys spans carry (`ConfigBuilder::http_conventions`, `OTEL_SEMCONV_STABILITY_OPT_IN`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpConventions {
    /// The stable keys only (the default; `OTEL_SEMCONV_STABILITY_OPT_IN=http`).
    #[default]
    Stable,
    /// The stable keys, and the keys of the conventions before them (`OTEL_SEMCONV_STABILITY_OPT_IN=http/dup`).
    StableAndOld,
}

impl HttpConventions {
    /// What `OTEL_SEMCONV_STABILITY_OPT_IN` accepts (a comma-separated list; other domains' entries are theirs).
    pub const ACCEPTED: &'static str =
        "a comma-separated list holding `http` (stable keys) or `http/dup` (stable and old keys)";

    /// Reads `OTEL_SEMCONV_STABILITY_OPT_IN`'s value: `http/dup` anywhere in the list asks for both (it wins over
    /// `http`, as the specification says); `None` when the list says nothing of HTTP.
    pub fn from_opt_in(value: &str) -> Option<HttpConventions> {
        let entries: Vec<&str> = value.split(',').map(str::trim).collect();
        if entries.contains(&"http/dup") {
            Some(HttpConventions::StableAndOld)
        } else if entries.contains(&"http") {
            Some(HttpConventions::Stable)
        } else {
            None
        }
    }
}

/// Adds to an HTTP server or client span the old keys of the stable ones it has. A span without
/// `http.request.method` is not an HTTP span and is left as it is.
pub(crate) fn add_old_http_keys(span: &mut SpanData) {
    let attributes = &span.attributes;
    let find = |key: &str| attributes.iter().rev().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value);
    let Some(method) = find(stable::REQUEST_METHOD) else { return };
    let method = find(stable::REQUEST_METHOD_ORIGINAL).unwrap_or(method);
    let mut added = vec![KeyValue::new(old::HTTP_METHOD, method.clone())];
    let mut copy = |from: &str, to: &'static str| {
        if let Some(value) = find(from) {
            added.push(KeyValue::new(to, value.clone()));
        }
    };
    copy(stable::RESPONSE_STATUS_CODE, old::HTTP_STATUS_CODE);
    copy(stable::URL_SCHEME, old::HTTP_SCHEME);
    copy(stable::USER_AGENT_ORIGINAL, old::HTTP_USER_AGENT);
    copy(stable::NETWORK_PROTOCOL_VERSION, old::HTTP_FLAVOR);
    match span.span_kind {
        SpanKind::Server => {
            copy(stable::SERVER_ADDRESS, old::NET_HOST_NAME);
            copy(stable::SERVER_PORT, old::NET_HOST_PORT);
            copy(stable::CLIENT_ADDRESS, old::NET_PEER_IP);
            copy(stable::CLIENT_PORT, old::NET_PEER_PORT);
            if let Some(path) = find(stable::URL_PATH) {
                let target = match find(stable::URL_QUERY) {
                    Some(query) => format!("{}?{}", path.as_str(), query.as_str()),
                    None => path.as_str().into_owned(),
                };
                added.push(KeyValue::new(old::HTTP_TARGET, target));
            }
            if let (Some(host), Some(Value::I64(port))) = (find(stable::SERVER_ADDRESS), find(stable::SERVER_PORT)) {
                added.push(KeyValue::new(old::HTTP_HOST, format!("{}:{port}", host.as_str())));
            }
        }
        _ => {
            copy(stable::URL_FULL, old::HTTP_URL);
            copy(stable::SERVER_ADDRESS, old::NET_PEER_NAME);
            copy(stable::SERVER_PORT, old::NET_PEER_PORT);
        }
    }
    span.attributes.extend(added);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_opt_in_list_is_read_as_the_specification_says() {
        assert_eq!(HttpConventions::from_opt_in("http/dup"), Some(HttpConventions::StableAndOld));
        assert_eq!(HttpConventions::from_opt_in("database, http/dup"), Some(HttpConventions::StableAndOld));
        assert_eq!(HttpConventions::from_opt_in("http,http/dup"), Some(HttpConventions::StableAndOld));
        assert_eq!(HttpConventions::from_opt_in("http"), Some(HttpConventions::Stable));
        assert_eq!(HttpConventions::from_opt_in("database/dup"), None);
        assert_eq!(HttpConventions::from_opt_in(""), None);
    }
}
