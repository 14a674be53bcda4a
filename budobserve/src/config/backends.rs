//! The exporters a configuration adds for its backends: OTLP (spans, metrics, logs) and BudMetrics' ClickHouse, each
//! behind its feature — without it, a backend configured anyway is an error, never ignored.

#[cfg(feature = "otlp")]
use opentelemetry_sdk::metrics::PeriodicReader;

use super::setting::EnvSource;
use super::{LoggerStep, MeterStep};
use crate::error::ConfigError;
#[cfg(feature = "clickhouse")]
use crate::exporters::budmetrics::{self, BudMetricsExporter, ClickHouseOptions};
use crate::exporters::otlp::OtlpConfig;
use crate::exporters::processor::SpanStage;

/// The ClickHouse exporter, when a URL is configured (builder, then environment).
#[cfg(feature = "clickhouse")]
pub(super) fn resolve_clickhouse(
    given: Option<ClickHouseOptions>,
    env: &EnvSource,
) -> Result<Option<BudMetricsExporter>, ConfigError> {
    budmetrics::resolve(given, env)?.map(BudMetricsExporter::new).transpose()
}

/// The ClickHouse exporter behind its own batch processor (its batch options, else the configuration's); its URL.
#[cfg(feature = "clickhouse")]
pub(super) fn add_clickhouse(exporter: BudMetricsExporter, span_processors: &mut Vec<SpanStage>) -> String {
    let url = exporter.url().to_owned();
    let batch = exporter.batch_options().cloned();
    let concurrent = Some(exporter.concurrent_inserts());
    span_processors.push(SpanStage::concurrent_exporter(exporter, batch, concurrent));
    url
}

/// Without the `clickhouse` feature, a ClickHouse URL in the environment is an error, not ignored.
#[cfg(not(feature = "clickhouse"))]
pub(super) fn resolve_clickhouse(env: &EnvSource) -> Result<Option<std::convert::Infallible>, ConfigError> {
    const URL: super::setting::Setting<std::convert::Infallible> = super::setting::Setting {
        option: "clickhouse",
        variables: &[crate::constants::env::CLICKHOUSE_URL],
        parse: |_| Err("no value: writing spans to ClickHouse needs BudObserve's `clickhouse` feature".into()),
    };
    URL.read_env(env).map(|_| None)
}

#[cfg(not(feature = "clickhouse"))]
pub(super) fn add_clickhouse(exporter: std::convert::Infallible, _: &mut Vec<SpanStage>) -> String {
    match exporter {}
}

/// The exporters of `backend`: spans behind BudObserve's batch processor, metrics behind a periodic reader, logs
/// behind the SDK's batch log processor.
#[cfg(feature = "otlp")]
pub(super) fn add_otlp(
    otlp: &OtlpConfig,
    span_processors: &mut Vec<SpanStage>,
    metric_readers: &mut Vec<MeterStep>,
    log_processors: &mut Vec<LoggerStep>,
) -> Result<(), ConfigError> {
    let spans = otlp.span_exporter()?;
    let metrics = otlp.metric_exporter()?;
    let logs = otlp.log_exporter()?;
    span_processors.push(SpanStage::exporter(spans, None));
    let reader = PeriodicReader::builder(metrics).with_interval(otlp.metrics_interval).build();
    metric_readers.push(Box::new(move |builder| builder.with_reader(reader)));
    let processor = opentelemetry_sdk::logs::BatchLogProcessor::builder(logs).build();
    log_processors.push(Box::new(move |builder, _| builder.with_log_processor(processor)));
    Ok(())
}

/// Without the `otlp` feature no endpoint is accepted (see `exporters::otlp`), so there is no backend to add.
#[cfg(not(feature = "otlp"))]
pub(super) fn add_otlp(
    backend: &OtlpConfig,
    _: &mut Vec<SpanStage>,
    _: &mut Vec<MeterStep>,
    _: &mut Vec<LoggerStep>,
) -> Result<(), ConfigError> {
    Err(ConfigError::Exporter {
        signal: "spans",
        endpoint: backend.endpoint().to_owned(),
        reason: "OTLP export needs BudObserve's `otlp` feature".to_owned(),
    })
}
