//! A small instrumented axum service: server spans per request, an outgoing call through the instrumented reqwest
//! client (the trace and the bud context cross it), `#[tracing::instrument]` code bridged, all on the console.
//!
//! ```sh
//! cargo run --example axum_service            # serves on http://127.0.0.1:3000 until stopped
//! curl http://127.0.0.1:3000/users/42         # then look at the console
//! cargo run --example axum_service -- demo    # serves on a free port, sends itself a few requests, exits
//! ```
//!
//! Needs nothing but this repository (the service calls itself). `PORT` changes the port.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::reqwest::{ClientMiddleware, UrlTemplate};
use budobserve::opentelemetry::Context;
use budobserve::opentelemetry::context::FutureExt as _;
use budobserve::{BudContext, bud_info, bud_warn};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Clone)]
struct App {
    client: ClientWithMiddleware,
    address: SocketAddr,
}

/// Code instrumented the `tracing` way, unchanged.
#[tracing::instrument]
fn load_profile(user_id: u32) -> String {
    tracing::debug!("profile cache hit");
    format!("user {user_id}")
}

async fn user(Path(user_id): Path<u32>, State(app): State<App>) -> Result<String, StatusCode> {
    if user_id == 0 {
        bud_warn!("no user {user_id}");
        return Err(StatusCode::NOT_FOUND);
    }
    // The request's bud context, carried to the quota service as baggage.
    let cx = BudContext::new().project_id("proj-example").user_id(user_id.to_string()).to_context(&Context::current());
    async move {
        let quota = app
            .client
            .get(format!("http://{}/quota/{user_id}", app.address))
            .with_extension(UrlTemplate::new("/quota/{user_id}"))
            .send()
            .await
            .map_err(|_| StatusCode::BAD_GATEWAY)?
            .text()
            .await
            .map_err(|_| StatusCode::BAD_GATEWAY)?;
        Ok(format!("{} (quota {quota})", load_profile(user_id)))
    }
    .with_context(cx)
    .await
}

async fn quota(Path(user_id): Path<u32>) -> String {
    bud_info!("quota looked up for {user_id}");
    "1000".to_owned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = budobserve::configure().service_name("axum-example").console(true).install()?;
    tracing_subscriber::registry().with(budobserve::integrations::tracing::layer()).init();

    let demo = std::env::args().nth(1).is_some_and(|arg| arg == "demo");
    let port = if demo { 0 } else { std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000) };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    let client = ClientBuilder::new(reqwest::Client::new()).with(ClientMiddleware::new()).build();
    let app = Router::new()
        .route("/users/{user_id}", get(user))
        .route("/quota/{user_id}", get(quota))
        .route("/health", get(|| async { "ok" }))
        .with_state(App { client, address })
        .layer(ServerLayer::new().excluded_urls(["^/health$"])?.capture_request_headers(["x-tenant"]));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    if !demo {
        bud_info!("serving on http://{address}");
        server.await??;
        return Ok(());
    }
    let plain = reqwest::Client::new();
    for path in ["/users/42", "/users/0", "/health"] {
        let response = plain.get(format!("http://{address}{path}")).header("x-tenant", "t-1").send().await?;
        let status = response.status();
        let text = response.text().await?;
        let mut out = std::io::stdout().lock();
        std::io::Write::write_fmt(&mut out, format_args!("{path} -> {status} {text}\n"))?;
    }
    server.abort();
    Ok(())
}
