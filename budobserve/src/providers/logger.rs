//! The proxy logger provider.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord, LoggerProvider, Severity};
use opentelemetry::{InstrumentationScope, Key, SpanId, TraceFlags, TraceId};
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};

use super::registry::{Registry, Slot};

/// A logger provider that forwards to a swappable [`SdkLoggerProvider`], for the OpenTelemetry logs signal (the
/// `log`/`tracing` appenders and OTLP logs). BudObserve's own logs are spans and do not go through it.
///
/// ```
/// use budobserve::opentelemetry::logs::LoggerProvider as _;
///
/// let logger = budobserve::logger_provider().logger("budapp.audit");
/// # drop(logger);
/// ```
#[derive(Clone, Default)]
pub struct ProxyLoggerProvider {
    registry: Registry<SdkLoggerProvider>,
}

impl ProxyLoggerProvider {
    /// A proxy with no provider yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Points every logger handed out so far, and later, at `provider` (or at nothing). Returns the one it replaces.
    pub fn set_provider(&self, provider: Option<SdkLoggerProvider>) -> Option<SdkLoggerProvider> {
        self.registry.set_provider(provider)
    }

    /// The SDK provider records go to now, if any.
    pub fn provider(&self) -> Option<SdkLoggerProvider> {
        self.registry.provider()
    }

    /// Silences the named instrumentation scopes (adds to those suppressed before).
    pub fn suppress_scopes<I, S>(&self, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.registry.suppress_scopes(scopes);
    }
}

impl fmt::Debug for ProxyLoggerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.registry.debug("ProxyLoggerProvider", f)
    }
}

impl LoggerProvider for ProxyLoggerProvider {
    type Logger = ProxyLogger;

    fn logger_with_scope(&self, scope: InstrumentationScope) -> ProxyLogger {
        ProxyLogger { slot: self.registry.slot(scope) }
    }
}

/// A logger from a [`ProxyLoggerProvider`].
///
/// ```
/// use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
///
/// let logger = budobserve::logger_provider().logger("budapp.audit");
/// let mut record = logger.create_log_record();             // a ProxyLogRecord
/// record.set_severity_number(Severity::Warn);
/// record.set_body("quota almost used".into());
/// logger.emit(record);
/// ```
#[derive(Clone)]
pub struct ProxyLogger {
    slot: Arc<Slot<SdkLogger>>,
}

impl fmt::Debug for ProxyLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyLogger").field("scope", &self.slot.scope.name()).finish()
    }
}

impl opentelemetry::logs::Logger for ProxyLogger {
    type LogRecord = ProxyLogRecord;

    fn create_log_record(&self) -> ProxyLogRecord {
        ProxyLogRecord::default()
    }

    fn emit(&self, record: ProxyLogRecord) {
        let Some(logger) = &*self.slot.current.load() else {
            return;
        };
        let mut real = logger.create_log_record();
        record.copy_into(&mut real);
        logger.emit(real);
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        match &*self.slot.current.load() {
            Some(logger) => logger.event_enabled(level, target, name),
            None => false,
        }
    }
}

/// A log record built for a [`ProxyLogger`]; copied into the SDK's record when emitted.
///
/// ```
/// use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
///
/// let logger = budobserve::logger_provider().logger("budapp");
/// let mut record = logger.create_log_record();
/// record.add_attribute("user_id", 42);
/// record.set_body("exported".into());
/// logger.emit(record);
/// ```
#[derive(Debug, Default, Clone)]
pub struct ProxyLogRecord {
    event_name: Option<&'static str>,
    target: Option<Cow<'static, str>>,
    timestamp: Option<SystemTime>,
    observed_timestamp: Option<SystemTime>,
    severity_text: Option<&'static str>,
    severity_number: Option<Severity>,
    body: Option<AnyValue>,
    attributes: Vec<(Key, AnyValue)>,
    trace_context: Option<(TraceId, SpanId, Option<TraceFlags>)>,
}

impl ProxyLogRecord {
    fn copy_into<R: LogRecord>(self, real: &mut R) {
        if let Some(name) = self.event_name {
            real.set_event_name(name);
        }
        if let Some(target) = self.target {
            real.set_target(target);
        }
        if let Some(timestamp) = self.timestamp {
            real.set_timestamp(timestamp);
        }
        if let Some(timestamp) = self.observed_timestamp {
            real.set_observed_timestamp(timestamp);
        }
        if let Some(text) = self.severity_text {
            real.set_severity_text(text);
        }
        if let Some(number) = self.severity_number {
            real.set_severity_number(number);
        }
        if let Some(body) = self.body {
            real.set_body(body);
        }
        real.add_attributes(self.attributes);
        if let Some((trace_id, span_id, flags)) = self.trace_context {
            real.set_trace_context(trace_id, span_id, flags);
        }
    }
}

impl LogRecord for ProxyLogRecord {
    fn set_event_name(&mut self, name: &'static str) {
        self.event_name = Some(name);
    }

    fn set_target<T>(&mut self, target: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.target = Some(target.into());
    }

    fn set_timestamp(&mut self, timestamp: SystemTime) {
        self.timestamp = Some(timestamp);
    }

    fn set_observed_timestamp(&mut self, timestamp: SystemTime) {
        self.observed_timestamp = Some(timestamp);
    }

    fn set_severity_text(&mut self, text: &'static str) {
        self.severity_text = Some(text);
    }

    fn set_severity_number(&mut self, number: Severity) {
        self.severity_number = Some(number);
    }

    fn set_body(&mut self, body: AnyValue) {
        self.body = Some(body);
    }

    fn add_attributes<I, K, V>(&mut self, attributes: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Key>,
        V: Into<AnyValue>,
    {
        self.attributes.extend(attributes.into_iter().map(|(k, v)| (k.into(), v.into())));
    }

    fn add_attribute<K, V>(&mut self, key: K, value: V)
    where
        K: Into<Key>,
        V: Into<AnyValue>,
    {
        self.attributes.push((key.into(), value.into()));
    }

    fn set_trace_context(&mut self, trace_id: TraceId, span_id: SpanId, trace_flags: Option<TraceFlags>) {
        self.trace_context = Some((trace_id, span_id, trace_flags));
    }
}
