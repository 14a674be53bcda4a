//! Head sampling decided before a span is built.
//!
//! With a sample rate configured, BudObserve decides whether a span is recorded *before* it evaluates the macro's
//! arguments, formats the message or builds the attributes: a span whose parent is in the current context follows
//! the parent's sampled flag (W3C `traceparent`, so a whole trace is kept or dropped together, across services);
//! a root span is kept with the configured probability. A dropped root still gets a valid, unsampled span context,
//! so its children — here and in services it calls — are dropped with it rather than starting traces of their own.
//! The SDK's sampler is then parent-based and keeps what BudObserve kept. A custom sampler
//! ([`ConfigBuilder::sampler`](crate::ConfigBuilder::sampler)) decides on its own, after the span is built.

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};

/// Keep everything: no check at all.
const KEEP_ALL: u64 = u64::MAX;
/// A custom sampler decides (after the span is built).
const DELEGATED: u64 = u64::MAX - 1;

/// What the head sampler says of a span about to start.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Build and record it.
    Record,
    /// Drop it; the parent context is unsampled and goes on as it is.
    DropWithParent,
    /// Drop it; it is a root, and this unsampled context stands for it.
    DropRoot(SpanContext),
}

/// The configured rate, as a threshold on a uniform 64-bit draw.
#[derive(Debug)]
pub(crate) struct HeadSampler {
    threshold: AtomicU64,
}

impl Default for HeadSampler {
    fn default() -> Self {
        HeadSampler { threshold: AtomicU64::new(KEEP_ALL) }
    }
}

impl HeadSampler {
    /// `rate` in `[0, 1]` (validated by the configuration); `delegated` when a custom sampler decides instead.
    pub(crate) fn configure(&self, rate: Option<f64>, delegated: bool) {
        let threshold = match (delegated, rate) {
            (true, _) => DELEGATED,
            (false, None) => KEEP_ALL,
            (false, Some(rate)) if rate >= 1.0 => KEEP_ALL,
            // `rate * 2^64`, below `DELEGATED` by construction (rate < 1).
            (false, Some(rate)) => (rate.max(0.0) * 18_446_744_073_709_551_616.0) as u64,
        };
        self.threshold.store(threshold, Ordering::Relaxed);
    }

    /// Whether a span with `parent` as parent context is recorded. One relaxed load when everything is kept.
    #[inline]
    pub(crate) fn decide(&self, parent: &Context) -> Decision {
        let threshold = self.threshold.load(Ordering::Relaxed);
        if threshold >= DELEGATED {
            return Decision::Record;
        }
        self.decide_with(threshold, parent)
    }

    /// [`decide`](Self::decide) for the current context, read only when a rate is set.
    #[inline]
    pub(crate) fn decide_current(&self) -> Decision {
        let threshold = self.threshold.load(Ordering::Relaxed);
        if threshold >= DELEGATED {
            return Decision::Record;
        }
        Context::map_current(|cx| self.decide_with(threshold, cx))
    }

    #[cold]
    fn decide_with(&self, threshold: u64, parent: &Context) -> Decision {
        let parent_context = parent.span().span_context().clone();
        if parent_context.is_valid() {
            return if parent_context.is_sampled() { Decision::Record } else { Decision::DropWithParent };
        }
        if crate::random::next() < threshold {
            return Decision::Record;
        }
        let (trace_id, span_id) = (crate::random::trace_id(), crate::random::span_id());
        Decision::DropRoot(SpanContext::new(trace_id, span_id, TraceFlags::default(), false, TraceState::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_map_to_decisions() {
        let sampler = HeadSampler::default();
        assert!(matches!(sampler.decide(&Context::new()), Decision::Record));
        sampler.configure(Some(0.0), false);
        assert!(matches!(sampler.decide(&Context::new()), Decision::DropRoot(cx) if cx.is_valid() && !cx.is_sampled()));
        sampler.configure(Some(1.0), false);
        assert!(matches!(sampler.decide(&Context::new()), Decision::Record));
        sampler.configure(Some(0.0), true);
        assert!(matches!(sampler.decide(&Context::new()), Decision::Record), "a custom sampler decides");
    }

    #[test]
    fn draws_are_uniform_enough() {
        let sampler = HeadSampler::default();
        sampler.configure(Some(0.25), false);
        let kept = (0..40_000).filter(|_| matches!(sampler.decide(&Context::new()), Decision::Record)).count();
        assert!((9_000..11_000).contains(&kept), "kept {kept} of 40000 at rate 0.25");
    }
}
