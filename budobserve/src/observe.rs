//! [`BudObserve`]: the handle that writes logs, spans, exceptions and metrics.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use opentelemetry::metrics::{
    AsyncInstrument, AsyncInstrumentBuilder, Counter, Gauge, Histogram, HistogramBuilder, InstrumentBuilder, Meter,
    MeterProvider as _, ObservableCounter, ObservableGauge, ObservableUpDownCounter, UpDownCounter,
};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, InstrumentationScope, KeyValue};

use crate::clock::Clock;
use crate::constants;
use crate::directives::{LevelDirectives, Levels};
use crate::exporters::loss::{ExportCounters, ExportStats};
use crate::launch::{Origin, SpanOptions, Writer};
use crate::level::Level;
use crate::providers::{ProxyLoggerProvider, ProxyMeterProvider, ProxyTracer, ProxyTracerProvider};
use crate::sampling::HeadSampler;
use crate::scrubbing::Scrubber;
use crate::span::BudSpan;

/// The handle that writes logs, spans, exceptions and metrics to one BudObserve instance.
///
/// Cheap to clone (two `Arc`s). Handles made with [`with_tags`](BudObserve::with_tags) or
/// [`with_settings`](BudObserve::with_settings) write to the same instance with their own tags or scope.
///
/// The free functions of the crate ([`info`](crate::info), [`span`](crate::span)…) and the macros use the
/// *current* instance: the one made current by [`with_instance`](crate::with_instance) on this thread, else the
/// global one set up by [`configure`](crate::configure).
///
/// ```
/// use budobserve::{BudObserve, KeyValue, Level, bud_info};
///
/// let config = budobserve::configure().service_name("worker").console(false).build()?;
/// let obs = BudObserve::new(config);
/// bud_info!(obs => "job {id} started", id = 7);                 // through the macros
/// obs.log(Level::Info, "job {id} done", [KeyValue::new("id", 7)]); // or the methods, templates read at run time
/// let jobs = obs.counter("jobs").build();
/// jobs.add(1, &[]);
/// obs.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BudObserve {
    pub(crate) instance: Arc<Instance>,
    handle: Arc<Handle>,
}

// A panic cannot leave an instance half-updated: its state is atomics, lock-free swaps and mutexes whose users
// recover from poisoning. So handles may cross `catch_unwind`.
impl std::panic::UnwindSafe for BudObserve {}
impl std::panic::RefUnwindSafe for BudObserve {}

/// State shared by every handle of one instance.
pub(crate) struct Instance {
    /// The minimum level and the level directives.
    pub(crate) levels: Levels,
    /// The instance's number in the process, by which its spans find its exception callback.
    pub(crate) number: u32,
    /// Whether a panic is reported as a fatal log of this instance, then flushed (`ConfigBuilder::panic_hook`).
    pub(crate) report_panics: AtomicBool,
    pub(crate) clock: Clock,
    pub(crate) tracer_provider: ProxyTracerProvider,
    pub(crate) meter_provider: ProxyMeterProvider,
    pub(crate) logger_provider: ProxyLoggerProvider,
    pub(crate) meter: Meter,
    /// Bumped by every configuration, so a guard shuts down only what it installed.
    pub(crate) generation: AtomicU64,
    pub(crate) configure_lock: Mutex<()>,
    pub(crate) head: HeadSampler,
    /// Room each macro span reserves for its completion (and scrubbing's `budobserve_scrubbed`), so both write in
    /// place.
    pub(crate) completion_room: AtomicUsize,
    /// The configuration's span attribute limit: a span start and a `BudSpan` keep the user's attributes within it
    /// (see `limits`).
    pub(crate) attribute_limit: AtomicU32,
    /// What the exporters of every configuration so far did.
    pub(crate) export_counters: Arc<ExportCounters>,
    /// The configuration's scrubber, for the values integrations record outside spans (metric attributes).
    pub(crate) scrubber: ArcSwapOption<Scrubber>,
}

/// What differs between handles of one instance.
struct Handle {
    tags: Vec<Cow<'static, str>>,
    tracer: ProxyTracer,
    origin: Origin,
}

/// Per-handle settings for [`BudObserve::with_settings`].
///
/// ```
/// use budobserve::{Settings, bud_info};
///
/// let obs = budobserve::testing::capture().observe().clone();
/// // Spans and logs of this handle carry the tag `billing` and the instrumentation scope `budapp.billing`.
/// let billing = obs.with_settings(Settings::new().tags(["billing"]).scope("budapp.billing"));
/// bud_info!(billing => "invoice {id} sent", id = 12);
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Settings {
    tags: Vec<Cow<'static, str>>,
    scope: Option<Cow<'static, str>>,
    origin: Option<Origin>,
}

impl Settings {
    /// New settings that change nothing.
    pub fn new() -> Settings {
        Settings::default()
    }

    /// Tags added to everything the handle writes.
    pub fn tags<I, S>(mut self, tags: I) -> Settings
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// The instrumentation scope of the handle's spans (default `budobserve`), so that
    /// [`suppress_scopes`](BudObserve::suppress_scopes) can silence them apart. Integrations use
    /// `budobserve.<name>`.
    pub fn scope(mut self, scope: impl Into<Cow<'static, str>>) -> Settings {
        self.scope = Some(scope.into());
        self
    }

    /// Who writes through the handle: an integration's spans are typed `integration`, and neither an integration
    /// nor a bridge records its own code location.
    #[allow(dead_code, reason = "used by the integrations and bridges, each behind a feature")]
    pub(crate) fn origin(mut self, origin: Origin) -> Settings {
        self.origin = Some(origin);
        self
    }
}

/// A new instance number (numbers are not reused; 4 billion instances wrap around).
fn next_instance_number() -> u32 {
    static NUMBERS: AtomicU32 = AtomicU32::new(0);
    NUMBERS.fetch_add(1, Ordering::Relaxed)
}

impl BudObserve {
    /// An instance with no provider yet: it records nothing until configured.
    pub(crate) fn unconfigured(clock: Clock, global: bool) -> BudObserve {
        let tracer_provider = ProxyTracerProvider::new();
        let meter_provider = ProxyMeterProvider::new();
        let export_counters = Arc::new(ExportCounters::default());
        meter_provider.count_failures_in(Arc::clone(&export_counters));
        let tracer = tracer_provider.tracer_with_scope(budobserve_scope(constants::SCOPE_NAME.into()));
        let meter = meter_provider.meter_with_scope(budobserve_scope(constants::SCOPE_NAME.into()));
        register_export_metrics(&meter, &export_counters);
        BudObserve {
            instance: Arc::new(Instance {
                levels: Levels::new(global),
                number: next_instance_number(),
                report_panics: AtomicBool::new(false),
                clock,
                tracer_provider,
                meter_provider,
                logger_provider: ProxyLoggerProvider::new(),
                meter,
                generation: AtomicU64::new(0),
                configure_lock: Mutex::new(()),
                head: HeadSampler::default(),
                completion_room: AtomicUsize::new(0),
                attribute_limit: AtomicU32::new(crate::limits::DEFAULT_COUNT),
                export_counters,
                scrubber: ArcSwapOption::empty(),
            }),
            handle: Arc::new(Handle { tags: Vec::new(), tracer, origin: Origin::User }),
        }
    }

    /// What this instance's exporters did so far, over every configuration: spans exported, dropped because an
    /// export queue was full, and lost in failed exports. The same counts are the `budobserve.spans.dropped`
    /// metric.
    pub fn export_stats(&self) -> ExportStats {
        let mut stats = self.instance.export_counters.stats();
        if let Some(scrubber) = self.instance.scrubber.load().as_deref() {
            stats.callback_failures += scrubber.callback_failures();
        }
        stats
    }

    /// Whether a panic is reported to this instance (see `panic_report`).
    pub(crate) fn reports_panics(&self) -> bool {
        self.instance.report_panics.load(Ordering::Relaxed)
    }

    /// See `Instance::completion_room`.
    #[inline]
    pub(crate) fn completion_room(&self) -> usize {
        self.instance.completion_room.load(Ordering::Relaxed)
    }

    pub(crate) fn head_sampler(&self) -> &HeadSampler {
        &self.instance.head
    }

    /// Whether a log or span at `level` would be recorded where no level directive names the target (the
    /// methods' records, which have none): one atomic load, done before anything else.
    #[inline]
    pub fn is_enabled(&self, level: Level) -> bool {
        self.instance.levels.is_enabled(level)
    }

    /// Whether a log or span at `level` of `target` (a module path, a `tracing` or `log` target) would be
    /// recorded under the [level directives](LevelDirectives).
    ///
    /// ```
    /// use budobserve::{BudObserve, Level};
    ///
    /// let config = budobserve::configure().console(false).levels("warn,my_service::db=debug".parse()?).build()?;
    /// let obs = BudObserve::new(config);
    /// assert!(obs.is_enabled_for("my_service::db::pool", Level::Debug));
    /// assert!(!obs.is_enabled_for("my_service::web", Level::Info));
    /// assert!(!obs.is_enabled(Level::Info));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_enabled_for(&self, target: &str, level: Level) -> bool {
        self.instance.levels.is_enabled_for(target, level)
    }

    /// The minimum level: the level of targets no directive names (`fatal` when they are `off`).
    pub fn min_level(&self) -> Level {
        self.instance.levels.min_level()
    }

    /// Changes the minimum level at run time (the bare level of the directives); the target directives stay.
    pub fn set_min_level(&self, level: Level) {
        self.instance.levels.set_min_level(level);
    }

    /// The level directives in force, the minimum level as their bare level.
    pub fn level_directives(&self) -> LevelDirectives {
        self.instance.levels.directives()
    }

    /// Replaces the level directives at run time; their bare level, if any, is the new minimum level. Call sites
    /// decide again on their next record.
    ///
    /// ```
    /// use budobserve::{BudObserve, Level};
    ///
    /// let obs = BudObserve::new(budobserve::configure().console(false).min_level(Level::Info).build()?);
    /// obs.set_level_directives("my_service::db=trace".parse()?);
    /// assert!(obs.is_enabled_for("my_service::db", Level::Trace));
    /// assert_eq!(obs.level_directives().to_string(), "info,my_service::db=trace");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_level_directives(&self, directives: LevelDirectives) {
        self.instance.levels.set(self.min_level(), Some(directives));
    }

    /// The instance's clock.
    pub fn clock(&self) -> &Clock {
        &self.instance.clock
    }

    /// A handle that adds `tags` to everything it writes (after this handle's tags).
    pub fn with_tags<I, S>(&self, tags: I) -> BudObserve
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.with_settings(Settings::new().tags(tags))
    }

    /// A handle with other settings (tags, instrumentation scope) writing to the same instance.
    pub fn with_settings(&self, settings: Settings) -> BudObserve {
        let mut tags = self.handle.tags.clone();
        for tag in settings.tags {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let tracer = match settings.scope {
            Some(scope) => self.instance.tracer_provider.tracer_with_scope(budobserve_scope(scope)),
            None => self.handle.tracer.clone(),
        };
        let origin = settings.origin.unwrap_or(self.handle.origin);
        BudObserve { instance: self.instance.clone(), handle: Arc::new(Handle { tags, tracer, origin }) }
    }

    /// `value` as a metric attribute may carry it: redacted when it holds secret material by shape (as span
    /// attributes' values are), for values that come from data rather than a fixed vocabulary.
    #[cfg(feature = "llm")]
    pub(crate) fn scrubbed_metric_value(&self, key: &'static str, value: String) -> String {
        match self.instance.scrubber.load().as_deref() {
            Some(scrubber) => scrubber.metric_value(key, &value).unwrap_or(value),
            None => value,
        }
    }

    /// Whether this handle writes to the global instance.
    #[cfg(any(feature = "tracing", feature = "log"))]
    pub(crate) fn is_global(&self) -> bool {
        self.instance.levels.global
    }

    /// The tags of this handle.
    pub fn tags(&self) -> &[Cow<'static, str>] {
        &self.handle.tags
    }

    /// The proxy tracer provider of this instance: tracers from it follow the instance's configuration.
    pub fn tracer_provider(&self) -> &ProxyTracerProvider {
        &self.instance.tracer_provider
    }

    /// The proxy meter provider of this instance.
    pub fn meter_provider(&self) -> &ProxyMeterProvider {
        &self.instance.meter_provider
    }

    /// The proxy logger provider of this instance (OpenTelemetry logs signal).
    pub fn logger_provider(&self) -> &ProxyLoggerProvider {
        &self.instance.logger_provider
    }

    /// The tracer this handle writes with.
    pub fn tracer(&self) -> &ProxyTracer {
        &self.handle.tracer
    }

    /// Silences the named instrumentation scopes: spans, log records and metrics from them are no longer recorded.
    pub fn suppress_scopes<I, S>(&self, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        let scopes: Vec<Cow<'static, str>> = scopes.into_iter().map(Into::into).collect();
        self.instance.logger_provider.suppress_scopes(scopes.iter().cloned());
        self.instance.meter_provider.suppress_scopes(scopes.iter().cloned());
        self.instance.tracer_provider.suppress_scopes(scopes);
    }

    // ---- spans and logs ----

    /// Options for a span or log with this message template, for what the shorthand methods do not cover (name,
    /// parent, links, kind, new trace, pre-formatted message).
    #[track_caller]
    pub fn span_builder(&self, template: impl Into<Cow<'static, str>>) -> SpanOptions<'_> {
        self.writer().options(template.into(), Vec::new(), Location::caller())
    }

    /// What starting a span needs of this handle.
    #[inline]
    pub(crate) fn writer(&self) -> Writer<'_> {
        Writer {
            floor: &self.instance.levels.floor,
            clock: &self.instance.clock,
            head: &self.instance.head,
            tracer: &self.handle.tracer,
            tags: &self.handle.tags,
            attribute_limit: &self.instance.attribute_limit,
            origin: self.handle.origin,
            instance: self.instance.number,
        }
    }

    /// Starts a span named by its template (`processing {count} items`), its message rendered from `attributes`.
    #[track_caller]
    pub fn span(
        &self,
        template: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) -> BudSpan {
        self.span_at(template, attributes, Location::caller())
    }

    /// [`span`](Self::span) written at `location`.
    pub(crate) fn span_at(
        &self,
        template: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
        location: &'static Location<'static>,
    ) -> BudSpan {
        if !self.is_enabled(Level::Info) {
            return Context::map_current(BudSpan::non_recording);
        }
        self.span_builder(template).location(location).attributes(attributes).start()
    }

    /// Writes a log at `level`. Below the minimum level this returns at once, before looking at its arguments.
    #[track_caller]
    pub fn log(
        &self,
        level: Level,
        template: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) {
        self.log_at(level, template, attributes, Location::caller());
    }

    /// [`log`](Self::log) written at `location`.
    pub(crate) fn log_at(
        &self,
        level: Level,
        template: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
        location: &'static Location<'static>,
    ) {
        if self.is_enabled(level) {
            self.span_builder(template).location(location).level(level).attributes(attributes).log();
        }
    }

    /// Writes a log at the error level recording `error` (see [`BudSpan::record_exception`]).
    #[track_caller]
    pub fn exception<E: Error + ?Sized>(
        &self,
        error: &E,
        template: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) {
        self.exception_at(error, template, attributes, Location::caller());
    }

    /// [`exception`](Self::exception) written at `location`.
    pub(crate) fn exception_at<E: Error + ?Sized>(
        &self,
        error: &E,
        template: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
        location: &'static Location<'static>,
    ) {
        if !self.is_enabled(Level::Error) {
            return;
        }
        self.span_builder(template)
            .location(location)
            .level(Level::Error)
            .attributes(attributes)
            .log_with(|span| span.record_exception(error));
    }

    // ---- metrics ----

    /// The meter of this instance (scope `budobserve`), for any instrument type.
    pub fn meter(&self) -> &Meter {
        &self.instance.meter
    }

    /// A monotonic `u64` counter; finish with `.with_unit(…)`, `.with_description(…)`, `.build()`.
    pub fn counter(&self, name: impl Into<Cow<'static, str>>) -> InstrumentBuilder<'_, Counter<u64>> {
        self.instance.meter.u64_counter(name)
    }

    /// An `f64` histogram.
    pub fn histogram(&self, name: impl Into<Cow<'static, str>>) -> HistogramBuilder<'_, Histogram<f64>> {
        self.instance.meter.f64_histogram(name)
    }

    /// An `f64` gauge.
    pub fn gauge(&self, name: impl Into<Cow<'static, str>>) -> InstrumentBuilder<'_, Gauge<f64>> {
        self.instance.meter.f64_gauge(name)
    }

    /// An `i64` up-down counter.
    pub fn up_down_counter(&self, name: impl Into<Cow<'static, str>>) -> InstrumentBuilder<'_, UpDownCounter<i64>> {
        self.instance.meter.i64_up_down_counter(name)
    }

    /// An observable `u64` counter whose `callback` reports the running total at each collection.
    pub fn counter_callback(
        &self,
        name: impl Into<Cow<'static, str>>,
        callback: impl Fn(&dyn AsyncInstrument<u64>) + Send + Sync + 'static,
    ) -> AsyncInstrumentBuilder<'_, ObservableCounter<u64>, u64> {
        self.instance.meter.u64_observable_counter(name).with_callback(callback)
    }

    /// An observable `f64` gauge whose `callback` reports the current value at each collection.
    pub fn gauge_callback(
        &self,
        name: impl Into<Cow<'static, str>>,
        callback: impl Fn(&dyn AsyncInstrument<f64>) + Send + Sync + 'static,
    ) -> AsyncInstrumentBuilder<'_, ObservableGauge<f64>, f64> {
        self.instance.meter.f64_observable_gauge(name).with_callback(callback)
    }

    /// An observable `i64` up-down counter whose `callback` reports the current value at each collection.
    pub fn up_down_counter_callback(
        &self,
        name: impl Into<Cow<'static, str>>,
        callback: impl Fn(&dyn AsyncInstrument<i64>) + Send + Sync + 'static,
    ) -> AsyncInstrumentBuilder<'_, ObservableUpDownCounter<i64>, i64> {
        self.instance.meter.i64_observable_up_down_counter(name).with_callback(callback)
    }
}

macro_rules! level_methods {
    ($($(#[$doc:meta])* $method:ident => $level:ident;)*) => {
        impl BudObserve {$(
            $(#[$doc])*
            #[inline]
            #[track_caller]
            pub fn $method(
                &self,
                template: impl Into<Cow<'static, str>>,
                attributes: impl IntoIterator<Item = KeyValue>,
            ) {
                self.log_at(Level::$level, template, attributes, Location::caller())
            }
        )*}
    };
}

level_methods! {
    /// Writes a log at the trace level (1).
    trace => Trace;
    /// Writes a log at the debug level (5).
    debug => Debug;
    /// Writes a log at the info level (9): `obs.info("user {user_id} logged in", [KeyValue::new("user_id", 42)])`.
    info => Info;
    /// Writes a log at the notice level (10).
    notice => Notice;
    /// Writes a log at the warn level (13).
    warn => Warn;
    /// Writes a log at the error level (17).
    error => Error;
    /// Writes a log at the fatal level (21).
    fatal => Fatal;
}

impl fmt::Debug for BudObserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudObserve")
            .field("min_level", &self.min_level())
            .field("tags", &self.handle.tags)
            .field("scope", &self.handle.tracer.scope().name())
            .field("tracer_provider", &self.instance.tracer_provider)
            .finish_non_exhaustive()
    }
}

fn budobserve_scope(name: Cow<'static, str>) -> InstrumentationScope {
    InstrumentationScope::builder(name).with_version(constants::SCOPE_VERSION).build()
}

/// `budobserve.spans.dropped`: spans an exporter never got (`reason` = `queue_full`), lost in a failed export —
/// the backend answered with an error (`rejected`), could not be reached (`unreachable`), did not answer in time
/// (`timed_out`), or otherwise (`export_failed`) — dropped for a user callback that panicked (`callback_failed`) or
/// still queued when a shutdown's deadline passed (`shutdown_deadline`).
fn register_export_metrics(meter: &Meter, counters: &Arc<ExportCounters>) {
    let counters = Arc::clone(counters);
    let _dropped = meter
        .u64_observable_counter(constants::metrics::SPANS_DROPPED)
        .with_unit("{span}")
        .with_description("Spans dropped before export: a full export queue, or a failed export")
        .with_callback(move |observer| {
            let stats = counters.stats();
            observer.observe(stats.spans_dropped, &[KeyValue::new(constants::metrics::REASON, "queue_full")]);
            let transport = stats.spans_rejected + stats.spans_unreachable + stats.spans_timed_out;
            for (spans, reason) in [
                (stats.spans_rejected, "rejected"),
                (stats.spans_unreachable, "unreachable"),
                (stats.spans_timed_out, "timed_out"),
                (stats.spans_failed.saturating_sub(transport), "export_failed"),
            ] {
                observer.observe(spans, &[KeyValue::new(constants::metrics::REASON, reason)]);
            }
            observer
                .observe(stats.spans_callback_failed, &[KeyValue::new(constants::metrics::REASON, "callback_failed")]);
            observer.observe(
                stats.spans_lost_at_shutdown,
                &[KeyValue::new(constants::metrics::REASON, "shutdown_deadline")],
            );
        })
        .build();
}
