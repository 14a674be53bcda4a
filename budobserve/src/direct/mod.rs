//! The direct path: BudObserve's spans without the SDK's span on the caller's thread.
//!
//! When every stage of an instance's pipeline is an exporter behind BudObserve's batch processor (`span_exporter`,
//! OTLP, ClickHouse) and the sampler is the default one, the tracers of its provider start [`DirectSpan`]s instead
//! of the SDK's: a compact record (`span`) with ids from a per-thread generator (`random`), filled on the caller's
//! thread and, once ended, collected per thread and handed in blocks to a collector thread (`sink`), which gives
//! the exporters the SDK's `SpanData` — the same data the SDK's span would have made. Spans started through the
//! OpenTelemetry API (the proxy tracer) take the same path, so both kinds nest under each other through the
//! ordinary `Context`. Anything that must see spans on the caller's thread (the console, processors given as such,
//! tail sampling, pending-span records for exporters, a custom sampler) keeps the SDK's path.

mod buffer;
mod record;
mod sink;
mod span;

pub use span::DirectSpan;

pub(crate) use sink::{DirectEntry, DirectSettings, DirectSink, DirectTracer};
pub(crate) use span::{Parts, Started};
