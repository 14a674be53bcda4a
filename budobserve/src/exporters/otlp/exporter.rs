//! The OTLP exporters of the three signals, over HTTP/protobuf or gRPC (feature `otlp`).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use std::future::Future;
use std::sync::Arc;
#[cfg(feature = "otlp-grpc")]
use std::sync::{Mutex, PoisonError, Weak};

#[cfg(feature = "otlp-grpc")]
use opentelemetry_otlp::WithTonicConfig as _;
#[cfg(feature = "otlp-grpc")]
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig as _, WithHttpConfig as _,
};
use opentelemetry_sdk::Resource;
#[cfg(feature = "otlp-grpc")]
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::LogBatch;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::SpanData;

use super::client::ReportingClient;
use super::traces::HttpTraces;
use super::{OtlpConfig, OtlpProtocol};
use crate::error::ConfigError;

/// The gRPC exporter of one signal, as an expression (`Result<Otlp<$exporter>, ConfigError>`): built on
/// BudObserve's gRPC runtime, or the error that says the feature is missing.
macro_rules! grpc_exporter {
    ($config:ident, $exporter:ident, $signal:literal) => {{
        #[cfg(feature = "otlp-grpc")]
        let built = $config.grpc($signal, |config, metadata| {
            let mut builder = $exporter::builder()
                .with_tonic()
                .with_endpoint(config.endpoint.clone())
                .with_timeout(config.timeout)
                .with_metadata(metadata);
            if let Some(compression) = config.compression() {
                builder = builder.with_compression(compression);
            }
            builder.build()
        });
        #[cfg(not(feature = "otlp-grpc"))]
        let built = Err($config.no_grpc($signal));
        built
    }};
}

/// `fn $name(&self) -> Result<Otlp<$exporter>, ConfigError>`: the exporter of one signal over the configured
/// protocol (the three builders of opentelemetry-otlp share their methods, not a type).
macro_rules! exporter {
    ($name:ident, $exporter:ident, $path:literal, $signal:literal) => {
        pub(crate) fn $name(&self) -> Result<Otlp<$exporter>, ConfigError> {
            match self.protocol {
                OtlpProtocol::HttpProtobuf => {
                    let client = ReportingClient::new(self.timeout).map_err(|err| self.error($signal, &err))?;
                    let mut builder = $exporter::builder()
                        .with_http()
                        .with_http_client(client)
                        .with_protocol(Protocol::HttpBinary)
                        .with_endpoint(self.url($path))
                        .with_timeout(self.timeout)
                        .with_headers(self.header_map());
                    if let Some(compression) = self.compression() {
                        builder = builder.with_compression(compression);
                    }
                    builder.build().map(Otlp::direct).map_err(|err| self.error($signal, &err))
                }
                OtlpProtocol::Grpc => grpc_exporter!(self, $exporter, $signal),
            }
        }
    };
}

impl OtlpConfig {
    /// The URL of one signal (`v1/traces`, `v1/metrics`, `v1/logs`).
    fn url(&self, signal: &str) -> String {
        format!("{}/{signal}", self.endpoint)
    }

    /// Every header sent: the extra ones, then `Authorization` for the token.
    fn header_map(&self) -> HashMap<String, String> {
        let mut headers: HashMap<String, String> = self.headers.iter().cloned().collect();
        if let Some(token) = &self.token {
            headers.insert("authorization".to_owned(), format!("Bearer {token}"));
        }
        headers
    }

    /// [`header_map`](Self::header_map) as HTTP header names and values; a name or value HTTP cannot carry is an
    /// error naming the signal.
    fn http_headers(&self, signal: &'static str) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, ConfigError> {
        let mut headers = Vec::new();
        for (name, value) in self.header_map() {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|err| self.error(signal, &err))?;
            let value = http::HeaderValue::from_str(&value).map_err(|err| self.error(signal, &err))?;
            headers.push((name, value));
        }
        Ok(headers)
    }

    fn compression(&self) -> Option<Compression> {
        self.gzip.then_some(Compression::Gzip)
    }

    /// The span exporter: BudObserve's own over HTTP/protobuf (see `traces`), OpenTelemetry's over gRPC.
    pub(crate) fn span_exporter(&self) -> Result<OtlpSpans, ConfigError> {
        match self.protocol {
            OtlpProtocol::HttpProtobuf => {
                let client = ReportingClient::new(self.timeout).map_err(|err| self.error("spans", &err))?;
                let headers = self.http_headers("spans")?;
                let url = self.url("v1/traces");
                Ok(OtlpSpans::Http(HttpTraces::new(client, url, headers, self.gzip, self.timeout)))
            }
            OtlpProtocol::Grpc => grpc_exporter!(self, SpanExporter, "spans").map(OtlpSpans::Grpc),
        }
    }
    exporter!(metric_exporter, MetricExporter, "v1/metrics", "metrics");
    exporter!(log_exporter, LogExporter, "v1/logs", "logs");

    /// Builds a gRPC exporter on BudObserve's own runtime (tonic needs one; the exporter then works from any
    /// thread, whatever runtime the service uses, or none).
    #[cfg(feature = "otlp-grpc")]
    fn grpc<E>(
        &self,
        signal: &'static str,
        build: impl FnOnce(&OtlpConfig, MetadataMap) -> Result<E, opentelemetry_otlp::ExporterBuildError>,
    ) -> Result<Otlp<E>, ConfigError> {
        let runtime = grpc_runtime().map_err(|err| self.error(signal, &err))?;
        let mut headers = http::HeaderMap::new();
        for (name, value) in self.http_headers(signal)? {
            headers.insert(name, value);
        }
        let exporter = {
            let _entered = runtime.handle().map(tokio::runtime::Handle::enter);
            build(self, MetadataMap::from_headers(headers)).map_err(|err| self.error(signal, &err))?
        };
        Ok(Otlp { inner: exporter, runtime: Some(runtime) })
    }

    #[cfg(not(feature = "otlp-grpc"))]
    fn no_grpc(&self, signal: &'static str) -> ConfigError {
        ConfigError::Exporter {
            signal,
            endpoint: self.endpoint.clone(),
            reason: "OTLP over gRPC needs BudObserve's `otlp-grpc` feature".to_owned(),
        }
    }

    fn error(&self, signal: &'static str, err: &dyn fmt::Display) -> ConfigError {
        ConfigError::Exporter { signal, endpoint: self.endpoint.clone(), reason: err.to_string() }
    }
}

/// The runtime gRPC exporters run on: one worker thread, shared by every gRPC exporter, alive as long as one is.
/// Dropped without waiting (a runtime dropped in an async context must not block).
#[cfg(feature = "otlp-grpc")]
#[derive(Debug)]
pub(crate) struct GrpcRuntime(Option<tokio::runtime::Runtime>);

#[cfg(feature = "otlp-grpc")]
impl GrpcRuntime {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }

    fn block_on<F: Future>(&self, future: F) -> Option<F::Output> {
        self.0.as_ref().map(|runtime| runtime.block_on(future))
    }
}

#[cfg(feature = "otlp-grpc")]
impl Drop for GrpcRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(feature = "otlp-grpc")]
fn grpc_runtime() -> std::io::Result<Arc<GrpcRuntime>> {
    static SHARED: Mutex<Weak<GrpcRuntime>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = shared.upgrade() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("budobserve-grpc")
        .enable_all()
        .build()?;
    let runtime = Arc::new(GrpcRuntime(Some(runtime)));
    *shared = Arc::downgrade(&runtime);
    Ok(runtime)
}

#[cfg(not(feature = "otlp-grpc"))]
type GrpcRuntime = std::convert::Infallible;

/// An OTLP exporter, run on BudObserve's gRPC runtime when it needs one.
#[derive(Debug)]
pub(crate) struct Otlp<E> {
    inner: E,
    runtime: Option<Arc<GrpcRuntime>>,
}

impl<E> Otlp<E> {
    fn direct(inner: E) -> Otlp<E> {
        Otlp { inner, runtime: None }
    }

    /// Runs an export: on the runtime (eagerly, on this thread) or as the exporter's own future.
    fn run(&self, export: impl Future<Output = OTelSdkResult> + Send) -> impl Future<Output = OTelSdkResult> + Send {
        let runtime = self.runtime.clone();
        async move {
            match runtime {
                #[cfg(feature = "otlp-grpc")]
                Some(runtime) => {
                    let result = runtime.block_on(export).unwrap_or(Err(OTelSdkError::AlreadyShutdown));
                    // The gRPC client reports nothing itself: its code, read from the error.
                    if let Err(OTelSdkError::InternalFailure(text)) = &result {
                        crate::exporters::failure::report(crate::exporters::failure::from_grpc_error(text));
                    }
                    result
                }
                #[cfg(not(feature = "otlp-grpc"))]
                Some(never) => match *never {},
                None => export.await,
            }
        }
    }
}

/// The OTLP span exporter of the configured protocol.
#[derive(Debug)]
pub(crate) enum OtlpSpans {
    Http(HttpTraces),
    Grpc(Otlp<SpanExporter>),
}

impl opentelemetry_sdk::trace::SpanExporter for OtlpSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        match self {
            OtlpSpans::Http(http) => http.export(batch).await,
            OtlpSpans::Grpc(grpc) => grpc.run(grpc.inner.export(batch)).await,
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            OtlpSpans::Http(http) => http.shutdown_with_timeout(timeout),
            OtlpSpans::Grpc(grpc) => grpc.inner.shutdown_with_timeout(timeout),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self {
            OtlpSpans::Http(http) => http.force_flush(),
            OtlpSpans::Grpc(grpc) => grpc.inner.force_flush(),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        match self {
            OtlpSpans::Http(http) => http.set_resource(resource),
            OtlpSpans::Grpc(grpc) => grpc.inner.set_resource(resource),
        }
    }
}

impl PushMetricExporter for Otlp<MetricExporter> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        self.run(self.inner.export(metrics))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

impl opentelemetry_sdk::logs::LogExporter for Otlp<LogExporter> {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        self.run(self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_a_bearer_header_and_never_printed() {
        let config = OtlpConfig {
            endpoint: "http://gw".into(),
            protocol: OtlpProtocol::HttpProtobuf,
            token: Some("secret-key".into()),
            headers: vec![("x-tenant".into(), "t-1".into())],
            gzip: false,
            timeout: Duration::from_secs(1),
            metrics_interval: Duration::from_secs(1),
        };
        let headers = config.header_map();
        assert_eq!(headers.get("authorization").map(String::as_str), Some("Bearer secret-key"));
        assert_eq!(headers.get("x-tenant").map(String::as_str), Some("t-1"));
        let printed = format!("{config:?}");
        assert!(!printed.contains("secret-key") && !printed.contains("t-1"), "{printed}");
        assert_eq!(config.url("v1/traces"), "http://gw/v1/traces");
    }
}
