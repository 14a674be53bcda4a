//! Per-query overhead of the database integrations: `SELECT 1` through a plain `PgPool` and through
//! `InstrumentedPool`, and Redis `PING` through a plain multiplexed connection and an instrumented one, one query at
//! a time on loopback, the two interleaved over rounds. Spans go through BudObserve's batch processor into an
//! exporter that drops everything.
//!
//! ```sh
//! cargo run --release --features sqlx,redis --example db_bench -- postgres://postgres:postgres@127.0.0.1/test redis://127.0.0.1:6379/3
//! ```
//!
//! Needs PostgreSQL and Redis (`scripts/bench.sh` uses the local ones). Prints one tab-separated line per
//! scenario: name, µs per query plain, µs per query instrumented (medians over the rounds).

use std::time::Instant;

use budobserve::EnvSource;
use budobserve::integrations::redis::RedisTracing;
use budobserve::integrations::sqlx::InstrumentedPool;

#[path = "../benches/common/mod.rs"]
#[allow(dead_code, reason = "shared with the benchmarks, which use more of it")]
mod common;
use common::DropEverything;

const ROUNDS: usize = 7;
const QUERIES: u32 = 2_000;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// µs per call of `run(QUERIES)`, for the plain and the instrumented side, interleaved.
async fn compare<A, B, FA, FB>(mut plain: A, mut instrumented: B) -> (f64, f64)
where
    A: FnMut() -> FA,
    B: FnMut() -> FB,
    FA: std::future::Future<Output = ()>,
    FB: std::future::Future<Output = ()>,
{
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..QUERIES {
            plain().await;
        }
        a.push(started.elapsed().as_secs_f64() * 1e6 / f64::from(QUERIES));
        let started = Instant::now();
        for _ in 0..QUERIES {
            instrumented().await;
        }
        b.push(started.elapsed().as_secs_f64() * 1e6 / f64::from(QUERIES));
    }
    (median(a), median(b))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let database = args.next().ok_or("usage: db_bench POSTGRES_URL REDIS_URL")?;
    let redis_url = args.next().ok_or("usage: db_bench POSTGRES_URL REDIS_URL")?;
    let _guard = budobserve::configure()
        .env(EnvSource::Map(Default::default()))
        .service_name("bench")
        .console(false)
        .span_exporter(DropEverything)
        .install()?;

    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&database).await?;
    let instrumented = InstrumentedPool::new(pool.clone());
    let (plain_us, instrumented_us) = compare(
        || {
            let pool = pool.clone();
            async move {
                let _: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap_or_default();
            }
        },
        || {
            let pool = instrumented.clone();
            async move {
                let _: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap_or_default();
            }
        },
    )
    .await;
    let mut out = format!("sqlx SELECT 1\t{plain_us:.2}\t{instrumented_us:.2}\n");

    let client = redis::Client::open(redis_url)?;
    let connection = client.get_multiplexed_async_connection().await?;
    let traced = RedisTracing::new(&client).instrument(connection.clone());
    let (plain_us, instrumented_us) = compare(
        || {
            let mut connection = connection.clone();
            async move {
                let _: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
            }
        },
        || {
            let mut connection = traced.clone();
            async move {
                let _: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
            }
        },
    )
    .await;
    out.push_str(&format!("redis PING\t{plain_us:.2}\t{instrumented_us:.2}\n"));
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(())
}
