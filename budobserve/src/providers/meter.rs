//! The proxy meter provider.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwapOption;
use opentelemetry::metrics::{
    AsyncInstrument, AsyncInstrumentBuilder, Counter, Gauge, Histogram, HistogramBuilder, InstrumentBuilder,
    InstrumentProvider, Meter, MeterProvider as _, ObservableCounter, ObservableGauge, ObservableUpDownCounter,
    SyncInstrument, UpDownCounter,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::sync::lock;
use crate::exporters::loss::ExportCounters;

/// A meter provider that forwards to a swappable [`SdkMeterProvider`].
///
/// Instruments created before a provider is set record nothing until one is; then they record into it, and into
/// every provider set after it. Observable instruments' callbacks are registered again with each new provider.
///
/// ```
/// use std::sync::LazyLock;
///
/// use budobserve::opentelemetry::metrics::{Counter, MeterProvider as _};
///
/// // An instrument made in a static, before `configure`: it records once a provider is set.
/// static REQUESTS: LazyLock<Counter<u64>> =
///     LazyLock::new(|| budobserve::meter_provider().meter("budapp").u64_counter("requests").build());
/// REQUESTS.add(1, &[]);
/// ```
#[derive(Clone, Default)]
pub struct ProxyMeterProvider {
    shared: Arc<Mutex<MeterProviderState>>,
}

#[derive(Default)]
struct MeterProviderState {
    provider: Option<SdkMeterProvider>,
    /// Scopes whose meters record nothing.
    suppressed: HashSet<Cow<'static, str>>,
    /// Where the meters made from now on count a callback's panic.
    counters: Option<Arc<ExportCounters>>,
    /// One meter per scope, held for the provider's life: its instruments and observable callbacks must follow
    /// every provider set later, whether or not the user still holds the `Meter` they were made from.
    meters: Vec<Arc<ProxyMeter>>,
}

impl ProxyMeterProvider {
    /// A proxy with no provider yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Points every meter and instrument handed out so far, and later, at `provider` (or at nothing with `None`).
    /// Returns the provider it replaces.
    pub fn set_provider(&self, provider: Option<SdkMeterProvider>) -> Option<SdkMeterProvider> {
        let mut state = lock(&self.shared);
        let previous = std::mem::replace(&mut state.provider, provider);
        state.repoint_all();
        previous
    }

    /// Silences the meters of the named instrumentation scopes, made so far and later: their instruments record
    /// nothing (adds to the scopes suppressed before).
    pub fn suppress_scopes<I, S>(&self, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        let mut state = lock(&self.shared);
        state.suppressed.extend(scopes.into_iter().map(Into::into));
        state.repoint_all();
    }

    /// Whether meters of the named scope are suppressed.
    pub fn is_suppressed(&self, scope: &str) -> bool {
        lock(&self.shared).suppressed.contains(scope)
    }

    /// Counts the panics of observable instruments' callbacks of meters made from now on in `counters`.
    pub(crate) fn count_failures_in(&self, counters: Arc<ExportCounters>) {
        lock(&self.shared).counters = Some(counters);
    }

    /// The SDK provider measurements go to now, if any.
    pub fn provider(&self) -> Option<SdkMeterProvider> {
        lock(&self.shared).provider.clone()
    }
}

impl MeterProviderState {
    /// The provider a meter of `scope` records into: none while the scope is suppressed.
    fn provider_for(&self, scope: &InstrumentationScope) -> Option<&SdkMeterProvider> {
        self.provider.as_ref().filter(|_| !self.suppressed.contains(scope.name()))
    }

    fn repoint_all(&mut self) {
        for meter in &self.meters {
            meter.repoint(self.provider_for(&meter.scope));
        }
    }
}

impl fmt::Debug for ProxyMeterProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyMeterProvider").field("has_provider", &lock(&self.shared).provider.is_some()).finish()
    }
}

impl opentelemetry::metrics::MeterProvider for ProxyMeterProvider {
    fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        let mut state = lock(&self.shared);
        // The same scope is the same meter, as the SDK's own provider answers: instruments of both share one slot
        // list, and asking again for a meter per call grows nothing.
        if let Some(meter) = state.meters.iter().find(|meter| meter.scope == scope) {
            return Meter::new(Arc::clone(meter) as Arc<dyn InstrumentProvider + Send + Sync>);
        }
        let meter = Arc::new(ProxyMeter {
            real: Mutex::new(RealMeter {
                meter: state.provider_for(&scope).map(|p| p.meter_with_scope(scope.clone())),
                instruments: Vec::new(),
            }),
            scope,
            counters: state.counters.clone(),
        });
        state.meters.push(Arc::clone(&meter));
        Meter::new(meter)
    }
}

/// One meter: its scope, the real meter it forwards to and the instruments it made.
struct ProxyMeter {
    scope: InstrumentationScope,
    /// Where a callback's panic is counted (the instance's), when the provider has one.
    counters: Option<Arc<ExportCounters>>,
    real: Mutex<RealMeter>,
}

struct RealMeter {
    meter: Option<Meter>,
    instruments: Vec<InstrumentRef>,
}

/// Synchronous instruments are held weakly (the user's handle keeps them alive); observable ones strongly, since
/// nothing else holds their callbacks.
enum InstrumentRef {
    Sync(Weak<dyn Rebuild>),
    Observable(Arc<dyn Rebuild>),
}

impl ProxyMeter {
    fn repoint(&self, provider: Option<&SdkMeterProvider>) {
        let mut real = lock(&self.real);
        real.meter = provider.map(|p| p.meter_with_scope(self.scope.clone()));
        let RealMeter { meter, instruments } = &mut *real;
        instruments.retain(|instrument| match instrument {
            InstrumentRef::Sync(weak) => match weak.upgrade() {
                Some(instrument) => {
                    instrument.rebuild(meter.as_ref());
                    true
                }
                None => false,
            },
            InstrumentRef::Observable(instrument) => {
                instrument.rebuild(meter.as_ref());
                true
            }
        });
    }

    /// Creates a synchronous instrument slot, builds it against the current real meter and registers it; the lock
    /// is held throughout so a concurrent swap cannot leave the new slot on the old provider.
    fn sync_slot<I, F>(&self, make: F) -> Arc<SyncSlot<I>>
    where
        I: Send + Sync + 'static,
        F: Fn(&Meter) -> I + Send + Sync + 'static,
    {
        let mut real = lock(&self.real);
        let slot = Arc::new(SyncSlot {
            current: ArcSwapOption::new(real.meter.as_ref().map(|m| Arc::new(make(m)))),
            make: Box::new(make),
        });
        let weak: Weak<dyn Rebuild> = Arc::downgrade(&(slot.clone() as Arc<dyn Rebuild>));
        real.instruments.push(InstrumentRef::Sync(weak));
        slot
    }

    fn observable<F>(&self, register: F)
    where
        F: Fn(&Meter) + Send + Sync + 'static,
    {
        let mut real = lock(&self.real);
        if let Some(meter) = &real.meter {
            register(meter);
        }
        real.instruments.push(InstrumentRef::Observable(Arc::new(ObservableSlot(Box::new(register)))));
    }
}

trait Rebuild: Send + Sync {
    fn rebuild(&self, meter: Option<&Meter>);
}

/// A synchronous instrument whose real counterpart is swapped with the provider.
struct SyncSlot<I> {
    current: ArcSwapOption<I>,
    make: Box<dyn Fn(&Meter) -> I + Send + Sync>,
}

impl<I: Send + Sync> Rebuild for SyncSlot<I> {
    fn rebuild(&self, meter: Option<&Meter>) {
        self.current.store(meter.map(|m| Arc::new((self.make)(m))));
    }
}

/// Forwards a measurement to the real instrument of each kind.
trait Measure<T> {
    fn measure(&self, value: T, attributes: &[KeyValue]);
}

macro_rules! measure_with {
    ($instrument:ident, $method:ident) => {
        impl<T> Measure<T> for $instrument<T> {
            #[inline]
            fn measure(&self, value: T, attributes: &[KeyValue]) {
                self.$method(value, attributes)
            }
        }
    };
}
measure_with!(Counter, add);
measure_with!(UpDownCounter, add);
measure_with!(Histogram, record);
measure_with!(Gauge, record);

impl<T, I: Measure<T> + Send + Sync> SyncInstrument<T> for SyncSlot<I> {
    #[inline]
    fn measure(&self, value: T, attributes: &[KeyValue]) {
        // Inside `suppress_instrumentation` (or the exporters' own work) nothing is measured; the SDK's metrics
        // do not look. Observable callbacks are not checked: the reader collects them in a suppressed scope.
        if Context::is_current_telemetry_suppressed() {
            return;
        }
        if let Some(instrument) = &*self.current.load() {
            instrument.measure(value, attributes);
        }
    }
}

/// An observable instrument: re-registers its callbacks with each new real meter.
struct ObservableSlot(Box<dyn Fn(&Meter) + Send + Sync>);

impl Rebuild for ObservableSlot {
    fn rebuild(&self, meter: Option<&Meter>) {
        if let Some(meter) = meter {
            (self.0)(meter);
        }
    }
}

/// The fields of an instrument builder, owned, so the instrument can be built again against a new meter.
#[derive(Clone)]
struct Spec {
    name: Cow<'static, str>,
    description: Option<Cow<'static, str>>,
    unit: Option<Cow<'static, str>>,
}

impl Spec {
    fn of<T>(builder: &InstrumentBuilder<'_, T>) -> Spec {
        Spec { name: builder.name.clone(), description: builder.description.clone(), unit: builder.unit.clone() }
    }

    fn apply<'a, T>(&self, mut builder: InstrumentBuilder<'a, T>) -> InstrumentBuilder<'a, T> {
        if let Some(description) = &self.description {
            builder = builder.with_description(description.clone());
        }
        if let Some(unit) = &self.unit {
            builder = builder.with_unit(unit.clone());
        }
        builder
    }
}

/// Generates the synchronous instrument methods of [`InstrumentProvider`].
macro_rules! sync_instruments {
    ($($method:ident: $instrument:ident<$t:ty>;)*) => {$(
        fn $method(&self, builder: InstrumentBuilder<'_, $instrument<$t>>) -> $instrument<$t> {
            let spec = Spec::of(&builder);
            $instrument::new(self.sync_slot(move |meter| spec.apply(meter.$method(spec.name.clone())).build()))
        }
    )*};
}

/// Generates the histogram methods (which also carry bucket boundaries).
macro_rules! histograms {
    ($($method:ident: $t:ty;)*) => {$(
        fn $method(&self, builder: HistogramBuilder<'_, Histogram<$t>>) -> Histogram<$t> {
            let HistogramBuilder { name, description, unit, boundaries, .. } = builder;
            Histogram::new(self.sync_slot(move |meter| {
                let mut real = meter.$method(name.clone());
                if let Some(description) = &description {
                    real = real.with_description(description.clone());
                }
                if let Some(unit) = &unit {
                    real = real.with_unit(unit.clone());
                }
                if let Some(boundaries) = &boundaries {
                    real = real.with_boundaries(boundaries.clone());
                }
                real.build()
            }))
        }
    )*};
}

/// Generates the observable instrument methods: the callbacks are shared and registered with each real meter.
macro_rules! observable_instruments {
    ($($method:ident: $instrument:ident<$t:ty>;)*) => {$(
        fn $method(&self, builder: AsyncInstrumentBuilder<'_, $instrument<$t>, $t>) -> $instrument<$t> {
            let AsyncInstrumentBuilder { name, description, unit, callbacks, .. } = builder;
            let callbacks = Arc::new(callbacks);
            let counters = self.counters.clone();
            self.observable(move |meter| {
                let callbacks = callbacks.clone();
                let counters = counters.clone();
                let mut real = meter.$method(name.clone()).with_callback(move |observer: &dyn AsyncInstrument<$t>| {
                    for callback in callbacks.iter() {
                        // A callback that panics loses its own observations only; the reader's thread goes on.
                        match &counters {
                            Some(counters) => {
                                counters.contain("an observable instrument's callback", 0, || callback(observer));
                            }
                            None => {
                                let _ = catch_unwind(AssertUnwindSafe(|| callback(observer)));
                            }
                        }
                    }
                });
                if let Some(description) = &description {
                    real = real.with_description(description.clone());
                }
                if let Some(unit) = &unit {
                    real = real.with_unit(unit.clone());
                }
                real.build();
            });
            $instrument::new()
        }
    )*};
}

impl InstrumentProvider for ProxyMeter {
    sync_instruments! {
        u64_counter: Counter<u64>;
        f64_counter: Counter<f64>;
        i64_up_down_counter: UpDownCounter<i64>;
        f64_up_down_counter: UpDownCounter<f64>;
        u64_gauge: Gauge<u64>;
        f64_gauge: Gauge<f64>;
        i64_gauge: Gauge<i64>;
    }

    histograms! {
        u64_histogram: u64;
        f64_histogram: f64;
    }

    observable_instruments! {
        u64_observable_counter: ObservableCounter<u64>;
        f64_observable_counter: ObservableCounter<f64>;
        i64_observable_up_down_counter: ObservableUpDownCounter<i64>;
        f64_observable_up_down_counter: ObservableUpDownCounter<f64>;
        u64_observable_gauge: ObservableGauge<u64>;
        i64_observable_gauge: ObservableGauge<i64>;
        f64_observable_gauge: ObservableGauge<f64>;
    }
}
