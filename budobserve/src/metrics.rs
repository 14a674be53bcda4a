//! The metric instrument types, so a service names them without depending on `opentelemetry` itself.
//!
//! Instruments come from [`meter`](crate::meter) (the current instance's meter, usable before
//! [`configure`](crate::configure) runs) or from an instance's [`counter`](crate::BudObserve::counter),
//! [`histogram`](crate::BudObserve::histogram), [`gauge`](crate::BudObserve::gauge) and
//! [`up_down_counter`](crate::BudObserve::up_down_counter); their attributes are [`KeyValue`](crate::KeyValue)s.
//!
//! ```
//! use std::sync::LazyLock;
//!
//! use budobserve::KeyValue;
//! use budobserve::metrics::{Counter, Histogram};
//!
//! static REQUESTS: LazyLock<Counter<u64>> =
//!     LazyLock::new(|| budobserve::meter().u64_counter("app.requests").with_unit("{request}").build());
//! static LATENCY: LazyLock<Histogram<f64>> =
//!     LazyLock::new(|| budobserve::meter().f64_histogram("app.request.duration").with_unit("s").build());
//!
//! REQUESTS.add(1, &[KeyValue::new("route", "/chat")]);
//! LATENCY.record(0.042, &[KeyValue::new("route", "/chat")]);
//! ```

pub use opentelemetry::metrics::{
    AsyncInstrument, AsyncInstrumentBuilder, Counter, Gauge, Histogram, HistogramBuilder, InstrumentBuilder, Meter,
    MeterProvider, ObservableCounter, ObservableGauge, ObservableUpDownCounter, UpDownCounter,
};
