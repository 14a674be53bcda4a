//! The compact record of a direct span: what the caller's thread writes, and the SDK's `SpanData` it becomes on the
//! collector's thread.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

/// What a span ended with, as the caller's thread wrote it. Events and links, which most spans lack, are boxed.
pub(crate) struct Record {
    pub(crate) span_context: SpanContext,
    pub(crate) data: Data,
}

/// A span's data while it runs (and once it ended).
pub(crate) struct Data {
    pub(crate) parent_span_id: SpanId,
    pub(crate) parent_is_remote: bool,
    pub(crate) kind: SpanKind,
    /// The instrumentation scope, as the sink numbered it.
    pub(crate) scope: u32,
    pub(crate) dropped_attributes: u32,
    pub(crate) name: Cow<'static, str>,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) status: Status,
    pub(crate) extra: Option<Box<Extra>>,
}

/// What few spans have.
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) events: SpanEvents,
    pub(crate) links: SpanLinks,
}

impl Record {
    /// Cuts values far over the value length limit (to `max`), as the batch processor does as it queues a span.
    pub(crate) fn cut_for_queue(&mut self, max: usize) {
        let data = &mut self.data;
        let (events, links) = match &mut data.extra {
            Some(extra) => (&mut extra.events.events[..], &mut extra.links.links[..]),
            None => (&mut [][..], &mut [][..]),
        };
        crate::limits::cut_parts_for_queue(&mut data.attributes, events, links, max);
    }

    /// What the record counts against the queue's byte bound.
    pub(crate) fn size(&self) -> usize {
        let events = self.data.extra.as_ref().map_or(&[][..], |extra| &extra.events.events[..]);
        crate::exporters::batch::parts_size(&self.data.name, &self.data.attributes, events)
    }

    /// The record as the SDK's exporters take it.
    pub(crate) fn into_span_data(self, instrumentation_scope: InstrumentationScope) -> SpanData {
        let Data {
            parent_span_id,
            parent_is_remote,
            kind,
            dropped_attributes,
            name,
            start,
            end,
            attributes,
            status,
            extra,
            ..
        } = self.data;
        let Extra { events, links } = extra.map(|extra| *extra).unwrap_or_default();
        SpanData {
            span_context: self.span_context,
            parent_span_id,
            parent_span_is_remote: parent_is_remote,
            span_kind: kind,
            name,
            start_time: start,
            end_time: end,
            attributes,
            dropped_attributes_count: dropped_attributes,
            events,
            links,
            status,
            instrumentation_scope,
        }
    }
}
