//! Starting a span or log: the [`SpanOptions`] builder, and the one path every span takes onto the tracer
//! ([`Writer::launch`]), where BudObserve's own attributes join the caller's in one vector.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use opentelemetry::trace::{Link, SpanContext, SpanKind, TraceContextExt as _};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};

use crate::callsite::Callsite;
use crate::clock::Clock;
use crate::constants;
use crate::direct::Parts;
use crate::level::{Level, SpanType};
use crate::limits;
use crate::providers::{ProxySpan, ProxyTracer};
use crate::sampling::{Decision, HeadSampler};
use crate::span::BudSpan;
use crate::template;

/// What starting a span needs of a handle (see `BudObserve::writer`): its tracer and tags, and its instance's
/// minimum level, head sampler and clock.
#[derive(Clone, Copy)]
pub(crate) struct Writer<'a> {
    /// The lowest level anything is recorded at (see `directives::Levels`).
    pub(crate) floor: &'a AtomicU8,
    pub(crate) clock: &'a Clock,
    pub(crate) head: &'a HeadSampler,
    pub(crate) tracer: &'a ProxyTracer,
    pub(crate) tags: &'a [Cow<'static, str>],
    pub(crate) attribute_limit: &'a AtomicU32,
    pub(crate) origin: Origin,
    /// The instance's number (see `exceptions`).
    pub(crate) instance: u32,
}

/// Who writes through a handle.
#[allow(dead_code, reason = "integrations and bridges, which write as such, are each behind a feature")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The service's own code: spans are `span`s, and the method API records where it was called.
    #[default]
    User,
    /// An integration (HTTP server and clients, databases, LLM calls, Dapr): its spans are `integration`s, and
    /// carry the attributes of their operation rather than a location in BudObserve's code.
    Integration,
    /// A bridge from `tracing` or `log`: it writes the location its records carry.
    Bridge,
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

/// What [`Writer::launch`] needs besides the attributes.
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

/// A span or log to start: see [`BudObserve::span_builder`](crate::BudObserve::span_builder).
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
    writer: Writer<'a>,
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
    location: Option<&'static Location<'static>>,
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

    /// Where the span or log was written in the caller's code (`code.filepath`, `code.lineno`); by default the
    /// caller of [`BudObserve::span_builder`](crate::BudObserve::span_builder) and the methods and functions that
    /// write through it.
    pub(crate) fn location(mut self, location: &'static Location<'static>) -> Self {
        if self.location.is_some() {
            self.location = Some(location);
        }
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
        let span_type = match self.writer.origin {
            Origin::Integration => SpanType::Integration,
            Origin::User | Origin::Bridge => SpanType::Span,
        };
        self.writer.start(self, span_type)
    }

    /// Writes a log: a zero-duration span at the options' level.
    pub fn log(self) {
        self.log_with(|_| {});
    }

    /// Writes a log, letting `record` add to it first (events and errors are at the log's time).
    pub fn log_with(self, record: impl FnOnce(&mut BudSpan)) {
        let writer = self.writer;
        let mut span = writer.start(self, SpanType::Log);
        if span.is_recording() {
            record(&mut span);
        }
        span.end_log();
    }
}

impl<'a> Writer<'a> {
    /// Whether a log or span at `level` would be recorded.
    #[inline]
    fn is_enabled(self, level: Level) -> bool {
        level.number() >= self.floor.load(Ordering::Relaxed)
    }

    /// Options with these attributes already collected (room is made for BudObserve's own when it starts), written
    /// at `location` of the caller's code when the handle records locations.
    pub(crate) fn options(
        self,
        template: Cow<'static, str>,
        attributes: Vec<KeyValue>,
        location: &'static Location<'static>,
    ) -> SpanOptions<'a> {
        SpanOptions {
            writer: self,
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
            location: (self.origin == Origin::User).then_some(location),
        }
    }

    /// The common path of the option-built spans and logs.
    fn start(self, options: SpanOptions<'_>, span_type: SpanType) -> BudSpan {
        let SpanOptions {
            template,
            name,
            message,
            level,
            mut attributes,
            tags,
            parent,
            links,
            kind,
            callsite,
            location,
            ..
        } = options;
        if !self.is_enabled(level) || !self.tracer.is_active() {
            return non_recording(&parent);
        }
        let decision = match &parent {
            Parent::Current => self.head.decide_current(),
            Parent::Context(cx) => self.head.decide(cx),
            Parent::Root => self.head.decide(&Context::new()),
        };
        if let Some(dropped) = dropped_span(decision, &parent) {
            return dropped;
        }
        // A location given as attributes (a bridge's record, a caller's own) is kept.
        if let (Some(location), None) = (location, callsite)
            && !attributes.iter().any(|kv| kv.key.as_str() == constants::CODE_FILEPATH)
        {
            attributes.extend([
                KeyValue::new(constants::CODE_FILEPATH, location.file()),
                KeyValue::new(constants::CODE_LINENO, i64::from(location.line())),
            ]);
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
        self,
        launch: Launch,
        mut attributes: Vec<KeyValue>,
        parent: Parent,
        links: Vec<Link>,
    ) -> BudSpan {
        let Launch { name, text, level, span_type, tags, kind } = launch;
        // More attributes than the limit: the user's last ones go now, BudObserve's keys stay (see `limits`).
        let attribute_limit = self.attribute_limit.load(Ordering::Relaxed);
        if attributes.len() > attribute_limit as usize {
            let dropped = limits::keep_within(&mut attributes, attribute_limit as usize);
            attributes.push(limits::dropped_marker(dropped));
        }
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
        let no_tags = self.tags.is_empty()
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
        let clock = self.clock;
        let tracer = self.tracer;
        let now = clock.now();
        let parts = Parts { name, kind, start_time: Some(now), attributes, links, events: Vec::new() };
        let span = match parent {
            // The tracer sees a suppressed parent; another parent is no reason to record in a suppressed scope.
            Parent::Current => Context::map_current(|cx| tracer.start_parts(parts, cx)),
            Parent::Context(cx) if Context::is_current_telemetry_suppressed() => ProxySpan::non_recording(&cx),
            Parent::Context(cx) => tracer.start_parts(parts, &cx),
            Parent::Root if Context::is_current_telemetry_suppressed() => ProxySpan::non_recording(&Context::new()),
            Parent::Root => tracer.start_parts(parts, &Context::new()),
        };
        // A log's events (an exception) are at the log's own time.
        let span_clock = if span_type == SpanType::Log { Clock::Fixed(now) } else { clock.clone() };
        BudSpan::new(span, span_clock, level, attribute_limit, self.instance)
    }

    /// The handle's tags followed by `extra`, without duplicates; `None` when there are none.
    fn tags_value(self, extra: impl ExactSizeIterator<Item = Cow<'static, str>>) -> Option<Value> {
        let own = self.tags;
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
}
