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
//! | `openai` | `openai`: the `async-openai` client instrumented in one step (LLM spans as `llm` writes them) | `budobserve.llm` |
//! | `process` | `process`: process metrics (CPU time, memory, threads, file descriptors; Linux) and a tokio runtime's metrics | `budobserve.process` |
//! | `dapr` | `dapr`: client spans for the sidecar's invocation, pub/sub and state APIs; `SubscriptionLayer` (with `axum`) for subscribers | `budobserve.dapr` |

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(any(feature = "tracing", feature = "log"))]
mod bridge;
#[cfg(feature = "dapr")]
pub mod dapr;
#[cfg(any(
    feature = "axum",
    feature = "reqwest",
    feature = "redis",
    feature = "sqlx",
    feature = "tracing",
    feature = "log",
    feature = "dapr"
))]
mod handle;
#[cfg(any(feature = "axum", feature = "reqwest"))]
pub(crate) mod http;
#[cfg(feature = "llm")]
pub mod llm;
#[cfg(feature = "log")]
pub mod log;
#[cfg(feature = "openai")]
pub use self::llm::openai;
#[cfg(feature = "process")]
pub mod process;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "sqlx")]
pub mod sqlx;
#[cfg(any(feature = "axum", feature = "reqwest", feature = "redis", feature = "sqlx"))]
mod timed;
#[cfg(feature = "tracing")]
pub mod tracing;
