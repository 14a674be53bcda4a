//! The resolved configuration: what [`ConfigBuilder::build`](crate::ConfigBuilder::build) made of the builder and
//! the environment, read by the lifecycle when an instance is configured.

use std::fmt;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::LoggerProviderBuilder;
use opentelemetry_sdk::metrics::MeterProviderBuilder;
use opentelemetry_sdk::trace::{IdGenerator, ShouldSample};

use crate::clock::Clock;
use crate::constants;
use crate::conventions::HttpConventions;
use crate::directives::LevelDirectives;
use crate::exceptions::ExceptionCallback;
use crate::exporters::batch::BatchOptions;
use crate::exporters::console::ConsoleOptions;
use crate::exporters::loss::ExportCounters;
use crate::exporters::otlp::OtlpConfig;
use crate::exporters::processor::{PendingSpans, SpanStage};
use crate::level::Level;
use crate::limits::SpanLimits;
use crate::scrubbing::Scrubber;
use crate::tail::TailSampling;

pub(super) type MeterStep = Box<dyn FnOnce(MeterProviderBuilder) -> MeterProviderBuilder + Send>;
pub(super) type LoggerStep =
    Box<dyn FnOnce(LoggerProviderBuilder, &Arc<ExportCounters>) -> LoggerProviderBuilder + Send>;

/// A resolved configuration (see [`ConfigBuilder::build`](crate::ConfigBuilder::build)).
///
/// ```
/// use budobserve::BudObserve;
///
/// let config = budobserve::configure().service_name("budmodel").console(false).build()?;
/// assert_eq!(config.service_name(), "budmodel");
/// let obs = BudObserve::new(config);                       // an instance of its own, not the global one
/// # drop(obs);
/// # Ok::<(), budobserve::ConfigError>(())
/// ```
pub struct BudObserveConfig {
    pub(super) service_name: String,
    pub(super) service_version: Option<String>,
    pub(super) environment: Option<String>,
    pub(super) resource_attributes: Vec<KeyValue>,
    pub(super) detected: Vec<KeyValue>,
    pub(crate) span_limits: SpanLimits,
    pub(crate) console: Option<ConsoleOptions>,
    pub(crate) min_level: Level,
    pub(crate) level_directives: Option<LevelDirectives>,
    pub(crate) exception_callback: Option<ExceptionCallback>,
    pub(crate) baggage_to_attributes: bool,
    pub(crate) panic_hook: bool,
    pub(crate) error_backtraces: bool,
    pub(crate) http_conventions: HttpConventions,
    #[cfg(all(feature = "signals", unix))]
    pub(crate) flush_on_signals: bool,
    pub(crate) sample_rate: Option<f64>,
    pub(crate) span_processors: Vec<SpanStage>,
    pub(crate) batch_options: BatchOptions,
    pub(crate) pending_spans: PendingSpans,
    pub(crate) tail_sampling: Option<TailSampling>,
    pub(crate) scrubber: Option<Arc<Scrubber>>,
    pub(super) backend: Option<OtlpConfig>,
    pub(super) clickhouse_url: Option<String>,
    pub(crate) metric_readers: Vec<MeterStep>,
    pub(crate) log_processors: Vec<LoggerStep>,
    pub(crate) id_generator: Option<Box<dyn IdGenerator>>,
    pub(crate) sampler: Option<Box<dyn ShouldSample>>,
    pub(crate) clock: Option<Clock>,
}

impl BudObserveConfig {
    /// The OTLP backend, when an endpoint is configured.
    pub fn backend(&self) -> Option<&OtlpConfig> {
        self.backend.as_ref()
    }

    /// The ClickHouse address spans are written to, when configured (see
    /// [`ConfigBuilder::clickhouse`](crate::ConfigBuilder::clickhouse)).
    pub fn clickhouse_url(&self) -> Option<&str> {
        self.clickhouse_url.as_deref()
    }

    /// `service.name`.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// `service.version`.
    pub fn service_version(&self) -> Option<&str> {
        self.service_version.as_deref()
    }

    /// `deployment.environment.name`.
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// Whether the console exporter is on.
    pub fn console_enabled(&self) -> bool {
        self.console.is_some()
    }

    /// The minimum level of logs and spans (a bare level of the directives, else [`ConfigBuilder::min_level`](crate::ConfigBuilder::min_level)).
    pub fn min_level(&self) -> Level {
        self.min_level
    }

    /// The level directives, if any were given.
    pub fn level_directives(&self) -> Option<&LevelDirectives> {
        self.level_directives.as_ref()
    }

    /// The fraction of traces recorded (`None`: every trace, or a custom sampler decides).
    pub fn sample_rate(&self) -> Option<f64> {
        self.sample_rate
    }

    /// The span limits.
    pub fn span_limits(&self) -> &SpanLimits {
        &self.span_limits
    }

    /// The resource every span, metric and log is sent with: what was detected, the service and the SDK, then the
    /// attributes given (a key given replaces the same key detected).
    pub fn resource(&self) -> Resource {
        let mut attributes = self.detected.clone();
        attributes.extend([
            KeyValue::new(constants::SERVICE_NAME, self.service_name.clone()),
            KeyValue::new(opentelemetry_semantic_conventions::attribute::TELEMETRY_SDK_NAME, constants::SCOPE_NAME),
            KeyValue::new(opentelemetry_semantic_conventions::attribute::TELEMETRY_SDK_LANGUAGE, "rust"),
            KeyValue::new(
                opentelemetry_semantic_conventions::attribute::TELEMETRY_SDK_VERSION,
                constants::SCOPE_VERSION,
            ),
        ]);
        if let Some(version) = &self.service_version {
            attributes.push(KeyValue::new(constants::SERVICE_VERSION, version.clone()));
        }
        if let Some(environment) = &self.environment {
            attributes.push(KeyValue::new(constants::DEPLOYMENT_ENVIRONMENT_NAME, environment.clone()));
        }
        attributes
            .extend(self.resource_attributes.iter().filter(|kv| kv.key.as_str() != constants::SERVICE_NAME).cloned());
        Resource::builder_empty().with_attributes(attributes).build()
    }
}

impl fmt::Debug for BudObserveConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudObserveConfig")
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("environment", &self.environment)
            .field("resource_attributes", &self.resource_attributes)
            .field("backend", &self.backend)
            .field("clickhouse_url", &self.clickhouse_url)
            .field("console", &self.console)
            .field("min_level", &self.min_level)
            .field("levels", &self.level_directives.as_ref().map(ToString::to_string))
            .field("span_processors", &self.span_processors.len())
            .finish_non_exhaustive()
    }
}
