//! `tracing` spans and events as BudObserve spans and logs (feature `tracing`).
//!
//! Most Rust libraries (hyper, tower-http, sqlx, budgateway itself) and much existing service code emit `tracing`
//! spans and events. [`layer`] is a `tracing_subscriber` layer that writes them into BudObserve with its schema,
//! so `#[tracing::instrument]` code works unchanged:
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! let subscriber = tracing_subscriber::registry().with(budobserve::integrations::tracing::layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _request = budobserve::bud_span!("request").entered();
//!     tracing::info!(user_id = 42, "user logged in");   // a log under `request`
//! });
//! ```
//!
//! (A service sets the subscriber once, with `tracing::subscriber::set_global_default` or
//! `tracing_subscriber::util::SubscriberInitExt::init`.)
//!
//! - A `tracing` span becomes a span named after it (for `#[tracing::instrument]`, the function), with its fields
//!   as attributes, fields recorded later added, and `code.namespace`/`code.filepath`/`code.lineno` from its
//!   callsite. It starts when the `tracing` span is created and ends when it closes.
//! - Parentage is kept both ways: a `tracing` span's parent is its explicit parent, else whatever is current —
//!   a `tracing` span or a BudObserve span; while a `tracing` span is entered it is the current OpenTelemetry
//!   context, so `bud_span!`s, logs and libraries using the OpenTelemetry API inside it become its children, and
//!   baggage (the bud context) flows through it.
//! - An event becomes a log: level mapped (`TRACE`→trace, `DEBUG`→debug, `INFO`→info, `WARN`→warn,
//!   `ERROR`→error), its `message` as `budobserve_msg` and as `budobserve_msg_template` (`tracing` keeps no
//!   separate template; put values in fields — `info!(user_id, "user logged in")` — to keep messages
//!   groupable), the other fields as attributes. Events without a message take the callsite's name.
//! - A record below the instance's minimum level is skipped; `tracing`'s own filters (`EnvFilter`, per-layer
//!   filters) apply as usual.
//! - Records from BudObserve's export threads are ignored, so an exporter's HTTP client never feeds back into the
//!   pipeline.
//!
//! Spans and logs are written under the instrumentation scope `budobserve.tracing`.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _};
use opentelemetry::{Context, ContextGuard, KeyValue, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;

use super::bridge;
use super::handle::ScopedHandle;
use crate::level::Level;
use crate::observe::BudObserve;
use crate::span::BudSpan;

/// The instrumentation scope of the spans and logs this bridge writes.
pub const SCOPE: &str = "budobserve.tracing";

/// A layer writing `tracing` spans and events to the current instance (the global one, or the one made current
/// with [`with_instance`](crate::with_instance)).
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let subscriber = tracing_subscriber::registry().with(budobserve::integrations::tracing::layer());
/// tracing::subscriber::with_default(subscriber, || tracing::info!(rows = 3, "loaded"));
/// ```
pub fn layer() -> BudObserveLayer {
    BudObserveLayer { handle: ScopedHandle::current(SCOPE) }
}

/// A layer writing `tracing` spans and events to `observe`, whatever instance is current.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let capture = budobserve::testing::capture();
/// let subscriber = tracing_subscriber::registry().with(budobserve::integrations::tracing::layer_for(capture.observe()));
/// tracing::subscriber::with_default(subscriber, || tracing::warn!("disk almost full"));
/// assert_eq!(capture.spans()[0].name, "disk almost full");
/// ```
pub fn layer_for(observe: &BudObserve) -> BudObserveLayer {
    BudObserveLayer { handle: ScopedHandle::fixed(SCOPE, observe) }
}

/// The `tracing_subscriber` layer of this module (see [`layer`]).
///
/// ```
/// use tracing_subscriber::filter::LevelFilter;
/// use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
///
/// // Only INFO and above from `tracing` reach BudObserve.
/// let layer = budobserve::integrations::tracing::layer().with_filter(LevelFilter::INFO);
/// let subscriber = tracing_subscriber::registry().with(layer);
/// # drop(subscriber);
/// ```
#[derive(Debug)]
pub struct BudObserveLayer {
    handle: ScopedHandle,
}

/// What a bridged `tracing` span keeps in its extensions.
struct Bridged {
    /// `None` once ended.
    span: Option<BudSpan>,
    /// The context children start in: the parent's, with this span current.
    context: Context,
    /// `otel.status_code` and `otel.status_description` as recorded so far (each may come in a record of its
    /// own): the status is set from them when the span closes.
    status: OtelFields,
}

thread_local! {
    /// The contexts attached by entering bridged spans on this thread, innermost last.
    static ENTERED: RefCell<Vec<(Id, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

/// BudObserve's level of a `tracing` level.
///
/// ```
/// use budobserve::Level;
///
/// assert_eq!(budobserve::integrations::tracing::level(&tracing::Level::DEBUG), Level::Debug);
/// ```
pub fn level(level: &tracing_core::Level) -> Level {
    match *level {
        tracing_core::Level::TRACE => Level::Trace,
        tracing_core::Level::DEBUG => Level::Debug,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::WARN => Level::Warn,
        tracing_core::Level::ERROR => Level::Error,
    }
}

impl<S> Layer<S> for BudObserveLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        if bridge::suppressed() {
            return;
        }
        let metadata = attrs.metadata();
        let level = level(metadata.level());
        let Some(span_ref) = ctx.span(id) else { return };
        let parent = if attrs.is_root() {
            Context::new()
        } else if let Some(parent) = attrs.parent() {
            ctx.span(parent)
                .and_then(|parent| parent.extensions().get::<Bridged>().map(|bridged| bridged.context.clone()))
                .unwrap_or_else(Context::current)
        } else {
            Context::current()
        };
        let bridged = self.handle.with(|observe| {
            if !observe.is_enabled_for(metadata.target(), level) {
                return None;
            }
            let mut fields = Fields::new(metadata);
            attrs.record(&mut fields);
            let (_, attributes, mut otel) = fields.finish();
            let status = OtelFields {
                status_code: otel.status_code.take(),
                status_description: otel.status_description.take(),
                ..OtelFields::default()
            };
            let mut options =
                observe.span_builder(metadata.name()).level(level).parent(parent.clone()).attributes(attributes);
            if let Some(name) = otel.name {
                options = options.name(name);
            }
            if let Some(kind) = otel.kind {
                options = options.kind(kind);
            }
            let span = options.start();
            let context = span.context_in(parent);
            Some(Bridged { span: Some(span), context, status })
        });
        if let Some(bridged) = bridged {
            span_ref.extensions_mut().insert(bridged);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(id) else { return };
        let mut extensions = span_ref.extensions_mut();
        let Some(bridged) = extensions.get_mut::<Bridged>() else { return };
        let Some(span) = bridged.span.as_mut() else { return };
        let mut fields = Fields::values_only();
        values.record(&mut fields);
        let (_, attributes, otel) = fields.finish();
        span.set_attributes(attributes);
        if let Some(name) = otel.name {
            span.update_name(name);
        }
        bridged.status.status_code = otel.status_code.or(bridged.status.status_code.take());
        bridged.status.status_description = otel.status_description.or(bridged.status.status_description.take());
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: LayerContext<'_, S>) {
        let (Some(span_ref), Some(follows_ref)) = (ctx.span(id), ctx.span(follows)) else { return };
        let Some(linked) = follows_ref
            .extensions()
            .get::<Bridged>()
            .map(|bridged| bridged.context.span().span_context().clone())
            .filter(|linked| linked.is_valid())
        else {
            return;
        };
        let mut extensions = span_ref.extensions_mut();
        if let Some(span) = extensions.get_mut::<Bridged>().and_then(|bridged| bridged.span.as_mut()) {
            span.add_link(linked, Vec::new());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        if bridge::suppressed() {
            return;
        }
        let metadata = event.metadata();
        let level = level(metadata.level());
        let parent = if event.is_root() {
            Some(Context::new())
        } else if let Some(parent) = event.parent() {
            ctx.span(parent).and_then(|parent| parent.extensions().get::<Bridged>().map(|b| b.context.clone()))
        } else {
            None
        };
        self.handle.with(|observe| {
            if !observe.is_enabled_for(metadata.target(), level) {
                return;
            }
            let mut fields = Fields::new(metadata);
            event.record(&mut fields);
            let (message, attributes, _) = fields.finish();
            let message = message.unwrap_or_else(|| metadata.name().to_owned());
            let mut options =
                observe.span_builder(message.clone()).message(message).level(level).attributes(attributes);
            if let Some(parent) = parent {
                options = options.parent(parent);
            }
            options.log();
        });
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(id) else { return };
        let Some(context) = span_ref.extensions().get::<Bridged>().map(|bridged| bridged.context.clone()) else {
            return;
        };
        let guard = context.attach();
        ENTERED.with(|entered| entered.borrow_mut().push((id.clone(), guard)));
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        // The guard is dropped outside the borrow: restoring a context may run code that enters spans.
        let guard = ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            let position = entered.iter().rposition(|(entered_id, _)| entered_id == id)?;
            Some(entered.remove(position))
        });
        drop(guard);
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(&id) else { return };
        let mut extensions = span_ref.extensions_mut();
        let Some(bridged) = extensions.get_mut::<Bridged>() else { return };
        if let Some(mut span) = bridged.span.take() {
            if let Some(status) = bridged.status.status() {
                span.set_status(status);
            }
            span.end();
        }
    }
}

/// Collects a record's fields as attributes, its `message` apart, and its callsite as `code.*`.
struct Fields {
    message: Option<String>,
    attributes: Vec<KeyValue>,
    /// `otel.name`, `otel.kind`, `otel.status_code`, `otel.status_description` of a span, as
    /// `tracing-opentelemetry` reads them (on events they stay attributes).
    otel: OtelFields,
    /// Whether the fields are a span's (where `otel.*` fields are read as such).
    of_span: bool,
    /// `log` records bridged by `tracing-log` carry their origin as `log.*` fields; they replace the callsite's.
    log_origin: LogOrigin,
    metadata: Option<&'static Metadata<'static>>,
}

/// The fields `tracing-opentelemetry` gives a meaning: a span's name, kind and status.
#[derive(Default)]
struct OtelFields {
    name: Option<String>,
    kind: Option<SpanKind>,
    status_code: Option<String>,
    status_description: Option<String>,
}

impl OtelFields {
    /// The status the fields set, if they set one (`ok`, `error`, `unset`, any case; anything else is ignored).
    fn status(&self) -> Option<Status> {
        let code = self.status_code.as_deref()?;
        if code.eq_ignore_ascii_case("ok") {
            Some(Status::Ok)
        } else if code.eq_ignore_ascii_case("error") {
            Some(Status::error(self.status_description.clone().unwrap_or_default()))
        } else if code.eq_ignore_ascii_case("unset") {
            Some(Status::Unset)
        } else {
            None
        }
    }
}

/// The span kind `otel.kind` names (`server`, `client`, `producer`, `consumer`, `internal`, any case).
fn span_kind(text: &str) -> Option<SpanKind> {
    [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find(|(name, _)| text.eq_ignore_ascii_case(name))
    .map(|(_, kind)| kind)
}

#[derive(Default)]
struct LogOrigin {
    target: Option<String>,
    module_path: Option<String>,
    file: Option<String>,
    line: Option<u32>,
}

impl Fields {
    fn new(metadata: &'static Metadata<'static>) -> Fields {
        Fields {
            message: None,
            attributes: Vec::with_capacity(metadata.fields().len() + 3),
            otel: OtelFields::default(),
            of_span: !metadata.is_event(),
            log_origin: LogOrigin::default(),
            metadata: Some(metadata),
        }
    }

    /// Values recorded after a span started: no `code.*`.
    fn values_only() -> Fields {
        Fields {
            message: None,
            attributes: Vec::new(),
            otel: OtelFields::default(),
            of_span: true,
            log_origin: LogOrigin::default(),
            metadata: None,
        }
    }

    /// The message, the attributes and the `otel.*` fields of a span.
    fn finish(mut self) -> (Option<String>, Vec<KeyValue>, OtelFields) {
        if let Some(metadata) = self.metadata {
            let origin = self.log_origin;
            let target = origin.target.as_deref().unwrap_or(metadata.target());
            let module_path =
                origin.module_path.as_deref().or(if origin.target.is_some() { None } else { metadata.module_path() });
            let file = origin.file.as_deref().or(metadata.file());
            let line = origin.line.or(metadata.line());
            bridge::code_attributes(&mut self.attributes, module_path, target, file, line);
        }
        (self.message, self.attributes, self.otel)
    }

    fn push(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => self.message = Some(value.as_str().into_owned()),
            "otel.name" if self.of_span => self.otel.name = Some(value.as_str().into_owned()),
            "otel.kind" if self.of_span => self.otel.kind = span_kind(&value.as_str()),
            "otel.status_code" if self.of_span => self.otel.status_code = Some(value.as_str().into_owned()),
            "otel.status_description" if self.of_span => {
                self.otel.status_description = Some(value.as_str().into_owned());
            }
            "log.target" => self.log_origin.target = Some(value.as_str().into_owned()),
            "log.module_path" => self.log_origin.module_path = Some(value.as_str().into_owned()),
            "log.file" => self.log_origin.file = Some(value.as_str().into_owned()),
            "log.line" => {
                if let Value::I64(line) = value {
                    self.log_origin.line = u32::try_from(line).ok();
                }
            }
            name => self.attributes.push(KeyValue::new(name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, bridge::unsigned(u128::from(value)));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, bridge::signed(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, bridge::unsigned(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::String(value.to_owned().into()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The error and its causes, as `tracing`'s own formatters print them.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.push(field, Value::String(text.into()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, Value::String(format!("{value:?}").into()));
    }
}
