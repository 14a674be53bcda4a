//! Dapr: service invocation, pub/sub and state through the sidecar's HTTP API, with the trace and the bud context
//! carried across every hop (feature `dapr`).
//!
//! **Client side**, [`DaprClient`]: one span per call to the sidecar, the call's trace context and baggage sent
//! with it.
//!
//! - [`invoke`](DaprClient::invoke) (`/v1.0/invoke/{app-id}/method/{method}`): a client span `{app-id}/{method}`
//!   with `rpc.system = "dapr"`, `rpc.service`, `rpc.method`, the HTTP attributes and `dapr.app_id`,
//!   `dapr.method`; `traceparent`, `tracestate` and `baggage` go to the target app (the sidecars forward them).
//! - [`publish`](DaprClient::publish) and [`publish_bulk`](DaprClient::publish_bulk): a producer span
//!   `publish {topic}` (`messaging.system` = the component's type where known, `messaging.destination.name`,
//!   `messaging.operation.type = "send"`, `dapr.pubsub_name`, the message id or the batch size). Each event is
//!   sent as a CloudEvent whose `traceparent`/`tracestate` extension attributes carry the trace (the sidecar
//!   forwards them to subscribers) and whose `baggage` attribute carries the bud context.
//! - [`get_state`](DaprClient::get_state), [`save_state`](DaprClient::save_state),
//!   [`delete_state`](DaprClient::delete_state), [`transaction`](DaprClient::transaction): a database client span
//!   `{OPERATION} {store}` (`db.system.name` from the store's type where known, `db.operation.name`,
//!   `dapr.store_name`, `dapr.state.keys`); keys are recorded, values never.
//!
//! The `dapr-api-token` is sent, never recorded. Components' types come from [`DaprClient::component`] or from the
//! sidecar's metadata ([`DaprClient::load_components`]); without them `messaging.system`/`db.system.name` are
//! `dapr`.
//!
//! **Server side**, [`SubscriptionLayer`] on an app's subscription routes: it reads the CloudEvent the sidecar
//! delivers (single, or a bulk-subscribe envelope), and runs the handler in a consumer span `process {topic}`
//! (`messaging.operation.type = "process"`) — the child of the request's span when a server layer started one
//! (linked to the producer's span), else the child of the producer's span — with the producer's bud context; the
//! handler's answer (`SUCCESS`, `RETRY`, `DROP`) is recorded. Invoked methods are plain HTTP requests for the
//! [server layer](super::axum::ServerLayer). [`Subscription`] writes the `/dapr/subscribe` answer.
//!
//! ```no_run
//! use budobserve::integrations::dapr::DaprClient;
//!
//! # async fn run() -> Result<(), budobserve::integrations::dapr::DaprError> {
//! let dapr = DaprClient::from_env()?; // DAPR_HTTP_ENDPOINT or DAPR_HTTP_PORT, DAPR_API_TOKEN, APP_ID
//! dapr.publish("pubsub", "orders", &serde_json::json!({"order": 7})).await?;
//! let answer = dapr.invoke("billing", "charge").json(&serde_json::json!({"order": 7})).send().await?;
//! let cart: Option<serde_json::Value> = dapr.get_state("statestore", "cart-7").await?;
//! # drop((answer, cart));
//! # Ok(())
//! # }
//! ```
//!
//! Spans are written under the instrumentation scope `budobserve.dapr`. The `dapr` crate's gRPC client is not
//! instrumented: its supported constructors fix its transport, so no trace context can reach a call's metadata.

mod client;
mod invoke;
mod pubsub;
mod state;
mod subscribe;
#[cfg(feature = "axum")]
mod subscription;

pub use self::client::{DaprClient, DaprError, SCOPE};
pub use self::invoke::Invocation;
pub use self::pubsub::{BulkPublished, FailedEntry};
pub use self::state::StateOperation;
pub use self::subscribe::{BulkSubscribe, Subscription};
#[cfg(feature = "axum")]
pub use self::subscription::{SubscriptionLayer, SubscriptionService};
