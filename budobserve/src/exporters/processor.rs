//! The one span processor the SDK provider sees: it hands each span to the configured processors in order.
//!
//! The SDK clones a span's data once per registered processor; registering one pipeline instead clones only for
//! the processors after the first, and gives later stages (scrubbing) a single place to run before every exporter.

use std::time::Duration;

use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::constants;

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
}

impl Pipeline {
    pub(crate) fn new(processors: Vec<Box<dyn SpanProcessor>>) -> Pipeline {
        Pipeline { processors }
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
        if let Some((last, rest)) = self.processors.split_last() {
            for processor in rest {
                processor.on_end(span.clone());
            }
            last.on_end(span);
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
