//! The one span processor the SDK provider sees: it hands each span to the configured processors in order.
//!
//! The SDK clones a span's data once per registered processor; registering one pipeline instead clones only for
//! the processors after the first, and gives later stages (scrubbing) a single place to run before every exporter.
//! It also completes macro spans (see `callsite`) on the caller's thread when a stage needs them complete there:
//! once, just before the first such stage.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanContext, SpanId};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use opentelemetry_sdk::trace::SpanExporter;

use crate::constants;
use crate::direct::{DirectEntry, DirectSettings, DirectSink};
use crate::exporters::batch::{BatchHandle, BatchOptions, BatchProcessor, DEFAULT_FLUSH_TIMEOUT, flush_timeout};
use crate::exporters::console::ConsoleProcessor;
use crate::exporters::loss::ExportCounters;
use crate::exporters::prepare::{Preparation, replace_changed_level};
use crate::level::SpanType;
use crate::tail::{Outcome, TailSampler, TailSampling};

/// Starts an exporter behind a batch processor, when the configuration is applied.
pub(crate) type ExporterStart =
    Box<dyn FnOnce(&BatchOptions, &Arc<ExportCounters>, &Preparation) -> std::io::Result<BatchProcessor> + Send>;

/// One configured stage of the pipeline.
pub(crate) enum SpanStage {
    /// A processor given as such: it gets spans completed on the caller's thread.
    Processor(Box<dyn SpanProcessor>),
    /// An exporter behind BudObserve's batch processor, which completes spans on its worker thread.
    Exporter(ExporterStart),
    /// A processor that gets spans as the caller's thread wrote them (for the crate's own tests).
    #[cfg(test)]
    Raw(Box<dyn SpanProcessor>),
}

impl SpanStage {
    /// `exporter` behind BudObserve's batch processor, with `batch` options or else the configuration's.
    pub(crate) fn exporter(exporter: impl SpanExporter + 'static, batch: Option<BatchOptions>) -> SpanStage {
        SpanStage::concurrent_exporter(exporter, batch, None)
    }

    /// [`exporter`](Self::exporter), with `concurrent` exports at once whatever the batch options say.
    pub(crate) fn concurrent_exporter(
        exporter: impl SpanExporter + 'static,
        batch: Option<BatchOptions>,
        concurrent: Option<usize>,
    ) -> SpanStage {
        SpanStage::Exporter(Box::new(move |options, counters, preparation| {
            let mut options = batch.unwrap_or_else(|| options.clone());
            if let Some(concurrent) = concurrent {
                options = options.max_concurrent_exports(concurrent);
            }
            BatchProcessor::start(exporter, options, Arc::clone(counters), preparation.clone())
        }))
    }
}

/// The id of the `pending_span` record of the span `id`: its bits inverted — derived, so deterministic ids stay
/// deterministic, and distinct from any real span's id in practice (a collision needs a random id to be the exact
/// inverse of another in the same trace).
fn pending_span_id(id: SpanId) -> SpanId {
    SpanId::from_bytes(id.to_bytes().map(|b| !b))
}

#[derive(Debug)]
pub(crate) struct Pipeline {
    /// Sees every span as it starts and ends, before tail sampling, without a copy.
    console: Option<ConsoleProcessor>,
    tail: Option<TailSampler>,
    preparation: Preparation,
    counters: Arc<ExportCounters>,
    /// Exporters behind BudObserve's batch processor: they scrub and complete spans on their worker thread.
    exporters: Vec<Box<dyn SpanProcessor>>,
    /// Processors given as such (the test exporter's among them): they get spans scrubbed and completed, on the
    /// caller's thread.
    locals: Vec<Box<dyn SpanProcessor>>,
    pending_spans: PendingSpans,
    /// The direct path, when every stage is an exporter behind BudObserve's batch processor (see `direct`).
    direct: Option<DirectSink>,
}

/// Which stages get `pending_span` records (see [`ConfigBuilder::pending_spans`](crate::ConfigBuilder::pending_spans)).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PendingSpans {
    /// The test exporter and processors added as such.
    pub(crate) local: bool,
    /// Exporters too (`span_exporter`, OTLP).
    pub(crate) exporters: bool,
}

/// Which way spans take besides the stages: pending-span records, tail sampling, the direct path.
pub(crate) struct Routing {
    pub(crate) pending_spans: PendingSpans,
    pub(crate) tail: Option<TailSampling>,
    /// Offered the direct path (`None`: the SDK's span on the caller's thread).
    pub(crate) direct: Option<DirectSettings>,
}

impl Pipeline {
    /// The console (which reads macro spans as they are) first, then the stages; exporters are started with
    /// `batch` options, report to `counters` and prepare spans with `preparation`. An exporter whose worker thread cannot
    /// start is left out, with a warning on standard error.
    pub(crate) fn new(
        console: Option<ConsoleProcessor>,
        stages: Vec<SpanStage>,
        batch: &BatchOptions,
        counters: &Arc<ExportCounters>,
        routing: Routing,
        preparation: Preparation,
    ) -> Pipeline {
        let Routing { pending_spans, tail, direct } = routing;
        let mut exporters: Vec<Box<dyn SpanProcessor>> = Vec::new();
        let mut locals: Vec<Box<dyn SpanProcessor>> = Vec::new();
        // The direct path takes spans past everything that must see them on the caller's thread (the console,
        // the tail sampler, processors given as such, pending-span records): it runs only without them.
        let mut handles: Option<Vec<BatchHandle>> =
            (console.is_none() && tail.is_none() && !(pending_spans.exporters)).then(Vec::new);
        for stage in stages {
            match stage {
                SpanStage::Processor(processor) => {
                    handles = None;
                    locals.push(processor);
                }
                #[cfg(test)]
                SpanStage::Raw(processor) => {
                    handles = None;
                    exporters.push(processor);
                }
                SpanStage::Exporter(start) => match start(batch, counters, &preparation) {
                    Ok(processor) => {
                        if let Some(handles) = &mut handles {
                            handles.push(processor.handle());
                        }
                        exporters.push(Box::new(processor));
                    }
                    Err(err) => {
                        // Nowhere else to report it: the configuration is already accepted.
                        let _ = writeln!(std::io::stderr(), "budobserve: cannot start a span export thread: {err}");
                    }
                },
            }
        }
        let direct = match (direct, handles) {
            (Some(settings), Some(handles)) if !handles.is_empty() => {
                match DirectSink::start(settings, handles, counters) {
                    Ok(sink) => Some(sink),
                    Err(err) => {
                        // Spans take the SDK's path instead: slower, nothing lost.
                        let _ =
                            writeln!(std::io::stderr(), "budobserve: cannot start the span collector thread: {err}");
                        None
                    }
                }
            }
            _ => None,
        };
        Pipeline {
            console,
            tail: tail.map(TailSampler::new),
            preparation,
            counters: Arc::clone(counters),
            exporters,
            locals,
            pending_spans,
            direct,
        }
    }

    /// The direct path, for the tracer provider to hand its tracers; `None` when spans take the SDK's path.
    pub(crate) fn direct(&self) -> Option<DirectEntry> {
        self.direct.as_ref().map(DirectSink::entry)
    }

    /// Hands an ended span to every stage: as it is to the exporters (their worker scrubs and completes it),
    /// scrubbed and completed to the others.
    fn dispatch(&self, mut span: SpanData) {
        let last_exporter = self.exporters.len().checked_sub(1);
        for (index, exporter) in self.exporters.iter().enumerate() {
            if Some(index) == last_exporter && self.locals.is_empty() {
                exporter.on_end(span);
                return;
            }
            exporter.on_end(span.clone());
        }
        let Some((last, rest)) = self.locals.split_last() else { return };
        if !self.preparation.apply(&mut span) {
            return;
        }
        for local in rest {
            self.contained("a span processor's on_end", 1, || local.on_end(span.clone()));
        }
        self.contained("a span processor's on_end", 1, || last.on_end(span));
    }

    /// Releases what the tail sampler still holds (at shutdown).
    fn drain_tail(&self) {
        if let Some(tail) = &self.tail {
            let (released, dropped) = tail.drain();
            self.counters.sampled_out(dropped);
            for span in released {
                self.dispatch(span);
            }
        }
    }

    /// Sends the `pending_span` record of a span that just started to the stages that want one.
    fn send_pending(&self, span: &Span) {
        let Some(mut record) = span.exported_data() else { return };
        let types = record.attributes.iter().find(|kv| kv.key.as_str() == constants::SPAN_TYPE);
        let is_span = |kv: &KeyValue| {
            let value = kv.value.as_str();
            value == SpanType::Span.as_str() || value == SpanType::Integration.as_str()
        };
        if !types.is_some_and(is_span) {
            return;
        }
        let real = record.span_context.clone();
        record.span_context = SpanContext::new(
            real.trace_id(),
            pending_span_id(real.span_id()),
            real.trace_flags(),
            false,
            real.trace_state().clone(),
        );
        let real_parent = std::mem::replace(&mut record.parent_span_id, real.span_id());
        record.end_time = record.start_time;
        for kv in &mut record.attributes {
            if kv.key.as_str() == constants::SPAN_TYPE {
                kv.value = Value::from(SpanType::PendingSpan.as_str());
            }
        }
        record.attributes.push(KeyValue::new(constants::PENDING_PARENT_ID, real_parent.to_string()));
        if self.pending_spans.exporters {
            for exporter in &self.exporters {
                exporter.on_end(record.clone());
            }
        }
        if self.pending_spans.local && !self.locals.is_empty() && self.preparation.apply(&mut record) {
            for local in &self.locals {
                self.contained("a span processor's on_end", 1, || local.on_end(record.clone()));
            }
        }
    }

    /// Runs a processor of the user's, containing a panic: counted (with the `spans` it cost), never the caller's.
    fn contained(&self, what: &str, spans: u64, f: impl FnOnce()) {
        self.counters.contain(what, spans, f);
    }

    /// Whether any stage gets spans (and so completes them, on whichever thread).
    pub(crate) fn has_stages(&self) -> bool {
        !self.exporters.is_empty() || !self.locals.is_empty()
    }

    fn stages(&self) -> impl Iterator<Item = &Box<dyn SpanProcessor>> {
        self.exporters.iter().chain(&self.locals)
    }

    /// Runs `f` on every processor and returns the first error, after running them all.
    fn all(&self, f: impl Fn(&dyn SpanProcessor) -> OTelSdkResult) -> OTelSdkResult {
        let mut first: Option<OTelSdkError> = None;
        for processor in self.stages() {
            if let Err(err) = f(processor.as_ref()) {
                first.get_or_insert(err);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl SpanProcessor for Pipeline {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        if let Some(console) = &self.console {
            console.on_start(span, cx);
        }
        for processor in self.stages() {
            self.contained("a span processor's on_start", 0, || processor.on_start(span, cx));
        }
        if (self.pending_spans.local && !self.locals.is_empty())
            || (self.pending_spans.exporters && !self.exporters.is_empty())
        {
            self.send_pending(span);
        }
    }

    fn on_end(&self, mut span: SpanData) {
        replace_changed_level(&mut span.attributes);
        if let Some(console) = &self.console {
            console.ended(&span);
        }
        let Some(tail) = &self.tail else {
            self.dispatch(span);
            return;
        };
        let (outcome, dropped) = tail.accept(span);
        self.counters.sampled_out(dropped);
        if let Outcome::Release(spans) = outcome {
            for span in spans {
                self.dispatch(span);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Direct spans ended so far reach the batch processors first, then those export.
        let direct = match &self.direct {
            Some(direct) => direct.flush(flush_timeout().unwrap_or(DEFAULT_FLUSH_TIMEOUT)),
            None => Ok(()),
        };
        let flushed = self.all(|p| p.force_flush());
        direct.and(flushed)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.drain_tail();
        let direct = match &self.direct {
            Some(direct) => direct.shutdown(timeout),
            None => Ok(()),
        };
        let shut = self.all(|p| p.shutdown_with_timeout(timeout));
        direct.and(shut)
    }

    fn set_resource(&mut self, resource: &Resource) {
        for processor in self.exporters.iter_mut().chain(self.locals.iter_mut()) {
            processor.set_resource(resource);
        }
    }
}
