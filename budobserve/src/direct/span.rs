//! The span of the direct path: a compact record filled on the caller's thread, then handed to the sink.
//!
//! It does what the SDK's span does with the same inputs (the parent-based, always-on sampling decision, the span
//! limits, the end time), so exporters cannot tell the two apart; what it leaves out is the SDK's cost: no builder
//! kept, no sampler or processor called on the caller's thread, no handle to the provider per span, and no lock
//! shared with other threads when it ends.

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use opentelemetry::trace::{
    Event, Link, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SpanLimits;

use super::record::{Data, Extra, Record};

/// What a span starts with: what the SDK's tracer reads of a `SpanBuilder`, without the builder's other fields
/// (BudObserve's spans are started from these directly).
pub(crate) struct Parts {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) start_time: Option<SystemTime>,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) links: Vec<Link>,
    pub(crate) events: Vec<Event>,
}

impl From<SpanBuilder> for Parts {
    fn from(builder: SpanBuilder) -> Parts {
        Parts {
            name: builder.name,
            kind: builder.span_kind.unwrap_or(SpanKind::Internal),
            start_time: builder.start_time,
            attributes: builder.attributes.unwrap_or_default(),
            links: builder.links.unwrap_or_default(),
            events: builder.events.unwrap_or_default(),
        }
    }
}

impl Parts {
    /// The builder the SDK's tracer takes.
    pub(crate) fn into_builder(self) -> SpanBuilder {
        let mut builder = SpanBuilder::from_name(self.name);
        builder.span_kind = Some(self.kind);
        builder.start_time = self.start_time;
        builder.attributes = Some(self.attributes);
        if !self.links.is_empty() {
            builder.links = Some(self.links);
        }
        if !self.events.is_empty() {
            builder.events = Some(self.events);
        }
        builder
    }
}

/// What starting a span needs of its sink.
pub(crate) struct Start<'a> {
    pub(crate) limits: &'a SpanLimits,
    pub(crate) ids: Option<&'a dyn opentelemetry_sdk::trace::IdGenerator>,
    pub(crate) scope: u32,
    pub(crate) sink: u64,
}

/// A started direct span, or the context of one the sampler dropped (which records nothing).
pub(crate) enum Started {
    Recording(DirectSpan),
    Dropped(SpanContext),
}

/// A span of BudObserve's direct path: what a [`ProxySpan`](crate::providers::ProxySpan) holds when its instance
/// exports only through BudObserve's own batch processors (no console, no processor given as such, no tail
/// sampling, the default sampler). It records what the SDK's span would, without the SDK's span on the caller's
/// thread; exporters receive the same `SpanData`.
pub struct DirectSpan {
    span_context: SpanContext,
    /// `None` once ended.
    data: Option<Data>,
    limits: SpanLimits,
    sink: u64,
}

impl fmt::Debug for DirectSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectSpan")
            .field("span_context", &self.span_context)
            .field("name", &self.data.as_ref().map(|data| &data.name))
            .field("ended", &self.data.is_none())
            .finish_non_exhaustive()
    }
}

/// Starts a span as the SDK's tracer does with the default sampler (parent-based, always on) and `start`'s limits.
pub(crate) fn start(start: &Start<'_>, parts: Parts, parent_cx: &Context) -> Started {
    if parent_cx.is_telemetry_suppressed() {
        return Started::Dropped(SpanContext::empty_context());
    }
    let span_id = start.ids.map_or_else(crate::random::span_id, |ids| ids.new_span_id());
    let parent = parent_cx.span();
    let parent = parent.span_context();
    let (trace_id, parent_span_id, parent_is_remote, flags, trace_state) = if parent.is_valid() {
        (parent.trace_id(), parent.span_id(), parent.is_remote(), parent.trace_flags(), parent.trace_state().clone())
    } else {
        let trace_id: TraceId = start.ids.map_or_else(crate::random::trace_id, |ids| ids.new_trace_id());
        (trace_id, SpanId::INVALID, false, TraceFlags::default(), Default::default())
    };
    // The parent-based sampler: a sampled parent (or none) records, an unsampled one drops.
    if parent.is_valid() && !parent.is_sampled() {
        return Started::Dropped(SpanContext::new(trace_id, span_id, TraceFlags::default(), false, trace_state));
    }
    let limits = start.limits;
    let Parts { name, kind, start_time, mut attributes, mut links, mut events } = parts;
    let dropped_attributes = cut(&mut attributes, limits.max_attributes_per_span);
    let mut extra: Option<Box<Extra>> = None;
    if !links.is_empty() {
        let dropped_count = cut(&mut links, limits.max_links_per_span);
        links
            .iter_mut()
            .for_each(|link| link.dropped_attributes_count = cut(&mut link.attributes, limits.max_attributes_per_link));
        extra.get_or_insert_default().links.links = links;
        extra.get_or_insert_default().links.dropped_count = dropped_count;
    }
    if !events.is_empty() {
        let dropped_count = cut(&mut events, limits.max_events_per_span);
        events.iter_mut().for_each(|event| {
            event.dropped_attributes_count = cut(&mut event.attributes, limits.max_attributes_per_event)
        });
        extra.get_or_insert_default().events.events = events;
        extra.get_or_insert_default().events.dropped_count = dropped_count;
    }
    let start_time = start_time.unwrap_or_else(opentelemetry::time::now);
    Started::Recording(DirectSpan {
        span_context: SpanContext::new(trace_id, span_id, flags.with_sampled(true), false, trace_state),
        data: Some(Data {
            parent_span_id,
            parent_is_remote,
            kind,
            scope: start.scope,
            dropped_attributes,
            name,
            start: start_time,
            end: start_time,
            attributes,
            status: Status::Unset,
            extra,
        }),
        limits: *limits,
        sink: start.sink,
    })
}

/// Keeps at most `limit` of `items` (the first ones, as the SDK keeps them); the number dropped.
fn cut<T>(items: &mut Vec<T>, limit: u32) -> u32 {
    let dropped = items.len().saturating_sub(limit as usize) as u32;
    items.truncate(limit as usize);
    dropped
}

impl DirectSpan {
    fn end_at(&mut self, timestamp: Option<SystemTime>) {
        let Some(mut data) = self.data.take() else { return };
        match timestamp {
            Some(timestamp) => data.end = timestamp,
            None if data.end == data.start => data.end = opentelemetry::time::now(),
            None => {}
        }
        super::buffer::submit(self.sink, Record { span_context: self.span_context.clone(), data });
    }
}

impl opentelemetry::trace::Span for DirectSpan {
    fn add_event_with_timestamp<T>(&mut self, name: T, timestamp: SystemTime, mut attributes: Vec<KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
        let limits = self.limits;
        let Some(data) = &mut self.data else { return };
        let events = &mut data.extra.get_or_insert_default().events;
        if events.events.len() < limits.max_events_per_span as usize {
            let dropped = cut(&mut attributes, limits.max_attributes_per_event);
            events.events.push(Event::new(name, timestamp, attributes, dropped));
        } else {
            events.dropped_count += 1;
        }
    }

    fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    fn is_recording(&self) -> bool {
        self.data.is_some()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        let limit = self.limits.max_attributes_per_span as usize;
        if let Some(data) = &mut self.data {
            if data.attributes.len() < limit {
                data.attributes.push(attribute);
            } else {
                data.dropped_attributes += 1;
            }
        }
    }

    fn set_status(&mut self, status: Status) {
        if let Some(data) = &mut self.data
            && status > data.status
        {
            data.status = status;
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(data) = &mut self.data {
            data.name = new_name.into();
        }
    }

    fn add_link(&mut self, span_context: SpanContext, mut attributes: Vec<KeyValue>) {
        let limits = self.limits;
        let Some(data) = &mut self.data else { return };
        let links = &mut data.extra.get_or_insert_default().links;
        if links.links.len() < limits.max_links_per_span as usize {
            let dropped = cut(&mut attributes, limits.max_attributes_per_link);
            links.links.push(Link::new(span_context, attributes, dropped));
        } else {
            links.dropped_count += 1;
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        self.end_at(Some(timestamp));
    }
}

impl Drop for DirectSpan {
    fn drop(&mut self) {
        self.end_at(None);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::trace::SpanData;

    use super::*;

    #[test]
    fn records_and_span_handles_stay_compact() {
        // Every span handle is moved a few times on the caller's thread, and every record once more into its
        // thread's buffer: these bounds keep those copies small (the SDK's `SpanData` is the comparison).
        assert!(std::mem::size_of::<Record>() <= 208, "{}", std::mem::size_of::<Record>());
        assert!(std::mem::size_of::<Record>() < std::mem::size_of::<SpanData>());
        assert!(std::mem::size_of::<crate::providers::ProxySpan>() <= 240);
        assert!(std::mem::size_of::<crate::BudSpan>() <= 304);
    }
}
