//! A Dapr app with BudObserve: a checkout route that keeps state, publishes an event and invokes another app through
//! the sidecar, and the subscriber of that event — one trace from the checkout request to the event's handler.
//!
//! ```sh
//! dapr run --app-id orders --app-port 8080 --dapr-http-port 3500 -- cargo run --example dapr
//! curl -X POST http://127.0.0.1:8080/checkout/7
//! ```
//!
//! Needs a Dapr sidecar (`daprd`, started by `dapr run`) with a pub/sub component `pubsub` and a state store
//! `statestore` (the ones `dapr init` creates), and an app `billing` with a `charge` method — this app answers
//! `charge` too, so that one process can play both (`dapr run --app-id billing --app-port 8080 …` beside it). The
//! sidecar is found from `DAPR_HTTP_ENDPOINT` or `DAPR_HTTP_PORT` (set by `dapr run`), the app listens on
//! `APP_PORT` (default 8080). `scripts/test.sh` runs it against the tests' stand-in for the sidecar, with the app
//! ids `orders` and `billing` both pointing at it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::dapr::{DaprClient, DaprError, Subscription, SubscriptionLayer};
use budobserve::{bud_info, bud_warn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = budobserve::configure().service_name("orders").install()?;
    let dapr = DaprClient::from_env()?;
    // `messaging.system` and `db.system.name` from the components' types (`pubsub.redis` → `redis`).
    if let Err(err) = dapr.load_components().await {
        bud_warn!("the sidecar's components are not known: {err}");
    }
    let app = Router::new()
        // The sidecar asks which topics the app subscribes to…
        .route("/dapr/subscribe", get(|| async { Json(vec![Subscription::new("pubsub", "orders", "/events/orders")]) }))
        // …and delivers each event as a CloudEvent, handled in a consumer span of the publisher's trace.
        .route("/events/orders", post(order_placed).layer(SubscriptionLayer::new()))
        .route("/checkout/{order}", post(checkout))
        .route("/charge", post(charge))
        .with_state(dapr)
        .layer(ServerLayer::new());
    let port: u16 = std::env::var("APP_PORT").ok().and_then(|port| port.parse().ok()).unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    bud_info!("orders listening on port {port}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Keeps the order, publishes it, and has billing charge it: three spans, each carrying the trace to the sidecar.
async fn checkout(State(dapr): State<DaprClient>, Path(order): Path<u64>) -> Result<Json<Value>, (StatusCode, String)> {
    let failed = |err: DaprError| (StatusCode::BAD_GATEWAY, err.to_string());
    dapr.save_state("statestore", &format!("order-{order}"), &json!({"status": "placed"})).await.map_err(failed)?;
    dapr.publish("pubsub", "orders", &json!({"order": order})).await.map_err(failed)?;
    let charged = dapr.invoke("billing", "charge").json(&json!({"order": order})).send().await.map_err(failed)?;
    Ok(Json(json!({"order": order, "billing": charged.status().as_u16()})))
}

/// Billing's method, invoked through the sidecar: its span continues the caller's trace.
async fn charge(Json(request): Json<Value>) -> Json<Value> {
    let order = request["order"].as_u64().unwrap_or_default();
    bud_info!("charging order {order}");
    Json(json!({"charged": order}))
}

/// The subscriber: Dapr retries the event unless the answer says `SUCCESS` (or `DROP`).
async fn order_placed(Json(event): Json<Value>) -> Json<Value> {
    let order = event["data"]["order"].as_u64().unwrap_or_default();
    bud_info!("order {order} placed");
    Json(json!({"status": "SUCCESS"}))
}
