//! OTLP export of spans, metrics and logs (feature `otlp`, on by default).
//!
//! Configured with [`ConfigBuilder::endpoint`](crate::ConfigBuilder::endpoint) (or `BUD_OBSERVE_ENDPOINT`, or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`): the base address of an OpenTelemetry collector or of any OTLP receiver; spans
//! go to `{endpoint}/v1/traces`, metrics to `{endpoint}/v1/metrics`, logs to `{endpoint}/v1/logs`, as
//! HTTP/protobuf. A token is sent as `Authorization: Bearer <token>`.
//!
//! **BudMetrics** receives spans the same way, through the gateway's OTLP proxy: set the endpoint to the gateway's
//! base address and the token to a BudMetrics API key —
//!
//! ```text
//! BUD_OBSERVE_ENDPOINT=https://gateway.example.com BUD_OBSERVE_TOKEN=<api key>   # → POST …/v1/traces
//! ```
//!
//! Spans go through BudObserve's batch processor (see [`BatchOptions`](crate::BatchOptions)); the exporter
//! retries a failed request (429, 502, 503, 504 and connection errors) with exponential backoff within its
//! timeout, honouring `Retry-After`. Metrics are exported at
//! [`metrics_interval`](crate::ConfigBuilder::metrics_interval), logs of the OpenTelemetry logs signal through the
//! SDK's batch log processor.

#[cfg(feature = "otlp")]
mod client;
#[cfg(feature = "otlp")]
mod encode;
#[cfg(feature = "otlp")]
mod exporter;
mod settings;
#[cfg(feature = "otlp")]
mod traces;

pub(crate) use settings::OtlpOptions;
pub use settings::{OtlpConfig, OtlpProtocol};
