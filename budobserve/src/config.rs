//! Configuration: the [`configure`] builder, environment variables and their validation.
//!
//! Every setting is taken from the builder if given there, else from its environment variable, else from its
//! default. An invalid environment value is a [`ConfigError`] naming the variable, the value and what is accepted.
//!
//! | variable | builder | default |
//! |---|---|---|
//! | `BUD_OBSERVE_SERVICE_NAME` (then `OTEL_SERVICE_NAME`) | [`service_name`](ConfigBuilder::service_name) | `unknown_service` |
//! | `BUD_OBSERVE_SERVICE_VERSION` | [`service_version`](ConfigBuilder::service_version) | none |
//! | `BUD_OBSERVE_ENVIRONMENT` | [`environment`](ConfigBuilder::environment) | none |
//! | `BUD_OBSERVE_RESOURCE_ATTRIBUTES` (then `OTEL_RESOURCE_ATTRIBUTES`), `k=v,k=v` | [`resource_attribute`](ConfigBuilder::resource_attribute) | none |
//! | `BUD_OBSERVE_CONSOLE` (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`) | [`console`](ConfigBuilder::console) | on |
//! | `BUD_OBSERVE_MIN_LEVEL` (`trace` … `fatal`) | [`min_level`](ConfigBuilder::min_level) | `trace` (everything) |
//! | `BUD_OBSERVE_SAMPLE_RATE` (`0` … `1`) | [`sample_rate`](ConfigBuilder::sample_rate) | `1` (every trace) |
//! | `BUD_OBSERVE_CLICKHOUSE_URL` (feature `clickhouse`) | `clickhouse` | none (no ClickHouse export) |
//! | `BUD_OBSERVE_CLICKHOUSE_DATABASE` | `clickhouse` | `metrics` |
//! | `BUD_OBSERVE_CLICKHOUSE_USER`, `BUD_OBSERVE_CLICKHOUSE_PASSWORD` | `clickhouse` | none (ClickHouse's `default` user) |
//!
//! The OTLP variables (`BUD_OBSERVE_ENDPOINT`, …) are listed in `exporters::otlp`; with an OTLP endpoint or a
//! ClickHouse URL configured, the console is off unless asked for.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{LogProcessor, LoggerProviderBuilder};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{MeterProviderBuilder, PeriodicReader};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{IdGenerator, ShouldSample, SpanExporter, SpanProcessor};

use crate::clock::Clock;
use crate::constants::{self, env};
use crate::exporters::batch::{BatchOptions, BatchProcessor};
#[cfg(feature = "clickhouse")]
use crate::exporters::budmetrics::{BudMetricsExporter, ClickHouseOptions};
use crate::exporters::console::{ColorChoice, ConsoleOptions, ConsoleStyle};
#[cfg(feature = "otlp")]
use crate::exporters::otlp::{self, OtlpConfig, OtlpProtocol};
use crate::exporters::processor::{PendingSpans, SpanStage};
use crate::scrubbing::{Scrubber, ScrubbingConfig};
use crate::tail::TailSampling;

/// The backend spans, metrics and logs are exported to.
#[cfg(feature = "otlp")]
type Backend = OtlpConfig;
#[cfg(not(feature = "otlp"))]
type Backend = std::convert::Infallible;
use crate::level::Level;
use crate::observe::{BudObserve, ShutdownGuard};

/// Starts configuring BudObserve. Finish with [`install`](ConfigBuilder::install) (the global instance the macros
/// and free functions use) or [`build`](ConfigBuilder::build) (a config for an explicit [`BudObserve::new`]).
///
/// ```
/// # fn main() -> Result<(), budobserve::ConfigError> {
/// let _guard = budobserve::configure()
///     .service_name("budapp")
///     .environment("dev")
///     .console(false)
///     .install()?;
/// budobserve::info("service started", []);
/// # Ok(()) }
/// ```
pub fn configure() -> ConfigBuilder {
    ConfigBuilder::default()
}

/// A configuration error: always names what was wrong and what is accepted.
///
/// Its `Debug` output is its message, so that `fn main() -> Result<(), ConfigError>` prints a readable line.
///
/// ```
/// let error = budobserve::configure().sample_rate(1.5).build().unwrap_err();
/// assert!(error.to_string().contains("sample_rate"), "{error}");
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds a value that cannot be used.
    #[error("invalid value {value:?} in environment variable `{variable}`: expected {expected}")]
    InvalidEnvVar {
        /// The variable.
        variable: &'static str,
        /// The value found.
        value: String,
        /// What is accepted.
        expected: Cow<'static, str>,
    },
    /// An exporter cannot be built from the configuration.
    #[error("cannot export {signal} to {endpoint}: {reason}")]
    Exporter {
        /// `spans`, `metrics` or `logs`.
        signal: &'static str,
        /// The endpoint configured.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// A builder option holds a value that cannot be used.
    #[error("invalid value {value:?} for option `{option}`: expected {expected}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: Cow<'static, str>,
    },
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where environment variables are read from.
///
/// ```
/// use std::collections::HashMap;
///
/// use budobserve::EnvSource;
///
/// let env = EnvSource::Map(HashMap::from([("BUD_OBSERVE_MIN_LEVEL".to_owned(), "loud".to_owned())]));
/// let error = budobserve::configure().env(env).build().unwrap_err();
/// assert!(error.to_string().contains("BUD_OBSERVE_MIN_LEVEL"));
/// ```
#[derive(Clone, Debug, Default)]
pub enum EnvSource {
    /// The process environment.
    #[default]
    Process,
    /// A fixed map (for tests, or to configure from another source); the process environment is not read.
    Map(HashMap<String, String>),
}

impl EnvSource {
    /// The value of `variable`, `None` when unset or empty.
    pub(crate) fn get(&self, variable: &'static str) -> Result<Option<String>, ConfigError> {
        let value = match self {
            EnvSource::Process => match std::env::var(variable) {
                Ok(value) => Some(value),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(raw)) => {
                    return Err(ConfigError::InvalidEnvVar {
                        variable,
                        value: raw.to_string_lossy().into_owned(),
                        expected: "valid UTF-8".into(),
                    });
                }
            },
            EnvSource::Map(map) => map.get(variable).cloned(),
        };
        Ok(value.filter(|v| !v.trim().is_empty()))
    }

    /// The first of `variables` that is set.
    fn first(&self, variables: &[&'static str]) -> Result<Option<(&'static str, String)>, ConfigError> {
        for &variable in variables {
            if let Some(value) = self.get(variable)? {
                return Ok(Some((variable, value)));
            }
        }
        Ok(None)
    }
}

type MeterStep = Box<dyn FnOnce(MeterProviderBuilder) -> MeterProviderBuilder + Send>;
type LoggerStep = Box<dyn FnOnce(LoggerProviderBuilder) -> LoggerProviderBuilder + Send>;

/// The builder returned by [`configure`].
///
/// ```
/// use std::time::Duration;
///
/// let config = budobserve::configure()
///     .service_name("budsim")
///     .environment("dev")
///     .export_timeout(Duration::from_secs(5))
///     .console(false)
///     .build()?;                                         // or `.install()` for the global instance
/// assert_eq!(config.service_name(), "budsim");
/// # Ok::<(), budobserve::ConfigError>(())
/// ```
#[must_use = "call `.install()` to configure the global instance, or `.build()` for an explicit one"]
#[derive(Default)]
pub struct ConfigBuilder {
    service_name: Option<String>,
    service_version: Option<String>,
    environment: Option<String>,
    resource_attributes: Vec<KeyValue>,
    console: Option<bool>,
    console_options: Option<ConsoleOptions>,
    min_level: Option<Level>,
    sample_rate: Option<f64>,
    span_processors: Vec<SpanStage>,
    batch_options: Option<BatchOptions>,
    pending_spans: PendingSpans,
    tail_sampling: Option<TailSampling>,
    scrubbing: Option<ScrubbingConfig>,
    endpoint: Option<String>,
    token: Option<String>,
    headers: Vec<(String, String)>,
    protocol: Option<String>,
    gzip: Option<bool>,
    export_timeout: Option<Duration>,
    metrics_interval: Option<Duration>,
    #[cfg(feature = "clickhouse")]
    clickhouse: Option<ClickHouseOptions>,
    metric_readers: Vec<MeterStep>,
    log_processors: Vec<LoggerStep>,
    id_generator: Option<Box<dyn IdGenerator>>,
    sampler: Option<Box<dyn ShouldSample>>,
    clock: Option<Clock>,
    env: EnvSource,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("environment", &self.environment)
            .field("endpoint", &self.endpoint)
            .field("console", &self.console)
            .field("min_level", &self.min_level)
            .field("span_processors", &self.span_processors.len())
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// `service.name` of the resource.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `service.version` of the resource.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// `deployment.environment.name` of the resource (`dev`, `staging`, `prod`…).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// An extra resource attribute (overrides one of the same key from the environment).
    pub fn resource_attribute(mut self, attribute: KeyValue) -> Self {
        self.resource_attributes.push(attribute);
        self
    }

    /// Turns the console exporter on or off.
    pub fn console(mut self, enabled: bool) -> Self {
        self.console = Some(enabled);
        self
    }

    /// How the console looks when it is on (whether it is on stays [`console`](Self::console)'s, then
    /// `BUD_OBSERVE_CONSOLE`'s, to decide).
    pub fn console_options(mut self, options: ConsoleOptions) -> Self {
        self.console_options = Some(options);
        self
    }

    /// The minimum level of logs and spans: anything below is neither formatted nor recorded.
    pub fn min_level(mut self, level: Level) -> Self {
        self.min_level = Some(level);
        self
    }

    /// The fraction of traces recorded, decided at their root before anything is built (see
    /// [`sampling`](crate::sampling)); children follow their parent. `1` keeps everything.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = Some(rate);
        self
    }

    /// Adds a span processor; every span goes to it after the console, complete (code location, template and
    /// message written) when it gets it — completed on the caller's thread, in the span's `on_end`.
    ///
    /// To export, prefer [`span_exporter`](Self::span_exporter): its batch processor completes spans on its own
    /// thread, off the caller's.
    pub fn span_processor(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.span_processors.push(SpanStage::Processor(Box::new(processor)));
        self
    }

    /// Adds an exporter behind BudObserve's batch processor (bounded queue, a worker thread; see
    /// [`batch_options`](Self::batch_options)). The caller's thread only queues a span when it ends; what a macro
    /// span gets from its callsite (code location, template, the message when it only shows recorded values) is
    /// written on the worker thread, before `exporter` sees the span. A full queue drops spans, never blocks: see
    /// [`BudObserve::export_stats`].
    pub fn span_exporter(mut self, exporter: impl SpanExporter + 'static) -> Self {
        self.span_processors.push(SpanStage::Exporter(Box::new(move |options, counters, scrubber| {
            BatchProcessor::start(exporter, options.clone(), Arc::clone(counters), scrubber.cloned())
        })));
        self
    }

    /// The OTLP endpoint, e.g. `http://collector:4318`: spans, metrics and logs are exported to it (see
    /// [`exporters::otlp`](crate::exporters::otlp)). Also `BUD_OBSERVE_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// A token sent to the OTLP endpoint as `Authorization: Bearer <token>` (a BudMetrics API key through the
    /// gateway's OTLP proxy). Also `BUD_OBSERVE_TOKEN`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// An extra header of every OTLP request. Headers given here replace `BUD_OBSERVE_HEADERS` /
    /// `OTEL_EXPORTER_OTLP_HEADERS`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `http/protobuf` (default) or `grpc`. Also `BUD_OBSERVE_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Whether OTLP requests are gzip-compressed (default no). Also `OTEL_EXPORTER_OTLP_COMPRESSION`.
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = Some(gzip);
        self
    }

    /// How long one OTLP export may take, retries included (default 10 s). Also `OTEL_EXPORTER_OTLP_TIMEOUT`
    /// (milliseconds).
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = Some(timeout);
        self
    }

    /// How often metrics are exported over OTLP (default 60 s).
    pub fn metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = Some(interval);
        self
    }

    /// Turns scrubbing of secrets on (the default) or off (see [`scrubbing`](crate::scrubbing)). Fields marked
    /// `#[bud(redact)]` are redacted either way.
    pub fn scrubbing(mut self, enabled: bool) -> Self {
        let options = self.scrubbing.take().unwrap_or_default();
        self.scrubbing = Some(ScrubbingConfig { enabled, ..options });
        self
    }

    /// Scrubbing with extra patterns or a callback (see [`ScrubbingConfig`]).
    pub fn scrubbing_options(mut self, options: ScrubbingConfig) -> Self {
        self.scrubbing = Some(options);
        self
    }

    /// Tail sampling (see [`TailSampling`]): a trace's spans wait until its root ends, then the whole trace is
    /// kept or dropped. Applies after [`sample_rate`](Self::sample_rate)'s head sampling. The console still shows
    /// everything.
    pub fn tail_sampling(mut self, sampling: TailSampling) -> Self {
        self.tail_sampling = Some(sampling);
        self
    }

    /// Whether each span start also sends a zero-duration `pending_span` record (`budobserve_span_type =
    /// "pending_span"`, its parent the span it stands for, `budobserve_pending_parent_id` that span's parent), so a
    /// long operation shows up when it begins: to the test exporter and to processors added with
    /// [`span_processor`](Self::span_processor). Exporters get them only with
    /// [`export_pending_spans`](Self::export_pending_spans). Default off. (The console prints spans when they
    /// start anyway.)
    pub fn pending_spans(mut self, enabled: bool) -> Self {
        self.pending_spans.local = enabled;
        self
    }

    /// Whether `pending_span` records also go to exporters ([`span_exporter`](Self::span_exporter), OTLP).
    /// Default off: a backend that does not know them would show each span twice.
    pub fn export_pending_spans(mut self, enabled: bool) -> Self {
        self.pending_spans.exporters = enabled;
        self
    }

    /// How the exporters' batch processors queue and batch spans (default [`BatchOptions::new`]).
    pub fn batch_options(mut self, options: BatchOptions) -> Self {
        self.batch_options = Some(options);
        self
    }

    /// Adds a processor that sees spans as the caller's thread wrote them (no scrubbing, no completion).
    #[cfg(test)]
    pub(crate) fn span_processor_raw(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.span_processors.push(SpanStage::Raw(Box::new(processor)));
        self
    }

    /// Adds a periodic metric reader (its exporter is called at its interval and on flush).
    pub fn metric_reader<E: PushMetricExporter>(mut self, reader: PeriodicReader<E>) -> Self {
        self.metric_readers.push(Box::new(move |builder| builder.with_reader(reader)));
        self
    }

    /// Adds a processor of the OpenTelemetry logs signal (see [`ProxyLoggerProvider`](crate::ProxyLoggerProvider)).
    pub fn log_processor(mut self, processor: impl LogProcessor + 'static) -> Self {
        self.log_processors.push(Box::new(move |builder| builder.with_log_processor(processor)));
        self
    }

    /// Replaces the trace and span id generator.
    pub fn id_generator(mut self, generator: impl IdGenerator + 'static) -> Self {
        self.id_generator = Some(Box::new(generator));
        self
    }

    /// Replaces the sampler (default: parent-based, always on, after BudObserve's head sampling). A custom sampler
    /// decides on its own, after the span is built; [`sample_rate`](Self::sample_rate) is then not applied.
    pub fn sampler(mut self, sampler: impl ShouldSample + 'static) -> Self {
        self.sampler = Some(Box::new(sampler));
        self
    }

    /// Replaces the clock of an explicit instance ([`build`](Self::build)); the global instance always uses the
    /// system clock, so [`install`](Self::install) refuses another.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Reads environment variables from `env` instead of the process environment.
    pub fn env(mut self, env: EnvSource) -> Self {
        self.env = env;
        self
    }

    /// Spans are also written straight into BudMetrics' ClickHouse table (see
    /// [`exporters::budmetrics`](crate::exporters::budmetrics)), behind their own batch processor. Without this
    /// option, `BUD_OBSERVE_CLICKHOUSE_URL` turns it on; the database, user and password not set in `options` come
    /// from `BUD_OBSERVE_CLICKHOUSE_DATABASE`, `BUD_OBSERVE_CLICKHOUSE_USER` and `BUD_OBSERVE_CLICKHOUSE_PASSWORD`.
    #[cfg(feature = "clickhouse")]
    pub fn clickhouse(mut self, options: ClickHouseOptions) -> Self {
        self.clickhouse = Some(options);
        self
    }

    /// The ClickHouse exporter, when a URL is configured (builder, then environment).
    #[cfg(feature = "clickhouse")]
    fn resolve_clickhouse(&mut self) -> Result<Option<BudMetricsExporter>, ConfigError> {
        let env = &self.env;
        let (mut options, url_from_env) = match self.clickhouse.take() {
            Some(options) => (options, false),
            None => match env.get(env::CLICKHOUSE_URL)? {
                Some(url) => (ClickHouseOptions::new(url), true),
                None => return Ok(None),
            },
        };
        let mut database_from_env = false;
        if options.database.is_none() {
            options.database = env.get(env::CLICKHOUSE_DATABASE)?;
            database_from_env = options.database.is_some();
        }
        if options.user.is_none() {
            options.user = env.get(env::CLICKHOUSE_USER)?;
        }
        if options.password.is_none() {
            options.password = env.get(env::CLICKHOUSE_PASSWORD)?;
        }
        BudMetricsExporter::new(options).map(Some).map_err(|err| match err {
            ConfigError::InvalidOption { option: "clickhouse url", value, expected } if url_from_env => {
                ConfigError::InvalidEnvVar { variable: env::CLICKHOUSE_URL, value, expected }
            }
            ConfigError::InvalidOption { option: "clickhouse database", value, expected } if database_from_env => {
                ConfigError::InvalidEnvVar { variable: env::CLICKHOUSE_DATABASE, value, expected }
            }
            err => err,
        })
    }

    /// Without the `clickhouse` feature, a ClickHouse URL in the environment is an error, not ignored.
    #[cfg(not(feature = "clickhouse"))]
    fn resolve_clickhouse(&mut self) -> Result<Option<std::convert::Infallible>, ConfigError> {
        match self.env.get(env::CLICKHOUSE_URL)? {
            Some(value) => Err(ConfigError::InvalidEnvVar {
                variable: env::CLICKHOUSE_URL,
                value,
                expected: "no value: writing spans to ClickHouse needs BudObserve's `clickhouse` feature".into(),
            }),
            None => Ok(None),
        }
    }

    /// The OTLP backend, when an endpoint is configured (builder, then environment).
    fn resolve_backend(&mut self) -> Result<Option<Backend>, ConfigError> {
        let env = &self.env;
        let endpoint = match self.endpoint.take() {
            Some(endpoint) => Some(("endpoint", None, endpoint)),
            None => env
                .first(&[env::ENDPOINT, env::OTEL_EXPORTER_OTLP_ENDPOINT])?
                .map(|(variable, value)| (variable, Some(variable), value)),
        };
        let Some((source, variable, endpoint)) = endpoint else { return Ok(None) };
        let invalid = |value: String, expected: Cow<'static, str>| match variable {
            Some(variable) => ConfigError::InvalidEnvVar { variable, value, expected },
            None => ConfigError::InvalidOption { option: "endpoint", value, expected },
        };
        #[cfg(not(feature = "otlp"))]
        {
            let _ = (source, &self.token, &self.headers, &self.protocol, self.gzip, self.export_timeout);
            Err(invalid(endpoint, "no endpoint: OTLP export needs BudObserve's `otlp` feature".into()))
        }
        #[cfg(feature = "otlp")]
        {
            let _ = source;
            let endpoint = otlp::normalise_endpoint(&endpoint).map_err(|expected| invalid(endpoint, expected))?;
            let token = match self.token.take() {
                Some(token) => Some(token),
                None => env.get(env::TOKEN)?,
            };
            let headers = if self.headers.is_empty() {
                match env.first(&[env::HEADERS, env::OTEL_EXPORTER_OTLP_HEADERS])? {
                    Some((variable, value)) => parse_headers(variable, &value)?,
                    None => Vec::new(),
                }
            } else {
                for (name, value) in &self.headers {
                    if !valid_header(name, value) {
                        return Err(ConfigError::InvalidOption {
                            option: "header",
                            value: name.clone(),
                            expected: HEADER_EXPECTED.into(),
                        });
                    }
                }
                std::mem::take(&mut self.headers)
            };
            let protocol = match self.protocol.take() {
                Some(protocol) => OtlpProtocol::parse(&protocol).ok_or(ConfigError::InvalidOption {
                    option: "protocol",
                    value: protocol,
                    expected: OtlpProtocol::ACCEPTED.into(),
                })?,
                None => match env.first(&[env::PROTOCOL, env::OTEL_EXPORTER_OTLP_PROTOCOL])? {
                    Some((variable, value)) => OtlpProtocol::parse(&value).ok_or_else(|| {
                        ConfigError::InvalidEnvVar { variable, value, expected: OtlpProtocol::ACCEPTED.into() }
                    })?,
                    None => OtlpProtocol::HttpProtobuf,
                },
            };
            let gzip = match self.gzip {
                Some(gzip) => gzip,
                None => match env.get(env::OTEL_EXPORTER_OTLP_COMPRESSION)? {
                    Some(value) => match value.trim() {
                        "gzip" => true,
                        "none" => false,
                        _ => {
                            return Err(ConfigError::InvalidEnvVar {
                                variable: env::OTEL_EXPORTER_OTLP_COMPRESSION,
                                value,
                                expected: "`gzip` or `none`".into(),
                            });
                        }
                    },
                    None => false,
                },
            };
            let timeout = match self.export_timeout {
                Some(timeout) => timeout,
                None => match env.get(env::OTEL_EXPORTER_OTLP_TIMEOUT)? {
                    Some(value) => match value.trim().parse::<u64>() {
                        Ok(ms) if ms > 0 => Duration::from_millis(ms),
                        _ => {
                            return Err(ConfigError::InvalidEnvVar {
                                variable: env::OTEL_EXPORTER_OTLP_TIMEOUT,
                                value,
                                expected: "a positive number of milliseconds".into(),
                            });
                        }
                    },
                    None => Duration::from_secs(10),
                },
            };
            let metrics_interval = self.metrics_interval.unwrap_or(Duration::from_secs(60));
            Ok(Some(OtlpConfig { endpoint, protocol, token, headers, gzip, timeout, metrics_interval }))
        }
    }

    /// Resolves the configuration (builder > environment > default) for [`BudObserve::new`].
    pub fn build(mut self) -> Result<BudObserveConfig, ConfigError> {
        let backend = self.resolve_backend()?;
        let clickhouse = self.resolve_clickhouse()?;
        let env = &self.env;
        let mut resource_attributes = match env.first(&[env::RESOURCE_ATTRIBUTES, env::OTEL_RESOURCE_ATTRIBUTES])? {
            Some((variable, value)) => parse_key_values(variable, &value)?,
            None => Vec::new(),
        };
        for attribute in self.resource_attributes {
            resource_attributes.retain(|kv: &KeyValue| kv.key != attribute.key);
            resource_attributes.push(attribute);
        }
        let service_name = match self.service_name {
            Some(name) => name,
            None => match env.first(&[env::SERVICE_NAME, env::OTEL_SERVICE_NAME])? {
                Some((_, name)) => name,
                None => resource_attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == constants::SERVICE_NAME)
                    .map_or_else(|| "unknown_service".to_owned(), |kv| kv.value.to_string()),
            },
        };
        let service_version = match self.service_version {
            Some(version) => Some(version),
            None => env.get(env::SERVICE_VERSION)?,
        };
        let environment = match self.environment {
            Some(environment) => Some(environment),
            None => env.get(env::ENVIRONMENT)?,
        };
        let console = match self.console {
            Some(console) => console,
            None => match env.get(env::CONSOLE)? {
                Some(value) => parse_bool(env::CONSOLE, &value)?,
                // The console is the default backend: on when nothing is exported elsewhere.
                None => backend.is_none() && clickhouse.is_none(),
            },
        };
        let min_level = match self.min_level {
            Some(level) => level,
            None => match env.get(env::MIN_LEVEL)? {
                Some(value) => value.parse::<Level>().map_err(|_| ConfigError::InvalidEnvVar {
                    variable: env::MIN_LEVEL,
                    value,
                    expected: Level::ACCEPTED_NAMES.into(),
                })?,
                None => Level::Trace,
            },
        };
        let sample_rate = match self.sample_rate {
            Some(rate) if (0.0..=1.0).contains(&rate) => Some(rate),
            Some(rate) => {
                return Err(ConfigError::InvalidOption {
                    option: "sample_rate",
                    value: rate.to_string(),
                    expected: SAMPLE_RATE_EXPECTED.into(),
                });
            }
            None => match env.get(env::SAMPLE_RATE)? {
                Some(value) => match value.trim().parse::<f64>() {
                    Ok(rate) if (0.0..=1.0).contains(&rate) => Some(rate),
                    _ => {
                        return Err(ConfigError::InvalidEnvVar {
                            variable: env::SAMPLE_RATE,
                            value,
                            expected: SAMPLE_RATE_EXPECTED.into(),
                        });
                    }
                },
                None => None,
            },
        };
        let console = match console {
            true => Some(console_options(self.console_options.unwrap_or_default(), env)?),
            false => None,
        };
        let scrubber = Scrubber::new(&self.scrubbing.unwrap_or_default())
            .map_err(|err| ConfigError::InvalidOption {
                option: "scrubbing pattern",
                value: format!("{}: {}", err.name, err.regex),
                expected: format!("a valid regular expression ({})", err.reason).into(),
            })?
            .map(Arc::new);
        let mut span_processors = self.span_processors;
        let mut metric_readers = self.metric_readers;
        let mut log_processors = self.log_processors;
        if let Some(backend) = &backend {
            add_backend(backend, &mut span_processors, &mut metric_readers, &mut log_processors)?;
        }
        let clickhouse_url = clickhouse.map(|exporter| {
            #[cfg(feature = "clickhouse")]
            {
                let url = exporter.url().to_owned();
                let batch = exporter.batch_options().cloned();
                span_processors.push(SpanStage::Exporter(Box::new(move |options, counters, scrubber| {
                    let options = batch.unwrap_or_else(|| options.clone());
                    BatchProcessor::start(exporter, options, Arc::clone(counters), scrubber.cloned())
                })));
                url
            }
            #[cfg(not(feature = "clickhouse"))]
            match exporter {}
        });
        Ok(BudObserveConfig {
            service_name,
            service_version,
            environment,
            resource_attributes,
            console,
            min_level,
            sample_rate,
            span_processors,
            batch_options: self.batch_options.unwrap_or_default(),
            pending_spans: self.pending_spans,
            tail_sampling: self.tail_sampling,
            scrubber,
            backend,
            clickhouse_url,
            metric_readers,
            log_processors,
            id_generator: self.id_generator,
            sampler: self.sampler,
            clock: self.clock,
        })
    }

    /// Configures the global instance (the one the macros and free functions use) and returns the guard that
    /// flushes and shuts it down when dropped. Tracers, meters and instruments obtained before start recording now.
    /// Installing again replaces the previous configuration.
    ///
    /// Also makes the global instance's proxies OpenTelemetry's global tracer and meter providers, and W3C trace
    /// context + baggage the global propagator, so libraries using the OpenTelemetry API join the same traces.
    pub fn install(self) -> Result<ShutdownGuard, ConfigError> {
        let config = self.build()?;
        if matches!(config.clock, Some(Clock::Stepping(_))) {
            return Err(ConfigError::InvalidOption {
                option: "clock",
                value: "Clock::Stepping".to_owned(),
                expected: "the system clock for the global instance (use `BudObserve::new` for another clock)".into(),
            });
        }
        let global = crate::instance::global();
        let generation = global.apply(config);
        // Libraries instrumented with the OpenTelemetry API write through the same pipeline, and W3C trace context
        // and baggage are what propagators inject and extract.
        opentelemetry::global::set_tracer_provider(global.tracer_provider().clone());
        opentelemetry::global::set_meter_provider(global.meter_provider().clone());
        opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]));
        Ok(ShutdownGuard::new(global.clone(), generation))
    }
}

/// A resolved configuration (see [`ConfigBuilder::build`]).
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
    service_name: String,
    service_version: Option<String>,
    environment: Option<String>,
    resource_attributes: Vec<KeyValue>,
    pub(crate) console: Option<ConsoleOptions>,
    pub(crate) min_level: Level,
    pub(crate) sample_rate: Option<f64>,
    pub(crate) span_processors: Vec<SpanStage>,
    pub(crate) batch_options: BatchOptions,
    pub(crate) pending_spans: PendingSpans,
    pub(crate) tail_sampling: Option<TailSampling>,
    pub(crate) scrubber: Option<Arc<Scrubber>>,
    backend: Option<Backend>,
    clickhouse_url: Option<String>,
    pub(crate) metric_readers: Vec<MeterStep>,
    pub(crate) log_processors: Vec<LoggerStep>,
    pub(crate) id_generator: Option<Box<dyn IdGenerator>>,
    pub(crate) sampler: Option<Box<dyn ShouldSample>>,
    pub(crate) clock: Option<Clock>,
}

impl BudObserveConfig {
    /// The OTLP backend, when an endpoint is configured.
    #[cfg(feature = "otlp")]
    pub fn backend(&self) -> Option<&OtlpConfig> {
        self.backend.as_ref()
    }

    /// The ClickHouse address spans are written to, when configured (see
    /// [`ConfigBuilder::clickhouse`]).
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

    /// The minimum level of logs and spans.
    pub fn min_level(&self) -> Level {
        self.min_level
    }

    /// The fraction of traces recorded (`None`: every trace, or a custom sampler decides).
    pub fn sample_rate(&self) -> Option<f64> {
        self.sample_rate
    }

    /// The resource every span, metric and log is sent with.
    pub fn resource(&self) -> Resource {
        let mut attributes = vec![
            KeyValue::new(constants::SERVICE_NAME, self.service_name.clone()),
            KeyValue::new(opentelemetry_semantic_conventions::attribute::TELEMETRY_SDK_NAME, constants::SCOPE_NAME),
            KeyValue::new(opentelemetry_semantic_conventions::attribute::TELEMETRY_SDK_LANGUAGE, "rust"),
            KeyValue::new(
                opentelemetry_semantic_conventions::attribute::TELEMETRY_SDK_VERSION,
                constants::SCOPE_VERSION,
            ),
        ];
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
            .field("span_processors", &self.span_processors.len())
            .finish_non_exhaustive()
    }
}

impl BudObserve {
    /// Builds an explicit instance from a resolved configuration. It is independent of the global instance: use it
    /// directly, or make it current for a scope with [`with_instance`](crate::with_instance).
    pub fn new(config: BudObserveConfig) -> BudObserve {
        let clock = config.clock.clone().unwrap_or_default();
        let observe = BudObserve::unconfigured(clock);
        // The instance owns its providers; they shut down with its last handle or with `shutdown`.
        observe.apply(config);
        observe
    }
}

const BOOL_EXPECTED: &str = "true or false (also 1/0, yes/no, on/off)";
const SAMPLE_RATE_EXPECTED: &str = "a number from 0 (no trace) to 1 (every trace)";

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::InvalidEnvVar { variable, value: value.to_owned(), expected: BOOL_EXPECTED.into() }),
    }
}

/// Parses `key=value,key=value` (white space around entries is ignored; values keep inner `=`).
/// Console options with what the environment says where the builder did not.
fn console_options(mut options: ConsoleOptions, env: &EnvSource) -> Result<ConsoleOptions, ConfigError> {
    if options.colors.is_none()
        && let Some(value) = env.get(env::CONSOLE_COLORS)?
    {
        let colors = ColorChoice::parse(&value).ok_or_else(|| ConfigError::InvalidEnvVar {
            variable: env::CONSOLE_COLORS,
            value,
            expected: ColorChoice::ACCEPTED.into(),
        })?;
        options = options.colors(colors);
    }
    if options.style.is_none()
        && let Some(value) = env.get(env::CONSOLE_STYLE)?
    {
        let style = ConsoleStyle::parse(&value).ok_or_else(|| ConfigError::InvalidEnvVar {
            variable: env::CONSOLE_STYLE,
            value,
            expected: ConsoleStyle::ACCEPTED.into(),
        })?;
        options = options.style(style);
    }
    Ok(options)
}

/// The exporters of `backend`: spans behind BudObserve's batch processor, metrics behind a periodic reader, logs
/// behind the SDK's batch log processor.
#[cfg(feature = "otlp")]
fn add_backend(
    otlp: &OtlpConfig,
    span_processors: &mut Vec<SpanStage>,
    metric_readers: &mut Vec<MeterStep>,
    log_processors: &mut Vec<LoggerStep>,
) -> Result<(), ConfigError> {
    let spans = otlp.span_exporter()?;
    let metrics = otlp.metric_exporter()?;
    let logs = otlp.log_exporter()?;
    span_processors.push(SpanStage::Exporter(Box::new(move |options, counters, scrubber| {
        BatchProcessor::start(spans, options.clone(), Arc::clone(counters), scrubber.cloned())
    })));
    let reader = PeriodicReader::builder(metrics).with_interval(otlp.metrics_interval).build();
    metric_readers.push(Box::new(move |builder| builder.with_reader(reader)));
    let processor = opentelemetry_sdk::logs::BatchLogProcessor::builder(logs).build();
    log_processors.push(Box::new(move |builder| builder.with_log_processor(processor)));
    Ok(())
}

#[cfg(not(feature = "otlp"))]
fn add_backend(
    backend: &Backend,
    _: &mut Vec<SpanStage>,
    _: &mut Vec<MeterStep>,
    _: &mut Vec<LoggerStep>,
) -> Result<(), ConfigError> {
    match *backend {}
}

#[cfg(feature = "otlp")]
const HEADER_EXPECTED: &str = "headers as comma-separated name=value pairs, names of letters, digits and `-_.`, values \
    without control characters";

/// Whether a header can be sent as given.
#[cfg(feature = "otlp")]
fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !value.chars().any(char::is_control)
}

/// `name=value,name=value`, values percent-decoded (as `OTEL_EXPORTER_OTLP_HEADERS` specifies).
#[cfg(feature = "otlp")]
fn parse_headers(variable: &'static str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let invalid = || ConfigError::InvalidEnvVar { variable, value: value.to_owned(), expected: HEADER_EXPECTED.into() };
    let mut headers = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, raw) = entry.split_once('=').ok_or_else(invalid)?;
        let decoded = percent_decode(raw.trim()).ok_or_else(invalid)?;
        let name = name.trim();
        if !valid_header(name, &decoded) {
            return Err(invalid());
        }
        headers.push((name.to_owned(), decoded));
    }
    Ok(headers)
}

/// `%XX` escapes decoded; `None` for a broken escape or text that is not UTF-8.
#[cfg(feature = "otlp")]
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

fn parse_key_values(variable: &'static str, value: &str) -> Result<Vec<KeyValue>, ConfigError> {
    let mut pairs = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.split_once('=') {
            Some((key, val)) if !key.trim().is_empty() => {
                pairs.push(KeyValue::new(key.trim().to_owned(), val.trim().to_owned()));
            }
            _ => {
                return Err(ConfigError::InvalidEnvVar {
                    variable,
                    value: value.to_owned(),
                    expected: "comma-separated key=value pairs with non-empty keys".into(),
                });
            }
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvSource {
        EnvSource::Map(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn argument_beats_env_beats_default() {
        let config = configure()
            .env(env(&[(env::SERVICE_NAME, "from-env"), (env::ENVIRONMENT, "staging")]))
            .service_name("from-arg")
            .build()
            .unwrap();
        assert_eq!(config.service_name(), "from-arg");
        assert_eq!(config.environment(), Some("staging"));
        assert_eq!(config.service_version(), None);
        assert!(config.console_enabled());
        assert_eq!(config.min_level(), Level::Trace);
    }

    #[test]
    fn otel_variables_are_fallbacks() {
        let config = configure()
            .env(env(&[(env::OTEL_SERVICE_NAME, "otel-name"), (env::OTEL_RESOURCE_ATTRIBUTES, "team=llm, region=eu")]))
            .build()
            .unwrap();
        assert_eq!(config.service_name(), "otel-name");
        let resource = config.resource();
        assert_eq!(resource.get(&"team".into()).map(|v| v.to_string()), Some("llm".to_owned()));
        assert_eq!(resource.get(&"region".into()).map(|v| v.to_string()), Some("eu".to_owned()));
        let both =
            configure().env(env(&[(env::SERVICE_NAME, "bud"), (env::OTEL_SERVICE_NAME, "otel")])).build().unwrap();
        assert_eq!(both.service_name(), "bud");
    }

    #[test]
    fn env_values_are_parsed() {
        let config = configure().env(env(&[(env::CONSOLE, "off"), (env::MIN_LEVEL, "Warning")])).build().unwrap();
        assert!(!config.console_enabled());
        assert_eq!(config.min_level(), Level::Warn);
    }

    #[test]
    fn invalid_env_values_name_the_variable() {
        let err = configure().env(env(&[(env::MIN_LEVEL, "loud")])).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"loud\" in environment variable `BUD_OBSERVE_MIN_LEVEL`: expected trace, debug, info, \
             notice, warn (or warning), error, fatal"
        );
        let err = configure().env(env(&[(env::CONSOLE, "maybe")])).build().unwrap_err();
        assert_eq!(
            err,
            ConfigError::InvalidEnvVar {
                variable: "BUD_OBSERVE_CONSOLE",
                value: "maybe".to_owned(),
                expected: BOOL_EXPECTED.into()
            }
        );
        let err = configure().env(env(&[(env::RESOURCE_ATTRIBUTES, "a=1,oops")])).build().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidEnvVar { variable: "BUD_OBSERVE_RESOURCE_ATTRIBUTES", .. }), "{err}");
    }

    #[test]
    fn console_options_do_not_override_the_environment() {
        let off = configure().env(env(&[(env::CONSOLE, "false")])).console_options(ConsoleOptions::new()).build();
        assert!(!off.unwrap().console_enabled());
        let on = configure().env(env(&[])).console_options(ConsoleOptions::new()).build();
        assert!(on.unwrap().console_enabled());
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn the_otlp_backend_comes_from_arguments_then_variables() {
        let config = configure()
            .env(env(&[
                (env::ENDPOINT, "http://collector:4318/"),
                (env::TOKEN, "key-1"),
                (env::HEADERS, "x-tenant=t-1, x-team = llm%20ops"),
                (env::OTEL_EXPORTER_OTLP_ENDPOINT, "http://ignored:4318"),
                (env::OTEL_EXPORTER_OTLP_COMPRESSION, "gzip"),
                (env::OTEL_EXPORTER_OTLP_TIMEOUT, "2500"),
            ]))
            .build()
            .unwrap();
        let backend = config.backend().unwrap();
        assert_eq!(backend.endpoint(), "http://collector:4318");
        assert_eq!(backend.token.as_deref(), Some("key-1"));
        assert_eq!(backend.headers, [("x-tenant".to_owned(), "t-1".to_owned()), ("x-team".into(), "llm ops".into())]);
        assert!(backend.gzip);
        assert_eq!(backend.timeout, Duration::from_millis(2500));
        assert_eq!(backend.protocol(), OtlpProtocol::HttpProtobuf);
        // A backend turns the console's default off; the console can still be asked for.
        assert!(!config.console_enabled());
        assert!(!format!("{config:?}").contains("key-1"));

        let fallback = configure()
            .env(env(&[
                (env::OTEL_EXPORTER_OTLP_ENDPOINT, "http://otel:4318"),
                (env::OTEL_EXPORTER_OTLP_HEADERS, "a=b"),
            ]))
            .console(true)
            .build()
            .unwrap();
        assert_eq!(fallback.backend().unwrap().endpoint(), "http://otel:4318");
        assert_eq!(fallback.backend().unwrap().headers, [("a".to_owned(), "b".to_owned())]);
        assert!(fallback.console_enabled());

        let argument = configure()
            .env(env(&[(env::ENDPOINT, "http://env:4318"), (env::HEADERS, "a=b")]))
            .endpoint("http://arg:4318")
            .header("c", "d")
            .build()
            .unwrap();
        assert_eq!(argument.backend().unwrap().endpoint(), "http://arg:4318");
        assert_eq!(argument.backend().unwrap().headers, [("c".to_owned(), "d".to_owned())]);
        assert!(configure().env(env(&[])).build().unwrap().backend().is_none());
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn invalid_otlp_settings_name_what_is_wrong() {
        let err = configure().env(env(&[(env::ENDPOINT, "collector:4318")])).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"collector:4318\" in environment variable `BUD_OBSERVE_ENDPOINT`: expected an `http://` or \
             `https://` address, e.g. `http://localhost:4318`"
        );
        let err = configure().env(env(&[])).endpoint("ftp://x").build().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidOption { option: "endpoint", .. }), "{err}");
        let with_endpoint = |pairs: &[(&'static str, &'static str)]| {
            let mut all = vec![(env::ENDPOINT, "http://c:4318")];
            all.extend_from_slice(pairs);
            configure().env(env(&all)).build().unwrap_err()
        };
        let err = with_endpoint(&[(env::PROTOCOL, "thrift")]);
        assert_eq!(
            err.to_string(),
            "invalid value \"thrift\" in environment variable `BUD_OBSERVE_PROTOCOL`: expected `http/protobuf` or `grpc`"
        );
        assert!(matches!(
            with_endpoint(&[(env::HEADERS, "novalue")]),
            ConfigError::InvalidEnvVar { variable: "BUD_OBSERVE_HEADERS", .. }
        ));
        assert!(matches!(
            with_endpoint(&[(env::HEADERS, "a=%zz")]),
            ConfigError::InvalidEnvVar { variable: "BUD_OBSERVE_HEADERS", .. }
        ));
        assert!(matches!(
            with_endpoint(&[(env::OTEL_EXPORTER_OTLP_TIMEOUT, "soon")]),
            ConfigError::InvalidEnvVar { variable: "OTEL_EXPORTER_OTLP_TIMEOUT", .. }
        ));
        assert!(matches!(
            with_endpoint(&[(env::OTEL_EXPORTER_OTLP_COMPRESSION, "zstd")]),
            ConfigError::InvalidEnvVar { variable: "OTEL_EXPORTER_OTLP_COMPRESSION", .. }
        ));
        let grpc = configure().env(env(&[(env::ENDPOINT, "http://c:4317"), (env::PROTOCOL, "grpc")])).build();
        if cfg!(feature = "otlp-grpc") {
            assert_eq!(grpc.unwrap().backend().map(OtlpConfig::protocol), Some(OtlpProtocol::Grpc));
        } else {
            assert_eq!(
                grpc.unwrap_err().to_string(),
                "cannot export spans to http://c:4317: OTLP over gRPC needs BudObserve's `otlp-grpc` feature"
            );
        }
        let err = configure().env(env(&[])).endpoint("http://c").header("bad header", "x").build().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidOption { option: "header", .. }), "{err}");
    }

    #[test]
    fn console_colors_and_style_come_from_arguments_then_variables() {
        let vars = env(&[(env::CONSOLE_COLORS, "always"), (env::CONSOLE_STYLE, "show-parents")]);
        let config = configure().env(vars.clone()).build().unwrap();
        let options = config.console.as_ref().unwrap();
        assert_eq!((options.colors, options.style), (Some(ColorChoice::Always), Some(ConsoleStyle::ShowParents)));
        let config = configure()
            .env(vars)
            .console_options(ConsoleOptions::new().colors(ColorChoice::Never).style(ConsoleStyle::Simple))
            .build()
            .unwrap();
        let options = config.console.as_ref().unwrap();
        assert_eq!((options.colors, options.style), (Some(ColorChoice::Never), Some(ConsoleStyle::Simple)));

        let err = configure().env(env(&[(env::CONSOLE_STYLE, "fancy")])).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"fancy\" in environment variable `BUD_OBSERVE_CONSOLE_STYLE`: expected `simple`, \
             `indented` or `show-parents`"
        );
        let err = configure().env(env(&[(env::CONSOLE_COLORS, "sometimes")])).build().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidEnvVar { variable: "BUD_OBSERVE_CONSOLE_COLORS", .. }), "{err}");
        // Not read when the console is off.
        assert!(configure().env(env(&[(env::CONSOLE, "off"), (env::CONSOLE_STYLE, "fancy")])).build().is_ok());
    }

    #[test]
    fn debug_output_is_the_message() {
        let err = configure().env(env(&[(env::CONSOLE, "maybe")])).build().unwrap_err();
        assert_eq!(format!("{err:?}"), err.to_string());
    }

    #[test]
    fn sample_rate_is_validated() {
        let config = configure().env(env(&[(env::SAMPLE_RATE, "0.25")])).build().unwrap();
        assert_eq!(config.sample_rate(), Some(0.25));
        for bad in ["2", "-0.1", "half", "NaN"] {
            let err = configure().env(env(&[(env::SAMPLE_RATE, bad)])).build().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid value \"{bad}\" in environment variable `BUD_OBSERVE_SAMPLE_RATE`: expected a number \
                     from 0 (no trace) to 1 (every trace)"
                )
            );
        }
        let err = configure().env(env(&[])).sample_rate(1.5).build().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidOption { option: "sample_rate", .. }), "{err}");
    }

    #[test]
    fn resource_has_service_and_environment() {
        let config = configure()
            .env(env(&[]))
            .service_name("budapp")
            .service_version("1.2.3")
            .environment("dev")
            .resource_attribute(KeyValue::new("team", "platform"))
            .build()
            .unwrap();
        let resource = config.resource();
        let get = |key: &str| resource.get(&opentelemetry::Key::from(key.to_owned())).map(|v| v.to_string());
        assert_eq!(get("service.name").as_deref(), Some("budapp"));
        assert_eq!(get("service.version").as_deref(), Some("1.2.3"));
        assert_eq!(get("deployment.environment.name").as_deref(), Some("dev"));
        assert_eq!(get("team").as_deref(), Some("platform"));
        assert_eq!(get("telemetry.sdk.name").as_deref(), Some("budobserve"));
    }
}
