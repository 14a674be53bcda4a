//! `log` records as BudObserve logs (feature `log`).
//!
//! Libraries that log with the `log` crate write into BudObserve once [`init`] installed its logger:
//!
//! ```
//! budobserve::integrations::log::init().expect("no other logger is installed");
//! log::warn!("cache miss for {}", "user:42");
//! ```
//!
//! A record becomes a log at its level (`Trace`→trace, `Debug`→debug, `Info`→info, `Warn`→warn, `Error`→error),
//! under the current span (BudObserve's, or a bridged `tracing` span), with the formatted message as
//! `budobserve_msg` and — when the record's message has no arguments — the same text as
//! `budobserve_msg_template` (a message with arguments has no template in `log`: the formatted text is used),
//! `module_path`/`file`/`line` as `code.*`, the target as `budobserve_target` when it differs from the module
//! path, and the record's key-values as attributes. Records below the instance's minimum level are skipped
//! before formatting. Written under the instrumentation scope `budobserve.log`.
//!
//! With the `tracing` feature's layer installed too, install only one of the two paths for `log` records: this
//! logger, or `tracing-log`'s `LogTracer` (whose records the `tracing` layer bridges the same way).

use std::borrow::Cow;

use log::kv::{Key, VisitSource};
use opentelemetry::{KeyValue, Value};

use super::bridge;
use super::handle::ScopedHandle;
use crate::level::Level;
use crate::observe::BudObserve;

/// The instrumentation scope of the logs this bridge writes.
pub const SCOPE: &str = "budobserve.log";

/// A `log::Log` writing records to the current instance (the global one, or the one made current with
/// [`with_instance`](crate::with_instance)); see [`init`] to install it.
///
/// ```
/// // With a logger of your own that fans out (the `log` crate has one global logger).
/// let logger = budobserve::integrations::log::logger();
/// # drop(logger);
/// ```
pub fn logger() -> BudObserveLogger {
    BudObserveLogger { handle: ScopedHandle::current(SCOPE) }
}

/// A `log::Log` writing records to `observe`, whatever instance is current.
///
/// ```
/// use log::Log as _;
///
/// let capture = budobserve::testing::capture();
/// let logger = budobserve::integrations::log::logger_for(capture.observe());
/// logger.log(&log::Record::builder().args(format_args!("hello")).level(log::Level::Info).build());
/// assert_eq!(capture.spans()[0].name, "hello");
/// ```
pub fn logger_for(observe: &BudObserve) -> BudObserveLogger {
    BudObserveLogger { handle: ScopedHandle::fixed(SCOPE, observe) }
}

/// Installs [`logger`] as the `log` crate's logger, passing every level (BudObserve's minimum level filters).
/// Fails when a logger is already installed.
///
/// ```
/// budobserve::integrations::log::init()?;               // once, at start-up
/// log::info!("cache warmed");                            // a BudObserve log
/// # Ok::<(), log::SetLoggerError>(())
/// ```
pub fn init() -> Result<(), log::SetLoggerError> {
    log::set_boxed_logger(Box::new(logger()))?;
    log::set_max_level(log::LevelFilter::Trace);
    Ok(())
}

/// The logger of this module (see [`logger`]).
///
/// ```
/// // `init` in two steps, to choose the `log` crate's maximum level.
/// log::set_boxed_logger(Box::new(budobserve::integrations::log::logger()))?;
/// log::set_max_level(log::LevelFilter::Info);
/// # Ok::<(), log::SetLoggerError>(())
/// ```
#[derive(Debug)]
pub struct BudObserveLogger {
    handle: ScopedHandle,
}

/// BudObserve's level of a `log` level.
///
/// ```
/// use budobserve::Level;
///
/// assert_eq!(budobserve::integrations::log::level(log::Level::Warn), Level::Warn);
/// ```
pub fn level(level: log::Level) -> Level {
    match level {
        log::Level::Trace => Level::Trace,
        log::Level::Debug => Level::Debug,
        log::Level::Info => Level::Info,
        log::Level::Warn => Level::Warn,
        log::Level::Error => Level::Error,
    }
}

impl log::Log for BudObserveLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let level = level(metadata.level());
        !bridge::suppressed() && self.handle.with(|observe| observe.is_enabled_for(metadata.target(), level))
    }

    fn log(&self, record: &log::Record<'_>) {
        if bridge::suppressed() {
            return;
        }
        let level = level(record.level());
        self.handle.with(|observe| {
            if !observe.is_enabled_for(record.target(), level) {
                return;
            }
            let message: Cow<'static, str> = match record.args().as_str() {
                Some(text) => Cow::Borrowed(text),
                None => Cow::Owned(record.args().to_string()),
            };
            let mut attributes = Vec::with_capacity(record.key_values().count() + 4);
            let _ = record.key_values().visit(&mut KeyValues(&mut attributes));
            bridge::code_attributes(
                &mut attributes,
                record.module_path(),
                record.target(),
                record.file(),
                record.line(),
            );
            observe.span_builder(message.clone()).message(message).level(level).attributes(attributes).log();
        });
    }

    fn flush(&self) {}
}

/// A record's key-values as attributes.
struct KeyValues<'a>(&'a mut Vec<KeyValue>);

impl<'kvs> VisitSource<'kvs> for KeyValues<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: log::kv::Value<'kvs>) -> Result<(), log::kv::Error> {
        let value = if let Some(flag) = value.to_bool() {
            Value::Bool(flag)
        } else if let Some(number) = value.to_i64() {
            Value::I64(number)
        } else if let Some(number) = value.to_u64() {
            bridge::unsigned(u128::from(number))
        } else if let Some(number) = value.to_f64() {
            Value::F64(number)
        } else if let Some(text) = value.to_borrowed_str() {
            Value::String(text.to_owned().into())
        } else {
            Value::String(value.to_string().into())
        };
        self.0.push(KeyValue::new(key.as_str().to_owned(), value));
        Ok(())
    }
}
