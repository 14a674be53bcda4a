//! The reqwest client middleware against real axum services on loopback, and two instrumented services calling
//! each other: one trace from A's server span through A's client span to B's server span, with A's bud context on
//! B's spans.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use budobserve::constants::{self, bud, http as keys};
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::reqwest::{ClientMiddleware, UrlTemplate};
use budobserve::opentelemetry::context::FutureExt as _;
use budobserve::opentelemetry::trace::{SpanKind, Status};
use budobserve::opentelemetry::{Array, Context, Value};
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{self, Capture, attribute};
use budobserve::{BudContext, Level, bud_info, bud_span};
use common::clickhouse::free_port;
use common::http::{Chunks, histogram_points, int, point_attributes, run, serve, text};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};

fn client(middleware: ClientMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new()).with(middleware).build()
}

fn of_kind(capture: &Capture, kind: SpanKind) -> Vec<SpanData> {
    capture.spans().into_iter().filter(|s| s.span_kind == kind).collect()
}

#[test]
fn two_services_share_one_trace_and_the_bud_context() {
    let capture = testing::capture();
    let answer = run(&capture, async {
        // B: an instrumented service that logs inside its handler.
        let b = Router::new()
            .route(
                "/models/{id}",
                get(|headers: HeaderMap| async move {
                    bud_info!("B serves");
                    headers.get("x-tenant").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
                }),
            )
            .layer(ServerLayer::for_instance(capture.observe()));
        let b = serve(b).await;
        // A: an instrumented service that sets the bud context and calls B through the instrumented client.
        let to_b = client(ClientMiddleware::for_instance(capture.observe()));
        let a = Router::new()
            .route(
                "/chat",
                post(move |State((to_b, b)): State<(ClientWithMiddleware, SocketAddr)>| async move {
                    let bud = BudContext::new().project_id("proj-9").endpoint_id("ep-1");
                    let cx = bud.to_context(&Context::current());
                    async move {
                        let response = to_b
                            .get(format!("http://{b}/models/7"))
                            .header("x-tenant", "t-3")
                            .with_extension(UrlTemplate::new("/models/{id}"))
                            .send()
                            .await
                            .unwrap();
                        response.text().await.unwrap()
                    }
                    .with_context(cx)
                    .await
                }),
            )
            .with_state((to_b, b))
            .layer(ServerLayer::for_instance(capture.observe()));
        let a = serve(a).await;
        reqwest::Client::new().post(format!("http://{a}/chat")).send().await.unwrap().text().await.unwrap()
    });
    assert_eq!(answer, "t-3");

    let servers = of_kind(&capture, SpanKind::Server);
    let a_server = servers.iter().find(|s| s.name == "POST /chat").unwrap();
    let b_server = servers.iter().find(|s| s.name == "GET /models/{id}").unwrap();
    let [a_client] = of_kind(&capture, SpanKind::Client).try_into().unwrap();
    let b_log = capture.span("B serves");

    assert_eq!(a_client.name, "GET /models/{id}");
    assert_eq!(a_client.instrumentation_scope.name(), "budobserve.reqwest");
    assert_eq!(a_client.parent_span_id, a_server.span_context.span_id());
    assert_eq!(b_server.parent_span_id, a_client.span_context.span_id(), "B continues A's client span");
    assert!(b_server.parent_span_is_remote);
    assert_eq!(b_log.parent_span_id, b_server.span_context.span_id());
    let trace = a_server.span_context.trace_id();
    for span in [&a_client, b_server, &b_log] {
        assert_eq!(span.span_context.trace_id(), trace, "{}", span.name);
    }
    // A's bud context crossed the wire as baggage, and B's request id is A's.
    for span in [&a_client, b_server, &b_log] {
        assert_eq!(text(span, bud::PROJECT_ID).as_deref(), Some("proj-9"), "{}", span.name);
        assert_eq!(text(span, bud::ENDPOINT_ID).as_deref(), Some("ep-1"), "{}", span.name);
    }
    assert_eq!(text(b_server, bud::REQUEST_ID), text(a_server, bud::REQUEST_ID));
    assert_eq!(text(a_server, bud::PROJECT_ID), None, "set inside A's handler, after A's span started");

    for (key, value) in [
        (keys::REQUEST_METHOD, "GET"),
        (keys::URL_TEMPLATE, "/models/{id}"),
        (keys::SERVER_ADDRESS, "127.0.0.1"),
        (keys::NETWORK_PROTOCOL_VERSION, "1.1"),
    ] {
        assert_eq!(text(&a_client, key).as_deref(), Some(value), "{key}");
    }
    assert!(text(&a_client, keys::URL_FULL).unwrap().ends_with("/models/7"));
    assert_eq!(int(&a_client, keys::RESPONSE_STATUS_CODE), Some(200));
    assert_eq!(a_client.status, Status::Unset);
}

/// Answers 503 to the first `failures` requests, then 200.
async fn flaky(State(calls): State<Arc<AtomicU32>>) -> (StatusCode, &'static str) {
    if calls.fetch_add(1, Ordering::Relaxed) == 0 {
        (StatusCode::SERVICE_UNAVAILABLE, "busy")
    } else {
        (StatusCode::OK, "done")
    }
}

/// A retry middleware of the test's own: one more attempt after a 503.
struct RetryOnce;

#[async_trait::async_trait]
impl Middleware for RetryOnce {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = request.try_clone().unwrap();
        let response = next.clone().run(request, extensions).await?;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            return next.run(again, extensions).await;
        }
        Ok(response)
    }
}

#[test]
fn errors_and_retries_are_separate_spans() {
    let exporter = InMemoryMetricExporter::default();
    let capture = testing::capture_with(|b| b.metric_reader(PeriodicReader::builder(exporter.clone()).build()));
    let closed = free_port();
    let (address, retried, missing, unreachable) = run(&capture, async {
        let app = Router::new()
            .route("/flaky", get(flaky))
            .with_state(Arc::new(AtomicU32::new(0)))
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }));
        let address = serve(app).await;
        let retrying = ClientBuilder::new(reqwest::Client::new())
            .with(RetryOnce)
            .with(ClientMiddleware::for_instance(capture.observe()))
            .build();
        let _root = bud_span!("caller").entered();
        let retried = retrying.get(format!("http://{address}/flaky")).send().await.unwrap().status();
        let missing = retrying.get(format!("http://{address}/missing")).send().await.unwrap().status();
        let unreachable = retrying.get(format!("http://127.0.0.1:{closed}/")).send().await.is_err();
        (address, retried, missing, unreachable)
    });
    assert_eq!((retried, missing, unreachable), (StatusCode::OK, StatusCode::NOT_FOUND, true));
    let clients = of_kind(&capture, SpanKind::Client);
    assert_eq!(clients.len(), 4, "two attempts, a 404, a refused connection");
    let statuses: Vec<Option<i64>> = clients.iter().map(|s| int(s, keys::RESPONSE_STATUS_CODE)).collect();
    assert_eq!(statuses, [Some(503), Some(200), Some(404), None]);

    let (first, second) = (&clients[0], &clients[1]);
    assert_eq!(first.status, Status::error(""));
    assert_eq!(text(first, keys::ERROR_TYPE).as_deref(), Some("503"));
    assert_eq!(int(first, constants::LEVEL_NUM), Some(i64::from(Level::Error.number())));
    assert_eq!(int(first, keys::REQUEST_RESEND_COUNT), None);
    assert_eq!(int(second, keys::REQUEST_RESEND_COUNT), Some(1), "the retry is its own span, counted");
    assert_eq!(second.status, Status::Unset);
    let caller = capture.span("caller");
    assert!(clients.iter().all(|s| s.parent_span_id == caller.span_context.span_id()));

    let missing = &clients[2];
    assert_eq!(missing.status, Status::error(""), "a 4xx is the client's error");
    assert_eq!(int(missing, constants::LEVEL_NUM), Some(i64::from(Level::Warn.number())));

    let refused = &clients[3];
    assert_eq!(text(refused, keys::ERROR_TYPE).as_deref(), Some("connect"));
    assert!(matches!(refused.status, Status::Error { .. }));
    assert!(refused.events.iter().any(|e| e.name == constants::EXCEPTION_EVENT));

    let port = address.port().to_string();
    let closed = closed.to_string();
    let point = |port: &str, status: Option<&str>, error: Option<&str>| {
        let mut attributes =
            vec![("http.request.method", "GET"), ("server.address", "127.0.0.1"), ("server.port", port)];
        if let Some(status) = status {
            attributes.extend([("http.response.status_code", status), ("network.protocol.version", "1.1")]);
        }
        if let Some(error) = error {
            attributes.push(("error.type", error));
        }
        point_attributes(&attributes)
    };
    let mut expected = vec![
        (point(&port, Some("503"), Some("503")), 1),
        (point(&port, Some("200"), None), 1),
        (point(&port, Some("404"), Some("404")), 1),
        (point(&closed, None, Some("connect")), 1),
    ];
    expected.sort();
    assert_eq!(histogram_points(&capture, &exporter, "http.client.request.duration"), expected);
}

#[test]
fn headers_and_bodies_are_captured_within_limits() {
    let capture = testing::capture();
    let body = run(&capture, async {
        let app = Router::new().route("/echo", post(|| async { Body::from_stream(Chunks(0)) }));
        let address = serve(app).await;
        let client = client(
            ClientMiddleware::for_instance(capture.observe())
                .capture_request_headers(["authorization", "x-tenant"])
                .capture_response_headers(["content-type"])
                .capture_request_body(10)
                .capture_response_body(12),
        );
        let mut response = client
            .post(format!("http://{address}/echo"))
            .header("authorization", "Bearer sk-live-999")
            .header("x-tenant", "t-5")
            .body("{\"prompt\":\"hello there\"}")
            .send()
            .await
            .unwrap();
        assert!(response.url().as_str().ends_with("/echo"), "the response keeps its URL");
        let first = response.chunk().await.unwrap().unwrap();
        bud_info!("read the first chunk");
        let mut body = first.to_vec();
        while let Some(chunk) = response.chunk().await.unwrap() {
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).unwrap()
    });
    assert_eq!(body, "chunk-1;chunk-2;chunk-3;");
    let [span] = of_kind(&capture, SpanKind::Client).try_into().unwrap();
    assert_eq!(text(&span, keys::REQUEST_BODY_TEXT).as_deref(), Some("{\"prompt\":"));
    assert_eq!(text(&span, keys::RESPONSE_BODY_TEXT).as_deref(), Some("chunk-1;chun"));
    assert_eq!(
        attribute(&span, "http.request.header.x-tenant"),
        Some(&Value::Array(Array::String(vec!["t-5".into()])))
    );
    let authorization = format!("{:?}", attribute(&span, "http.request.header.authorization"));
    assert!(authorization.contains("[Scrubbed due to") && !authorization.contains("sk-live"), "{authorization}");
    assert!(attribute(&span, "http.request.header.traceparent").is_none());
    // The span lasts while the caller reads the body.
    assert!(span.end_time > capture.span("read the first chunk").start_time);
}
