//! The collector: one thread per sink that turns the records handed over (see `buffer`) into the SDK's
//! `SpanData` and gives them to the exporters' batch processors — when enough were handed over to fill a batch,
//! every `period`, on a flush and at shutdown, draining every thread's buffer each time.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry::{Context, InstrumentationScope};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{IdGenerator, SpanLimits};

use super::buffer::{Buffer, HANDOFF, Handoff, lock};
use super::record::Record;
use super::span::{Parts, Start, Started};
use crate::exporters::batch::{BatchHandle, BatchOptions};
use crate::exporters::loss::ExportCounters;
use crate::exporters::prepare::replace_changed_level;

/// What the direct path of one configuration is given when it starts.
pub(crate) struct DirectSettings {
    pub(crate) limits: SpanLimits,
    /// The length values are cut to as spans are queued (see `limits::queue_cut`).
    pub(crate) cut: Option<usize>,
    pub(crate) ids: Option<Arc<dyn IdGenerator>>,
}

struct Shared {
    limits: SpanLimits,
    ids: Option<Arc<dyn IdGenerator>>,
    /// Set when the sink shuts down: spans started later record nothing (as the SDK's after its provider's).
    closed: AtomicBool,
    scopes: Mutex<Vec<InstrumentationScope>>,
    handoff: Arc<Handoff>,
    period: Duration,
}

/// The direct path of one configuration: see the [module docs](self). Dropping it shuts it down.
pub(crate) struct DirectSink {
    shared: Arc<Shared>,
}

impl fmt::Debug for DirectSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectSink").field("id", &self.shared.handoff.id).finish_non_exhaustive()
    }
}

/// A sink as the tracer provider holds it: it makes each scope's [`DirectTracer`] (and does not shut the sink down).
#[derive(Clone)]
pub(crate) struct DirectEntry {
    shared: Arc<Shared>,
}

impl DirectEntry {
    /// The way onto this sink for spans of `scope`.
    pub(crate) fn tracer(&self, scope: &InstrumentationScope) -> DirectTracer {
        let mut scopes = lock(&self.shared.scopes);
        let index = match scopes.iter().position(|known| known == scope) {
            Some(index) => index,
            None => {
                scopes.push(scope.clone());
                scopes.len() - 1
            }
        };
        DirectTracer { shared: Arc::clone(&self.shared), scope: index as u32 }
    }
}

/// A tracer's way onto the direct path: its sink and its scope's number there.
#[derive(Clone)]
pub(crate) struct DirectTracer {
    shared: Arc<Shared>,
    scope: u32,
}

impl DirectSink {
    /// Starts the collector thread, which delivers to `exporters`.
    pub(crate) fn start(
        settings: DirectSettings,
        exporters: Vec<BatchHandle>,
        counters: &Arc<ExportCounters>,
    ) -> std::io::Result<DirectSink> {
        let batch = &covering(&exporters);
        let shared = Arc::new(Shared {
            limits: settings.limits,
            ids: settings.ids,
            closed: AtomicBool::new(false),
            scopes: Mutex::new(Vec::new()),
            handoff: Handoff::new(batch, settings.cut, counters),
            // Never a busy loop, however short the batch delay: at least 5 ms between drains of an idle sink.
            period: batch.scheduled_delay.clamp(Duration::from_millis(5), Duration::from_millis(200)),
        });
        let collector = Arc::clone(&shared);
        thread::Builder::new().name("budobserve-collect".into()).spawn(move || collect(&collector, &exporters))?;
        Ok(DirectSink { shared })
    }

    /// What tracers take their way onto this sink from.
    pub(crate) fn entry(&self) -> DirectEntry {
        DirectEntry { shared: Arc::clone(&self.shared) }
    }

    /// Delivers every record ended so far to the exporters; waits at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> OTelSdkResult {
        let shared = &*self.shared.handoff;
        let deadline = Instant::now() + timeout;
        let mut state = lock(&shared.state);
        if state.collector_done {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.flush_requested += 1;
        let ticket = state.flush_requested;
        shared.work.notify_one();
        while state.flush_done < ticket && !state.collector_done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(OTelSdkError::Timeout(timeout));
            }
            state = shared.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        Ok(())
    }

    /// Delivers what is left and stops the collector; waits at most `timeout`.
    pub(crate) fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        self.shared.closed.store(true, Ordering::Relaxed);
        let shared = &*self.shared.handoff;
        let deadline = Instant::now() + timeout;
        let mut state = lock(&shared.state);
        state.shutdown = true;
        shared.work.notify_one();
        while !state.collector_done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(OTelSdkError::Timeout(timeout));
            }
            state = shared.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        Ok(())
    }
}

impl Drop for DirectSink {
    fn drop(&mut self) {
        // The collector delivers what is left and exits; nobody waits for it.
        self.shared.closed.store(true, Ordering::Relaxed);
        lock(&self.shared.handoff.state).shutdown = true;
        self.shared.handoff.work.notify_one();
    }
}

impl DirectTracer {
    /// Starts a span of this tracer's scope.
    #[inline]
    pub(crate) fn start(&self, parts: Parts, parent: &Context) -> Started {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Relaxed) {
            return Started::Dropped(opentelemetry::trace::SpanContext::empty_context());
        }
        let start =
            Start { limits: &shared.limits, ids: shared.ids.as_deref(), scope: self.scope, sink: shared.handoff.id };
        super::span::start(&start, parts, parent)
    }
}

/// The bounds of the hand-off: as large as the largest exporter queue's (each exporter applies its own), woken for
/// the smallest batch and the shortest delay (so that no exporter waits on the hand-off).
fn covering(exporters: &[BatchHandle]) -> BatchOptions {
    let mut bound = BatchOptions::new().max_queue_size(1).max_queue_bytes(0).max_export_batch_size(usize::MAX);
    bound.scheduled_delay = Duration::MAX;
    for options in exporters.iter().map(BatchHandle::options) {
        bound.max_queue_size = bound.max_queue_size.max(options.max_queue_size);
        bound.max_queue_bytes = bound.max_queue_bytes.max(options.max_queue_bytes);
        bound.max_export_batch_size = bound.max_export_batch_size.min(options.max_export_batch_size);
        bound.scheduled_delay = bound.scheduled_delay.min(options.scheduled_delay);
    }
    bound
}

/// The collector: waits for enough records, the period, a flush or the shutdown; then delivers everything ended.
fn collect(sink: &Shared, exporters: &[BatchHandle]) {
    let shared = &*sink.handoff;
    let mut scopes: Vec<InstrumentationScope> = Vec::new();
    let mut blocks: Vec<Vec<Record>> = Vec::new();
    let mut buffers: Vec<Arc<Buffer>> = Vec::new();
    loop {
        let mut state = lock(&shared.state);
        let deadline = Instant::now() + sink.period;
        while !state.shutdown && state.flush_requested == state.flush_done && state.handed_records < shared.wake_at {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = shared.work.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        let ticket = state.flush_requested;
        let shutdown = state.shutdown;
        std::mem::swap(&mut blocks, &mut state.handed);
        state.handed_records = 0;
        state.handed_bytes = 0;
        // Buffers whose thread ended (only the sink holds them) go after this last drain.
        buffers.clone_from(&state.buffers);
        state.buffers.retain(|buffer| Arc::strong_count(buffer) > 2);
        drop(state);

        for buffer in &buffers {
            let mut block = lock(&buffer.block);
            if !block.records.is_empty() {
                let taken = std::mem::replace(&mut block.records, Vec::with_capacity(HANDOFF));
                block.bytes = 0;
                drop(block);
                blocks.push(taken);
            }
        }
        buffers.clear();
        {
            let known = lock(&sink.scopes);
            if known.len() != scopes.len() {
                scopes.clone_from(&known);
            }
        }
        for block in &mut blocks {
            deliver(sink, exporters, block, &scopes);
        }
        let mut state = lock(&shared.state);
        // The emptied blocks go back to the threads (as many as a queue's worth).
        while let Some(block) = blocks.pop() {
            if state.spare.len() * HANDOFF < shared.max_queue {
                state.spare.push(block);
            }
        }
        state.flush_done = ticket;
        if shutdown {
            state.collector_done = true;
            drop(state);
            shared.progress.notify_all();
            return;
        }
        drop(state);
        shared.progress.notify_all();
    }
}

/// Gives each record of `block` to every exporter, leaving the block empty. Waits for room in their queues unless
/// the sink is shutting down.
fn deliver(sink: &Shared, exporters: &[BatchHandle], block: &mut Vec<Record>, scopes: &[InstrumentationScope]) {
    let Some((last, rest)) = exporters.split_last() else {
        block.clear();
        return;
    };
    let give_up = || lock(&sink.handoff.state).shutdown;
    for record in block.drain(..) {
        let scope = scopes.get(record.data.scope as usize).cloned().unwrap_or_default();
        let mut span = record.into_span_data(scope);
        replace_changed_level(&mut span.attributes);
        for exporter in rest {
            exporter.push_waiting(span.clone(), give_up);
        }
        last.push_waiting(span, give_up);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    use super::*;
    use crate::exporters::batch::BatchProcessor;
    use crate::exporters::prepare::Preparation;
    use crate::limits::SpanLimits as Limits;

    #[test]
    fn the_hand_off_is_as_large_as_the_largest_exporter_queue() {
        let counters = Arc::new(ExportCounters::default());
        let start = |options: BatchOptions| {
            let preparation = Preparation::new(None, Limits::default(), Arc::clone(&counters));
            BatchProcessor::start(InMemorySpanExporter::default(), options, Arc::clone(&counters), preparation)
        };
        // An exporter with batch options of its own (ClickHouse's), beside one with the instance's.
        let own = start(
            BatchOptions::new()
                .max_queue_size(200_001)
                .max_queue_bytes(usize::MAX)
                .max_export_batch_size(1_024)
                .scheduled_delay(Duration::from_secs(5)),
        );
        let instance = start(BatchOptions::new().scheduled_delay(Duration::from_millis(300)));
        let (Ok(own), Ok(instance)) = (own, instance) else { panic!("the workers start") };
        let bound = covering(&[own.handle(), instance.handle()]);
        assert_eq!(bound.max_queue_size, 200_001);
        assert_eq!(bound.max_queue_bytes, usize::MAX);
        assert_eq!(bound.max_export_batch_size, 512, "woken for the smaller batch");
        assert_eq!(bound.scheduled_delay, Duration::from_millis(300));
    }
}
