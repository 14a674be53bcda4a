//! An axum service with PostgreSQL (sqlx) and Redis, instrumented end to end: each request's server span holds the
//! cache lookups and the queries it made, on the console.
//!
//! ```sh
//! cargo run --example full_stack               # serves on http://127.0.0.1:3001 until stopped
//! curl http://127.0.0.1:3001/users/1           # a cache miss: Redis GET, a SELECT, a Redis SET
//! curl http://127.0.0.1:3001/users/1           # a cache hit: one Redis GET
//! cargo run --example full_stack -- demo       # serves on a free port, sends itself those requests, exits
//! ```
//!
//! Needs PostgreSQL and Redis (`./scripts/test.sh` makes sure both run on loopback and runs this example):
//! `DATABASE_URL` (default `postgres://postgres:postgres@127.0.0.1:5432/test`) and `REDIS_URL` (default
//! `redis://127.0.0.1:6379/3`). It creates the table `full_stack_users` when missing.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::redis::{InstrumentedConnection, RedisTracing};
use budobserve::integrations::sqlx::InstrumentedPool;
use budobserve::{bud_info, bud_warn};
use redis::AsyncCommands as _;
use redis::aio::MultiplexedConnection;

#[derive(Clone)]
struct App {
    db: InstrumentedPool,
    cache: InstrumentedConnection<MultiplexedConnection>,
}

async fn user(Path(id): Path<i32>, State(mut app): State<App>) -> Result<String, StatusCode> {
    let key = format!("full_stack:user:{id}");
    let cached: Option<String> = app.cache.get(&key).await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    if let Some(name) = cached {
        bud_info!("cache hit for user {id}");
        return Ok(name);
    }
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM full_stack_users WHERE id = $1")
        .bind(id)
        .fetch_optional(&app.db)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let Some(name) = name else {
        bud_warn!("no user {id}");
        return Err(StatusCode::NOT_FOUND);
    };
    let _: () = app.cache.set_ex(&key, &name, 60).await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(name)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = budobserve::configure().service_name("full-stack-example").console(true).install()?;
    let database =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".into());
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/3".into());

    let db = InstrumentedPool::new(sqlx::PgPool::connect(&database).await?);
    let client = redis::Client::open(redis_url)?;
    let mut cache = RedisTracing::new(&client).instrument(client.get_multiplexed_async_connection().await?);
    // Setup, outside any request.
    sqlx::query("CREATE TABLE IF NOT EXISTS full_stack_users (id int PRIMARY KEY, name text NOT NULL)")
        .execute(&db)
        .await?;
    sqlx::query("INSERT INTO full_stack_users (id, name) VALUES (1, 'Ada Lovelace') ON CONFLICT (id) DO NOTHING")
        .execute(&db)
        .await?;
    let _: () = cache.del("full_stack:user:1").await?;

    let demo = std::env::args().nth(1).is_some_and(|arg| arg == "demo");
    let port = if demo { 0 } else { 3001 };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    let app = Router::new().route("/users/{id}", get(user)).with_state(App { db, cache }).layer(ServerLayer::new());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    if !demo {
        bud_info!("serving on http://{address}");
        server.await??;
        return Ok(());
    }
    let client = reqwest::Client::new();
    for path in ["/users/1", "/users/1", "/users/2"] {
        let response = client.get(format!("http://{address}{path}")).send().await?;
        let status = response.status();
        let text = response.text().await?;
        let mut out = std::io::stdout().lock();
        std::io::Write::write_fmt(&mut out, format_args!("{path} -> {status} {text}\n"))?;
    }
    server.abort();
    Ok(())
}
