//! The one span processor the SDK provider sees: it hands each span to the configured processors in order.
//!
//! The SDK clones a span's data once per registered processor; registering one pipeline instead clones only for
//! the processors after the first, and gives later stages (scrubbing) a single place to run before every exporter.
//! It also completes macro spans (see `callsite`) on the caller's thread when a stage needs them complete there:
//! once, just before the first such stage.

use std::time::Duration;

use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::callsite;
use crate::constants;
use crate::exporters::console::ConsoleProcessor;

/// One configured span processor, and whether it completes macro spans itself on the export side (the batch
/// processors of [`ConfigBuilder::span_exporter`](crate::ConfigBuilder::span_exporter)) or needs them complete when
/// it gets them (any processor given as such).
pub(crate) struct SpanStage {
    pub(crate) processor: Box<dyn SpanProcessor>,
    pub(crate) completes_on_export: bool,
}

/// A span whose level changed after it started (`set_level`, an exception) gets the new level appended when it
/// ends, as its last attribute; it replaces the one written at start, so exporters see one level. One comparison
/// per span when nothing changed (the level written at start is never last: the message follows it).
fn replace_changed_level(attributes: &mut Vec<KeyValue>) {
    let changed = attributes.last().is_some_and(|kv| kv.key.as_str() == constants::LEVEL_NUM);
    if !changed {
        return;
    }
    let last = attributes.len() - 1;
    if let Some(first) = attributes[..last].iter().position(|kv| kv.key.as_str() == constants::LEVEL_NUM) {
        attributes.swap_remove(first);
    }
}

#[derive(Debug)]
pub(crate) struct Pipeline {
    processors: Vec<Box<dyn SpanProcessor>>,
    /// The index of the first processor that needs complete spans, if any.
    complete_before: Option<usize>,
}

impl Pipeline {
    /// The console (which reads macro spans as they are) first, then the stages in order.
    pub(crate) fn new(console: Option<ConsoleProcessor>, stages: Vec<SpanStage>) -> Pipeline {
        let mut processors: Vec<Box<dyn SpanProcessor>> = Vec::with_capacity(stages.len() + 1);
        if let Some(console) = console {
            processors.push(Box::new(console));
        }
        let mut complete_before = None;
        for stage in stages {
            if !stage.completes_on_export && complete_before.is_none() {
                complete_before = Some(processors.len());
            }
            processors.push(stage.processor);
        }
        Pipeline { processors, complete_before }
    }

    /// Whether spans are completed on the caller's thread (so need room for it).
    pub(crate) fn completes_on_caller(&self) -> bool {
        self.complete_before.is_some()
    }

    /// Runs `f` on every processor and returns the first error, after running them all.
    fn all(&self, f: impl Fn(&dyn SpanProcessor) -> OTelSdkResult) -> OTelSdkResult {
        let mut first: Option<OTelSdkError> = None;
        for processor in &self.processors {
            if let Err(err) = f(processor.as_ref()) {
                first.get_or_insert(err);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl SpanProcessor for Pipeline {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        for processor in &self.processors {
            processor.on_start(span, cx);
        }
    }

    fn on_end(&self, mut span: SpanData) {
        replace_changed_level(&mut span.attributes);
        let Some(last) = self.processors.len().checked_sub(1) else { return };
        for (index, processor) in self.processors.iter().enumerate() {
            if Some(index) == self.complete_before {
                callsite::complete(&mut span.attributes);
            }
            if index == last {
                processor.on_end(span);
                return;
            }
            processor.on_end(span.clone());
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.all(|p| p.force_flush())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.all(|p| p.shutdown_with_timeout(timeout))
    }

    fn set_resource(&mut self, resource: &Resource) {
        for processor in &mut self.processors {
            processor.set_resource(resource);
        }
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
