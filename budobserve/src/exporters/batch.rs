//! The batch span processor behind every exporter BudObserve runs (`span_exporter`, OTLP).
//!
//! The caller's thread only appends an ended span to a bounded queue (one uncontended lock) and, once a batch is
//! full, wakes the worker. A dedicated worker thread completes the spans (see `callsite`), exports them in batches —
//! when a batch is full, when the scheduled delay has passed, on `force_flush` and at shutdown — and nothing it does
//! ever blocks the caller: when the queue is full, a span is dropped and counted. Drops and failed exports are
//! counted per instance ([`BudObserve::export_stats`](crate::BudObserve::export_stats), and the
//! `budobserve.spans.dropped` metric) and reported on standard error at most once a minute.

use std::cell::Cell;
use std::fmt;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use crate::exporters::executor::block_on;
use crate::exporters::failure::{self, Failure};
use crate::exporters::loss::{Cause, ExportCounters};
use crate::exporters::prepare::Preparation;

/// How spans are batched before export.
///
/// ```
/// use std::time::Duration;
///
/// use budobserve::BatchOptions;
///
/// // A busy service: a deeper queue (spans beyond it are dropped and counted), larger batches, sent more often.
/// let batching = BatchOptions::new()
///     .max_queue_size(16_384)
///     .max_export_batch_size(2_048)
///     .scheduled_delay(Duration::from_millis(500));
/// let _guard = budobserve::configure().batch_options(batching).console(false).install();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOptions {
    pub(crate) max_queue_size: usize,
    pub(crate) max_queue_bytes: usize,
    pub(crate) max_export_batch_size: usize,
    pub(crate) scheduled_delay: Duration,
    pub(crate) max_concurrent_exports: usize,
}

/// The default bound of a queue in bytes.
const DEFAULT_MAX_QUEUE_BYTES: usize = 64 << 20;

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_queue_size: 2048,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_millis(1000),
            max_concurrent_exports: 1,
        }
    }
}

impl BatchOptions {
    /// Defaults: a queue of 2,048 spans and 64 MiB, batches of up to 512, exported at least every second.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many ended spans may wait for export; beyond it spans are dropped (and counted). At least 1.
    pub fn max_queue_size(mut self, spans: usize) -> Self {
        self.max_queue_size = spans.max(1);
        self
    }

    /// How many bytes of span data (names, keys and values, estimated as the span is queued) may wait for export;
    /// beyond it spans are dropped (and counted), so a burst of huge values cannot take the host's memory. Default
    /// 64 MiB. With an attribute value length limit (see [`SpanLimits`](crate::SpanLimits)), a longer value is cut
    /// as its span is queued (to the limit and a margin for scrubbing; to the limit exactly on export), so such
    /// values cost the queue little and are not dropped for their size.
    pub fn max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = bytes;
        self
    }

    /// The most spans in one export (at most the queue size). At least 1.
    pub fn max_export_batch_size(mut self, spans: usize) -> Self {
        self.max_export_batch_size = spans.max(1);
        self
    }

    /// How long a span waits at most before its batch is exported.
    pub fn scheduled_delay(mut self, delay: Duration) -> Self {
        self.scheduled_delay = delay;
        self
    }

    /// How many batches may be exported at once (default 1, at least 1). When the worker finds more than one
    /// batch waiting, it exports up to this many concurrently (the first on its own thread, the others each on a
    /// thread of its own for that round), so a backend that stores batches concurrently is not waited on one batch
    /// at a time. The exporter must take concurrent exports (BudObserve's do; the ClickHouse exporter is given
    /// [`max_concurrent_inserts`](crate::exporters::budmetrics::ClickHouseOptions::max_concurrent_inserts)).
    pub fn max_concurrent_exports(mut self, exports: usize) -> Self {
        self.max_concurrent_exports = exports.max(1);
        self
    }
}

struct State {
    queue: Vec<SpanData>,
    /// The estimated bytes of the spans in `queue` (see `span_size`).
    queued_bytes: usize,
    /// Flush tickets: the last requested, and the last the worker completed.
    flush_requested: u64,
    flush_done: u64,
    /// The result of the last completed flush (or export, for the shutdown).
    last_result: OTelSdkResult,
    /// The first export failure since a flush last reported one.
    unreported: OTelSdkResult,
    resource: Option<Resource>,
    shutdown: bool,
    /// A shutdown's deadline passed (its timeout): the worker exports no further batch, and counts them lost.
    abandoned: Option<Duration>,
    worker_done: bool,
    /// Whether the worker is running (a burst right after configuration must find it waiting for work).
    worker_started: bool,
}

struct Shared {
    state: Mutex<State>,
    /// The worker waits on it for work.
    work: Condvar,
    /// Flushes and the shutdown wait on it for the worker.
    progress: Condvar,
    options: BatchOptions,
    counters: Arc<ExportCounters>,
    preparation: Preparation,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long a flush waits by default.
pub(crate) const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

thread_local! {
    /// The timeout of the flush running on this thread (the SDK's `force_flush` takes none).
    static FLUSH_TIMEOUT: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// The timeout of the flush running on this thread, if one was given.
pub(crate) fn flush_timeout() -> Option<Duration> {
    FLUSH_TIMEOUT.with(Cell::get)
}

/// Runs `flush` with `timeout` as the wait of every batch processor it flushes on this thread.
pub(crate) fn with_flush_timeout<T>(timeout: Duration, flush: impl FnOnce() -> T) -> T {
    let previous = FLUSH_TIMEOUT.with(|t| t.replace(Some(timeout)));
    let result = flush();
    FLUSH_TIMEOUT.with(|t| t.set(previous));
    result
}

/// See the [module docs](self).
pub(crate) struct BatchProcessor {
    shared: Arc<Shared>,
}

impl fmt::Debug for BatchProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchProcessor").field("options", &self.shared.options).finish_non_exhaustive()
    }
}

impl BatchProcessor {
    /// Starts the worker thread that exports to `exporter`, preparing spans with `preparation` first.
    pub(crate) fn start<E: SpanExporter + 'static>(
        exporter: E,
        mut options: BatchOptions,
        counters: Arc<ExportCounters>,
        preparation: Preparation,
    ) -> std::io::Result<BatchProcessor> {
        options.max_export_batch_size = options.max_export_batch_size.min(options.max_queue_size);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                // Allocated once and reused (see `run`): a fresh buffer per batch would be fresh pages, faulted in
                // by the caller's thread.
                queue: Vec::with_capacity(options.max_queue_size),
                queued_bytes: 0,
                flush_requested: 0,
                flush_done: 0,
                last_result: Ok(()),
                unreported: Ok(()),
                resource: None,
                shutdown: false,
                abandoned: None,
                worker_done: false,
                worker_started: false,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            options,
            counters,
            preparation,
        });
        let worker = Arc::clone(&shared);
        thread::Builder::new().name("budobserve-export".into()).spawn(move || run(&worker, exporter))?;
        // Wait (briefly) for the worker to run, so a burst of spans right after configuration is exported rather
        // than dropped while the thread is still being scheduled.
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut state = shared.lock();
        while !state.worker_started {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = shared.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        drop(state);
        Ok(BatchProcessor { shared })
    }

    fn request_shutdown(&self) -> bool {
        let mut state = self.shared.lock();
        let first = !state.shutdown;
        state.shutdown = true;
        drop(state);
        self.shared.work.notify_one();
        first
    }
}

impl SpanProcessor for BatchProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        enqueue(&self.shared, span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        let timeout = flush_timeout().unwrap_or(DEFAULT_FLUSH_TIMEOUT);
        self.force_flush_with_timeout(timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if !self.request_shutdown() {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while !state.worker_done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // What is still queued will not be exported: taken from the worker, and counted.
                let lost = std::mem::take(&mut state.queue).len() as u64;
                state.queued_bytes = 0;
                state.abandoned = Some(timeout);
                drop(state);
                self.shared.counters.lost_at_shutdown(lost, timeout);
                return Err(OTelSdkError::Timeout(timeout));
            }
            state = self.shared.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        copy(&state.last_result)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.shared.lock().resource = Some(resource.clone());
    }
}

/// Queues an ended span for export, or drops and counts it when the queue is full.
fn enqueue(shared: &Shared, mut span: SpanData) {
    // Cut and estimated before the lock: the caller's threads contend for it, and this needs only the span.
    shared.preparation.cut_for_queue(&mut span);
    let size = span_size(&span);
    let mut state = shared.lock();
    if state.shutdown {
        return;
    }
    let options = &shared.options;
    if state.queue.len() >= options.max_queue_size || state.queued_bytes.saturating_add(size) > options.max_queue_bytes
    {
        drop(state);
        drop(span);
        count_queue_full(&shared.counters, options, 1);
        return;
    }
    state.queued_bytes += size;
    state.queue.push(span);
    let full_batch = state.queue.len() == shared.options.max_export_batch_size;
    drop(state);
    if full_batch {
        shared.work.notify_one();
    }
}

/// Counts `spans` dropped at a full queue bounded by `options`, and warns (at most once a minute).
pub(crate) fn count_queue_full(counters: &ExportCounters, options: &BatchOptions, spans: u64) {
    let dropped = counters.dropped.fetch_add(spans, Ordering::Relaxed) + spans;
    let (queue, bytes) = (options.max_queue_size, options.max_queue_bytes);
    counters.warn(Cause::QueueFull, |stats| {
        format!(
            "the span export queue is full ({queue} spans or {bytes} bytes): {dropped} spans dropped so far, {} \
             exported; the backend is slower than the spans produced or unreachable",
            stats.spans_exported
        )
    });
}

/// What the direct path's collector holds of a batch processor: a way to queue spans, which does not shut the
/// processor down when dropped.
pub(crate) struct BatchHandle {
    shared: Arc<Shared>,
}

impl BatchHandle {
    /// The options of the processor this handle queues into.
    pub(crate) fn options(&self) -> &BatchOptions {
        &self.shared.options
    }

    /// Queues an ended span, waiting while the queue is full (the worker is exporting): the direct path's collector
    /// delivers thousands of spans at once, which the worker drains a batch at a time. Gives up (the span dropped
    /// and counted) when `give_up` says so, or when the span could not fit even an empty queue.
    pub(crate) fn push_waiting(&self, mut span: SpanData, give_up: impl Fn() -> bool) {
        let shared = &*self.shared;
        shared.preparation.cut_for_queue(&mut span);
        let size = span_size(&span);
        let options = &shared.options;
        let mut state = shared.lock();
        loop {
            if state.shutdown {
                return;
            }
            let fits = state.queue.len() < options.max_queue_size
                && state.queued_bytes.saturating_add(size) <= options.max_queue_bytes;
            if fits {
                state.queued_bytes += size;
                state.queue.push(span);
                let full_batch = state.queue.len() == options.max_export_batch_size;
                drop(state);
                if full_batch {
                    shared.work.notify_one();
                }
                return;
            }
            if state.queue.is_empty() || give_up() {
                drop(state);
                count_queue_full(&shared.counters, options, 1);
                return;
            }
            shared.work.notify_one();
            state = shared
                .progress
                .wait_timeout(state, Duration::from_millis(10))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl BatchProcessor {
    /// A handle that queues spans into this processor.
    pub(crate) fn handle(&self) -> BatchHandle {
        BatchHandle { shared: Arc::clone(&self.shared) }
    }

    /// Exports every span queued so far; waits at most `timeout`.
    pub(crate) fn force_flush_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        if state.shutdown {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.flush_requested += 1;
        let ticket = state.flush_requested;
        self.shared.work.notify_one();
        while state.flush_done < ticket && !state.worker_done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(OTelSdkError::Timeout(timeout));
            }
            state = self.shared.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        copy(&state.last_result)
    }
}

impl Drop for BatchProcessor {
    fn drop(&mut self) {
        // The worker exports what is queued and exits; nobody waits for it.
        self.request_shutdown();
    }
}

/// The worker: waits for a full batch, the scheduled delay, a flush or the shutdown, then exports.
fn run<E: SpanExporter>(shared: &Shared, mut exporter: E) {
    shared.lock().worker_started = true;
    shared.progress.notify_all();
    let options = &shared.options;
    let mut next_export = Instant::now() + options.scheduled_delay;
    // The queue's other buffer: the two are swapped, so neither is ever reallocated.
    let mut taken: Vec<SpanData> = Vec::with_capacity(options.max_queue_size);
    loop {
        let mut state = shared.lock();
        loop {
            let due = Instant::now() >= next_export;
            if state.shutdown
                || state.flush_requested > state.flush_done
                || state.queue.len() >= options.max_export_batch_size
                || (due && !state.queue.is_empty())
            {
                break;
            }
            if due {
                next_export = Instant::now() + options.scheduled_delay;
            }
            let wait = next_export.saturating_duration_since(Instant::now());
            state = shared.work.wait_timeout(state, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
        std::mem::swap(&mut state.queue, &mut taken);
        state.queued_bytes = 0;
        let flush_ticket = state.flush_requested;
        let shutdown = state.shutdown;
        let resource = state.resource.take();
        drop(state);

        if let Some(resource) = resource {
            exporter.set_resource(&resource);
        }
        next_export = Instant::now() + options.scheduled_delay;
        let result = export_all(shared, &exporter, &mut taken);

        let mut state = shared.lock();
        // A flush reports the first failure since the last one it reported, even when the worker exported (and
        // lost) the spans before the flush was asked for.
        if result.is_err() && state.unreported.is_ok() {
            state.unreported = result;
        }
        if flush_ticket > state.flush_done || shutdown {
            state.last_result = std::mem::replace(&mut state.unreported, Ok(()));
        }
        state.flush_done = flush_ticket;
        if shutdown {
            drop(state);
            let result = exporter.shutdown();
            let mut state = shared.lock();
            if state.last_result.is_ok() {
                state.last_result = result;
            }
            state.worker_done = true;
            drop(state);
            shared.progress.notify_all();
            return;
        }
        drop(state);
        shared.progress.notify_all();
    }
}

/// Completes and exports `spans` in batches, up to `max_concurrent_exports` at once, leaving it empty; the first
/// error, after trying them all.
fn export_all<E: SpanExporter>(shared: &Shared, exporter: &E, spans: &mut Vec<SpanData>) -> OTelSdkResult {
    let counters = &shared.counters;
    let mut result = Ok(());
    // A span whose preparation failed (a user callback panicked) is dropped, and counted there.
    spans.retain_mut(|span| shared.preparation.apply(span));
    let size = shared.options.max_export_batch_size;
    while !spans.is_empty() {
        if let Some(timeout) = shared.lock().abandoned {
            counters.lost_at_shutdown(spans.len() as u64, timeout);
            spans.clear();
            break;
        }
        let round = spans.len().div_ceil(size).min(shared.options.max_concurrent_exports);
        let batches: Vec<Vec<SpanData>> = (0..round).map(|_| spans.drain(..spans.len().min(size)).collect()).collect();
        for (count, outcome) in export_round(exporter, batches) {
            match outcome {
                Ok(()) => {
                    counters.exported.fetch_add(count, Ordering::Relaxed);
                }
                Err((err, failure)) => {
                    // What the transport saw, in the backend's words, or the exporter's error text; scrubbed
                    // either way (a backend may echo a token, an exporter of the user's may quote one).
                    let failure = shared.preparation.scrub_failure(failure);
                    counters.export_failed(count, &failure);
                    if result.is_ok() {
                        // The SDK's own kinds (a timeout, a shutdown) stay as they are; any text is the scrubbed one.
                        result = Err(match err {
                            OTelSdkError::Timeout(_) | OTelSdkError::AlreadyShutdown
                                if matches!(failure, Failure::Other(_)) =>
                            {
                                err
                            }
                            _ => OTelSdkError::InternalFailure(failure.to_string()),
                        });
                    }
                }
            }
        }
    }
    result
}

/// The outcome of one export: its span count, and its error with what the transport saw.
type Outcome = (u64, Result<(), (OTelSdkError, Failure)>);

/// Exports `batches` at once: the first on this thread, each other on a thread of its own for the round (a batch
/// whose thread cannot be started is counted as failed, with that reason).
fn export_round<E: SpanExporter>(exporter: &E, batches: Vec<Vec<SpanData>>) -> Vec<Outcome> {
    let mut batches = batches.into_iter();
    let Some(first) = batches.next() else { return Vec::new() };
    if batches.len() == 0 {
        return vec![export_one(exporter, first)];
    }
    thread::scope(|scope| {
        let helpers: Vec<(u64, std::io::Result<_>)> = batches
            .map(|batch| {
                let count = batch.len() as u64;
                let thread = thread::Builder::new().name("budobserve-export".into());
                (count, thread.spawn_scoped(scope, move || export_one(exporter, batch)))
            })
            .collect();
        let mut outcomes = vec![export_one(exporter, first)];
        for (count, helper) in helpers {
            let failed =
                |reason: String| (count, Err((OTelSdkError::InternalFailure(reason.clone()), Failure::Other(reason))));
            outcomes.push(match helper {
                Ok(handle) => handle.join().unwrap_or_else(|_| failed("the exporter panicked".into())),
                Err(err) => failed(format!("cannot start a thread to export on: {err}")),
            });
        }
        outcomes
    })
}

/// Exports one batch on this thread, and takes what its transport reported when it fails.
fn export_one<E: SpanExporter>(exporter: &E, batch: Vec<SpanData>) -> Outcome {
    let count = batch.len() as u64;
    // A report left by an earlier export is not this one's.
    let _ = failure::take();
    let outcome = catch_unwind(AssertUnwindSafe(|| block_on(exporter.export(batch))))
        .unwrap_or_else(|_| Err(OTelSdkError::InternalFailure("the exporter panicked".into())));
    (
        count,
        outcome.map_err(|err| {
            let failure = failure::take().unwrap_or_else(|| failure::from_sdk_error(&err));
            (err, failure)
        }),
    )
}

/// The bytes a span holds beyond its fixed size, estimated: its name, and the keys and values of its attributes
/// and of its events' (strings by length, other values by their size). One pass over the attributes, on the
/// caller's thread as the span is queued.
fn span_size(span: &SpanData) -> usize {
    parts_size(&span.name, &span.attributes, &span.events.events)
}

/// [`span_size`] of a span's parts: what the queue's byte bound counts.
pub(crate) fn parts_size(
    name: &str,
    attributes: &[opentelemetry::KeyValue],
    events: &[opentelemetry::trace::Event],
) -> usize {
    fn of(attributes: &[opentelemetry::KeyValue]) -> usize {
        attributes.iter().map(|kv| kv.key.as_str().len() + value_size(&kv.value)).sum()
    }
    fn value_size(value: &opentelemetry::Value) -> usize {
        use opentelemetry::{Array, Value};
        match value {
            Value::String(text) => text.as_str().len(),
            Value::Array(Array::String(items)) => items.iter().map(|item| item.as_str().len() + 16).sum(),
            Value::Array(Array::I64(items)) => items.len() * 8,
            Value::Array(Array::F64(items)) => items.len() * 8,
            Value::Array(Array::Bool(items)) => items.len(),
            _ => 16,
        }
    }
    let events: usize = events.iter().map(|event| event.name.len() + of(&event.attributes)).sum();
    std::mem::size_of::<SpanData>() + name.len() + of(attributes) + events
}

/// `OTelSdkError` is not `Clone`.
fn copy(result: &OTelSdkResult) -> OTelSdkResult {
    match result {
        Ok(()) => Ok(()),
        Err(OTelSdkError::AlreadyShutdown) => Err(OTelSdkError::AlreadyShutdown),
        Err(OTelSdkError::Timeout(timeout)) => Err(OTelSdkError::Timeout(*timeout)),
        Err(OTelSdkError::InternalFailure(message)) => Err(OTelSdkError::InternalFailure(message.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_sizes_follow_their_values() {
        let capture = crate::testing::capture();
        capture.run(|| crate::bud_info!("a span"));
        let mut span = capture.span("a span");
        let small = span_size(&span);
        span.attributes.push(opentelemetry::KeyValue::new("body", "x".repeat(10_000)));
        assert_eq!(span_size(&span), small + 4 + 10_000);
    }
}
