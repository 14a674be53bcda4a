//! The hand-off between callers and the collector: a buffer per thread and sink, handed over in blocks.
//!
//! The caller's thread pushes an ended span's record into its own buffer (a lock no other thread takes but the
//! collector, briefly, when it drains); every [`HANDOFF`] records the buffer is handed over whole, with one lock of
//! the sink's [`Handoff`]. Handed-over records beyond the queue bound are dropped and counted like the batch
//! processor's, so memory stays bounded when the exporters fall behind. The collector (`sink`) also drains every
//! thread's buffer when it runs, so a thread that went quiet, or ended, loses nothing.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use super::record::Record;
use crate::exporters::batch::{BatchOptions, count_queue_full};
use crate::exporters::loss::ExportCounters;

/// Records a thread collects before it hands them over.
pub(crate) const HANDOFF: usize = 64;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the callers and the collector share, under [`Handoff::state`].
pub(crate) struct State {
    /// Blocks of records handed over, and how many records (and estimated bytes) they hold.
    pub(crate) handed: Vec<Vec<Record>>,
    pub(crate) handed_records: usize,
    pub(crate) handed_bytes: usize,
    /// Empty blocks, their capacity kept, for the threads to fill again.
    pub(crate) spare: Vec<Vec<Record>>,
    /// Every thread's buffer (a buffer whose thread ended is dropped once drained).
    pub(crate) buffers: Vec<Arc<Buffer>>,
    pub(crate) flush_requested: u64,
    pub(crate) flush_done: u64,
    pub(crate) shutdown: bool,
    pub(crate) collector_done: bool,
}

/// One sink's side of the hand-off.
pub(crate) struct Handoff {
    pub(crate) id: u64,
    pub(crate) state: Mutex<State>,
    /// The collector waits on it for work.
    pub(crate) work: Condvar,
    /// Flushes and the shutdown wait on it for the collector.
    pub(crate) progress: Condvar,
    pub(crate) max_queue: usize,
    /// Handed-over records that wake the collector (a batch's worth).
    pub(crate) wake_at: usize,
    /// Values are cut to this length as records are buffered (see `limits::queue_cut`).
    cut: Option<usize>,
    /// A thread's buffer holding this many bytes is handed over before it is full.
    buffer_bytes: usize,
    batch: BatchOptions,
    counters: Arc<ExportCounters>,
}

/// One thread's records for one sink.
pub(crate) struct Buffer {
    pub(crate) block: Mutex<Block>,
    sink: Weak<Handoff>,
    cut: Option<usize>,
    max_bytes: usize,
}

/// Records, and their estimated bytes.
#[derive(Default)]
pub(crate) struct Block {
    pub(crate) records: Vec<Record>,
    pub(crate) bytes: usize,
}

/// Every live hand-off, by sink id: a thread meets a sink through it once, then keeps its buffer.
static SINKS: Mutex<Vec<(u64, Weak<Handoff>)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's buffers, by sink id.
    static LOCAL: RefCell<Vec<(u64, Arc<Buffer>)>> = const { RefCell::new(Vec::new()) };
}

impl Handoff {
    /// A new hand-off, found by callers through its id, bounded as `batch` bounds the exporters' queues.
    pub(crate) fn new(batch: &BatchOptions, cut: Option<usize>, counters: &Arc<ExportCounters>) -> Arc<Handoff> {
        let handoff = Arc::new(Handoff {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State {
                handed: Vec::new(),
                handed_records: 0,
                handed_bytes: 0,
                spare: Vec::new(),
                buffers: Vec::new(),
                flush_requested: 0,
                flush_done: 0,
                shutdown: false,
                collector_done: false,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            max_queue: batch.max_queue_size,
            wake_at: batch.max_export_batch_size.min(batch.max_queue_size).max(HANDOFF),
            cut,
            buffer_bytes: batch.max_queue_bytes / 16,
            batch: batch.clone(),
            counters: Arc::clone(counters),
        });
        let mut sinks = lock(&SINKS);
        sinks.retain(|(_, sink)| sink.strong_count() > 0);
        sinks.push((handoff.id, Arc::downgrade(&handoff)));
        handoff
    }

    /// Takes a block of records for the collector (or drops and counts it beyond the queue bound); an empty block
    /// to fill next.
    fn hand_off(&self, mut block: Block) -> Vec<Record> {
        let count = block.records.len();
        let mut state = lock(&self.state);
        if state.collector_done {
            // Shut down: what ends later is not exported (as with the SDK's provider).
            block.records.clear();
            return block.records;
        }
        if state.handed_records + count > self.max_queue
            || state.handed_bytes.saturating_add(block.bytes) > self.batch.max_queue_bytes
        {
            drop(state);
            count_queue_full(&self.counters, &self.batch, count as u64);
            block.records.clear();
            return block.records;
        }
        let before = state.handed_records;
        state.handed_records += count;
        state.handed_bytes += block.bytes;
        state.handed.push(block.records);
        let spare = state.spare.pop().unwrap_or_else(|| Vec::with_capacity(HANDOFF));
        let wake = before < self.wake_at && state.handed_records >= self.wake_at;
        drop(state);
        if wake {
            self.work.notify_one();
        }
        spare
    }
}

/// Takes an ended span's record into this thread's buffer for sink `sink`.
#[inline]
pub(crate) fn submit(sink: u64, record: Record) {
    if LOCAL.try_with(|_| ()).is_err() {
        // Only while this thread's locals are being destroyed: handed over on its own.
        if let Some(handoff) = find(sink) {
            let bytes = record.size();
            handoff.hand_off(Block { records: vec![record], bytes });
        }
        return;
    }
    LOCAL.with_borrow_mut(move |local| {
        if let Some((_, buffer)) = local.iter().find(|(id, _)| *id == sink) {
            buffer.push(record);
            return;
        }
        let Some(buffer) = register(sink) else { return };
        local.retain(|(_, buffer)| buffer.sink.strong_count() > 0);
        buffer.push(record);
        local.push((sink, buffer));
    });
}

fn find(sink: u64) -> Option<Arc<Handoff>> {
    lock(&SINKS).iter().find(|(id, _)| *id == sink).and_then(|(_, handoff)| handoff.upgrade())
}

/// This thread's new buffer for `sink`, known to the sink; `None` when the sink is gone.
fn register(sink: u64) -> Option<Arc<Buffer>> {
    let handoff = find(sink)?;
    let buffer = Arc::new(Buffer {
        block: Mutex::new(Block { records: Vec::with_capacity(HANDOFF), bytes: 0 }),
        sink: Arc::downgrade(&handoff),
        cut: handoff.cut,
        max_bytes: handoff.buffer_bytes,
    });
    lock(&handoff.state).buffers.push(Arc::clone(&buffer));
    Some(buffer)
}

impl Buffer {
    #[inline]
    fn push(&self, mut record: Record) {
        if let Some(max) = self.cut {
            record.cut_for_queue(max);
        }
        let bytes = record.size();
        let mut block = lock(&self.block);
        block.records.push(record);
        block.bytes += bytes;
        if block.records.len() < HANDOFF && block.bytes < self.max_bytes {
            return;
        }
        let full = std::mem::take(&mut *block);
        drop(block);
        if let Some(handoff) = self.sink.upgrade() {
            let spare = handoff.hand_off(full);
            let mut block = lock(&self.block);
            if block.records.capacity() == 0 {
                block.records = spare;
            }
        }
    }
}
