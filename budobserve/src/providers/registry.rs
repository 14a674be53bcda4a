//! What the tracer and logger proxies share: the SDK provider, the suppressed scopes, and one slot per tracer or
//! logger handed out, re-pointed whenever either changes.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use opentelemetry::InstrumentationScope;
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use super::sync::{WeakList, lock};
use crate::direct::{DirectEntry, DirectTracer};

/// An SDK provider that hands out one object per instrumentation scope.
pub(crate) trait ScopedProvider: Clone + Send + Sync + 'static {
    type Item: Send + Sync + 'static;

    fn for_scope(&self, scope: &InstrumentationScope) -> Self::Item;
}

/// The SDK tracer provider of a configuration, and its direct path when it has one (see `direct`).
#[derive(Clone)]
pub(crate) struct TracerBackend {
    pub(crate) sdk: SdkTracerProvider,
    pub(crate) direct: Option<DirectEntry>,
    /// Every baggage entry goes onto spans, not only the bud context.
    pub(crate) all_baggage: bool,
}

/// One scope's tracer: the SDK's, and the direct path's when the backend has one.
pub(crate) struct ScopeTracer {
    pub(crate) sdk: SdkTracer,
    pub(crate) direct: Option<DirectTracer>,
    pub(crate) all_baggage: bool,
}

impl ScopedProvider for TracerBackend {
    type Item = ScopeTracer;

    fn for_scope(&self, scope: &InstrumentationScope) -> ScopeTracer {
        ScopeTracer {
            sdk: self.sdk.tracer_with_scope(scope.clone()),
            direct: self.direct.as_ref().map(|direct| direct.tracer(scope)),
            all_baggage: self.all_baggage,
        }
    }
}

impl ScopedProvider for SdkLoggerProvider {
    type Item = SdkLogger;

    fn for_scope(&self, scope: &InstrumentationScope) -> SdkLogger {
        self.logger_with_scope(scope.clone())
    }
}

/// The object of one scope, or `None` while there is no provider or the scope is suppressed.
pub(crate) struct Slot<T> {
    pub(crate) scope: InstrumentationScope,
    pub(crate) current: ArcSwapOption<T>,
    /// Whether `current` is `Some`: one relaxed load for the checks made before any work.
    pub(crate) active: AtomicBool,
}

impl<T> Slot<T> {
    fn store(&self, item: Option<Arc<T>>) {
        self.active.store(item.is_some(), Ordering::Relaxed);
        self.current.store(item);
    }
}

/// The shared state of a proxy. Cloning shares it.
pub(crate) struct Registry<P: ScopedProvider> {
    state: Arc<Mutex<State<P>>>,
}

struct State<P: ScopedProvider> {
    provider: Option<P>,
    suppressed: HashSet<Cow<'static, str>>,
    slots: WeakList<Slot<P::Item>>,
}

impl<P: ScopedProvider> Clone for Registry<P> {
    fn clone(&self) -> Self {
        Registry { state: self.state.clone() }
    }
}

impl<P: ScopedProvider> Default for Registry<P> {
    fn default() -> Self {
        Registry {
            state: Arc::new(Mutex::new(State {
                provider: None,
                suppressed: HashSet::new(),
                slots: WeakList::default(),
            })),
        }
    }
}

impl<P: ScopedProvider> State<P> {
    fn item_for(&self, scope: &InstrumentationScope) -> Option<Arc<P::Item>> {
        if self.suppressed.contains(scope.name()) {
            return None;
        }
        Some(Arc::new(self.provider.as_ref()?.for_scope(scope)))
    }

    fn repoint_all(&self) {
        for slot in self.slots.live() {
            slot.store(self.item_for(&slot.scope));
        }
    }
}

impl<P: ScopedProvider> Registry<P> {
    pub(crate) fn set_provider(&self, provider: Option<P>) -> Option<P> {
        let mut state = lock(&self.state);
        let previous = std::mem::replace(&mut state.provider, provider);
        state.repoint_all();
        previous
    }

    pub(crate) fn provider(&self) -> Option<P> {
        lock(&self.state).provider.clone()
    }

    pub(crate) fn suppress_scopes<I, S>(&self, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        let mut state = lock(&self.state);
        state.suppressed.extend(scopes.into_iter().map(Into::into));
        state.repoint_all();
    }

    pub(crate) fn is_suppressed(&self, scope: &str) -> bool {
        lock(&self.state).suppressed.contains(scope)
    }

    /// A new slot for `scope`, pointed at the current provider and re-pointed with it.
    pub(crate) fn slot(&self, scope: InstrumentationScope) -> Arc<Slot<P::Item>> {
        let mut state = lock(&self.state);
        let item = state.item_for(&scope);
        let slot = Arc::new(Slot { active: AtomicBool::new(item.is_some()), current: ArcSwapOption::new(item), scope });
        state.slots.push(Arc::downgrade(&slot));
        slot
    }

    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct(name)
            .field("has_provider", &state.provider.is_some())
            .field("suppressed", &state.suppressed)
            .finish()
    }
}
