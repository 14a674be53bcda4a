//! What the `tracing` and `log` bridges share: which records to ignore, and how a record's origin and its integer
//! values become attributes.

use opentelemetry::{Context, KeyValue, Value};

use crate::constants;
/// Whether records are to be ignored here: BudObserve's own export threads (and the HTTP client runtime they
/// use) emit `tracing`/`log` records of their own, which must not feed back into the pipeline.
pub(crate) fn suppressed() -> bool {
    if Context::is_current_telemetry_suppressed() {
        return true;
    }
    let thread = std::thread::current();
    thread.name().is_some_and(|name| name.starts_with("budobserve-") || name == "reqwest-internal-sync-runtime")
}

/// `code.*` attributes of a record's origin.
pub(crate) fn code_attributes(
    attributes: &mut Vec<KeyValue>,
    module_path: Option<&str>,
    target: &str,
    file: Option<&str>,
    line: Option<u32>,
) {
    attributes.push(KeyValue::new(constants::CODE_NAMESPACE, module_path.unwrap_or(target).to_owned()));
    if let Some(file) = file {
        attributes.push(KeyValue::new(constants::CODE_FILEPATH, file.to_owned()));
    }
    if let Some(line) = line {
        attributes.push(KeyValue::new(constants::CODE_LINENO, i64::from(line)));
    }
    if module_path.is_some_and(|module| module != target) {
        attributes.push(KeyValue::new(constants::TARGET, target.to_owned()));
    }
}

/// An unsigned value as an OpenTelemetry integer when it fits, else as its decimal text.
pub(crate) fn unsigned(value: u128) -> Value {
    match i64::try_from(value) {
        Ok(value) => Value::I64(value),
        Err(_) => Value::String(value.to_string().into()),
    }
}

/// A signed value as an OpenTelemetry integer when it fits, else as its decimal text.
#[cfg(feature = "tracing")]
pub(crate) fn signed(value: i128) -> Value {
    match i64::try_from(value) {
        Ok(value) => Value::I64(value),
        Err(_) => Value::String(value.to_string().into()),
    }
}
