//! The user's callbacks the SDK calls, each wrapped so that a panic stays where it happens: counted (see
//! [`ExportStats::callback_failures`](crate::ExportStats)) and reported once a minute, and answered safely — a
//! sampler's span dropped, an id generator's ids drawn at random instead, a log record left to the processors after
//! the one that failed. (Span processors and exporters are contained by the pipeline and the batch processor; the
//! scrubbing callback by the scrubber, which redacts the value; observable instruments' callbacks by the proxy
//! meter, and the server layer's `request_attributes` hook where it runs — all through `ExportCounters::contain`
//! or alike.)

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId, TraceState};
use opentelemetry::{Context, InstrumentationScope, KeyValue, SpanId};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SamplingDecision, SamplingResult, ShouldSample};

use crate::exporters::loss::ExportCounters;

/// A sampler of the user's.
#[derive(Clone, Debug)]
pub(crate) struct ContainedSampler {
    inner: Box<dyn ShouldSample>,
    counters: Arc<ExportCounters>,
}

impl ContainedSampler {
    pub(crate) fn new(inner: Box<dyn ShouldSample>, counters: Arc<ExportCounters>) -> ContainedSampler {
        ContainedSampler { inner, counters }
    }
}

impl ShouldSample for ContainedSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let decided = catch_unwind(AssertUnwindSafe(|| {
            self.inner.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
        }));
        decided.unwrap_or_else(|_| {
            self.counters.callback_failed("the sampler", 0);
            let trace_state =
                parent_context.map_or_else(TraceState::default, |cx| cx.span().span_context().trace_state().clone());
            SamplingResult { decision: SamplingDecision::Drop, attributes: Vec::new(), trace_state }
        })
    }
}

/// An id generator of the user's.
pub(crate) struct ContainedIdGenerator {
    inner: Box<dyn IdGenerator>,
    fallback: RandomIdGenerator,
    counters: Arc<ExportCounters>,
}

impl ContainedIdGenerator {
    pub(crate) fn new(inner: Box<dyn IdGenerator>, counters: Arc<ExportCounters>) -> ContainedIdGenerator {
        ContainedIdGenerator { inner, fallback: RandomIdGenerator::default(), counters }
    }
}

impl fmt::Debug for ContainedIdGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ContainedIdGenerator").field(&self.inner).finish()
    }
}

impl IdGenerator for ContainedIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        catch_unwind(AssertUnwindSafe(|| self.inner.new_trace_id())).unwrap_or_else(|_| {
            self.counters.callback_failed("the id generator", 0);
            self.fallback.new_trace_id()
        })
    }

    fn new_span_id(&self) -> SpanId {
        catch_unwind(AssertUnwindSafe(|| self.inner.new_span_id())).unwrap_or_else(|_| {
            self.counters.callback_failed("the id generator", 0);
            self.fallback.new_span_id()
        })
    }
}

/// One id generator for the SDK's tracer and the direct path (see `direct`).
#[derive(Debug, Clone)]
pub(crate) struct SharedIdGenerator(pub(crate) Arc<dyn IdGenerator>);

impl IdGenerator for SharedIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        self.0.new_trace_id()
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// A log processor of the user's.
#[derive(Debug)]
pub(crate) struct ContainedLogProcessor<P> {
    inner: P,
    counters: Arc<ExportCounters>,
}

impl<P: LogProcessor> ContainedLogProcessor<P> {
    pub(crate) fn new(inner: P, counters: Arc<ExportCounters>) -> ContainedLogProcessor<P> {
        ContainedLogProcessor { inner, counters }
    }
}

impl<P: LogProcessor> LogProcessor for ContainedLogProcessor<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        if catch_unwind(AssertUnwindSafe(|| self.inner.emit(record, scope))).is_err() {
            self.counters.callback_failed("a log processor", 0);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
