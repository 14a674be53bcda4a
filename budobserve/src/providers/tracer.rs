//! The proxy tracer provider.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{SpanBuilder, SpanContext, Status, TraceContextExt as _, Tracer as _, TracerProvider};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::registry::{Registry, ScopeTracer, Slot, TracerBackend};
use crate::direct::{DirectEntry, DirectSpan, Parts, Started};

/// A tracer provider that forwards to a swappable [`SdkTracerProvider`].
///
/// Until a provider is set, its tracers make non-recording spans that carry their parent's context on, so
/// propagation works and nothing is recorded. Cloning is cheap; clones share the state.
///
/// ```
/// use budobserve::opentelemetry::trace::{Tracer as _, TracerProvider as _};
/// use budobserve::opentelemetry_sdk::trace::SdkTracerProvider;
///
/// let obs = budobserve::testing::capture().observe().clone();
/// let tracer = obs.tracer_provider().tracer("budapp.reports");  // taken once, kept
/// let previous = obs.tracer_provider().set_provider(Some(SdkTracerProvider::builder().build())); // swapped at run time
/// let _span = tracer.start("report");                           // recorded by the new provider
/// # drop(previous);
/// ```
#[derive(Clone, Default)]
pub struct ProxyTracerProvider {
    registry: Registry<TracerBackend>,
}

impl ProxyTracerProvider {
    /// A proxy with no provider yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Points every tracer handed out so far, and every one handed out later, at `provider` (or at nothing with
    /// `None`). Returns the provider it replaces; shutting that one down is the caller's choice.
    pub fn set_provider(&self, provider: Option<SdkTracerProvider>) -> Option<SdkTracerProvider> {
        self.set_backend(provider, None, false)
    }

    /// [`set_provider`](Self::set_provider), with the direct path of BudObserve's own pipeline in that provider.
    pub(crate) fn set_backend(
        &self,
        provider: Option<SdkTracerProvider>,
        direct: Option<DirectEntry>,
        all_baggage: bool,
    ) -> Option<SdkTracerProvider> {
        let backend = provider.map(|sdk| TracerBackend { sdk, direct, all_baggage });
        self.registry.set_provider(backend).map(|previous| previous.sdk)
    }

    /// The SDK provider spans go to now, if any.
    pub fn provider(&self) -> Option<SdkTracerProvider> {
        self.registry.provider().map(|backend| backend.sdk)
    }

    /// Silences the named instrumentation scopes: their tracers make non-recording spans from now on (their children
    /// still see the parent context). Adds to the scopes suppressed before.
    pub fn suppress_scopes<I, S>(&self, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.registry.suppress_scopes(scopes);
    }

    /// Whether spans of the named scope are suppressed.
    pub fn is_suppressed(&self, scope: &str) -> bool {
        self.registry.is_suppressed(scope)
    }
}

impl fmt::Debug for ProxyTracerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.registry.debug("ProxyTracerProvider", f)
    }
}

impl TracerProvider for ProxyTracerProvider {
    type Tracer = ProxyTracer;

    fn tracer_with_scope(&self, scope: InstrumentationScope) -> ProxyTracer {
        ProxyTracer { slot: self.registry.slot(scope) }
    }
}

/// A tracer from a [`ProxyTracerProvider`]. Cloning is cheap.
///
/// ```
/// use budobserve::opentelemetry::trace::{Tracer as _, TracerProvider as _};
///
/// let tracer = budobserve::tracer_provider().tracer("budapp.jobs");
/// let _span = tracer.start("cleanup");                     // non-recording until an instance is configured
/// ```
#[derive(Clone)]
pub struct ProxyTracer {
    slot: Arc<Slot<ScopeTracer>>,
}

impl fmt::Debug for ProxyTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyTracer")
            .field("scope", &self.slot.scope.name())
            .field("recording", &self.slot.current.load().is_some())
            .finish()
    }
}

impl ProxyTracer {
    /// The instrumentation scope of this tracer.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.slot.scope
    }

    /// Whether spans started now would go to an SDK provider (a provider is set and the scope is not suppressed).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.slot.active.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts a span with `parent` as its parent context.
    #[inline(always)]
    pub fn start_span(&self, builder: SpanBuilder, parent: &Context) -> ProxySpan {
        match &*self.slot.current.load() {
            Some(tracer) => match &tracer.direct {
                Some(_) => Self::start_in(tracer, Parts::from(builder), parent),
                None => {
                    let mut builder = builder;
                    if !parent.baggage().is_empty() {
                        add_baggage(builder.attributes.get_or_insert_with(Vec::new), parent, tracer.all_baggage);
                    }
                    ProxySpan::Sdk(Box::new(tracer.sdk.build_with_context(builder, parent)))
                }
            },
            None => ProxySpan::non_recording(parent),
        }
    }

    /// Starts a span of BudObserve's own from its parts (no `SpanBuilder` on the way to the direct path).
    #[inline(always)]
    pub(crate) fn start_parts(&self, parts: Parts, parent: &Context) -> ProxySpan {
        match &*self.slot.current.load() {
            Some(tracer) => Self::start_in(tracer, parts, parent),
            None => ProxySpan::non_recording(parent),
        }
    }

    #[inline(always)]
    fn start_in(tracer: &ScopeTracer, mut parts: Parts, parent: &Context) -> ProxySpan {
        // The bud context in the parent's baggage goes onto every span (one check when there is none), or all of
        // the baggage when the configuration asks.
        if !parent.baggage().is_empty() {
            add_baggage(&mut parts.attributes, parent, tracer.all_baggage);
        }
        match &tracer.direct {
            Some(direct) => match direct.start(parts, parent) {
                Started::Recording(span) => ProxySpan::Direct(span),
                Started::Dropped(span_context) => ProxySpan::NonRecording(span_context),
            },
            None => ProxySpan::Sdk(Box::new(tracer.sdk.build_with_context(parts.into_builder(), parent))),
        }
    }
}

impl opentelemetry::trace::Tracer for ProxyTracer {
    type Span = ProxySpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> ProxySpan {
        self.start_span(builder, parent_cx)
    }
}

/// Appends the bud context entries of `parent`'s baggage (all its entries with `all`) to the span's attributes,
/// but for keys the span starts with: an explicit attribute wins over the context's value.
#[inline(never)]
fn add_baggage(attributes: &mut Vec<KeyValue>, parent: &Context, all: bool) {
    let extra =
        if all { Some(crate::baggage::all_span_attributes(parent)) } else { crate::baggage::span_attributes(parent) };
    if let Some(extra) = extra {
        let given = attributes.len();
        for kv in extra {
            if !attributes[..given].iter().any(|existing| existing.key == kv.key) {
                attributes.push(kv);
            }
        }
    }
}

/// A span started by a [`ProxyTracer`]: an SDK span, a direct span (BudObserve's own path, when its instance
/// exports only through BudObserve's batch processors), or a non-recording span carrying its parent's context.
///
/// ```
/// use budobserve::opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
///
/// let tracer = budobserve::tracer_provider().tracer("budapp");
/// let mut span = tracer.start("sync");                     // a ProxySpan: the OpenTelemetry `Span` API
/// span.set_attribute(budobserve::KeyValue::new("items", 3));
/// span.end();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxySpan {
    /// A span of the SDK (recording unless the sampler said otherwise). Boxed: the SDK's span is several times
    /// the direct one, and every span handle would otherwise be moved at that size.
    Sdk(Box<opentelemetry_sdk::trace::Span>),
    /// A span of BudObserve's direct path: exported as the SDK's would be.
    Direct(DirectSpan),
    /// A span that records nothing; its context is the parent's (or empty), so propagation goes on.
    NonRecording(SpanContext),
}

impl ProxySpan {
    /// A non-recording span that carries the span context of `parent` on.
    pub fn non_recording(parent: &Context) -> ProxySpan {
        ProxySpan::NonRecording(parent.span().span_context().clone())
    }
}

impl opentelemetry::trace::Span for ProxySpan {
    fn add_event_with_timestamp<T>(&mut self, name: T, timestamp: SystemTime, attributes: Vec<KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
        match self {
            ProxySpan::Sdk(span) => span.add_event_with_timestamp(name, timestamp, attributes),
            ProxySpan::Direct(span) => span.add_event_with_timestamp(name, timestamp, attributes),
            ProxySpan::NonRecording(_) => {}
        }
    }

    fn span_context(&self) -> &SpanContext {
        match self {
            ProxySpan::Sdk(span) => span.span_context(),
            ProxySpan::Direct(span) => span.span_context(),
            ProxySpan::NonRecording(context) => context,
        }
    }

    fn is_recording(&self) -> bool {
        match self {
            ProxySpan::Sdk(span) => span.is_recording(),
            ProxySpan::Direct(span) => span.is_recording(),
            ProxySpan::NonRecording(_) => false,
        }
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        match self {
            ProxySpan::Sdk(span) => span.set_attribute(attribute),
            ProxySpan::Direct(span) => span.set_attribute(attribute),
            ProxySpan::NonRecording(_) => {}
        }
    }

    fn set_status(&mut self, status: Status) {
        match self {
            ProxySpan::Sdk(span) => span.set_status(status),
            ProxySpan::Direct(span) => span.set_status(status),
            ProxySpan::NonRecording(_) => {}
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        match self {
            ProxySpan::Sdk(span) => span.update_name(new_name),
            ProxySpan::Direct(span) => span.update_name(new_name),
            ProxySpan::NonRecording(_) => {}
        }
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        match self {
            ProxySpan::Sdk(span) => span.add_link(span_context, attributes),
            ProxySpan::Direct(span) => span.add_link(span_context, attributes),
            ProxySpan::NonRecording(_) => {}
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        match self {
            ProxySpan::Sdk(span) => span.end_with_timestamp(timestamp),
            ProxySpan::Direct(span) => span.end_with_timestamp(timestamp),
            ProxySpan::NonRecording(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::Span as _;
    use opentelemetry_sdk::trace::InMemorySpanExporterBuilder;

    #[test]
    fn tracer_made_before_provider_records_after_and_follows_swaps() {
        let proxy = ProxyTracerProvider::new();
        let tracer = proxy.tracer("early");
        tracer.start("before");
        assert!(!tracer.is_active());

        let first = InMemorySpanExporterBuilder::new().build();
        proxy.set_provider(Some(SdkTracerProvider::builder().with_simple_exporter(first.clone()).build()));
        tracer.start("after").end();

        let second = InMemorySpanExporterBuilder::new().build();
        // The replaced provider is kept: dropping it would shut down (and so clear) its in-memory exporter.
        let _first_provider =
            proxy.set_provider(Some(SdkTracerProvider::builder().with_simple_exporter(second.clone()).build()));
        tracer.start("swapped").end();

        let names = |e: &opentelemetry_sdk::trace::InMemorySpanExporter| -> Vec<String> {
            e.get_finished_spans().unwrap_or_default().into_iter().map(|s| s.name.into_owned()).collect()
        };
        assert_eq!(names(&first), ["after"]);
        assert_eq!(names(&second), ["swapped"]);
    }
}
