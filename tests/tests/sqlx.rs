//! sqlx queries as client spans against a real PostgreSQL on loopback (`scripts/test.sh` makes sure one runs;
//! `BUD_OBSERVE_TEST_POSTGRES_URL` names it): statements and their attributes, row counts, failures with their
//! SQLSTATE, transactions, connection waits, and nesting under a `bud_span!` and an axum request.

mod common;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use budobserve::Level;
use budobserve::bud_span;
use budobserve::constants::{self, db, http as keys};
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::sqlx::InstrumentedPool;
use budobserve::opentelemetry::trace::{SpanKind, Status};
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{self, Capture};
use common::http::{int, run, serve, text};
use sqlx::Row as _;

fn url() -> String {
    std::env::var("BUD_OBSERVE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".to_owned())
}

/// A table of this test only.
fn table(name: &str) -> String {
    format!("budobserve_{name}_{}", std::process::id())
}

async fn pool(capture: &Capture) -> InstrumentedPool {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&url()).await.unwrap();
    InstrumentedPool::for_instance(capture.observe(), pool)
}

fn clients(capture: &Capture) -> Vec<SpanData> {
    capture.spans().into_iter().filter(|s| s.span_kind == SpanKind::Client).collect()
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()))
}

#[test]
fn queries_are_client_spans_with_their_statement_and_rows() {
    let capture = testing::capture();
    let users = table("users");
    let (names, updated, deleted) = run(&capture, async {
        let pool = pool(&capture).await;
        sqlx::query(&format!("CREATE TABLE {users} (id serial PRIMARY KEY, name text UNIQUE NOT NULL)"))
            .execute(pool.inner())
            .await
            .unwrap();
        let _request = bud_span!("request").entered();
        for name in ["ada", "grace"] {
            let id: i32 = sqlx::query_scalar(&format!("INSERT INTO {users} (name) VALUES ($1) RETURNING id"))
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert!(id > 0);
        }
        let rows = sqlx::query(&format!("SELECT name FROM {users} ORDER BY id")).fetch_all(&pool).await.unwrap();
        let names: Vec<String> = rows.iter().map(|row| row.get("name")).collect();
        let updated = sqlx::query(&format!("UPDATE {users} SET name = $1 WHERE name = $2"))
            .bind("ada l.")
            .bind("ada")
            .execute(&pool)
            .await
            .unwrap();
        let deleted =
            sqlx::query(&format!("DELETE FROM {users} WHERE name = $1")).bind("grace").execute(&pool).await.unwrap();
        drop(_request);
        sqlx::query(&format!("DROP TABLE {users}")).execute(pool.inner()).await.unwrap();
        (names, updated.rows_affected(), deleted.rows_affected())
    });
    assert_eq!((names, updated, deleted), (vec!["ada".to_owned(), "grace".to_owned()], 1, 1));

    let request = capture.span("request");
    let spans = clients(&capture);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    let insert = format!("INSERT {users}");
    let select = format!("SELECT {users}");
    let update = format!("UPDATE {users}");
    let delete = format!("DELETE {users}");
    assert_eq!(names, [insert.as_str(), insert.as_str(), select.as_str(), update.as_str(), delete.as_str()]);
    for span in &spans {
        assert_eq!(span.parent_span_id, request.span_context.span_id(), "{}", span.name);
        assert_eq!(span.instrumentation_scope.name(), "budobserve.sqlx");
        assert_eq!(text(span, db::SYSTEM_NAME).as_deref(), Some("postgresql"));
        assert_eq!(text(span, db::NAMESPACE).as_deref(), Some("test"));
        assert_eq!(text(span, db::COLLECTION_NAME), Some(users.clone()));
        assert_eq!(text(span, keys::SERVER_ADDRESS).as_deref(), Some("127.0.0.1"));
        assert_eq!(int(span, keys::SERVER_PORT), Some(5432));
        assert_eq!(span.status, Status::Unset);
    }
    let select = named(&spans, &select);
    assert_eq!(text(select, db::OPERATION_NAME).as_deref(), Some("SELECT"));
    assert_eq!(text(select, db::QUERY_TEXT), Some(format!("SELECT name FROM {users} ORDER BY id")));
    assert_eq!(int(select, db::RESPONSE_RETURNED_ROWS), Some(2));
    let update = named(&spans, &update);
    assert_eq!(
        text(update, db::QUERY_TEXT),
        Some(format!("UPDATE {users} SET name = $1 WHERE name = $2")),
        "values never inlined"
    );
    assert_eq!(int(&spans[0], db::RESPONSE_RETURNED_ROWS), Some(1), "INSERT … RETURNING");

    // Waiting for a pool connection is a debug-level child of the query.
    let waits = capture.spans_named("acquire connection");
    assert_eq!(waits.len(), 5, "one per query through the instrumented pool");
    let first_wait =
        waits.iter().find(|w| w.parent_span_id == spans[0].span_context.span_id()).expect("a wait under the insert");
    assert_eq!(int(first_wait, constants::LEVEL_NUM), Some(i64::from(Level::Debug.number())));
}

#[test]
fn failures_are_errors_with_their_sqlstate() {
    let capture = testing::capture();
    let keys_table = table("keys");
    let (syntax, unique) = run(&capture, async {
        let pool = pool(&capture).await;
        sqlx::query(&format!("CREATE TABLE {keys_table} (k text PRIMARY KEY)")).execute(pool.inner()).await.unwrap();
        let syntax = sqlx::query("SELEC 1").execute(&pool).await.unwrap_err();
        sqlx::query(&format!("INSERT INTO {keys_table} (k) VALUES ($1)")).bind("a").execute(&pool).await.unwrap();
        let unique = sqlx::query(&format!("INSERT INTO {keys_table} (k) VALUES ($1)"))
            .bind("a")
            .execute(&pool)
            .await
            .unwrap_err();
        sqlx::query(&format!("DROP TABLE {keys_table}")).execute(pool.inner()).await.unwrap();
        (syntax, unique)
    });
    assert_eq!(syntax.as_database_error().and_then(|e| e.code()).as_deref(), Some("42601"));
    assert_eq!(unique.as_database_error().and_then(|e| e.code()).as_deref(), Some("23505"));
    let spans = clients(&capture);
    let failed: Vec<&SpanData> = spans.iter().filter(|s| matches!(s.status, Status::Error { .. })).collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].name, "SELEC");
    assert_eq!(text(failed[0], db::RESPONSE_STATUS_CODE).as_deref(), Some("42601"));
    assert_eq!(text(failed[0], keys::ERROR_TYPE).as_deref(), Some("42601"));
    assert_eq!(failed[1].name, format!("INSERT {keys_table}"));
    assert_eq!(text(failed[1], db::RESPONSE_STATUS_CODE).as_deref(), Some("23505"));
    assert_eq!(int(failed[1], constants::LEVEL_NUM), Some(i64::from(Level::Error.number())));
    let Status::Error { description } = &failed[1].status else { unreachable!() };
    assert!(description.contains("duplicate key"), "{description}");
}

#[test]
fn transactions_show_begin_commit_and_rollback() {
    let capture = testing::capture();
    let items = table("items");
    let count = run(&capture, async {
        let pool = pool(&capture).await;
        sqlx::query(&format!("CREATE TABLE {items} (v int)")).execute(pool.inner()).await.unwrap();
        let mut kept = pool.begin().await.unwrap();
        sqlx::query(&format!("INSERT INTO {items} (v) VALUES (1)")).execute(&mut kept).await.unwrap();
        kept.commit().await.unwrap();
        let mut undone = pool.begin().await.unwrap();
        sqlx::query(&format!("INSERT INTO {items} (v) VALUES (2)")).execute(&mut undone).await.unwrap();
        undone.rollback().await.unwrap();
        let count: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {items}")).fetch_one(pool.inner()).await.unwrap();
        sqlx::query(&format!("DROP TABLE {items}")).execute(pool.inner()).await.unwrap();
        count
    });
    assert_eq!(count, 1, "the rolled back insert is gone");
    let spans = clients(&capture);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    let insert = format!("INSERT {items}");
    assert_eq!(names, ["BEGIN", insert.as_str(), "COMMIT", "BEGIN", insert.as_str(), "ROLLBACK"]);
    for span in &spans {
        assert_eq!(span.status, Status::Unset, "{}", span.name);
        assert_eq!(text(span, db::SYSTEM_NAME).as_deref(), Some("postgresql"));
    }
    assert_eq!(text(&spans[2], db::OPERATION_NAME).as_deref(), Some("COMMIT"));
    assert_eq!(text(&spans[5], db::QUERY_TEXT).as_deref(), Some("ROLLBACK"));
}

#[test]
fn queries_of_a_request_are_its_children() {
    let capture = testing::capture();
    let answer = run(&capture, async {
        let pool = pool(&capture).await;
        let app = Router::new()
            .route(
                "/answer",
                get(|State(pool): State<InstrumentedPool>| async move {
                    let answer: i32 = sqlx::query_scalar("SELECT 40 + $1").bind(2).fetch_one(&pool).await.unwrap();
                    answer.to_string()
                }),
            )
            .with_state(pool)
            .layer(ServerLayer::for_instance(capture.observe()));
        let address = serve(app).await;
        reqwest::get(format!("http://{address}/answer")).await.unwrap().text().await.unwrap()
    });
    assert_eq!(answer, "42");
    let server = capture.spans().into_iter().find(|s| s.span_kind == SpanKind::Server).unwrap();
    let [query] = clients(&capture).try_into().unwrap();
    assert_eq!(query.name, "SELECT");
    assert_eq!(query.parent_span_id, server.span_context.span_id());
    assert_eq!(int(&query, db::RESPONSE_RETURNED_ROWS), Some(1));
    assert_eq!(text(&query, constants::bud::REQUEST_ID), text(&server, constants::bud::REQUEST_ID));
}
