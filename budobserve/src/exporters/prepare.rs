//! The one step every exit takes before it shows an ended span: scrubbed first, so that a message rendered on
//! completion shows the redactions, then completed from its callsite (code location, template, message; see
//! `callsite`). The export worker, the pipeline (for processors given as such) and the console all call
//! [`Preparation::apply`]; none scrubs or renders on its own, so each shows exactly what the others do.

use std::sync::Arc;

use opentelemetry_sdk::trace::SpanData;

use crate::callsite;
use crate::scrubbing::Scrubber;

/// How spans are prepared for the exits of one configuration: with its scrubber, if scrubbing is on.
#[derive(Clone, Debug, Default)]
pub(crate) struct Preparation {
    scrubber: Option<Arc<Scrubber>>,
}

impl Preparation {
    pub(crate) fn new(scrubber: Option<Arc<Scrubber>>) -> Preparation {
        Preparation { scrubber }
    }

    /// Whether spans are scrubbed (and so may gain `budobserve_scrubbed`).
    pub(crate) fn scrubs(&self) -> bool {
        self.scrubber.is_some()
    }

    /// Scrubs, then completes, `span` in place.
    pub(crate) fn apply(&self, span: &mut SpanData) {
        if let Some(scrubber) = &self.scrubber {
            scrubber.scrub_span(span);
        }
        callsite::complete(&mut span.attributes);
    }

    /// A prepared copy of `span`, for an exit that shows it while it goes on to others.
    pub(crate) fn applied(&self, span: &SpanData) -> SpanData {
        let mut copy = span.clone();
        self.apply(&mut copy);
        copy
    }
}
