//! Tail sampling: keep a whole trace when something in it matters, else a background fraction.
//!
//! With [`ConfigBuilder::tail_sampling`](crate::ConfigBuilder::tail_sampling), the spans of a trace are held back
//! until the trace's local root (a span with no parent here: a root, or a child of a remote span) ends. Then the
//! whole trace is kept if any of its spans reached [`TailSampling::level`], or the root lasted at least
//! [`TailSampling::duration`], or — otherwise — with probability [`TailSampling::background_rate`] (decided from the
//! trace id, so every service sampling the same way agrees). Kept spans go on to the exporters in the order they
//! ended; dropped ones are counted ([`ExportStats::spans_sampled_out`](crate::ExportStats)).
//!
//! Buffering is bounded: when more than [`TailSampling::max_buffered_spans`] spans wait, the trace that started
//! waiting first is decided at once on what it has (its levels, how long it has been running, the background
//! rate). Spans ending after their trace was decided follow that decision (the last 4,096 decisions are kept).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::TraceId;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::constants;
use crate::level::Level;
use crate::providers::lock;

/// How traces are tail-sampled: a trace's spans wait until its local root ends, then the whole trace is kept if a
/// span reached [`level`](Self::level) or the root lasted [`duration`](Self::duration), else with probability
/// [`background_rate`](Self::background_rate) (decided from the trace id). Buffering is bounded by
/// [`max_buffered_spans`](Self::max_buffered_spans): past it the trace waiting longest is decided on what it has.
/// Spans ending after their trace was decided follow that decision.
///
/// ```
/// use std::time::Duration;
///
/// use budobserve::{Level, TailSampling};
///
/// // Keep every trace with a warning or worse, or lasting 2 s; 5 % of the others.
/// let sampling = TailSampling::level_or_duration()
///     .level(Level::Warn)
///     .duration(Duration::from_secs(2))
///     .background_rate(0.05);
/// let _guard = budobserve::configure().tail_sampling(sampling).console(false).install();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TailSampling {
    pub(crate) level: Level,
    pub(crate) duration: Duration,
    pub(crate) background_rate: f64,
    pub(crate) max_buffered_spans: usize,
}

impl Default for TailSampling {
    fn default() -> Self {
        TailSampling {
            level: Level::Notice,
            duration: Duration::from_secs(5),
            background_rate: 0.0,
            max_buffered_spans: 10_000,
        }
    }
}

impl TailSampling {
    /// Keep traces with a span at `notice` or above, or lasting 5 s or more; drop the rest; buffer at most 10,000
    /// spans.
    pub fn level_or_duration() -> Self {
        Self::default()
    }

    /// The level that keeps a trace when any of its spans or logs reaches it.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// The root duration that keeps a trace.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// The fraction of the other traces kept, `0` to `1` (clamped).
    pub fn background_rate(mut self, rate: f64) -> Self {
        self.background_rate = if rate.is_nan() { 0.0 } else { rate.clamp(0.0, 1.0) };
        self
    }

    /// How many spans may wait for their trace's decision (at least 1).
    pub fn max_buffered_spans(mut self, spans: usize) -> Self {
        self.max_buffered_spans = spans.max(1);
        self
    }

    fn keeps_by_background(&self, trace_id: TraceId) -> bool {
        if self.background_rate >= 1.0 {
            return true;
        }
        // The low 64 bits of a trace id are random (W3C): compared to the rate as a threshold.
        let draw = u128::from_be_bytes(trace_id.to_bytes()) as u64;
        (draw as f64) < self.background_rate * 18_446_744_073_709_551_616.0
    }
}

/// How many decisions are remembered for spans that end after their trace was decided.
const REMEMBERED: usize = 4096;

#[derive(Debug)]
struct Pending {
    spans: Vec<SpanData>,
    /// Whether a span reached the level.
    important: bool,
    first_start: SystemTime,
}

#[derive(Debug, Default)]
struct State {
    traces: HashMap<TraceId, Pending>,
    /// Traces in the order they started waiting (some may have been decided since).
    order: VecDeque<TraceId>,
    buffered: usize,
    decided: HashMap<TraceId, bool>,
    decided_order: VecDeque<TraceId>,
    /// The latest end time seen: "now" in the spans' own clock (which a test may step).
    latest_end: Option<SystemTime>,
}

impl State {
    /// How long the trace waiting as `pending` has been running, by the spans' clock.
    fn running(&self, pending: &Pending) -> Duration {
        self.latest_end.and_then(|now| now.duration_since(pending.first_start).ok()).unwrap_or_default()
    }
}

/// What the tail sampler does with one ended span.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Held back, or dropped with its trace.
    Held,
    /// These go on, in order.
    Release(Vec<SpanData>),
}

/// The sampler's state (one per pipeline).
#[derive(Debug)]
pub(crate) struct TailSampler {
    options: TailSampling,
    state: Mutex<State>,
}

impl TailSampler {
    pub(crate) fn new(options: TailSampling) -> TailSampler {
        TailSampler { options, state: Mutex::new(State::default()) }
    }

    /// Takes an ended span; returns what goes on and how many spans were dropped.
    pub(crate) fn accept(&self, span: SpanData) -> (Outcome, u64) {
        let trace_id = span.span_context.trace_id();
        let important = level_of(&span.attributes) >= self.options.level;
        let local_root = span.parent_span_id == opentelemetry::trace::SpanId::INVALID || span.parent_span_is_remote;
        let mut state = lock(&self.state);
        if let Some(&keep) = state.decided.get(&trace_id) {
            return if keep { (Outcome::Release(vec![span]), 0) } else { (Outcome::Held, 1) };
        }
        let duration = span.end_time.duration_since(span.start_time).unwrap_or_default();
        state.latest_end = Some(state.latest_end.map_or(span.end_time, |latest| latest.max(span.end_time)));
        if !state.traces.contains_key(&trace_id) {
            state.order.push_back(trace_id);
        }
        let pending = state.traces.entry(trace_id).or_insert_with(|| Pending {
            spans: Vec::new(),
            important: false,
            first_start: span.start_time,
        });
        pending.important |= important;
        pending.first_start = pending.first_start.min(span.start_time);
        pending.spans.push(span);
        state.buffered += 1;

        let mut released = Vec::new();
        let mut dropped = 0;
        if local_root {
            let keep = {
                let pending = &state.traces[&trace_id];
                pending.important || duration >= self.options.duration || self.options.keeps_by_background(trace_id)
            };
            self.settle(&mut state, trace_id, keep, &mut released, &mut dropped);
        }
        // Over the bound: the traces waiting longest are decided on what they have.
        while state.buffered > self.options.max_buffered_spans {
            let Some(oldest) = state.order.pop_front() else { break };
            let Some(pending) = state.traces.get(&oldest) else { continue };
            let running = state.running(pending);
            let keep =
                pending.important || running >= self.options.duration || self.options.keeps_by_background(oldest);
            self.settle(&mut state, oldest, keep, &mut released, &mut dropped);
        }
        if released.is_empty() { (Outcome::Held, dropped) } else { (Outcome::Release(released), dropped) }
    }

    fn settle(
        &self,
        state: &mut State,
        trace_id: TraceId,
        keep: bool,
        released: &mut Vec<SpanData>,
        dropped: &mut u64,
    ) {
        if let Some(pending) = state.traces.remove(&trace_id) {
            state.buffered -= pending.spans.len();
            if keep {
                released.extend(pending.spans);
            } else {
                *dropped += pending.spans.len() as u64;
            }
        }
        state.order.retain(|id| *id != trace_id);
        state.decided.insert(trace_id, keep);
        state.decided_order.push_back(trace_id);
        while state.decided_order.len() > REMEMBERED {
            if let Some(old) = state.decided_order.pop_front() {
                state.decided.remove(&old);
            }
        }
    }

    /// Everything still waiting, decided on what it has (at flush and shutdown).
    pub(crate) fn drain(&self) -> (Vec<SpanData>, u64) {
        let mut state = lock(&self.state);
        let mut released = Vec::new();
        let mut dropped = 0;
        let waiting: Vec<TraceId> = state.order.iter().copied().collect();
        for trace_id in waiting {
            let Some(pending) = state.traces.get(&trace_id) else { continue };
            let running = state.running(pending);
            let keep =
                pending.important || running >= self.options.duration || self.options.keeps_by_background(trace_id);
            self.settle(&mut state, trace_id, keep, &mut released, &mut dropped);
        }
        (released, dropped)
    }
}

fn level_of(attributes: &[KeyValue]) -> Level {
    match attributes.iter().rev().find(|kv| kv.key.as_str() == constants::LEVEL_NUM).map(|kv| &kv.value) {
        Some(Value::I64(n)) => u8::try_from(*n).ok().and_then(Level::from_number).unwrap_or(Level::Info),
        _ => Level::Info,
    }
}
