//! What the OTLP exporters are configured with: the builder's values, then the `BUD_OBSERVE_*` and standard
//! `OTEL_EXPORTER_OTLP_*` variables, resolved into an [`OtlpConfig`]. Compiled without the `otlp` feature too, so
//! that an endpoint configured without it is an error rather than ignored.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::config::setting::{EnvSource, Setting, base_url, text};
use crate::constants::env;
use crate::error::ConfigError;

/// How OTLP data is sent.
///
/// ```
/// use budobserve::exporters::OtlpProtocol;
///
/// assert_eq!(OtlpProtocol::parse("http/protobuf"), Some(OtlpProtocol::HttpProtobuf));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// Protobuf over HTTP (port 4318 by convention). The default.
    #[default]
    HttpProtobuf,
    /// gRPC (port 4317 by convention).
    Grpc,
}

impl OtlpProtocol {
    /// What the protocol variables accept.
    pub const ACCEPTED: &'static str = "`http/protobuf` or `grpc`";

    /// Parses `http/protobuf` or `grpc`.
    pub fn parse(text: &str) -> Option<OtlpProtocol> {
        match text.trim() {
            "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
            "grpc" => Some(OtlpProtocol::Grpc),
            _ => None,
        }
    }
}

/// A resolved OTLP backend.
///
/// ```
/// let config = budobserve::configure().endpoint("http://otel-collector:4318").console(false).build()?;
/// assert_eq!(config.backend().map(|otlp| otlp.endpoint()), Some("http://otel-collector:4318"));
/// # Ok::<(), budobserve::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct OtlpConfig {
    pub(crate) endpoint: String,
    pub(crate) protocol: OtlpProtocol,
    pub(crate) token: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) gzip: bool,
    pub(crate) timeout: Duration,
    pub(crate) metrics_interval: Duration,
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values and the token are credentials: only their names are shown.
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("headers", &headers)
            .field("gzip", &self.gzip)
            .field("timeout", &self.timeout)
            .field("metrics_interval", &self.metrics_interval)
            .finish()
    }
}

impl OtlpConfig {
    /// The base endpoint, without a trailing `/`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The protocol.
    pub fn protocol(&self) -> OtlpProtocol {
        self.protocol
    }
}

/// The OTLP options given to the builder, before the environment fills in the rest.
#[derive(Default)]
pub(crate) struct OtlpOptions {
    pub(crate) endpoint: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) protocol: Option<String>,
    pub(crate) gzip: Option<bool>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) metrics_interval: Option<Duration>,
}

impl fmt::Debug for OtlpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpOptions").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

const ENDPOINT: Setting<String> =
    Setting { option: "endpoint", variables: &[env::ENDPOINT, env::OTEL_EXPORTER_OTLP_ENDPOINT], parse: endpoint };
const TOKEN: Setting<String> = Setting { option: "token", variables: &[env::TOKEN], parse: text };
const HEADERS: Setting<Vec<(String, String)>> =
    Setting { option: "header", variables: &[env::HEADERS, env::OTEL_EXPORTER_OTLP_HEADERS], parse: headers };
const PROTOCOL: Setting<OtlpProtocol> =
    Setting { option: "protocol", variables: &[env::PROTOCOL, env::OTEL_EXPORTER_OTLP_PROTOCOL], parse: protocol };
const COMPRESSION: Setting<bool> =
    Setting { option: "gzip", variables: &[env::OTEL_EXPORTER_OTLP_COMPRESSION], parse: compression };
const TIMEOUT: Setting<Duration> =
    Setting { option: "export_timeout", variables: &[env::OTEL_EXPORTER_OTLP_TIMEOUT], parse: milliseconds };

/// The request timeout when none is configured.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The metrics export interval when none is configured.
const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(60);

impl OtlpOptions {
    /// The OTLP backend, when an endpoint is configured (builder, then environment).
    pub(crate) fn resolve(self, env: &EnvSource) -> Result<Option<OtlpConfig>, ConfigError> {
        let Some(endpoint) = ENDPOINT.resolve_text(self.endpoint, env)? else { return Ok(None) };
        let headers = if self.headers.is_empty() {
            HEADERS.read_env(env)?.unwrap_or_default()
        } else {
            if let Some((name, _)) = self.headers.iter().find(|(name, value)| !valid_header(name, value)) {
                return Err(ConfigError::InvalidOption {
                    option: HEADERS.option,
                    value: name.clone(),
                    expected: HEADER_EXPECTED.into(),
                });
            }
            self.headers
        };
        Ok(Some(OtlpConfig {
            endpoint,
            protocol: PROTOCOL.resolve_text(self.protocol, env)?.unwrap_or_default(),
            token: TOKEN.resolve(self.token, env)?,
            headers,
            gzip: COMPRESSION.resolve(self.gzip, env)?.unwrap_or(false),
            timeout: TIMEOUT.resolve(self.timeout, env)?.unwrap_or(DEFAULT_TIMEOUT),
            metrics_interval: self.metrics_interval.unwrap_or(DEFAULT_METRICS_INTERVAL),
        }))
    }
}

/// The paths OTLP/HTTP appends to the base address, one per signal.
const SIGNAL_PATHS: [&str; 3] = ["/v1/traces", "/v1/metrics", "/v1/logs"];

/// Checks and normalises an endpoint: `http://` (or `https://` with the `otlp-tls` feature), no trailing `/`.
/// Without the `otlp` feature no endpoint is accepted.
fn endpoint(endpoint: &str) -> Result<String, Cow<'static, str>> {
    if cfg!(feature = "otlp") {
        let base = base_url(endpoint, cfg!(feature = "otlp-tls"), "otlp-tls", 4318)?;
        // A per-signal address given as the base: spans would go to `…/v1/traces/v1/traces`.
        if let Some(signal) = SIGNAL_PATHS.iter().find(|path| base.ends_with(*path)) {
            let without = &base[..base.len() - signal.len()];
            return Err(format!(
                "the collector's base address (`{without}`): `{signal}` is a per-signal path, and BudObserve appends \
                 `/v1/traces`, `/v1/metrics` and `/v1/logs` itself"
            )
            .into());
        }
        Ok(base)
    } else {
        Err("no endpoint: OTLP export needs BudObserve's `otlp` feature".into())
    }
}

fn protocol(value: &str) -> Result<OtlpProtocol, Cow<'static, str>> {
    OtlpProtocol::parse(value).ok_or(Cow::Borrowed(OtlpProtocol::ACCEPTED))
}

fn compression(value: &str) -> Result<bool, Cow<'static, str>> {
    match value.trim() {
        "gzip" => Ok(true),
        "none" => Ok(false),
        _ => Err("`gzip` or `none`".into()),
    }
}

fn milliseconds(value: &str) -> Result<Duration, Cow<'static, str>> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err("a positive number of milliseconds".into()),
    }
}

const HEADER_EXPECTED: &str = "headers as comma-separated name=value pairs, names of letters, digits and `-_.`, values \
    without control characters";

/// Whether a header can be sent as given.
fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !value.chars().any(char::is_control)
}

/// `name=value,name=value`, values percent-decoded (as `OTEL_EXPORTER_OTLP_HEADERS` specifies).
fn headers(value: &str) -> Result<Vec<(String, String)>, Cow<'static, str>> {
    let mut headers = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, raw) = entry.split_once('=').ok_or(HEADER_EXPECTED)?;
        let decoded = percent_decode(raw.trim()).ok_or(HEADER_EXPECTED)?;
        let name = name.trim();
        if !valid_header(name, &decoded) {
            return Err(HEADER_EXPECTED.into());
        }
        headers.push((name.to_owned(), decoded));
    }
    Ok(headers)
}

/// `%XX` escapes decoded; `None` for a broken escape or text that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(all(test, feature = "otlp"))]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_and_normalised() {
        assert_eq!(endpoint("http://collector:4318/").as_deref(), Ok("http://collector:4318"));
        assert_eq!(endpoint(" http://gw/base ").as_deref(), Ok("http://gw/base"));
        assert!(endpoint("collector:4318").is_err());
        assert!(endpoint("http://").is_err());
        assert!(endpoint("http:///x").is_err());
        assert_eq!(endpoint("https://gw").is_ok(), cfg!(feature = "otlp-tls"));
        // A per-signal address given as the base is refused with the base address to give instead.
        for signal in ["/v1/traces", "/v1/metrics/", "/v1/logs"] {
            let error = endpoint(&format!("http://collector:4318{signal}")).unwrap_err();
            assert!(error.starts_with("the collector's base address (`http://collector:4318`)"), "{error}");
        }
        assert_eq!(endpoint("http://gw/v1/tracesx").as_deref(), Ok("http://gw/v1/tracesx"));
    }
}
