//! The one span processor the SDK provider sees: it hands each span to the configured processors in order.
//!
//! The SDK clones a span's data once per registered processor; registering one pipeline instead clones only for
//! the processors after the first, and gives later stages (scrubbing) a single place to run before every exporter.

use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

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

    fn on_end(&self, span: SpanData) {
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
