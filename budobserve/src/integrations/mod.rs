//! Integrations with the libraries a service already uses. Each is a cargo feature, is turned on by adding a
//! layer, middleware or wrapper (nothing is patched globally), and writes under an instrumentation scope of its own
//! (`budobserve.<name>`) that [`BudObserve::suppress_scopes`](crate::BudObserve::suppress_scopes) can silence.
//!
//! | feature | module | scope |
//! |---|---|---|
//! | `tracing` | `tracing`: `tracing` spans and events as BudObserve spans and logs | `budobserve.tracing` |
//! | `log` | `log`: `log` records as BudObserve logs | `budobserve.log` |
//! | `axum` | `axum`: a server span per request, for axum and any tower service | `budobserve.axum` |
//! | `reqwest` | `reqwest`: a client span per request, as `reqwest-middleware` middleware | `budobserve.reqwest` |
//! | `sqlx` | `sqlx`: a client span per query of a PostgreSQL pool, connection or transaction | `budobserve.sqlx` |
//! | `llm` | `llm`: LLM spans for OpenAI-style and Anthropic APIs, as `reqwest-middleware` middleware | `budobserve.llm` |
//! | `redis` | `redis`: a client span per command and pipeline of the `redis` crate's async connections | `budobserve.redis` |

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(any(feature = "axum", feature = "reqwest", feature = "redis", feature = "sqlx"))]
pub(crate) mod client;
#[cfg(feature = "dapr")]
pub mod dapr;
#[cfg(any(feature = "axum", feature = "reqwest"))]
pub(crate) mod http;
#[cfg(feature = "llm")]
pub mod llm;
#[cfg(feature = "log")]
pub mod log;
#[cfg(feature = "openai")]
pub mod openai;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "sqlx")]
pub mod sqlx;
#[cfg(feature = "tracing")]
pub mod tracing;

#[cfg(any(feature = "tracing", feature = "log"))]
mod shared {
    use opentelemetry::{Context, KeyValue, Value};

    use crate::observe::{BudObserve, Settings};
    use crate::{constants, instance};

    /// The handle an integration writes with: the instance current on this thread, under the integration's scope.
    /// The global instance's handle is made once per integration; an instance made current with
    /// [`with_instance`](crate::with_instance) gets one per call.
    #[derive(Debug)]
    pub(crate) struct ScopedHandle {
        scope: &'static str,
        fixed: Option<BudObserve>,
        global: std::sync::OnceLock<BudObserve>,
    }

    impl ScopedHandle {
        /// Writes to whichever instance is current when a record arrives.
        pub(crate) const fn current(scope: &'static str) -> ScopedHandle {
            ScopedHandle { scope, fixed: None, global: std::sync::OnceLock::new() }
        }

        /// Always writes to `observe`.
        pub(crate) fn fixed(scope: &'static str, observe: &BudObserve) -> ScopedHandle {
            ScopedHandle {
                scope,
                fixed: Some(observe.with_settings(Settings::new().scope(scope))),
                global: std::sync::OnceLock::new(),
            }
        }

        pub(crate) fn with<R>(&self, f: impl FnOnce(&BudObserve) -> R) -> R {
            if let Some(fixed) = &self.fixed {
                return f(fixed);
            }
            instance::with_current(|current| {
                if current.same_instance(instance::global()) {
                    f(self.global.get_or_init(|| current.with_settings(Settings::new().scope(self.scope))))
                } else {
                    f(&current.with_settings(Settings::new().scope(self.scope)))
                }
            })
        }
    }

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
    #[cfg_attr(not(feature = "tracing"), allow(dead_code, reason = "the tracing bridge's"))]
    pub(crate) fn signed(value: i128) -> Value {
        match i64::try_from(value) {
            Ok(value) => Value::I64(value),
            Err(_) => Value::String(value.to_string().into()),
        }
    }
}

#[cfg(any(feature = "tracing", feature = "log"))]
pub(crate) use shared::*;
