//! OpenTelemetry log records as they leave the process: made unique by key, then scrubbed, by the first log
//! processor of every configuration. The SDK's record can neither replace nor remove an attribute, so a record
//! that must change is rebuilt with its new attributes.

use std::sync::Arc;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::{InstrumentationScope, Key};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord, SdkLoggerProvider};

use crate::scrubbing::Scrubber;
use crate::unique;

/// The first log processor: every processor after it sees records with unique keys, scrubbed when scrubbing is on.
#[derive(Debug)]
pub(crate) struct RecordPreparation {
    scrubber: Option<Arc<Scrubber>>,
    /// An empty record to rebuild records from.
    blank: SdkLogRecord,
}

impl RecordPreparation {
    pub(crate) fn new(scrubber: Option<Arc<Scrubber>>) -> RecordPreparation {
        let blank = SdkLoggerProvider::builder().build().logger("budobserve").create_log_record();
        RecordPreparation { scrubber, blank }
    }
}

impl LogProcessor for RecordPreparation {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        if let Some(attributes) = unique::unique_record(record) {
            *record = rebuilt(record, &self.blank, attributes);
        }
        if let Some(scrubber) = &self.scrubber {
            scrubber.scrub_log(record, &self.blank);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}

/// `record` with `attributes` instead of its own, built from `blank` (an empty record).
pub(crate) fn rebuilt(record: &SdkLogRecord, blank: &SdkLogRecord, attributes: Vec<(Key, AnyValue)>) -> SdkLogRecord {
    let mut fresh = blank.clone();
    if let Some(name) = record.event_name() {
        fresh.set_event_name(name);
    }
    if let Some(target) = record.target() {
        fresh.set_target(target.clone());
    }
    if let Some(time) = record.timestamp() {
        fresh.set_timestamp(time);
    }
    if let Some(time) = record.observed_timestamp() {
        fresh.set_observed_timestamp(time);
    }
    if let Some(text) = record.severity_text() {
        fresh.set_severity_text(text);
    }
    if let Some(number) = record.severity_number() {
        fresh.set_severity_number(number);
    }
    if let Some(body) = record.body() {
        fresh.set_body(body.clone());
    }
    if let Some(context) = record.trace_context() {
        fresh.set_trace_context(context.trace_id, context.span_id, context.trace_flags);
    }
    fresh.add_attributes(attributes);
    fresh
}
