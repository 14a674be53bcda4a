//! An axum service with PostgreSQL (sqlx), Redis and an LLM, instrumented end to end: each request's server span
//! holds the cache lookups, the queries and the model calls it made, on the console.
//!
//! ```sh
//! cargo run --example full_stack               # serves on http://127.0.0.1:3001 until stopped
//! curl http://127.0.0.1:3001/users/1           # a cache miss: Redis GET, a SELECT, a Redis SET
//! curl http://127.0.0.1:3001/users/1           # a cache hit: one Redis GET
//! curl http://127.0.0.1:3001/users/1/greeting  # the user, then an LLM call that greets them
//! cargo run --example full_stack -- demo       # serves on a free port, sends itself those requests, exits
//! ```
//!
//! Needs PostgreSQL and Redis (`./scripts/test.sh` makes sure both run on loopback and runs this example):
//! `DATABASE_URL` (default `postgres://postgres:postgres@127.0.0.1:5432/test`) and `REDIS_URL` (default
//! `redis://127.0.0.1:6379/3`). It creates the table `full_stack_users` when missing. The greeting calls an
//! OpenAI-compatible gateway (budgateway, a LiteLLM proxy) at `OPENAI_BASE_URL` (default
//! `http://127.0.0.1:4000/v1`) with `OPENAI_API_KEY` and `LLM_MODEL` (default `gpt-4o-mini`); the demo asks for it
//! only when `OPENAI_BASE_URL` is set (`./scripts/test.sh` sets it to its LiteLLM proxy).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::llm::LlmMiddleware;
use budobserve::integrations::redis::{InstrumentedConnection, RedisTracing};
use budobserve::integrations::sqlx::InstrumentedPool;
use budobserve::{bud_info, bud_warn};
use redis::AsyncCommands as _;
use redis::aio::MultiplexedConnection;

#[derive(Clone)]
struct App {
    db: InstrumentedPool,
    cache: InstrumentedConnection<MultiplexedConnection>,
    llm: reqwest_middleware::ClientWithMiddleware,
    llm_base: String,
    llm_key: String,
    llm_model: String,
}

/// The user's name, then a greeting for them written by the model.
async fn greeting(Path(id): Path<i32>, State(app): State<App>) -> Result<String, StatusCode> {
    let name = user(Path(id), State(app.clone())).await?;
    let request = serde_json::json!({"model": app.llm_model, "max_tokens": 32,
        "messages": [{"role": "user", "content": format!("Greet {name} in five words.")}]});
    let answer: serde_json::Value = app
        .llm
        .post(format!("{}/chat/completions", app.llm_base))
        .bearer_auth(&app.llm_key)
        .json(&request)
        .send()
        .await
        .and_then(|response| response.error_for_status().map_err(Into::into))
        .map_err(|_| StatusCode::BAD_GATEWAY)?
        .json()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(answer["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_owned())
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
    let llm_base = std::env::var("OPENAI_BASE_URL").ok();
    let llm = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(LlmMiddleware::new()).build();
    let state = App {
        db,
        cache,
        llm,
        llm_base: llm_base.clone().unwrap_or_else(|| "http://127.0.0.1:4000/v1".into()),
        llm_key: std::env::var("OPENAI_API_KEY").unwrap_or_default(),
        llm_model: std::env::var("LLM_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into()),
    };
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/users/{id}/greeting", get(greeting))
        .with_state(state)
        .layer(ServerLayer::new());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    if !demo {
        bud_info!("serving on http://{address}");
        server.await??;
        return Ok(());
    }
    let client = reqwest::Client::new();
    let mut paths = vec!["/users/1", "/users/1", "/users/2"];
    if llm_base.is_some() {
        paths.push("/users/1/greeting");
    }
    for path in paths {
        let response = client.get(format!("http://{address}{path}")).send().await?;
        let status = response.status();
        let text = response.text().await?;
        let mut out = std::io::stdout().lock();
        std::io::Write::write_fmt(&mut out, format_args!("{path} -> {status} {text}\n"))?;
    }
    server.abort();
    Ok(())
}
