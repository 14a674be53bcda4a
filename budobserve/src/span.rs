//! Started spans, and the guards that make one current (futures that carry one across `.await` are in
//! `instrumented`).

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::time::SystemTime;

use opentelemetry::trace::{Span as _, SpanContext, Status, TraceContextExt as _};
use opentelemetry::{Context, ContextGuard, KeyValue, Value};

use crate::clock::Clock;
use crate::constants;
use crate::exceptions;
use crate::level::Level;
use crate::panic;
use crate::providers::ProxySpan;

/// A started span.
///
/// Ends when [`end`](BudSpan::end) is called or when it is dropped. Dropped while a panic unwinds (for instance when
/// the panic started inside [`entered`](BudSpan::entered)), it records the panic first: status error and an
/// `exception` event with the panic's message, location and backtrace.
///
/// A span that is not recorded (below the minimum level, sampled out, suppressed scope, no provider) costs little:
/// every method is a no-op, and its context is its parent's so that children and propagation are unaffected.
///
/// ```
/// use budobserve::{KeyValue, bud_info, bud_span};
///
/// let mut span = bud_span!("import {file}", file = "users.csv");
/// span.set_attribute(KeyValue::new("rows", 1200));
/// span.in_scope(|| bud_info!("parsed"));            // a child log
/// if let Err(err) = "x".parse::<u32>() {
///     span.record_exception(&err);                   // status error, an `exception` event
/// }
/// let _entered = span.entered();                     // current until dropped, then ended
/// ```
#[must_use = "a span ends when dropped: keep it (`let _span = …`) or enter it (`.entered()`)"]
pub struct BudSpan {
    span: ProxySpan,
    clock: Clock,
    level: Level,
    /// The level written when the span started; a different `level` is written again when it ends.
    written_level: Level,
    panic_recorded: bool,
    /// Attributes set after the start, one value per key (a key set again is replaced here), written to the span
    /// when it ends; at most `attribute_limit` of them.
    late: Vec<KeyValue>,
    attribute_limit: u32,
    /// Late attributes beyond the limit, counted into the span's dropped attributes.
    dropped: u32,
    /// The number of the instance that started it, whose exception callback sees its errors.
    instance: u32,
}

impl BudSpan {
    /// Wraps a started span whose attributes hold `level` (as [`LEVEL_NUM`](constants::LEVEL_NUM), second), and
    /// keeps at most `attribute_limit` attributes set later.
    #[inline(always)]
    pub(crate) fn new(span: ProxySpan, clock: Clock, level: Level, attribute_limit: u32, instance: u32) -> BudSpan {
        BudSpan {
            span,
            clock,
            level,
            written_level: level,
            panic_recorded: false,
            late: Vec::new(),
            attribute_limit,
            dropped: 0,
            instance,
        }
    }

    /// A span dropped by the head sampler at the root of a trace: it records nothing, and its unsampled context
    /// makes its children drop too.
    pub(crate) fn dropped(span_context: SpanContext) -> BudSpan {
        BudSpan::new(ProxySpan::NonRecording(span_context), Clock::System, Level::Info, 0, u32::MAX)
    }

    /// A span that records nothing and carries `parent`'s span context on.
    pub fn non_recording(parent: &Context) -> BudSpan {
        BudSpan::new(ProxySpan::non_recording(parent), Clock::System, Level::Info, 0, u32::MAX)
    }

    /// Whether this span records anything.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.span.is_recording()
    }

    /// The span's context (ids, sampling flag, trace state).
    pub fn span_context(&self) -> &SpanContext {
        self.span.span_context()
    }

    /// An OpenTelemetry context whose current span is this one: a parent for spans started elsewhere, or what
    /// propagators inject into outgoing requests.
    ///
    /// A span that records nothing and has no valid context (nothing was current when it started) leaves the
    /// current context as it is: attaching an invalid span context would make a parent-based sampler drop every
    /// child.
    pub fn context(&self) -> Context {
        let span_context = self.span.span_context();
        if span_context.is_valid() {
            Context::map_current(|cx| cx.with_remote_span_context(span_context.clone()))
        } else {
            Context::current()
        }
    }

    /// `parent` with this span current: the context of what runs inside this span, when `parent` is the context
    /// it was started in (its baggage, the bud context included, kept). A span that records nothing and has no
    /// valid context leaves `parent` as it is.
    pub fn context_in(&self, parent: Context) -> Context {
        let span_context = self.span.span_context();
        if span_context.is_valid() { parent.with_remote_span_context(span_context.clone()) } else { parent }
    }

    /// The span's level (info unless set).
    pub fn level(&self) -> Level {
        self.level
    }

    /// Changes the span's level (`budobserve_level_num` as exported; the console shows the level at start).
    pub fn set_level(&mut self, level: Level) {
        self.level = level;
    }

    /// Sets one attribute. A key the span already has gets this value instead: one value per key is exported.
    pub fn set_attribute(&mut self, attribute: KeyValue) {
        if self.is_recording() {
            self.keep_late(attribute);
        }
    }

    /// Sets several attributes (each as [`set_attribute`](Self::set_attribute)).
    pub fn set_attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) {
        if self.is_recording() {
            for attribute in attributes {
                self.keep_late(attribute);
            }
        }
    }

    /// Sets `key` to `value` as JSON, as the macros record values (`Serialize` types): objects and arrays as JSON
    /// text described in the span's `budobserve_json_schema`, however late they are set.
    pub fn set_json<T: serde::Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        if self.is_recording() {
            let mut list = crate::attributes::AttributeList::with_capacity(2);
            list.push_json(key, value);
            self.set_attributes(list.into_values());
        }
    }

    /// A late attribute: replaces one set before under its key, else is kept while there is room.
    fn keep_late(&mut self, attribute: KeyValue) {
        // Several JSON schemas are merged when the span is prepared, not replaced.
        if attribute.key.as_str() != constants::JSON_SCHEMA
            && let Some(kept) = self.late.iter_mut().find(|kv| kv.key == attribute.key)
        {
            kept.value = attribute.value;
        } else if self.late.len() < self.attribute_limit as usize || crate::limits::is_own_key(attribute.key.as_str()) {
            self.late.push(attribute);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Writes the late attributes (and the count of those beyond the limit) to the span, before it ends.
    fn write_late(&mut self) {
        if !self.late.is_empty() {
            self.span.set_attributes(std::mem::take(&mut self.late));
        }
        if self.dropped > 0 {
            self.span.set_attribute(crate::limits::dropped_marker(self.dropped as usize));
            self.dropped = 0;
        }
    }

    /// Adds an event, timed by the instance's clock.
    pub fn add_event(&mut self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        if self.is_recording() {
            let now = self.clock.now();
            self.span.add_event_with_timestamp(name, now, attributes);
        }
    }

    fn add_event_at(&mut self, name: &'static str, at: SystemTime, attributes: Vec<KeyValue>) {
        self.span.add_event_with_timestamp(name, at, attributes);
    }

    /// Adds a link to another span's context.
    pub fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        self.span.add_link(span_context, attributes);
    }

    /// Sets the status (an error status is kept over a later unset, as the SDK orders them).
    pub fn set_status(&mut self, status: Status) {
        self.span.set_status(status);
    }

    /// Changes the span's name.
    pub fn update_name(&mut self, name: impl Into<Cow<'static, str>>) {
        self.span.update_name(name);
    }

    /// Records an error: an `exception` event with `exception.type` (the Rust type name of `E` by its public path:
    /// `std::io::Error`, `Box<dyn Error + Send + Sync>`), `exception.message` and, with
    /// [`error_backtraces`](crate::ConfigBuilder::error_backtraces), `exception.stacktrace`; then one `exception`
    /// event per error of its `source()` chain, with `exception.message` and `budobserve_exception_cause_index`. Sets the status to error with the error's
    /// message and raises the level to error — unless the instance's
    /// [exception callback](crate::ConfigBuilder::exception_callback) decides otherwise.
    pub fn record_exception<E: Error + ?Sized>(&mut self, error: &E) {
        if self.is_recording() {
            let message = error.to_string();
            self.record_error(std::any::type_name::<E>(), &message, None, error.source());
        }
    }

    /// Records an error known as a trait object (`anyhow::Error`, `Box<dyn Error>`), under the type name of what
    /// held it.
    #[doc(hidden)]
    pub fn record_error_parts(&mut self, type_name: &'static str, error: &(dyn Error + Send + Sync + 'static)) {
        if self.is_recording() {
            let message = error.to_string();
            self.record_error(type_name, &message, Some(error), error.source());
        }
    }

    /// Records an error that is not a `std::error::Error` (only its text is known).
    #[doc(hidden)]
    pub fn record_error_message(&mut self, type_name: &'static str, message: String) {
        if self.is_recording() {
            self.record_error(type_name, &message, None, None);
        }
    }

    /// Records an error as the instance's exception callback decides (see `exceptions`).
    fn record_error(
        &mut self,
        type_name: &'static str,
        message: &str,
        error: Option<&(dyn Error + 'static)>,
        source: Option<&(dyn Error + 'static)>,
    ) {
        let now = self.clock.now();
        let type_name = referent_type_name(type_name);
        let recorded = exceptions::Recorded {
            type_name,
            message,
            error,
            source,
            span_context: self.span.span_context(),
            span_level: self.level,
        };
        let decision = exceptions::decide(self.instance, recorded);
        if !decision.attributes.is_empty() {
            self.set_attributes(decision.attributes);
        }
        if decision.record {
            self.add_error_events(type_name, message, source, now, decision.backtrace);
        }
        if decision.error_status {
            self.set_status(Status::error(message.to_owned()));
        }
        self.level = decision.level;
    }

    /// The `exception` event of an error, and one per error of its `source()` chain.
    fn add_error_events(
        &mut self,
        type_name: &'static str,
        message: &str,
        mut source: Option<&(dyn Error + 'static)>,
        at: SystemTime,
        backtrace: bool,
    ) {
        let mut attributes = vec![
            KeyValue::new(constants::EXCEPTION_TYPE, crate::type_name::readable(type_name)),
            KeyValue::new(constants::EXCEPTION_MESSAGE, message.to_owned()),
        ];
        // Resolving a backtrace's symbols takes milliseconds (the first one, a fifth of a second): only when the
        // configuration asks (`error_backtraces`), not because `RUST_BACKTRACE` is set for panics.
        if backtrace {
            let backtrace = std::backtrace::Backtrace::force_capture();
            attributes.push(KeyValue::new(constants::EXCEPTION_STACKTRACE, backtrace.to_string()));
        }
        self.add_event_at(constants::EXCEPTION_EVENT, at, attributes);
        let mut index: i64 = 1;
        while let Some(cause) = source {
            self.add_event_at(
                constants::EXCEPTION_EVENT,
                at,
                vec![
                    KeyValue::new(constants::EXCEPTION_MESSAGE, cause.to_string()),
                    KeyValue::new(constants::EXCEPTION_CAUSE_INDEX, index),
                ],
            );
            index += 1;
            source = cause.source();
        }
    }

    /// Records the panic unwinding through this span, once.
    pub(crate) fn record_panic(&mut self) {
        if self.panic_recorded || !self.is_recording() {
            return;
        }
        self.panic_recorded = true;
        let record = panic::last_panic();
        let message = record
            .as_ref()
            .map_or("a panic whose message was not captured (the panic hook was replaced)", |r| r.message.as_str())
            .to_owned();
        let mut attributes = vec![
            KeyValue::new(constants::EXCEPTION_TYPE, constants::PANIC_EXCEPTION_TYPE),
            KeyValue::new(constants::EXCEPTION_MESSAGE, message.clone()),
            KeyValue::new(constants::EXCEPTION_ESCAPED, true),
        ];
        if let Some(record) = record {
            let stacktrace = match (record.location, record.backtrace) {
                (Some(location), Some(backtrace)) => Some(format!("panicked at {location}\n{backtrace}")),
                (Some(location), None) => Some(format!("panicked at {location}")),
                (None, backtrace) => backtrace,
            };
            if let Some(stacktrace) = stacktrace {
                attributes.push(KeyValue::new(constants::EXCEPTION_STACKTRACE, stacktrace));
            }
        }
        self.add_event(constants::EXCEPTION_EVENT, attributes);
        self.set_status(Status::error(message));
        self.level = self.level.max(Level::Error);
    }

    /// Ends the span now.
    pub fn end(mut self) {
        self.finish();
    }

    /// Ends a log at its own timestamp (zero duration: a log's clock is fixed at its start).
    pub(crate) fn end_log(mut self) {
        if self.span.is_recording() {
            self.write_late();
            self.write_changed_level();
            let at = self.clock.now();
            self.span.end_with_timestamp(at);
        }
    }

    fn finish(&mut self) {
        if !self.span.is_recording() {
            return;
        }
        self.write_late();
        self.write_changed_level();
        let now = self.clock.now();
        self.span.end_with_timestamp(now);
    }

    /// A level changed since the start is appended last; the pipeline moves it over the one written at start (see
    /// `Pipeline::on_end`), so exporters see one `budobserve_level_num`.
    fn write_changed_level(&mut self) {
        if self.level != self.written_level {
            self.span.set_attribute(KeyValue::new(constants::LEVEL_NUM, Value::I64(i64::from(self.level.number()))));
        }
    }

    /// Makes this span the current span of this thread until the guard drops; the span ends with the guard.
    pub fn entered(self) -> EnteredSpan {
        let guard = self.context().attach();
        EnteredSpan { span: self, _context: guard }
    }

    /// Makes this span current until the returned guard drops (the span itself stays open).
    pub fn enter(&self) -> Entered<'_> {
        Entered { _context: self.context().attach(), _span: PhantomData }
    }

    /// Runs `f` with this span current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }
}

/// `&Timeout` and `&mut Timeout` → `Timeout`: errors are usually recorded by reference, and the type that matters is
/// the error's.
fn referent_type_name(mut name: &'static str) -> &'static str {
    loop {
        if let Some(rest) = name.strip_prefix("&mut ") {
            name = rest;
        } else if let Some(rest) = name.strip_prefix('&') {
            name = rest;
        } else {
            return name;
        }
    }
}

// A span's data is only changed through `&mut self`, and a panic between two changes leaves valid data (a span with
// fewer attributes); so a span may cross `catch_unwind`.
impl std::panic::UnwindSafe for BudSpan {}
impl std::panic::RefUnwindSafe for BudSpan {}

impl Drop for BudSpan {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.record_panic();
        }
        self.finish();
    }
}

impl fmt::Debug for BudSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudSpan")
            .field("span_context", self.span.span_context())
            .field("recording", &self.is_recording())
            .field("level", &self.level)
            .finish()
    }
}

/// A span made current by [`BudSpan::entered`]; the span ends when this drops. Not `Send`: it belongs to the
/// thread it was entered on (use [`Instrument::instrument`](crate::Instrument::instrument) across `.await`).
///
/// ```
/// use budobserve::{bud_info, bud_span};
///
/// let mut entered = bud_span!("import").entered();
/// bud_info!("inside");                                   // a child of `import`
/// entered.span().set_attribute(budobserve::KeyValue::new("rows", 10));
/// let span = entered.exit();                             // no longer current, not ended yet
/// span.end();
/// ```
#[must_use = "the span is current only while the guard lives"]
pub struct EnteredSpan {
    // Drop order: the span ends (recording a panic if one unwinds), then the context is restored.
    span: BudSpan,
    _context: ContextGuard,
}

impl EnteredSpan {
    /// The span, to set attributes or record errors while it is current.
    pub fn span(&mut self) -> &mut BudSpan {
        &mut self.span
    }

    /// Leaves the span (restoring the previous current context) without ending it.
    pub fn exit(self) -> BudSpan {
        let EnteredSpan { span, _context } = self;
        drop(_context);
        span
    }
}

impl std::ops::Deref for EnteredSpan {
    type Target = BudSpan;

    fn deref(&self) -> &BudSpan {
        &self.span
    }
}

impl std::ops::DerefMut for EnteredSpan {
    fn deref_mut(&mut self) -> &mut BudSpan {
        &mut self.span
    }
}

impl fmt::Debug for EnteredSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EnteredSpan").field(&self.span).finish()
    }
}

/// The guard of [`BudSpan::enter`].
///
/// ```
/// use budobserve::{bud_info, bud_span};
///
/// let span = bud_span!("batch");
/// for item in 0..3 {
///     let _entered = span.enter();                         // current for this iteration; the span goes on
///     bud_info!("item {item}");
/// }
/// drop(span);                                              // ends here
/// ```
#[must_use = "the span is current only while the guard lives"]
pub struct Entered<'a> {
    _context: ContextGuard,
    _span: PhantomData<&'a BudSpan>,
}

impl fmt::Debug for Entered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Entered")
    }
}

/// A span from a [`ProxySpan`], for code that starts spans with the OpenTelemetry API and wants BudObserve's.
impl From<ProxySpan> for BudSpan {
    fn from(span: ProxySpan) -> BudSpan {
        BudSpan::new(span, Clock::System, Level::Info, crate::limits::DEFAULT_COUNT, u32::MAX)
    }
}
