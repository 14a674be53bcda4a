//! Proxy providers: tracer, meter and logger providers that forward to a swappable SDK provider.
//!
//! Everything obtained from a proxy — tracers, meters, instruments, loggers — holds a slot that the proxy re-points
//! when [`set_provider`](ProxyTracerProvider::set_provider) runs. So a tracer or a counter kept in a `static` before
//! [`configure`](crate::configure) starts recording once it runs, and a provider swapped at run time redirects
//! all of them. The hot path is one lock-free load of the slot; locks are taken only to hand out, swap or
//! suppress.

mod logger;
mod meter;
mod registry;
mod sync;
mod tracer;

pub use logger::{ProxyLogRecord, ProxyLogger, ProxyLoggerProvider};
pub use meter::ProxyMeterProvider;
pub use tracer::{ProxySpan, ProxyTracer, ProxyTracerProvider};

pub use crate::direct::DirectSpan;

pub(crate) use self::sync::lock;
