//! [`BudObserve`]: the handle that writes logs, spans, exceptions and metrics.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::metrics::{
    AsyncInstrument, AsyncInstrumentBuilder, Counter, Gauge, Histogram, HistogramBuilder, InstrumentBuilder, Meter,
    MeterProvider as _, ObservableCounter, ObservableGauge, ObservableUpDownCounter, UpDownCounter,
};
use opentelemetry::trace::{Link, SpanBuilder, SpanContext, SpanKind, TraceContextExt as _, TracerProvider as _};
use opentelemetry::{Array, Context, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{IdGenerator, SdkTracerProvider};

use crate::callsite::{COMPLETION_ROOM, Callsite};
use crate::clock::Clock;
use crate::config::BudObserveConfig;
use crate::constants;
use crate::exporters::batch::{DEFAULT_FLUSH_TIMEOUT, ExportCounters, ExportStats, with_flush_timeout};
use crate::exporters::console::ConsoleProcessor;
use crate::exporters::processor::Pipeline;
use crate::level::{Level, SpanType};
use crate::panic;
use crate::providers::{ProxyLoggerProvider, ProxyMeterProvider, ProxySpan, ProxyTracer, ProxyTracerProvider, lock};
use crate::sampling::{Decision, HeadSampler};
use crate::scrubbing::ScrubbingLogProcessor;
use crate::span::BudSpan;
use crate::template;

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
    instance: Arc<Instance>,
    handle: Arc<Handle>,
}

// A panic cannot leave an instance half-updated: its state is atomics, lock-free swaps and mutexes whose users
// recover from poisoning. So handles may cross `catch_unwind`.
impl std::panic::UnwindSafe for BudObserve {}
impl std::panic::RefUnwindSafe for BudObserve {}

/// State shared by every handle of one instance.
struct Instance {
    min_level: AtomicU8,
    clock: Clock,
    tracer_provider: ProxyTracerProvider,
    meter_provider: ProxyMeterProvider,
    logger_provider: ProxyLoggerProvider,
    meter: Meter,
    /// Bumped by every configuration, so a guard shuts down only what it installed.
    generation: AtomicU64,
    configure_lock: Mutex<()>,
    head: HeadSampler,
    /// Room each macro span reserves for its completion (and scrubbing's `budobserve_scrubbed`), so both write in
    /// place.
    completion_room: AtomicUsize,
    /// What the exporters of every configuration so far did.
    export_counters: Arc<ExportCounters>,
}

/// What differs between handles of one instance.
struct Handle {
    tags: Vec<Cow<'static, str>>,
    tracer: ProxyTracer,
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
}

/// The error of [`BudObserve::force_flush`] and [`BudObserve::shutdown`].
///
/// ```
/// let obs = budobserve::testing::capture().observe().clone();
/// if let Err(err) = obs.force_flush() {
///     eprintln!("spans may be lost: {err}");               // names the provider and what failed
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the {signal} provider failed to {action}: {source}")]
pub struct LifecycleError {
    /// `traces`, `metrics` or `logs`.
    pub signal: &'static str,
    /// `flush` or `shut down`.
    pub action: &'static str,
    /// The SDK's error.
    #[source]
    pub source: OTelSdkError,
}

/// Where a span's parent comes from.
#[derive(Clone, Debug, Default)]
pub(crate) enum Parent {
    /// The current context of this thread.
    #[default]
    Current,
    /// An explicit context.
    Context(Context),
    /// No parent: a new trace.
    Root,
}

/// The most attributes BudObserve adds to a span or log when it starts: type, level, and template and message (or
/// a message and the callsite marker; a macro span with a deferred message adds only the marker).
pub(crate) const INTERNAL_ATTRIBUTES: usize = 4;

/// What [`BudObserve::launch`] needs besides the attributes.
pub(crate) struct Launch {
    pub(crate) name: Cow<'static, str>,
    pub(crate) text: Text,
    pub(crate) level: Level,
    pub(crate) span_type: SpanType,
    pub(crate) tags: Tags,
    pub(crate) kind: SpanKind,
}

/// The template and message of a span or log.
pub(crate) enum Text {
    /// Given at run time: both are written when the span starts.
    Given { template: Cow<'static, str>, message: Cow<'static, str> },
    /// A macro's: the template comes with the callsite when the span is completed, and so does the message when
    /// the macro left it to be rendered then (`None`).
    Callsite { callsite: &'static Callsite, message: Option<Cow<'static, str>> },
}

/// Tags of one span or log, besides the handle's.
pub(crate) enum Tags {
    Static(&'static [&'static str]),
    Owned(Vec<Cow<'static, str>>),
}

/// A string value without the generic conversion's detour (the hot path builds two per span).
#[inline]
fn cow_string(text: Cow<'static, str>) -> StringValue {
    match text {
        Cow::Borrowed(text) => StringValue::from(text),
        Cow::Owned(text) => StringValue::from(text),
    }
}

/// The span that stands for one the head sampler dropped; `None` when it is to be recorded.
pub(crate) fn dropped_span(decision: Decision, parent: &Parent) -> Option<BudSpan> {
    match decision {
        Decision::Record => None,
        Decision::DropWithParent => Some(non_recording(parent)),
        Decision::DropRoot(span_context) => Some(BudSpan::dropped(span_context)),
    }
}

/// The parent and links of a span that starts a new trace: no parent, a link to the current span if any.
pub(crate) fn new_trace_parent() -> (Parent, Vec<Link>) {
    let current = Context::map_current(|cx| cx.span().span_context().clone());
    let links = if current.is_valid() { vec![Link::with_context(current)] } else { Vec::new() };
    (Parent::Root, links)
}

/// A span that records nothing, with the context `parent` stands for.
pub(crate) fn non_recording(parent: &Parent) -> BudSpan {
    match parent {
        Parent::Current => Context::map_current(BudSpan::non_recording),
        Parent::Context(cx) => BudSpan::non_recording(cx),
        Parent::Root => BudSpan::non_recording(&Context::new()),
    }
}

/// A span or log to start: see [`BudObserve::span_builder`].
///
/// ```
/// use budobserve::opentelemetry::trace::SpanKind;
/// use budobserve::{KeyValue, Level};
///
/// let obs = budobserve::testing::capture().observe().clone();
/// let parent = obs.span_builder("batch").start();
/// let span = obs
///     .span_builder("consume {topic}")                    // a template, read at run time
///     .attribute(KeyValue::new("topic", "orders"))
///     .kind(SpanKind::Consumer)
///     .level(Level::Debug)
///     .link(parent.span_context().clone(), Vec::new())
///     .start();
/// drop(span);
/// obs.span_builder("done").level(Level::Notice).log();   // or a log
/// ```
#[must_use = "call `.start()` for a span or `.log()` for a log"]
pub struct SpanOptions<'a> {
    observe: &'a BudObserve,
    template: Cow<'static, str>,
    name: Option<Cow<'static, str>>,
    message: Option<Cow<'static, str>>,
    level: Level,
    attributes: Vec<KeyValue>,
    tags: Vec<Cow<'static, str>>,
    parent: Parent,
    links: Vec<Link>,
    kind: SpanKind,
    callsite: Option<&'static Callsite>,
}

impl fmt::Debug for SpanOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanOptions")
            .field("template", &self.template)
            .field("name", &self.name)
            .field("level", &self.level)
            .field("attributes", &self.attributes)
            .field("tags", &self.tags)
            .field("parent", &self.parent)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl SpanOptions<'_> {
    /// The span's name (default: the template).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The formatted message, when the caller has already formatted it (default: the template rendered with the
    /// attributes).
    pub fn message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// The macro callsite the span comes from (its template is the options' template).
    pub(crate) fn callsite(mut self, callsite: &'static Callsite) -> Self {
        self.callsite = Some(callsite);
        self
    }

    /// The level (default info).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Adds one attribute.
    pub fn attribute(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Adds attributes.
    pub fn attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// Adds tags (after the handle's own).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// The parent context (default: the current one).
    pub fn parent(mut self, parent: Context) -> Self {
        self.parent = Parent::Context(parent);
        self
    }

    /// Starts a new trace, linked to the current span if there is one.
    pub fn new_trace(mut self) -> Self {
        let (parent, links) = new_trace_parent();
        self.links.extend(links);
        self.parent = parent;
        self
    }

    /// Adds a link to another span.
    pub fn link(mut self, span_context: SpanContext, attributes: Vec<KeyValue>) -> Self {
        self.links.push(Link::new(span_context, attributes, 0));
        self
    }

    /// The span kind (default internal).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Starts the span.
    pub fn start(self) -> BudSpan {
        self.observe.start(self, SpanType::Span)
    }

    /// Writes a log: a zero-duration span at the options' level.
    pub fn log(self) {
        self.log_with(|_| {});
    }

    /// Writes a log, letting `record` add to it first (events and errors are at the log's time).
    pub fn log_with(self, record: impl FnOnce(&mut BudSpan)) {
        let observe = self.observe;
        let mut span = observe.start(self, SpanType::Log);
        if span.is_recording() {
            record(&mut span);
        }
        span.end_log();
    }
}

impl BudObserve {
    /// An instance with no provider yet: it records nothing until configured.
    pub(crate) fn unconfigured(clock: Clock) -> BudObserve {
        let tracer_provider = ProxyTracerProvider::new();
        let meter_provider = ProxyMeterProvider::new();
        let tracer = tracer_provider.tracer_with_scope(budobserve_scope(constants::SCOPE_NAME.into()));
        let meter = meter_provider.meter_with_scope(budobserve_scope(constants::SCOPE_NAME.into()));
        let export_counters = Arc::new(ExportCounters::default());
        register_export_metrics(&meter, &export_counters);
        BudObserve {
            instance: Arc::new(Instance {
                min_level: AtomicU8::new(Level::Trace.number()),
                clock,
                tracer_provider,
                meter_provider,
                logger_provider: ProxyLoggerProvider::new(),
                meter,
                generation: AtomicU64::new(0),
                configure_lock: Mutex::new(()),
                head: HeadSampler::default(),
                completion_room: AtomicUsize::new(0),
                export_counters,
            }),
            handle: Arc::new(Handle { tags: Vec::new(), tracer }),
        }
    }

    /// Builds the SDK providers of `config` and points this instance's proxies at them. The providers they replace
    /// are flushed and shut down. Returns the new configuration's generation.
    pub(crate) fn apply(&self, config: BudObserveConfig) -> u64 {
        panic::install_hook();
        let instance = &self.instance;
        let _configuring = lock(&instance.configure_lock);
        let resource = config.resource();

        instance.head.configure(config.sample_rate, config.sampler.is_some());
        let scrubber = config.scrubber;
        let scrubbing = scrubber.is_some();
        let console = config.console.map(|options| ConsoleProcessor::new(options).scrubbing(scrubber.clone()));
        let pipeline = Pipeline::new(
            console,
            config.span_processors,
            &config.batch_options,
            &instance.export_counters,
            config.pending_spans,
            config.tail_sampling,
            scrubber.clone(),
        );
        // Every span is completed somewhere (on the export worker, or on the caller for processors given as such):
        // reserving the room here, in the one allocation the span makes anyway, lets the completion write in place.
        // Completing it on the worker into a vector of its own instead made the worker allocate, copy and free per
        // span, and fall behind a fast producer (a third of the spans dropped at full speed, against ~3% now).
        // Scrubbing may add `budobserve_scrubbed`.
        let room = if pipeline.has_stages() { COMPLETION_ROOM + usize::from(scrubbing) } else { 0 };
        let mut tracer_builder =
            SdkTracerProvider::builder().with_resource(resource.clone()).with_span_processor(pipeline);
        if let Some(generator) = config.id_generator {
            tracer_builder = tracer_builder.with_id_generator(BoxedIdGenerator(generator));
        }
        if let Some(sampler) = config.sampler {
            tracer_builder = tracer_builder.with_sampler(sampler);
        }
        let mut meter_builder = SdkMeterProvider::builder().with_resource(resource.clone());
        for step in config.metric_readers {
            meter_builder = step(meter_builder);
        }
        let mut logger_builder = SdkLoggerProvider::builder().with_resource(resource);
        if let Some(scrubber) = scrubber {
            // First: every log processor after it sees scrubbed records.
            logger_builder = logger_builder.with_log_processor(ScrubbingLogProcessor::new(scrubber));
        }
        for step in config.log_processors {
            logger_builder = step(logger_builder);
        }

        self.store_min_level(config.min_level);
        // Set before the provider: a span started in between gets room it does not need, never too little.
        instance.completion_room.fetch_max(room, Ordering::Relaxed);
        let replaced = Providers {
            traces: instance.tracer_provider.set_provider(Some(tracer_builder.build())),
            metrics: instance.meter_provider.set_provider(Some(meter_builder.build())),
            logs: instance.logger_provider.set_provider(Some(logger_builder.build())),
        };
        instance.completion_room.store(room, Ordering::Relaxed);
        // Whatever the replaced providers still hold is exported; their errors are theirs to report.
        let _ = replaced.shutdown();
        instance.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Flushes every provider: spans, metrics and logs recorded so far are exported before it returns.
    pub fn force_flush(&self) -> Result<(), LifecycleError> {
        self.force_flush_with_timeout(DEFAULT_FLUSH_TIMEOUT)
    }

    /// [`force_flush`](Self::force_flush), waiting at most `timeout` for each span exporter's queue (default 30 s);
    /// an export still running then goes on in the background and the flush reports a timeout. Metrics and logs
    /// flush through the SDK's reader and log processor, with their own timeouts.
    pub fn force_flush_with_timeout(&self, timeout: Duration) -> Result<(), LifecycleError> {
        let providers = self.current_providers();
        with_flush_timeout(timeout, || providers.force_flush())
    }

    /// [`shutdown`](Self::shutdown), giving each provider at most `timeout` (default 5 s) to export what it holds.
    pub fn shutdown_with_timeout(&self, timeout: Duration) -> Result<(), LifecycleError> {
        let instance = &self.instance;
        let _configuring = lock(&instance.configure_lock);
        let providers = Providers {
            traces: instance.tracer_provider.set_provider(None),
            metrics: instance.meter_provider.set_provider(None),
            logs: instance.logger_provider.set_provider(None),
        };
        providers.shutdown_with_timeout(timeout)
    }

    /// Flushes and shuts down the providers; the instance records nothing afterwards until configured again.
    pub fn shutdown(&self) -> Result<(), LifecycleError> {
        self.shutdown_with_timeout(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    fn current_providers(&self) -> Providers {
        Providers {
            traces: self.instance.tracer_provider.provider(),
            metrics: self.instance.meter_provider.provider(),
            logs: self.instance.logger_provider.provider(),
        }
    }

    /// What this instance's exporters did so far, over every configuration: spans exported, dropped because an
    /// export queue was full, and lost in failed exports. The same counts are the `budobserve.spans.dropped`
    /// metric.
    pub fn export_stats(&self) -> ExportStats {
        self.instance.export_counters.stats()
    }

    /// See `Instance::completion_room`.
    #[inline]
    pub(crate) fn completion_room(&self) -> usize {
        self.instance.completion_room.load(Ordering::Relaxed)
    }

    pub(crate) fn head_sampler(&self) -> &HeadSampler {
        &self.instance.head
    }

    pub(crate) fn generation(&self) -> u64 {
        self.instance.generation.load(Ordering::Acquire)
    }

    /// Whether a log or span at `level` would be recorded: one atomic load, done before anything else.
    #[inline]
    pub fn is_enabled(&self, level: Level) -> bool {
        level.number() >= self.instance.min_level.load(Ordering::Relaxed)
    }

    /// The minimum level.
    pub fn min_level(&self) -> Level {
        Level::from_number(self.instance.min_level.load(Ordering::Relaxed)).unwrap_or(Level::Trace)
    }

    /// Changes the minimum level at run time.
    pub fn set_min_level(&self, level: Level) {
        self.store_min_level(level);
    }

    fn store_min_level(&self, level: Level) {
        self.instance.min_level.store(level.number(), Ordering::Relaxed);
        if self.same_instance(crate::instance::global()) {
            crate::instance::set_global_min_level(level.number());
        }
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
        BudObserve { instance: self.instance.clone(), handle: Arc::new(Handle { tags, tracer }) }
    }

    /// Whether two handles write to the same instance.
    pub(crate) fn same_instance(&self, other: &BudObserve) -> bool {
        Arc::ptr_eq(&self.instance, &other.instance)
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

    /// Silences the named instrumentation scopes: spans and log records from them are no longer recorded.
    pub fn suppress_scopes<I, S>(&self, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        let scopes: Vec<Cow<'static, str>> = scopes.into_iter().map(Into::into).collect();
        self.instance.logger_provider.suppress_scopes(scopes.iter().cloned());
        self.instance.tracer_provider.suppress_scopes(scopes);
    }

    // ---- spans and logs ----

    /// Options for a span or log with this message template, for what the shorthand methods do not cover (name,
    /// parent, links, kind, new trace, pre-formatted message).
    pub fn span_builder(&self, template: impl Into<Cow<'static, str>>) -> SpanOptions<'_> {
        self.options_with(template.into(), Vec::new())
    }

    /// Options with these attributes already collected (room is made for BudObserve's own when it starts).
    pub(crate) fn options_with(&self, template: Cow<'static, str>, attributes: Vec<KeyValue>) -> SpanOptions<'_> {
        SpanOptions {
            observe: self,
            template,
            name: None,
            message: None,
            level: Level::Info,
            attributes,
            tags: Vec::new(),
            parent: Parent::Current,
            links: Vec::new(),
            kind: SpanKind::Internal,
            callsite: None,
        }
    }

    /// Starts a span named by its template (`processing {count} items`), its message rendered from `attributes`.
    pub fn span(
        &self,
        template: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) -> BudSpan {
        if !self.is_enabled(Level::Info) {
            return Context::map_current(BudSpan::non_recording);
        }
        self.span_builder(template).attributes(attributes).start()
    }

    /// Writes a log at `level`. Below the minimum level this returns at once, before looking at its arguments.
    pub fn log(
        &self,
        level: Level,
        template: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) {
        if self.is_enabled(level) {
            self.span_builder(template).level(level).attributes(attributes).log();
        }
    }

    /// Writes a log at the error level recording `error` (see [`BudSpan::record_exception`]).
    pub fn exception<E: Error + ?Sized>(
        &self,
        error: &E,
        template: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) {
        if !self.is_enabled(Level::Error) {
            return;
        }
        self.span_builder(template)
            .level(Level::Error)
            .attributes(attributes)
            .log_with(|span| span.record_exception(error));
    }

    /// The common path of the option-built spans and logs.
    fn start(&self, options: SpanOptions<'_>, span_type: SpanType) -> BudSpan {
        let SpanOptions { template, name, message, level, attributes, tags, parent, links, kind, callsite, .. } =
            options;
        if !self.is_enabled(level) || !self.handle.tracer.is_active() {
            return non_recording(&parent);
        }
        let decision = match &parent {
            Parent::Current => self.instance.head.decide_current(),
            Parent::Context(cx) => self.instance.head.decide(cx),
            Parent::Root => self.instance.head.decide(&Context::new()),
        };
        if let Some(dropped) = dropped_span(decision, &parent) {
            return dropped;
        }
        let name = name.unwrap_or_else(|| template.clone());
        let text = match (callsite, message) {
            (Some(callsite), message) => Text::Callsite { callsite, message },
            (None, Some(message)) => Text::Given { template, message },
            (None, None) => {
                let message = Cow::Owned(template::render(&template, &attributes));
                Text::Given { template, message }
            }
        };
        let launch = Launch { name, text, level, span_type, tags: Tags::Owned(tags), kind };
        self.launch(launch, attributes, parent, links)
    }

    /// Starts a span with `attributes` (the caller's), adding BudObserve's own after them. One vector goes from
    /// the caller to the exporter.
    #[inline]
    pub(crate) fn launch(
        &self,
        launch: Launch,
        mut attributes: Vec<KeyValue>,
        parent: Parent,
        links: Vec<Link>,
    ) -> BudSpan {
        let Launch { name, text, level, span_type, tags, kind } = launch;
        // Exact growth only (a no-op for the macros, which size the vector at compile time). One `extend` from an
        // array rather than single pushes: each pushed `KeyValue` is built on the stack and copied back with wider
        // loads than the stores that built it, a store-forwarding stall per push. The level is never last here:
        // the pipeline's level fix-up relies on it.
        attributes.reserve_exact(match text {
            Text::Callsite { message: None, .. } => INTERNAL_ATTRIBUTES - 1,
            _ => INTERNAL_ATTRIBUTES,
        });
        let span_type_value = KeyValue::new(constants::SPAN_TYPE, span_type.as_str());
        let level_value = KeyValue::new(constants::LEVEL_NUM, i64::from(level.number()));
        match text {
            Text::Callsite { callsite, message: None } => {
                attributes.extend([span_type_value, level_value, callsite.marker(true)]);
            }
            Text::Callsite { callsite, message: Some(message) } => attributes.extend([
                span_type_value,
                level_value,
                KeyValue::new(constants::MSG, Value::String(cow_string(message))),
                callsite.marker(false),
            ]),
            Text::Given { template, message } => attributes.extend([
                span_type_value,
                level_value,
                KeyValue::new(constants::MSG_TEMPLATE, Value::String(cow_string(template))),
                KeyValue::new(constants::MSG, Value::String(cow_string(message))),
            ]),
        }
        let no_tags = self.handle.tags.is_empty()
            && match &tags {
                Tags::Static(tags) => tags.is_empty(),
                Tags::Owned(tags) => tags.is_empty(),
            };
        if !no_tags {
            let tags = match tags {
                Tags::Static(tags) => self.tags_value(tags.iter().map(|t| Cow::Borrowed(*t))),
                Tags::Owned(tags) => self.tags_value(tags.into_iter()),
            };
            if let Some(tags) = tags {
                attributes.reserve_exact(1);
                attributes.push(KeyValue::new(constants::TAGS, tags));
            }
        }
        let clock = &self.instance.clock;
        let tracer = &self.handle.tracer;
        let now = clock.now();
        let mut builder = SpanBuilder::from_name(name);
        builder.span_kind = Some(kind);
        builder.start_time = Some(now);
        builder.attributes = Some(attributes);
        if !links.is_empty() {
            builder.links = Some(links);
        }
        let span = match parent {
            Parent::Current => Context::map_current(|cx| tracer.start_span(builder, cx)),
            Parent::Context(cx) => tracer.start_span(builder, &cx),
            Parent::Root => tracer.start_span(builder, &Context::new()),
        };
        // A log's events (an exception) are at the log's own time.
        let span_clock = if span_type == SpanType::Log { Clock::Fixed(now) } else { clock.clone() };
        BudSpan::new(span, span_clock, level)
    }

    /// The handle's tags followed by `extra`, without duplicates; `None` when there are none.
    fn tags_value(&self, extra: impl ExactSizeIterator<Item = Cow<'static, str>>) -> Option<Value> {
        let own = &self.handle.tags;
        if own.is_empty() && extra.len() == 0 {
            return None;
        }
        let mut tags: Vec<StringValue> = Vec::with_capacity(own.len() + extra.len());
        for tag in own.iter().cloned().chain(extra) {
            if !tags.iter().any(|t| t.as_str() == tag) {
                tags.push(StringValue::from(tag));
            }
        }
        Some(Value::Array(Array::String(tags)))
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
            pub fn $method(
                &self,
                template: impl Into<Cow<'static, str>>,
                attributes: impl IntoIterator<Item = KeyValue>,
            ) {
                self.log(Level::$level, template, attributes)
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

/// How long a shutdown gives each provider by default (the SDK's own default).
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK providers of one configuration.
struct Providers {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
    logs: Option<SdkLoggerProvider>,
}

impl Providers {
    /// Runs `action` on every provider, returning the first error after trying them all.
    fn each(
        &self,
        action: &'static str,
        traces: impl Fn(&SdkTracerProvider) -> Result<(), OTelSdkError>,
        metrics: impl Fn(&SdkMeterProvider) -> Result<(), OTelSdkError>,
        logs: impl Fn(&SdkLoggerProvider) -> Result<(), OTelSdkError>,
    ) -> Result<(), LifecycleError> {
        let results = [
            ("traces", self.traces.as_ref().map(traces)),
            ("metrics", self.metrics.as_ref().map(metrics)),
            ("logs", self.logs.as_ref().map(logs)),
        ];
        for (signal, result) in results {
            match result {
                Some(Err(OTelSdkError::AlreadyShutdown)) | Some(Ok(())) | None => {}
                Some(Err(source)) => {
                    return Err(LifecycleError { signal, action, source });
                }
            }
        }
        Ok(())
    }

    fn force_flush(&self) -> Result<(), LifecycleError> {
        self.each(
            "flush",
            SdkTracerProvider::force_flush,
            SdkMeterProvider::force_flush,
            SdkLoggerProvider::force_flush,
        )
    }

    fn shutdown(&self) -> Result<(), LifecycleError> {
        self.shutdown_with_timeout(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> Result<(), LifecycleError> {
        self.each(
            "shut down",
            |p| p.shutdown_with_timeout(timeout),
            |p| p.shutdown_with_timeout(timeout),
            |p| p.shutdown_with_timeout(timeout),
        )
    }
}

/// Flushes and shuts down the configuration installed by [`ConfigBuilder::install`](crate::ConfigBuilder::install)
/// when dropped — unless a later configuration replaced it, which then owns the instance.
///
/// ```
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let guard = budobserve::configure().console(false).install()?;
///     budobserve::bud_info!("work done");
///     guard.shutdown()?;                                   // or drop it: flushes and shuts down, errors reported
///     Ok(())
/// }
/// ```
#[must_use = "dropping the guard shuts BudObserve down at once: keep it alive for the life of the program"]
pub struct ShutdownGuard {
    observe: BudObserve,
    generation: u64,
    done: bool,
}

impl ShutdownGuard {
    pub(crate) fn new(observe: BudObserve, generation: u64) -> ShutdownGuard {
        ShutdownGuard { observe, generation, done: false }
    }

    /// The instance this guard shuts down.
    pub fn observe(&self) -> &BudObserve {
        &self.observe
    }

    /// Flushes and shuts down now, reporting errors (dropping the guard does the same and ignores them).
    pub fn shutdown(mut self) -> Result<(), LifecycleError> {
        self.shutdown_if_current()
    }

    fn shutdown_if_current(&mut self) -> Result<(), LifecycleError> {
        if !std::mem::replace(&mut self.done, true) && self.observe.generation() == self.generation {
            self.observe.shutdown()
        } else {
            Ok(())
        }
    }
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        let _ = self.shutdown_if_current();
    }
}

impl fmt::Debug for ShutdownGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownGuard").field("generation", &self.generation).finish()
    }
}

/// An id generator chosen at configuration time.
#[derive(Debug)]
struct BoxedIdGenerator(Box<dyn IdGenerator>);

impl IdGenerator for BoxedIdGenerator {
    fn new_trace_id(&self) -> opentelemetry::TraceId {
        self.0.new_trace_id()
    }

    fn new_span_id(&self) -> opentelemetry::SpanId {
        self.0.new_span_id()
    }
}

/// A span from a [`ProxySpan`], for code that starts spans with the OpenTelemetry API and wants BudObserve's.
impl From<ProxySpan> for BudSpan {
    fn from(span: ProxySpan) -> BudSpan {
        BudSpan::new(span, Clock::System, Level::Info)
    }
}

/// `budobserve.spans.dropped`: spans an exporter never got (`reason` = `queue_full`) or lost in a failed export
/// (`export_failed`).
fn register_export_metrics(meter: &Meter, counters: &Arc<ExportCounters>) {
    let counters = Arc::clone(counters);
    let _dropped = meter
        .u64_observable_counter(constants::metrics::SPANS_DROPPED)
        .with_unit("{span}")
        .with_description("Spans dropped before export: a full export queue, or a failed export")
        .with_callback(move |observer| {
            let stats = counters.stats();
            observer.observe(stats.spans_dropped, &[KeyValue::new(constants::metrics::REASON, "queue_full")]);
            observer.observe(stats.spans_failed, &[KeyValue::new(constants::metrics::REASON, "export_failed")]);
        })
        .build();
}
