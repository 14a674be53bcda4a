//! What an instance's exporters did, and why any span was lost: one counter per cause, and a warning on standard
//! error per cause, each rate-limited on its own — a full queue under load never hides the backend's own answer,
//! a failed callback or a shutdown deadline.

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::exporters::failure::Failure;

/// What an instance's exporters did so far (see [`BudObserve::export_stats`](crate::BudObserve::export_stats)).
/// Every span that ended reached one of the counts, or is still queued: exported + dropped + failed + lost at
/// shutdown + failed callbacks' + sampled out. Each cause of loss has its own warning on standard error, at most
/// one a minute per cause, the first at once: a full queue, the backend's answer (status and message), an
/// unreachable backend, a timeout, another export failure, a failed callback, a shutdown's deadline.
///
/// ```
/// let obs = budobserve::testing::capture().observe().clone();
/// budobserve::bud_info!(obs => "one log");
/// obs.force_flush()?;
/// let stats = obs.export_stats();
/// assert_eq!((stats.spans_dropped, stats.spans_failed), (0, 0));
/// # Ok::<(), budobserve::LifecycleError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans an exporter accepted.
    pub spans_exported: u64,
    /// Spans dropped because an export queue was full (the backend is slower than the spans produced, or down).
    pub spans_dropped: u64,
    /// Spans lost in exports that failed after the exporter's own retries, whatever the cause (the next three
    /// count the causes BudObserve's transports tell apart; the rest failed otherwise).
    pub spans_failed: u64,
    /// Of `spans_failed`: the backend answered with an error status (its message is printed).
    pub spans_rejected: u64,
    /// Of `spans_failed`: no connection could be made to the backend, or it broke before the answer.
    pub spans_unreachable: u64,
    /// Of `spans_failed`: the backend did not answer within the export timeout.
    pub spans_timed_out: u64,
    /// Exports that failed.
    pub failed_exports: u64,
    /// Spans of traces the tail sampler dropped (see [`TailSampling`](crate::TailSampling)).
    pub spans_sampled_out: u64,
    /// Spans dropped because a callback of the user's panicked while they were prepared or processed (a span
    /// processor; the scrubbing callback redacts instead: see `callback_failures`).
    pub spans_callback_failed: u64,
    /// User callbacks that panicked and were contained: the scrubbing callback (its value redacted), a sampler
    /// (its span dropped), an id generator (random ids used instead), a span or log processor.
    pub callback_failures: u64,
    /// Spans still queued when a shutdown's deadline passed.
    pub spans_lost_at_shutdown: u64,
}

/// Why a warning is written: each cause has its own rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    QueueFull,
    Rejected,
    Unreachable,
    TimedOut,
    ExportFailed,
    CallbackFailed,
    ShutdownDeadline,
}

const CAUSES: usize = 7;

/// The counters behind [`ExportStats`], shared by an instance's batch processors and pipeline.
#[derive(Debug, Default)]
pub(crate) struct ExportCounters {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped: AtomicU64,
    failed: AtomicU64,
    failed_exports: AtomicU64,
    rejected: AtomicU64,
    unreachable: AtomicU64,
    timed_out: AtomicU64,
    sampled_out: AtomicU64,
    callback_failed: AtomicU64,
    callback_failures: AtomicU64,
    lost_at_shutdown: AtomicU64,
    /// Per cause, seconds since the Unix epoch of the last warning written (0: none yet).
    last_warning: [AtomicU64; CAUSES],
}

/// The least time between two warnings of one cause on standard error.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

impl ExportCounters {
    pub(crate) fn stats(&self) -> ExportStats {
        ExportStats {
            spans_exported: self.exported.load(Ordering::Relaxed),
            spans_dropped: self.dropped.load(Ordering::Relaxed),
            spans_failed: self.failed.load(Ordering::Relaxed),
            failed_exports: self.failed_exports.load(Ordering::Relaxed),
            spans_rejected: self.rejected.load(Ordering::Relaxed),
            spans_unreachable: self.unreachable.load(Ordering::Relaxed),
            spans_timed_out: self.timed_out.load(Ordering::Relaxed),
            spans_sampled_out: self.sampled_out.load(Ordering::Relaxed),
            spans_callback_failed: self.callback_failed.load(Ordering::Relaxed),
            callback_failures: self.callback_failures.load(Ordering::Relaxed),
            spans_lost_at_shutdown: self.lost_at_shutdown.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn sampled_out(&self, spans: u64) {
        if spans > 0 {
            self.sampled_out.fetch_add(spans, Ordering::Relaxed);
        }
    }

    /// A user callback (`what`) panicked and was contained; `spans` spans were dropped for it.
    pub(crate) fn callback_failed(&self, what: &str, spans: u64) {
        let failures = self.callback_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if spans > 0 {
            self.callback_failed.fetch_add(spans, Ordering::Relaxed);
        }
        self.warn(Cause::CallbackFailed, |stats| {
            format!(
                "{what} panicked; the panic was contained ({failures} callback failures so far, {} spans dropped \
                 for them)",
                stats.spans_callback_failed
            )
        });
    }

    /// An export of `spans` spans failed for `failure` (its text already scrubbed): counted under its cause, and
    /// the cause's warning written.
    pub(crate) fn export_failed(&self, spans: u64, failure: &Failure) {
        self.failed.fetch_add(spans, Ordering::Relaxed);
        self.failed_exports.fetch_add(1, Ordering::Relaxed);
        let (cause, counter) = match failure {
            Failure::Rejected { .. } => (Cause::Rejected, Some(&self.rejected)),
            Failure::Unreachable(_) => (Cause::Unreachable, Some(&self.unreachable)),
            Failure::TimedOut(_) => (Cause::TimedOut, Some(&self.timed_out)),
            Failure::Other(_) => (Cause::ExportFailed, None),
        };
        let of_cause = counter.map(|counter| counter.fetch_add(spans, Ordering::Relaxed) + spans);
        self.warn(cause, |stats| {
            let so_far = of_cause.map_or(String::new(), |n| format!("{n} lost for this cause, "));
            format!(
                "exporting {spans} spans failed: {failure} ({so_far}{} lost in failed exports so far, {} exported)",
                stats.spans_failed, stats.spans_exported
            )
        });
    }

    /// Runs a callback of the user's (`what`) with its panic contained: counted (with `spans` spans dropped for it),
    /// warned about, and `None` returned.
    pub(crate) fn contain<T>(&self, what: &str, spans: u64, callback: impl FnOnce() -> T) -> Option<T> {
        match catch_unwind(AssertUnwindSafe(callback)) {
            Ok(value) => Some(value),
            Err(_) => {
                self.callback_failed(what, spans);
                None
            }
        }
    }

    /// `spans` spans were still queued when a shutdown's deadline passed.
    pub(crate) fn lost_at_shutdown(&self, spans: u64, timeout: Duration) {
        if spans == 0 {
            return;
        }
        let lost = self.lost_at_shutdown.fetch_add(spans, Ordering::Relaxed) + spans;
        self.warn(Cause::ShutdownDeadline, |_| {
            format!("the shutdown's deadline ({timeout:?}) passed with {spans} spans still queued ({lost} lost so far)")
        });
    }

    /// Writes `message` to standard error unless a warning of the same cause was written less than a minute ago.
    pub(crate) fn warn(&self, cause: Cause, message: impl FnOnce(ExportStats) -> String) {
        let slot = &self.last_warning[cause as usize];
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()).max(1);
        let last = slot.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < WARNING_INTERVAL.as_secs() {
            return;
        }
        if slot.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            // Nowhere to report a failure to write to standard error.
            let _ = writeln!(std::io::stderr(), "budobserve: {}", message(self.stats()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_rate_limited_per_cause() {
        let counters = ExportCounters::default();
        let mut written = Vec::new();
        for (cause, text) in [
            (Cause::QueueFull, "first"),
            (Cause::QueueFull, "second"),
            (Cause::ExportFailed, "a backend's answer"),
            (Cause::ExportFailed, "another"),
            (Cause::Rejected, "a rejection"),
        ] {
            counters.warn(cause, |_| {
                written.push(text);
                text.to_owned()
            });
        }
        assert_eq!(written, ["first", "a backend's answer", "a rejection"]);
        // A minute later, the next one of a cause is written.
        counters.last_warning[Cause::QueueFull as usize].fetch_sub(WARNING_INTERVAL.as_secs(), Ordering::Relaxed);
        counters.warn(Cause::QueueFull, |_| {
            written.push("third");
            String::new()
        });
        assert_eq!(written.len(), 4);
    }

    #[test]
    fn failures_are_counted_by_cause() {
        let counters = ExportCounters::default();
        counters.callback_failed("the sampler", 0);
        counters.callback_failed("a span processor", 3);
        counters.lost_at_shutdown(5, Duration::from_secs(1));
        counters.export_failed(7, &Failure::Rejected { status: "HTTP 500".into(), message: "disk full".into() });
        counters.export_failed(11, &Failure::Unreachable("connection refused".into()));
        counters.export_failed(13, &Failure::TimedOut("after 1s".into()));
        counters.export_failed(17, &Failure::Other("encoding".into()));
        let stats = counters.stats();
        assert_eq!((stats.callback_failures, stats.spans_callback_failed, stats.spans_lost_at_shutdown), (2, 3, 5));
        assert_eq!((stats.spans_rejected, stats.spans_unreachable, stats.spans_timed_out), (7, 11, 13));
        assert_eq!((stats.spans_failed, stats.failed_exports), (7 + 11 + 13 + 17, 4));
    }
}
