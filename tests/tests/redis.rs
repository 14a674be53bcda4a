//! Redis commands and pipelines as client spans, against a real Redis server on loopback (`scripts/test.sh`
//! makes sure one runs; `BUD_OBSERVE_TEST_REDIS_URL` names it), and against a password-protected one the test
//! starts itself.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use budobserve::Level;
use budobserve::bud_span;
use budobserve::constants::{self, db, http as keys};
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::redis::{InstrumentedConnection, RedisTracing};
use budobserve::opentelemetry::trace::{SpanKind, Status};
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{self, Capture};
use common::clickhouse::free_port;
use common::http::{int, run, serve, text};
use redis::AsyncCommands as _;
use redis::aio::MultiplexedConnection;

fn url() -> String {
    std::env::var("BUD_OBSERVE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/3".to_owned())
}

/// Keys of this test process only.
fn key(name: &str) -> String {
    format!("budobserve-test:{}:{name}", std::process::id())
}

fn clients(capture: &Capture) -> Vec<SpanData> {
    capture.spans().into_iter().filter(|s| s.span_kind == SpanKind::Client).collect()
}

async fn connect(capture: &Capture, url: &str) -> InstrumentedConnection<MultiplexedConnection> {
    let client = redis::Client::open(url).unwrap();
    RedisTracing::for_instance(capture.observe(), &client)
        .max_argument_length(8)
        .instrument(client.get_multiplexed_async_connection().await.unwrap())
}

#[test]
fn commands_are_client_spans_under_the_current_span() {
    let capture = testing::capture();
    let (user, missing, both) = run(&capture, async {
        let mut redis = connect(&capture, &url()).await;
        let _request = bud_span!("request").entered();
        let _: () = redis.set(key("user"), "alice-the-first").await.unwrap();
        let user: String = redis.get(key("user")).await.unwrap();
        let missing: Option<String> = redis.get(key("missing")).await.unwrap();
        let both: Vec<Option<String>> = redis.mget(&[key("user"), key("missing")]).await.unwrap();
        let _: () = redis.del(key("user")).await.unwrap();
        (user, missing, both)
    });
    assert_eq!(
        (user.as_str(), missing, both),
        ("alice-the-first", None, vec![Some("alice-the-first".to_owned()), None])
    );

    let request = capture.span("request");
    let spans = clients(&capture);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["SET", "GET", "GET", "MGET", "DEL"]);
    for span in &spans {
        assert_eq!(span.parent_span_id, request.span_context.span_id(), "{}", span.name);
        assert_eq!(span.instrumentation_scope.name(), "budobserve.redis");
        assert_eq!(text(span, db::SYSTEM_NAME).as_deref(), Some("redis"));
        assert_eq!(text(span, db::NAMESPACE).as_deref(), Some("3"));
        assert_eq!(text(span, keys::SERVER_ADDRESS).as_deref(), Some("127.0.0.1"));
        assert_eq!(int(span, keys::SERVER_PORT), Some(6379));
        assert_eq!(span.status, Status::Unset);
    }
    let user_key = key("user");
    let cut = |text: &str| if text.len() > 8 { format!("{}…", &text[..8]) } else { text.to_owned() };
    assert_eq!(text(&spans[0], db::OPERATION_NAME).as_deref(), Some("SET"));
    assert_eq!(text(&spans[0], db::QUERY_TEXT), Some(format!("SET {} {}", cut(&user_key), cut("alice-the-first"))));
    assert_eq!(text(&spans[3], db::QUERY_TEXT), Some(format!("MGET {} {}", cut(&user_key), cut(&key("missing")))));
}

#[test]
fn a_pipeline_is_one_span_and_an_error_reply_is_an_error() {
    let capture = testing::capture();
    let (counts, error) = run(&capture, async {
        let mut redis = connect(&capture, &url()).await;
        let counts: (i64, i64) =
            redis::pipe().incr(key("hits"), 1).incr(key("hits"), 2).query_async(&mut redis).await.unwrap();
        let _: () = redis.del(key("hits")).await.unwrap();
        let _: () = redis.set(key("name"), "text").await.unwrap();
        let error = redis.lpush::<_, _, ()>(key("name"), "x").await.unwrap_err();
        let _: () = redis.del(key("name")).await.unwrap();
        (counts, error)
    });
    assert_eq!(counts, (1, 3));
    assert_eq!(error.code(), Some("WRONGTYPE"));

    let spans = clients(&capture);
    let pipeline = &spans[0];
    assert_eq!(pipeline.name, "PIPELINE");
    assert_eq!(int(pipeline, db::OPERATION_BATCH_SIZE), Some(2));
    let hits = key("hits");
    let hits = &hits[..8];
    assert_eq!(text(pipeline, db::QUERY_TEXT), Some(format!("INCRBY {hits}… 1; INCRBY {hits}… 2")));

    let failed = spans.iter().find(|s| s.name == "LPUSH").unwrap();
    assert_eq!(text(failed, db::RESPONSE_STATUS_CODE).as_deref(), Some("WRONGTYPE"));
    assert!(
        matches!(&failed.status, Status::Error { description } if description.contains("WRONGTYPE")),
        "{:?}",
        failed.status
    );
    assert_eq!(int(failed, constants::LEVEL_NUM), Some(i64::from(Level::Error.number())));
    assert!(text(failed, keys::ERROR_TYPE).is_some());
}

/// A password-protected Redis server of the test's own.
struct ProtectedRedis(Child, u16);

impl ProtectedRedis {
    fn start() -> ProtectedRedis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--requirepass", "s3cret-pw"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test.sh installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        ProtectedRedis(child, port)
    }
}

impl Drop for ProtectedRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn auth_arguments_never_leave_and_a_refused_command_is_an_error() {
    let server = ProtectedRedis::start();
    let capture = testing::capture();
    let results = run(&capture, async {
        // Connected without the password: commands are refused until AUTH.
        let mut redis = connect(&capture, &format!("redis://127.0.0.1:{}/0", server.1)).await;
        let refused = redis.get::<_, Option<String>>(key("x")).await.map_err(|e| e.code().map(str::to_owned));
        let authed: String = redis::cmd("AUTH").arg("s3cret-pw").query_async(&mut redis).await.unwrap();
        let after: Option<String> = redis.get(key("x")).await.unwrap();
        (refused, authed, after)
    });
    assert_eq!(results, (Err(Some("NOAUTH".to_owned())), "OK".to_owned(), None));
    let spans = clients(&capture);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["GET", "AUTH", "GET"]);
    assert_eq!(text(&spans[0], db::RESPONSE_STATUS_CODE).as_deref(), Some("NOAUTH"));
    assert_eq!(text(&spans[1], db::QUERY_TEXT).as_deref(), Some("AUTH ?"));
    let everything = format!("{:?}", capture.spans());
    assert!(!everything.contains("s3cret"), "the password never appears in a span");
}

#[test]
fn a_connection_manager_is_instrumented_too_and_nests_under_a_request() {
    let capture = testing::capture();
    let answer = run(&capture, async {
        let client = redis::Client::open(url()).unwrap();
        let manager = client.get_connection_manager().await.unwrap();
        let redis = RedisTracing::for_instance(capture.observe(), &client).instrument(manager);
        let app = Router::new()
            .route(
                "/count",
                get(|State(mut redis): State<InstrumentedConnection<redis::aio::ConnectionManager>>| async move {
                    let count: i64 = redis.incr(key("count"), 1).await.unwrap();
                    let _: () = redis.del(key("count")).await.unwrap();
                    count.to_string()
                }),
            )
            .with_state(redis)
            .layer(ServerLayer::for_instance(capture.observe()));
        let address = serve(app).await;
        reqwest::get(format!("http://{address}/count")).await.unwrap().text().await.unwrap()
    });
    assert_eq!(answer, "1");
    let server = capture.spans().into_iter().find(|s| s.span_kind == SpanKind::Server).unwrap();
    let spans = clients(&capture);
    assert_eq!(spans.iter().map(|s| s.name.as_ref()).collect::<Vec<_>>(), ["INCRBY", "DEL"]);
    for span in &spans {
        assert_eq!(span.parent_span_id, server.span_context.span_id(), "{}", span.name);
        assert_eq!(span.span_context.trace_id(), server.span_context.trace_id());
    }
}
