//! BudObserve: the observability SDK of the bud-stack platform.
//!
//! Spans and logs with message templates, levels and tags, errors and panics recorded, metrics, a readable
//! console — over OpenTelemetry, so the same data lands in Grafana/Jaeger (OTLP) and BudMetrics (ClickHouse).
//!
//! ```
//! use budobserve::{KeyValue, Level};
//!
//! # fn main() -> Result<(), budobserve::ConfigError> {
//! let _guard = budobserve::configure().service_name("budapp").console(false).install()?;
//!
//! budobserve::info("user {user_id} logged in", [KeyValue::new("user_id", 42)]);
//! let span = budobserve::span("processing {count} items", [KeyValue::new("count", 3)]);
//! let _entered = span.entered();
//! budobserve::log(Level::Warn, "quota nearly used", []);
//! # Ok(()) }
//! ```
//!
//! # Instances
//!
//! The free functions of this crate write to the *current* instance: the global one that
//! [`configure`]`().install()` sets up, unless [`with_instance`] made another current on this thread. Explicit
//! instances come from [`BudObserve::new`]; [`testing::capture`] builds one for tests.

//!
//! The macros ([`bud_info!`], [`bud_span!`], [`#[instrument]`](macro@instrument), [`BudAttributes`]…) check message
//! templates at compile time: see [the macro guide](macros).

#![deny(missing_docs)]

#[doc = include_str!("../docs/macros.md")]
pub mod macros {}

// The examples of the README and of `docs/` are compiled and run as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}
#[cfg(doctest)]
mod docs {
    #[doc = include_str!("../../docs/api/core.md")]
    mod core {}
    #[doc = include_str!("../../docs/api/configuration.md")]
    mod configuration {}
    #[doc = include_str!("../../docs/adoption.md")]
    mod adoption {}
    #[doc = include_str!("../../docs/migration/from-tracing.md")]
    mod from_tracing {}
    #[doc = include_str!("../../docs/migration/from-opentelemetry.md")]
    mod from_opentelemetry {}
    #[doc = include_str!("../../docs/integrations/axum.md")]
    mod axum {}
    #[doc = include_str!("../../docs/integrations/reqwest.md")]
    mod reqwest {}
    #[doc = include_str!("../../docs/integrations/tracing-log.md")]
    mod tracing_log {}
    #[doc = include_str!("../../docs/integrations/sqlx.md")]
    mod sqlx {}
    #[doc = include_str!("../../docs/integrations/redis.md")]
    mod redis {}
    #[doc = include_str!("../../docs/integrations/llm.md")]
    mod llm {}
    #[doc = include_str!("../../docs/integrations/dapr.md")]
    mod dapr {}
    #[doc = include_str!("../../docs/integrations/budmetrics.md")]
    mod budmetrics {}
    #[doc = include_str!("../../docs/integrations/otlp.md")]
    mod otlp {}
    #[doc = include_str!("../../budobserve-macros/docs/instrument.md")]
    mod instrument {}
}

// The macros name `::budobserve`; this lets the crate's own tests use them.
#[cfg(test)]
extern crate self as budobserve;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub mod attributes;
pub mod baggage;
mod callsite;
mod clock;
pub mod config;
pub mod constants;
mod contained;
mod conventions;
mod direct;
mod directives;
mod error;
mod exceptions;
pub mod exporters;
mod gate;
mod inbound;
mod instance;
mod instrumented;
pub mod integrations;
mod json_schema;
mod launch;
mod level;
mod lifecycle;
pub mod limits;
pub mod metrics;
mod observe;
mod panic;
mod panic_report;
pub mod providers;
mod random;
mod records;
pub mod resource;
pub mod sampling;
pub mod scrubbing;
#[cfg(all(feature = "signals", unix))]
pub mod signals;
mod span;
mod tail;
pub mod template;
pub mod testing;
mod text;
mod type_name;
mod unique;

use std::borrow::Cow;
use std::error::Error;

pub use attributes::{AttributeList, BudAttributes, NativeValue};
pub use baggage::BudContext;
#[doc(hidden)]
pub use budobserve_macros::__bud_format;
///
/// ```
/// use budobserve::{BudAttributes, bud_info};
///
/// #[derive(BudAttributes)]
/// #[bud(prefix = "http.request")]
/// struct Incoming {
///     method: String,
///     #[bud(rename = "body.size")]
///     size: u64,
/// }
///
/// bud_info!("received", req = Incoming { method: "POST".into(), size: 512 }); // http.request.method, http.request.body.size
/// ```
pub use budobserve_macros::BudAttributes;
///
/// ```
/// let hits = 3;
/// budobserve::bud_debug!("cache hits: {hits}");          // nothing evaluated below the minimum level
/// ```
pub use budobserve_macros::bud_debug;
///
/// ```
/// budobserve::bud_error!("payment {id} failed: {reason}", id = 7, reason = "card declined");
/// ```
pub use budobserve_macros::bud_error;
///
/// ```
/// let err = std::io::Error::other("disk full");
/// budobserve::bud_exception!(&err, "could not save {path}", path = "/tmp/report.csv");
/// ```
pub use budobserve_macros::bud_exception;
///
/// ```
/// budobserve::bud_fatal!("cannot open the database at {path}", path = "/var/lib/app.db");
/// ```
pub use budobserve_macros::bud_fatal;
///
/// ```
/// let user_id = 42;
/// budobserve::bud_info!("user {user_id} logged in", plan = "pro", _tags = ["auth"]);
/// ```
pub use budobserve_macros::bud_info;
///
/// ```
/// use budobserve::Level;
///
/// let level = if cfg!(debug_assertions) { Level::Debug } else { Level::Info };
/// budobserve::bud_log!(level, "level chosen at run time");
/// ```
pub use budobserve_macros::bud_log;
///
/// ```
/// budobserve::bud_notice!("deployment {name} scaled to {replicas}", name = "llama", replicas = 4);
/// ```
pub use budobserve_macros::bud_notice;
///
/// ```
/// use budobserve::bud_span;
///
/// let parent = bud_span!("request");
/// let child = bud_span!("query {table}", table = "users", _parent = &parent, _level = "debug");
/// let _entered = child.entered();
/// ```
pub use budobserve_macros::bud_span;
///
/// ```
/// budobserve::bud_trace!("polling {queue}", queue = "jobs");
/// ```
pub use budobserve_macros::bud_trace;
///
/// ```
/// let pct = 93.51;
/// budobserve::bud_warn!("quota at {pct:.1}%");
/// ```
pub use budobserve_macros::bud_warn;
pub use budobserve_macros::instrument;
pub use clock::{Clock, SteppingClock};
pub use config::{BudObserveConfig, ConfigBuilder, EnvSource, configure};
pub use conventions::HttpConventions;
pub use directives::{LevelDirectives, ParseDirectivesError};
pub use error::{ConfigError, LifecycleError};
pub use exceptions::RecordedError;
pub use exporters::{BatchOptions, ColorChoice, ConsoleOptions, ConsoleStyle, ConsoleWriter, ExportStats};
pub use instance::{WithInstance, current, global, with_current, with_instance, with_instance_async};
pub use instrumented::{Completion, Instrument, Instrumented, InstrumentedFn, NoCompletion};
pub use launch::SpanOptions;
pub use level::{Level, ParseLevelError, SpanType};
pub use lifecycle::ShutdownGuard;
pub use limits::SpanLimits;
pub use metrics::{Counter, Gauge, Histogram, UpDownCounter};
pub use observe::{BudObserve, Settings};
pub use providers::{ProxyLoggerProvider, ProxyMeterProvider, ProxyTracer, ProxyTracerProvider};
#[cfg(all(feature = "signals", unix))]
pub use signals::{ShutdownSignal, shutdown_signal};
pub use span::{BudSpan, Entered, EnteredSpan};
pub use tail::TailSampling;

pub use opentelemetry;
pub use opentelemetry::KeyValue;
pub use opentelemetry_sdk;

macro_rules! level_functions {
    ($($(#[$doc:meta])* $function:ident => $level:ident;)*) => {$(
        $(#[$doc])*
        #[inline]
        #[track_caller]
        pub fn $function(template: impl Into<Cow<'static, str>>, attributes: impl IntoIterator<Item = KeyValue>) {
            let location = std::panic::Location::caller();
            with_current(|observe| observe.log_at(Level::$level, template, attributes, location))
        }
    )*};
}

level_functions! {
    /// Writes a trace log to the current instance (see [`BudObserve::trace`]).
    trace => Trace;
    /// Writes a debug log to the current instance.
    debug => Debug;
    /// Writes an info log to the current instance.
    info => Info;
    /// Writes a notice log to the current instance.
    notice => Notice;
    /// Writes a warn log to the current instance.
    warn => Warn;
    /// Writes an error log to the current instance.
    error => Error;
    /// Writes a fatal log to the current instance.
    fatal => Fatal;
}

/// Writes a log at `level` to the current instance.
///
/// ```
/// use budobserve::{KeyValue, Level};
///
/// // The template is read at run time from the attributes given: for templates built dynamically.
/// let template = format!("{} finished in {{ms}} ms", "import");
/// budobserve::log(Level::Info, template, [KeyValue::new("ms", 42)]);
/// ```
#[inline]
#[track_caller]
pub fn log(level: Level, template: impl Into<Cow<'static, str>>, attributes: impl IntoIterator<Item = KeyValue>) {
    let location = std::panic::Location::caller();
    with_current(|observe| observe.log_at(level, template, attributes, location))
}

/// Starts a span on the current instance (see [`BudObserve::span`]).
///
/// ```
/// use budobserve::KeyValue;
///
/// let span = budobserve::span("sync {source}", [KeyValue::new("source", "crm")]);
/// let _entered = span.entered();
/// ```
#[track_caller]
pub fn span(template: impl Into<Cow<'static, str>>, attributes: impl IntoIterator<Item = KeyValue>) -> BudSpan {
    let location = std::panic::Location::caller();
    with_current(|observe| observe.span_at(template, attributes, location))
}

/// Writes an error log recording `error` to the current instance (see [`BudObserve::exception`]).
///
/// ```
/// let err = std::io::Error::other("connection reset");
/// budobserve::exception(&err, "upstream failed", []);   // an error log with the `source()` chain
/// ```
#[track_caller]
pub fn exception<E: Error + ?Sized>(
    error: &E,
    template: impl Into<Cow<'static, str>>,
    attributes: impl IntoIterator<Item = KeyValue>,
) {
    let location = std::panic::Location::caller();
    with_current(|observe| observe.exception_at(error, template, attributes, location))
}

/// The meter of the current instance (scope `budobserve`). Instruments built from it before [`configure`] record
/// once it runs:
///
/// ```
/// use std::sync::LazyLock;
/// use budobserve::Counter;
///
/// static REQUESTS: LazyLock<Counter<u64>> =
///     LazyLock::new(|| budobserve::meter().u64_counter("requests").with_unit("{request}").build());
/// REQUESTS.add(1, &[]);
/// ```
pub fn meter() -> opentelemetry::metrics::Meter {
    with_current(|observe| observe.meter().clone())
}

/// The proxy tracer provider of the current instance.
///
/// ```
/// use std::sync::LazyLock;
///
/// use budobserve::opentelemetry::trace::{Tracer as _, TracerProvider as _};
///
/// // Taken in a static before `configure` runs: its spans record once it has.
/// static TRACER: LazyLock<budobserve::ProxyTracer> = LazyLock::new(|| budobserve::tracer_provider().tracer("budapp.jobs"));
/// let _span = TRACER.start("nightly job");
/// ```
pub fn tracer_provider() -> ProxyTracerProvider {
    with_current(|observe| observe.tracer_provider().clone())
}

/// The proxy meter provider of the current instance.
///
/// ```
/// use budobserve::opentelemetry::metrics::MeterProvider as _;
///
/// let meter = budobserve::meter_provider().meter("budapp.cache");
/// meter.u64_counter("cache.hits").build().add(1, &[]);
/// ```
pub fn meter_provider() -> ProxyMeterProvider {
    with_current(|observe| observe.meter_provider().clone())
}

/// The proxy logger provider of the current instance.
///
/// ```
/// use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
///
/// // For a library that writes OpenTelemetry log records itself.
/// let logger = budobserve::logger_provider().logger("budapp.audit");
/// let mut record = logger.create_log_record();
/// record.set_body("user 42 exported a report".into());
/// logger.emit(record);
/// ```
pub fn logger_provider() -> ProxyLoggerProvider {
    with_current(|observe| observe.logger_provider().clone())
}

/// Silences the named instrumentation scopes on the current instance.
///
/// ```
/// // A chatty library's spans and logs are dropped; everything else is kept.
/// budobserve::suppress_scopes(["hyper_util::client::legacy::pool"]);
/// ```
pub fn suppress_scopes<I, S>(scopes: I)
where
    I: IntoIterator<Item = S>,
    S: Into<Cow<'static, str>>,
{
    with_current(|observe| observe.suppress_scopes(scopes))
}

/// Records nothing — no span, log, log record or metric, of any instance — on this thread until the guard drops:
/// for work that must not observe itself (an exporter's own HTTP calls, a health check's probe). `tracing` and
/// `log` records are dropped by the bridges too. A future carries the suppression with
/// `future.with_context(Context::current().with_telemetry_suppressed())` (`opentelemetry::trace::FutureExt`).
///
/// ```
/// use budobserve::{bud_info, testing};
///
/// let capture = testing::capture();
/// capture.run(|| {
///     let _quiet = budobserve::suppress_instrumentation();
///     bud_info!("not recorded");
///     capture.observe().counter("probes").build().add(1, &[]);
/// });
/// assert!(capture.spans().is_empty());
/// assert_eq!(capture.metric_value("probes", &[]), None);
/// ```
#[must_use = "nothing is recorded only while the guard lives"]
pub fn suppress_instrumentation() -> opentelemetry::ContextGuard {
    opentelemetry::Context::enter_telemetry_suppressed_scope()
}

/// Flushes the current instance's providers.
///
/// ```
/// // Before a short-lived job exits without dropping its guard (a panic hook, a signal handler):
/// let _ = budobserve::force_flush();
/// ```
pub fn force_flush() -> Result<(), LifecycleError> {
    with_current(BudObserve::force_flush)
}
