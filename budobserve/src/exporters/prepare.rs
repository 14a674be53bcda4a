//! The one step every exit takes before it shows an ended span: its keys made unique (`unique`), then scrubbed, so
//! that a message rendered on completion shows the redactions, then completed from its callsite (code location,
//! template, message; see `callsite`), given the old HTTP keys when asked (`conventions`), then held to the span limits (`limits`), which never drop BudObserve's own
//! keys, and its JSON schema kept to the JSON values that are left. The export worker, the pipeline (for processors given as such) and the console all call
//! [`Preparation::apply`]; none scrubs or renders on its own, so each shows exactly what the others do.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;

use crate::callsite;
use crate::constants;
use crate::conventions::{self, HttpConventions};
use crate::exporters::failure::Failure;
use crate::exporters::loss::ExportCounters;
use crate::limits::{self, SpanLimits};
use crate::scrubbing::Scrubber;
use crate::unique;

/// How spans are prepared for the exits of one configuration: with its scrubber, if scrubbing is on, and its span
/// limits.
#[derive(Clone, Debug, Default)]
pub(crate) struct Preparation {
    scrubber: Option<Arc<Scrubber>>,
    limits: SpanLimits,
    counters: Arc<ExportCounters>,
    /// Whether HTTP spans also get the old conventions' keys.
    old_http_keys: bool,
}

impl Preparation {
    pub(crate) fn new(
        scrubber: Option<Arc<Scrubber>>,
        limits: SpanLimits,
        counters: Arc<ExportCounters>,
    ) -> Preparation {
        Preparation { scrubber, limits, counters, old_http_keys: false }
    }

    /// Prepares HTTP spans with the keys of `conventions`.
    pub(crate) fn http_conventions(mut self, conventions: HttpConventions) -> Preparation {
        self.old_http_keys = conventions == HttpConventions::StableAndOld;
        self
    }

    /// Whether spans are scrubbed (and so may gain `budobserve_scrubbed`).
    pub(crate) fn scrubs(&self) -> bool {
        self.scrubber.is_some()
    }

    /// Makes keys unique, scrubs, completes and limits `span` in place. Returns false when that failed (a user
    /// callback panicked past its own containment): the span must then not be shown anywhere, and it was counted.
    pub(crate) fn apply(&self, span: &mut SpanData) -> bool {
        let prepared = catch_unwind(AssertUnwindSafe(|| self.prepare(span))).is_ok();
        if !prepared {
            self.counters.callback_failed("preparing a span for export", 1);
        }
        prepared
    }

    fn prepare(&self, span: &mut SpanData) {
        let mut changed = unique::unique(&mut span.attributes);
        for event in &mut span.events.events {
            unique::unique(&mut event.attributes);
        }
        for link in &mut span.links.links {
            unique::unique(&mut link.attributes);
        }
        if let Some(scrubber) = &self.scrubber {
            scrubber.scrub_span(span);
        }
        callsite::complete(&mut span.attributes);
        // Before the limits: the old keys count as the span's own.
        if self.old_http_keys {
            conventions::add_old_http_keys(span);
        }
        let dropped = span.dropped_attributes_count;
        limits::apply(span, &self.limits);
        changed |= span.dropped_attributes_count != dropped;
        if changed {
            unique::prune_schema(&mut span.attributes);
        }
    }

    /// Cuts values far over the value length limit as `span` is queued for export (see `limits::cut_for_queue`).
    #[inline]
    pub(crate) fn cut_for_queue(&self, span: &mut SpanData) {
        if self.limits.attribute_value_length_limit().is_some() {
            limits::cut_for_queue(span, &self.limits);
        }
    }

    /// A transport's report of a failed export, its texts scrubbed like a span's message before it is printed or
    /// returned (a backend may echo a token or a connection string).
    pub(crate) fn scrub_failure(&self, failure: Failure) -> Failure {
        let Some(scrubber) = &self.scrubber else { return failure };
        let scrub = |text: String| scrubber.scrub_free_text(&text).unwrap_or(text);
        match failure {
            Failure::Rejected { status, message } => Failure::Rejected { status, message: scrub(message) },
            Failure::Unreachable(reason) => Failure::Unreachable(scrub(reason)),
            Failure::TimedOut(reason) => Failure::TimedOut(scrub(reason)),
            Failure::Other(reason) => Failure::Other(scrub(reason)),
        }
    }

    /// A prepared copy of `span`, for an exit that shows it while it goes on to others (`None`: see `apply`).
    pub(crate) fn applied(&self, span: &SpanData) -> Option<SpanData> {
        let mut copy = span.clone();
        self.apply(&mut copy).then_some(copy)
    }
}

/// A span whose level changed after it started (`set_level`, an exception) gets the new level appended when it
/// ends, as its last attribute; it replaces the one written at start, so exporters see one level. One comparison
/// per span when nothing changed (the level written at start is never last: the message follows it).
pub(crate) fn replace_changed_level(attributes: &mut Vec<KeyValue>) {
    let changed = attributes.last().is_some_and(|kv| kv.key.as_str() == constants::LEVEL_NUM);
    if !changed {
        return;
    }
    let last = attributes.len() - 1;
    if let Some(first) = attributes[..last].iter().position(|kv| kv.key.as_str() == constants::LEVEL_NUM) {
        attributes.swap_remove(first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_level_replaces_the_one_written_at_start() {
        let mut attributes = vec![
            KeyValue::new(constants::SPAN_TYPE, "span"),
            KeyValue::new(constants::LEVEL_NUM, 9),
            KeyValue::new("a", 1),
            KeyValue::new(constants::LEVEL_NUM, 17),
        ];
        replace_changed_level(&mut attributes);
        assert_eq!(
            attributes,
            [
                KeyValue::new(constants::SPAN_TYPE, "span"),
                KeyValue::new(constants::LEVEL_NUM, 17),
                KeyValue::new("a", 1)
            ]
        );
        let unchanged = attributes.clone();
        replace_changed_level(&mut attributes);
        assert_eq!(attributes, unchanged);
    }
}
