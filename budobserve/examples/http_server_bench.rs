//! Server for the HTTP benchmark: a hello-world axum handler with no instrumentation (`none`), with BudObserve's
//! server layer (`budobserve`), or with tower-http's `TraceLayer` through `tracing-opentelemetry` (`tower-http`).
//! Spans go through a batch processor into an exporter that drops everything, as in the overhead benchmarks.
//!
//! ```sh
//! cargo run --release --features axum --example http_server_bench -- budobserve 8080 &
//! wrk -t1 -c16 -d10s http://127.0.0.1:8080/hello/7
//! ```
//!
//! `scripts/bench.sh` runs each mode under `wrk` and writes the table in `BENCHMARKS.md`. The server uses one
//! tokio worker thread, so that the load generator has the other core.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use budobserve::EnvSource;
use budobserve::integrations::axum::ServerLayer;
use budobserve::opentelemetry::trace::TracerProvider as _;
use budobserve::opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt as _;

#[path = "../benches/common/mod.rs"]
#[allow(dead_code, reason = "shared with the benchmarks, which use more of it")]
mod common;
use common::DropEverything;

async fn hello(Path(id): Path<u32>) -> String {
    format!("hello {id}")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "none".to_owned());
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(8080);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let routes = Router::new().route("/hello/{id}", get(hello));
    let (app, _guard, _provider) = match mode.as_str() {
        "none" => (routes, None, None),
        "budobserve" => {
            let guard = budobserve::configure()
                .env(EnvSource::Map(Default::default()))
                .service_name("bench")
                .console(false)
                .span_exporter(DropEverything)
                .install()?;
            (routes.layer(ServerLayer::new()), Some(guard), None)
        }
        "tower-http" => {
            let provider = SdkTracerProvider::builder()
                .with_span_processor(BatchSpanProcessor::builder(DropEverything).build())
                .build();
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("bench"))
                .with_location(false)
                .with_threads(false)
                .with_tracked_inactivity(false);
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
            (routes.layer(tower_http::trace::TraceLayer::new_for_http()), None, Some(provider))
        }
        other => return Err(format!("unknown mode {other:?}: none, budobserve or tower-http").into()),
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let mut out = std::io::stdout().lock();
        std::io::Write::write_fmt(&mut out, format_args!("listening on {}\n", listener.local_addr()?))?;
        drop(out);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
