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
//! | `BUD_OBSERVE_RESOURCE_DETECTION` (`true`/`false`) | [`resource_detection`](ConfigBuilder::resource_detection) | on (see `resource`) |
//! | `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, … (see [`limits`](crate::limits)) | [`span_limits`](ConfigBuilder::span_limits) | the OpenTelemetry defaults |
//! | `BUD_OBSERVE_CONSOLE` (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`) | [`console`](ConfigBuilder::console) | on |
//! | `BUD_OBSERVE_MIN_LEVEL` (`trace` … `fatal`) | [`min_level`](ConfigBuilder::min_level) | `trace` (everything) |
//! | `BUD_OBSERVE_LEVELS` (`info,my_service::db=debug,hyper=warn`) | [`levels`](ConfigBuilder::levels) | none (one level for every target) |
//! | `BUD_OBSERVE_SAMPLE_RATE` (`0` … `1`) | [`sample_rate`](ConfigBuilder::sample_rate) | `1` (every trace) |
//! | `BUD_OBSERVE_CLICKHOUSE_URL` (feature `clickhouse`) | `clickhouse` | none (no ClickHouse export) |
//! | `BUD_OBSERVE_CLICKHOUSE_DATABASE` | `clickhouse` | `metrics` |
//! | `BUD_OBSERVE_CLICKHOUSE_USER`, `BUD_OBSERVE_CLICKHOUSE_PASSWORD` | `clickhouse` | none (ClickHouse's `default` user) |
//!
//! The OTLP variables (`BUD_OBSERVE_ENDPOINT`, …) are listed in `exporters::otlp`; with an OTLP endpoint or a
//! ClickHouse URL configured, the console is off unless asked for.

mod backends;
mod resolved;
pub(crate) mod setting;
mod settings;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::logs::LogProcessor;
use opentelemetry_sdk::metrics::PeriodicReader;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{IdGenerator, ShouldSample, SpanExporter, SpanProcessor};

pub use self::resolved::BudObserveConfig;
use self::resolved::{LoggerStep, MeterStep};
pub use self::setting::EnvSource;
use crate::clock::Clock;
use crate::constants;
use crate::contained::ContainedLogProcessor;
use crate::conventions::HttpConventions;
use crate::directives::LevelDirectives;
/// Also at the crate's root; here as well, where configuration errors come from.
pub use crate::error::ConfigError;
use crate::exceptions::{ExceptionCallback, RecordedError};
use crate::exporters::batch::BatchOptions;
#[cfg(feature = "clickhouse")]
use crate::exporters::budmetrics::ClickHouseOptions;
use crate::exporters::console::ConsoleOptions;
use crate::exporters::otlp::OtlpOptions;
use crate::exporters::processor::{PendingSpans, SpanStage};
use crate::level::Level;
use crate::limits::SpanLimits;
use crate::resource;
use crate::scrubbing::{Scrubber, ScrubbingConfig};
use crate::tail::TailSampling;

/// Starts configuring BudObserve. Finish with [`install`](ConfigBuilder::install) (the global instance the macros
/// and free functions use) or [`build`](ConfigBuilder::build) (a config for an explicit [`BudObserve::new`](crate::BudObserve::new)).
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
    resource_detection: Option<bool>,
    span_limits: Option<SpanLimits>,
    console: Option<bool>,
    console_options: Option<ConsoleOptions>,
    min_level: Option<Level>,
    levels: Option<LevelDirectives>,
    exception_callback: Option<ExceptionCallback>,
    baggage_to_attributes: bool,
    panic_hook: bool,
    error_backtraces: bool,
    http_conventions: Option<HttpConventions>,
    #[cfg(all(feature = "signals", unix))]
    flush_on_signals: bool,
    sample_rate: Option<f64>,
    span_processors: Vec<SpanStage>,
    batch_options: Option<BatchOptions>,
    pending_spans: PendingSpans,
    tail_sampling: Option<TailSampling>,
    scrubbing: Option<ScrubbingConfig>,
    otlp: OtlpOptions,
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
            .field("otlp", &self.otlp)
            .field("console", &self.console)
            .field("min_level", &self.min_level)
            .field("levels", &self.levels.as_ref().map(ToString::to_string))
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

    /// Whether the resource is completed with what is detected about the host, process, container and Kubernetes
    /// pod (default on; see [`resource`]). Also `BUD_OBSERVE_RESOURCE_DETECTION`.
    pub fn resource_detection(mut self, enabled: bool) -> Self {
        self.resource_detection = Some(enabled);
        self
    }

    /// The span limits (see [`SpanLimits`]); those not set here come from the `OTEL_*_LIMIT` variables.
    pub fn span_limits(mut self, limits: SpanLimits) -> Self {
        self.span_limits = Some(limits);
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

    /// Levels per target, `RUST_LOG`-style (see [`LevelDirectives`]): they apply to the macros (their target is
    /// their module path) and to the `tracing` and `log` bridges (the records' targets). A bare level among them
    /// is the minimum level, in place of [`min_level`](Self::min_level).
    ///
    /// ```
    /// use budobserve::{BudObserve, Level, bud_debug};
    ///
    /// let config = budobserve::configure()
    ///     .console(false)
    ///     .levels("info,my_service::db=debug,hyper=warn".parse()?)
    ///     .build()?;
    /// assert_eq!(config.min_level(), Level::Info);
    /// let obs = BudObserve::new(config);
    /// bud_debug!(obs => "not recorded: this module is at info");
    /// assert!(obs.is_enabled_for("my_service::db::pool", Level::Debug));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn levels(mut self, directives: LevelDirectives) -> Self {
        self.levels = Some(directives);
        self
    }

    /// Reports every panic as a fatal log of the instance current on the panicking thread (`panic`, the message
    /// `panicked at file:line:column: …`, `exception.*`, `thread.name`, the panic's `code.filepath` and
    /// `code.lineno`), then flushes telemetry (at most 5 s) before the panic goes on — so the record of a panic that
    /// ends the process is exported. The hook that was installed before keeps running after it. Off by default.
    ///
    /// ```
    /// let _guard = budobserve::configure().console(false).panic_hook(true).install()?;
    /// # Ok::<(), budobserve::ConfigError>(())
    /// ```
    pub fn panic_hook(mut self, enabled: bool) -> Self {
        self.panic_hook = enabled;
        self
    }

    /// Which HTTP keys server and client spans carry (default `OTEL_SEMCONV_STABILITY_OPT_IN`, else the stable
    /// ones only): [`HttpConventions::StableAndOld`] adds the keys of the conventions before them (`http.method`,
    /// `http.status_code`, `http.target`, `net.peer.ip`, …), as services instrumented with OpenTelemetry's Python
    /// instrumentations write by default, so one dashboard can group both.
    ///
    /// ```
    /// use budobserve::HttpConventions;
    ///
    /// let _config = budobserve::configure().console(false).http_conventions(HttpConventions::StableAndOld).build()?;
    /// # Ok::<(), budobserve::ConfigError>(())
    /// ```
    pub fn http_conventions(mut self, conventions: HttpConventions) -> Self {
        self.http_conventions = Some(conventions);
        self
    }

    /// Captures a backtrace where each error is recorded (`record_exception`, `bud_exception!`, an `Err` of an
    /// `#[instrument]` function) into its `exception.stacktrace`. Off by default, whatever `RUST_BACKTRACE` says:
    /// resolving a backtrace's symbols costs milliseconds on the recording thread (the first one in a process, a
    /// fifth of a second), and an error's backtrace shows where it was recorded, not where it arose. Panics carry
    /// theirs when `RUST_BACKTRACE` asks, as std's hook does. The console prints them only with
    /// [`ConsoleOptions::backtraces`](crate::ConsoleOptions::backtraces).
    pub fn error_backtraces(mut self, enabled: bool) -> Self {
        self.error_backtraces = enabled;
        self
    }

    /// Flushes the instance's spans, metrics and logs when the process receives `SIGTERM` or `SIGINT` (at most
    /// [`SIGNAL_FLUSH_TIMEOUT`](crate::signals::SIGNAL_FLUSH_TIMEOUT)), then lets the signal end the process as it
    /// would have — for a service that has no graceful shutdown of its own, whose telemetry (a counter not yet
    /// collected, the last spans of a batch) would otherwise die with it. A service that shuts down gracefully
    /// passes [`shutdown_signal`](crate::shutdown_signal) to its server instead and lets the
    /// [`ShutdownGuard`](crate::ShutdownGuard) flush; with both, the flush runs first and the future completes after
    /// it. Off by default; Unix only.
    ///
    /// ```no_run
    /// let _guard = budobserve::configure().service_name("budsim-worker").flush_on_signals(true).install()?;
    /// # Ok::<(), budobserve::ConfigError>(())
    /// ```
    #[cfg(all(feature = "signals", unix))]
    pub fn flush_on_signals(mut self, enabled: bool) -> Self {
        self.flush_on_signals = enabled;
        self
    }

    /// Copies every baggage entry onto every span as an attribute of the same key (Logfire's
    /// `add_baggage_to_attributes`), not only the bud context's `bud.*` keys. An attribute the span is given
    /// explicitly wins over the baggage's value. Values are cut like every attribute value.
    ///
    /// ```
    /// use budobserve::{KeyValue, bud_info, testing};
    ///
    /// let capture = testing::capture_with(|builder| builder.baggage_to_attributes(true));
    /// capture.run(|| {
    ///     let _tenant = budobserve::baggage::set_baggage([("tenant", "acme")])?;
    ///     bud_info!("billed");
    ///     Ok::<(), budobserve::baggage::BaggageError>(())
    /// })?;
    /// capture.assert_has_span("billed", &[KeyValue::new("tenant", "acme")]);
    /// # Ok::<(), budobserve::baggage::BaggageError>(())
    /// ```
    pub fn baggage_to_attributes(mut self, enabled: bool) -> Self {
        self.baggage_to_attributes = enabled;
        self
    }

    /// Shows each error a span of this instance records to `callback` first (see [`RecordedError`]): it may change
    /// the span's level (below `error`, the status stays unset), add attributes, or keep the error from being
    /// recorded. A panic in it is contained and counted; the error is then recorded as without it.
    ///
    /// ```
    /// use budobserve::{Level, RecordedError};
    ///
    /// let config = budobserve::configure()
    ///     .console(false)
    ///     .exception_callback(|error: &mut RecordedError<'_>| {
    ///         if error.message().contains("timed out") {
    ///             error.set_level(Level::Warn);
    ///         }
    ///     })
    ///     .build()?;
    /// # drop(config);
    /// # Ok::<(), budobserve::ConfigError>(())
    /// ```
    pub fn exception_callback(mut self, callback: impl Fn(&mut RecordedError<'_>) + Send + Sync + 'static) -> Self {
        self.exception_callback = Some(Arc::new(callback));
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
    /// [`BudObserve::export_stats`](crate::BudObserve::export_stats).
    pub fn span_exporter(mut self, exporter: impl SpanExporter + 'static) -> Self {
        self.span_processors.push(SpanStage::exporter(exporter, None));
        self
    }

    /// The OTLP endpoint, e.g. `http://collector:4318`: spans, metrics and logs are exported to it (see
    /// [`exporters::otlp`](crate::exporters::otlp)). Also `BUD_OBSERVE_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp.endpoint = Some(endpoint.into());
        self
    }

    /// A token sent to the OTLP endpoint as `Authorization: Bearer <token>` (a BudMetrics API key through the
    /// gateway's OTLP proxy). Also `BUD_OBSERVE_TOKEN`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.otlp.token = Some(token.into());
        self
    }

    /// An extra header of every OTLP request. Headers given here replace `BUD_OBSERVE_HEADERS` /
    /// `OTEL_EXPORTER_OTLP_HEADERS`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp.headers.push((name.into(), value.into()));
        self
    }

    /// `http/protobuf` (default) or `grpc`. Also `BUD_OBSERVE_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.otlp.protocol = Some(protocol.into());
        self
    }

    /// Whether OTLP requests are gzip-compressed (default no). Also `OTEL_EXPORTER_OTLP_COMPRESSION`.
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.otlp.gzip = Some(gzip);
        self
    }

    /// How long one OTLP export may take, retries included (default 10 s). Also `OTEL_EXPORTER_OTLP_TIMEOUT`
    /// (milliseconds).
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.timeout = Some(timeout);
        self
    }

    /// How often metrics are exported over OTLP (default 60 s).
    pub fn metrics_interval(mut self, interval: Duration) -> Self {
        self.otlp.metrics_interval = Some(interval);
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
        self.log_processors.push(Box::new(move |builder, counters| {
            builder.with_log_processor(ContainedLogProcessor::new(processor, Arc::clone(counters)))
        }));
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

    /// Resolves the configuration (builder > environment > default) for [`BudObserve::new`](crate::BudObserve::new).
    pub fn build(self) -> Result<BudObserveConfig, ConfigError> {
        let env = &self.env;
        let backend = self.otlp.resolve(env)?;
        #[cfg(feature = "clickhouse")]
        let clickhouse = backends::resolve_clickhouse(self.clickhouse, env)?;
        #[cfg(not(feature = "clickhouse"))]
        let clickhouse = backends::resolve_clickhouse(env)?;
        let mut resource_attributes = settings::RESOURCE_ATTRIBUTES.read_env(env)?.unwrap_or_default();
        for attribute in self.resource_attributes {
            resource_attributes.retain(|kv: &KeyValue| kv.key != attribute.key);
            resource_attributes.push(attribute);
        }
        let service_name = match settings::SERVICE_NAME.resolve(self.service_name, env)? {
            Some(name) => name,
            None => resource_attributes
                .iter()
                .find(|kv| kv.key.as_str() == constants::SERVICE_NAME)
                .map_or_else(|| "unknown_service".to_owned(), |kv| kv.value.to_string()),
        };
        // The console is the default backend: on when nothing is exported elsewhere.
        let console =
            settings::CONSOLE.resolve(self.console, env)?.unwrap_or_else(|| backend.is_none() && clickhouse.is_none());
        let console = match console {
            true => Some(console_options(self.console_options.unwrap_or_default(), env)?),
            false => None,
        };
        let detected = match settings::RESOURCE_DETECTION.resolve(self.resource_detection, env)? {
            Some(false) => Vec::new(),
            _ => resource::detect(env)?,
        };
        let span_limits = SpanLimits::resolve(self.span_limits, env)?;
        let scrubber = Scrubber::new(&self.scrubbing.unwrap_or_default())?.map(Arc::new);
        let level_directives = settings::LEVELS.resolve(self.levels, env)?;
        let mut span_processors = self.span_processors;
        let mut metric_readers = self.metric_readers;
        let mut log_processors = self.log_processors;
        if let Some(backend) = &backend {
            backends::add_otlp(backend, &mut span_processors, &mut metric_readers, &mut log_processors)?;
        }
        let clickhouse_url = clickhouse.map(|exporter| backends::add_clickhouse(exporter, &mut span_processors));
        Ok(BudObserveConfig {
            service_name,
            service_version: settings::SERVICE_VERSION.resolve(self.service_version, env)?,
            environment: settings::ENVIRONMENT.resolve(self.environment, env)?,
            resource_attributes,
            detected,
            span_limits,
            console,
            min_level: level_directives
                .as_ref()
                .and_then(LevelDirectives::default_threshold)
                .and_then(Level::from_number)
                .map_or_else(|| settings::MIN_LEVEL.resolve(self.min_level, env), |level| Ok(Some(level)))?
                .unwrap_or(Level::Trace),
            level_directives,
            exception_callback: self.exception_callback,
            baggage_to_attributes: self.baggage_to_attributes,
            panic_hook: self.panic_hook,
            error_backtraces: self.error_backtraces,
            http_conventions: settings::HTTP_CONVENTIONS.resolve(self.http_conventions, env)?.unwrap_or_default(),
            #[cfg(all(feature = "signals", unix))]
            flush_on_signals: self.flush_on_signals,
            sample_rate: settings::SAMPLE_RATE.resolve_checked(
                self.sample_rate,
                env,
                settings::valid_sample_rate,
                settings::SAMPLE_RATE_EXPECTED,
            )?,
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
}

/// Console options with what the environment says where the builder did not.
fn console_options(mut options: ConsoleOptions, env: &EnvSource) -> Result<ConsoleOptions, ConfigError> {
    if options.colors.is_none()
        && let Some(colors) = settings::CONSOLE_COLORS.read_env(env)?
    {
        options = options.colors(colors);
    }
    if options.style.is_none()
        && let Some(style) = settings::CONSOLE_STYLE.read_env(env)?
    {
        options = options.style(style);
    }
    Ok(options)
}

#[cfg(test)]
mod tests;
