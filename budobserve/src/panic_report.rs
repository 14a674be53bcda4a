//! The panic report (`ConfigBuilder::panic_hook`): a panic anywhere is written as a fatal log of the current
//! instance — its message, where it happened, the thread and the backtrace when one is captured — and telemetry is
//! flushed before the panic goes on (and perhaps ends the process), within a bounded time.

use std::time::Duration;

use opentelemetry::KeyValue;

use crate::constants;
use crate::instance::with_current;
use crate::level::Level;
use crate::panic::PanicRecord;

/// How long the report waits for the flush: a panic must not hang the host on a dead backend.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Registers the reporter with the panic hook (once per process; instances opt in with their configuration).
pub(crate) fn install() {
    crate::panic::set_reporter(report);
}

/// Writes the fatal log of `record` to the current instance and flushes it, when that instance asked for it.
fn report(record: &PanicRecord) {
    with_current(|observe| {
        if !observe.reports_panics() {
            return;
        }
        let thread = std::thread::current();
        let mut attributes = vec![
            KeyValue::new(constants::EXCEPTION_TYPE, constants::PANIC_EXCEPTION_TYPE),
            KeyValue::new(constants::EXCEPTION_MESSAGE, record.message.clone()),
            KeyValue::new(constants::EXCEPTION_ESCAPED, true),
            KeyValue::new(constants::THREAD_NAME, thread.name().unwrap_or("unnamed").to_owned()),
        ];
        if let Some((file, line)) = &record.file_line {
            attributes.push(KeyValue::new(constants::CODE_FILEPATH, file.clone()));
            attributes.push(KeyValue::new(constants::CODE_LINENO, i64::from(*line)));
        }
        if let Some(backtrace) = &record.backtrace {
            attributes.push(KeyValue::new(constants::EXCEPTION_STACKTRACE, backtrace.clone()));
        }
        let at = record.location.as_deref().unwrap_or("an unknown location");
        observe
            .span_builder(constants::PANIC_TEMPLATE)
            .message(format!("panicked at {at}: {}", record.message))
            .level(Level::Fatal)
            .attributes(attributes)
            .log();
        // Errors are the exporters' to report; the panic goes on either way.
        let _ = observe.force_flush_with_timeout(FLUSH_TIMEOUT);
    });
}
