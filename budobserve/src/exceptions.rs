//! The exception callback: [`RecordedError`], the callbacks by instance number, and the decision a span applies.

use std::error::Error;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanContext;

use crate::exporters::loss::ExportCounters;
use crate::level::Level;

/// A callback given to [`ConfigBuilder::exception_callback`](crate::ConfigBuilder::exception_callback).
pub(crate) type ExceptionCallback = Arc<dyn Fn(&mut RecordedError<'_>) + Send + Sync>;

/// The exception callback: each error a span records (`record_exception`, `bud_exception!`, `#[instrument]` on a function returning `Err`,
/// an integration's failed call) is shown to it first, with the span, and it may change the level, add attributes
/// to the span, or keep the error from being recorded. A panic unwinding through a span is recorded without it: a
/// second panic while one unwinds would abort the process, and the callback is the user's code.
///
/// ```
/// use budobserve::opentelemetry::trace::Status;
/// use budobserve::{KeyValue, Level, RecordedError, bud_span, testing};
///
/// #[derive(Debug)]
/// struct NotFound(u64);
///
/// impl std::fmt::Display for NotFound {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "user {} not found", self.0)
///     }
/// }
///
/// impl std::error::Error for NotFound {}
///
/// let capture = testing::capture_with(|builder| {
///     builder.exception_callback(|error: &mut RecordedError<'_>| {
///         if error.is::<NotFound>() {
///             error.set_level(Level::Warn); // expected: a warning, and the status stays unset
///             error.add_attribute(KeyValue::new("http.response.status_code", 404));
///         }
///     })
/// });
/// capture.run(|| bud_span!("lookup").record_exception(&NotFound(7)));
/// let span = capture.assert_has_span("lookup", &[KeyValue::new("http.response.status_code", 404)]);
/// assert_eq!(span.status, Status::Unset);
/// assert_eq!(testing::attribute(&span, "budobserve_level_num"), Some(&13_i64.into()));
/// ```
///
/// Callbacks belong to an instance: a span recorded through an instance calls that instance's callback, whichever
/// instance is current. A callback that panics is contained: the error is recorded as if there were no callback,
/// and the failure counted in [`ExportStats::callback_failures`](crate::ExportStats) and reported.
pub struct RecordedError<'a> {
    type_name: &'static str,
    message: &'a str,
    error: Option<&'a (dyn Error + 'static)>,
    source: Option<&'a (dyn Error + 'static)>,
    span_context: &'a SpanContext,
    span_level: Level,
    level: Level,
    attributes: Vec<KeyValue>,
    record: bool,
}

impl<'a> RecordedError<'a> {
    /// The Rust type name of the error (`std::num::ParseIntError`; of the referent, for a reference).
    pub fn type_name(&self) -> &str {
        self.type_name
    }

    /// The error's message (its `Display`).
    pub fn message(&self) -> &str {
        self.message
    }

    /// The error itself, when the span was given it as a trait object (`anyhow::Error`, `Box<dyn Error>`, an
    /// `#[instrument]` on a function returning `Err` function's error): it can be downcast.
    pub fn error(&self) -> Option<&(dyn Error + 'static)> {
        self.error
    }

    /// Whether the error is a `T`: by downcasting when the error is known as a trait object, else by its type name.
    pub fn is<T: Error + 'static>(&self) -> bool {
        match self.error {
            Some(error) => error.is::<T>(),
            None => self.type_name == std::any::type_name::<T>(),
        }
    }

    /// The errors of its `source()` chain, outermost first.
    pub fn causes(&self) -> impl Iterator<Item = &'a (dyn Error + 'static)> + use<'a> {
        std::iter::successors(self.source, |&cause: &&'a (dyn Error + 'static)| cause.source())
    }

    /// The context of the span recording it (its trace and span ids).
    pub fn span_context(&self) -> &SpanContext {
        self.span_context
    }

    /// The span's level before the error.
    pub fn span_level(&self) -> Level {
        self.span_level
    }

    /// The level the span will have: `error` (or the span's own, when higher) unless changed.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Sets the span's level. Below `error`, the span's status is left as it is (an expected error, recorded as
    /// such); at `error` or above, the status is set to error with the message.
    pub fn set_level(&mut self, level: Level) {
        self.level = level;
    }

    /// Adds an attribute to the span (scrubbed like every attribute).
    pub fn add_attribute(&mut self, attribute: KeyValue) {
        self.attributes.push(attribute);
    }

    /// Keeps the error from being recorded: no `exception` event, no status. The level set with
    /// [`set_level`](Self::set_level) and the attributes added still apply; without them the span is unchanged.
    pub fn skip_recording(&mut self) {
        self.record = false;
    }

    /// Whether the error will be recorded.
    pub fn will_record(&self) -> bool {
        self.record
    }
}

impl fmt::Debug for RecordedError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedError")
            .field("type_name", &self.type_name)
            .field("message", &self.message)
            .field("level", &self.level)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// What the span does with an error after the callback.
#[derive(Debug)]
pub(crate) struct Decision {
    /// Record the `exception` event(s).
    pub(crate) record: bool,
    /// The span's new level.
    pub(crate) level: Level,
    /// Set the status to error.
    pub(crate) error_status: bool,
    /// Attributes the callback added.
    pub(crate) attributes: Vec<KeyValue>,
    /// Capture a backtrace into `exception.stacktrace` (`ConfigBuilder::error_backtraces`).
    pub(crate) backtrace: bool,
}

/// What a span knows of an error it records.
pub(crate) struct Recorded<'a> {
    pub(crate) type_name: &'static str,
    pub(crate) message: &'a str,
    pub(crate) error: Option<&'a (dyn Error + 'static)>,
    pub(crate) source: Option<&'a (dyn Error + 'static)>,
    pub(crate) span_context: &'a SpanContext,
    pub(crate) span_level: Level,
}

/// The callbacks of the instances that have one, by instance number.
static CALLBACKS: RwLock<Vec<(u32, ExceptionCallback, Arc<ExportCounters>)>> = RwLock::new(Vec::new());

/// How many instances have a callback: 0 spares the lock.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Sets (or with `None` removes) the callback of instance `instance`.
pub(crate) fn set_callback(instance: u32, callback: Option<ExceptionCallback>, counters: &Arc<ExportCounters>) {
    let mut callbacks = CALLBACKS.write().unwrap_or_else(PoisonError::into_inner);
    callbacks.retain(|(owner, _, _)| *owner != instance);
    if let Some(callback) = callback {
        callbacks.push((instance, callback, Arc::clone(counters)));
    }
    COUNT.store(callbacks.len(), Ordering::Release);
}

/// The instances that capture a backtrace with each error (`ConfigBuilder::error_backtraces`).
static BACKTRACES: RwLock<Vec<u32>> = RwLock::new(Vec::new());

/// How many instances capture backtraces: 0 spares the lock.
static BACKTRACE_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Sets whether instance `instance` captures a backtrace with each error it records.
pub(crate) fn set_backtraces(instance: u32, enabled: bool) {
    let mut instances = BACKTRACES.write().unwrap_or_else(PoisonError::into_inner);
    instances.retain(|owner| *owner != instance);
    if enabled {
        instances.push(instance);
    }
    BACKTRACE_COUNT.store(instances.len(), Ordering::Release);
}

fn wants_backtraces(instance: u32) -> bool {
    BACKTRACE_COUNT.load(Ordering::Acquire) != 0
        && BACKTRACES.read().unwrap_or_else(PoisonError::into_inner).contains(&instance)
}

/// What instance `instance`'s span does with `recorded`: the callback's word, or the default (record it, level at
/// least error, status error).
pub(crate) fn decide(instance: u32, recorded: Recorded<'_>) -> Decision {
    let default_level = recorded.span_level.max(Level::Error);
    let backtrace = wants_backtraces(instance);
    let default =
        || Decision { record: true, level: default_level, error_status: true, attributes: Vec::new(), backtrace };
    if COUNT.load(Ordering::Acquire) == 0 {
        return default();
    }
    let found = {
        let callbacks = CALLBACKS.read().unwrap_or_else(PoisonError::into_inner);
        callbacks
            .iter()
            .find(|(owner, _, _)| *owner == instance)
            .map(|(_, callback, counters)| (Arc::clone(callback), Arc::clone(counters)))
    };
    let Some((callback, counters)) = found else { return default() };
    let mut shown = RecordedError {
        type_name: recorded.type_name,
        message: recorded.message,
        error: recorded.error,
        source: recorded.source,
        span_context: recorded.span_context,
        span_level: recorded.span_level,
        level: default_level,
        attributes: Vec::new(),
        record: true,
    };
    match catch_unwind(AssertUnwindSafe(|| callback(&mut shown))) {
        Ok(()) => Decision {
            record: shown.record,
            level: if shown.record || shown.level != default_level { shown.level } else { recorded.span_level },
            error_status: shown.record && shown.level >= Level::Error,
            attributes: shown.attributes,
            backtrace,
        },
        Err(_) => {
            counters.callback_failed("the exception callback", 0);
            default()
        }
    }
}
