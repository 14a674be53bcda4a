//! The server layer on real axum services on loopback, called by a real HTTP client: one server span per request
//! with the semantic-convention attributes, trace context and bud context from the headers, request ids, levels
//! from status codes, excluded URLs, captured headers, panics, streaming bodies, `tracing` code inside handlers,
//! and the duration histogram.

mod common;

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use budobserve::constants::{self, bud, http as keys};
use budobserve::integrations::axum::ServerLayer;
use budobserve::opentelemetry::trace::{SpanKind, Status};
use budobserve::opentelemetry::{Array, Value};
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{self, Capture, attribute};
use budobserve::{Level, bud_info};
use common::http::{Chunks, histogram_points, int, point_attributes, run, serve, text};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};

fn strings(values: &[&str]) -> Value {
    Value::Array(Array::String(values.iter().map(|v| v.to_string().into()).collect()))
}

fn server_spans(capture: &Capture) -> Vec<SpanData> {
    capture.spans().into_iter().filter(|s| s.span_kind == SpanKind::Server).collect()
}

#[tracing::instrument]
fn load_user(id: u32) -> String {
    tracing::info!("loading");
    format!("user {id}")
}

fn app(capture: &Capture) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|axum::extract::Path(id): axum::extract::Path<u32>| async move {
                bud_info!("handling {id}");
                load_user(id)
            }),
        )
        .route("/fail", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }))
        .route("/health", get(|| async { "ok" }))
        .layer(
            ServerLayer::for_instance(capture.observe())
                .excluded_urls(["^/health$"])
                .unwrap()
                .capture_request_headers(["authorization", "x-tenant"])
                .capture_response_headers(["content-type"]),
        )
}

#[test]
fn a_request_is_one_server_span_named_by_its_route() {
    let capture = testing::capture();
    let (address, response) = run(&capture, async {
        let address = serve(app(&capture)).await;
        let response = reqwest::Client::new()
            .get(format!("http://{address}/users/42?api_key=sk-live-123&page=2"))
            .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .header("baggage", "bud.project_id=proj-7,bud.endpoint_id=ep-3")
            .header("authorization", "Bearer sk-live-123")
            .header("x-tenant", "t-1")
            .header("x-request-id", "req-7")
            .header("user-agent", "budapp-tests/1.0")
            .header("x-forwarded-for", "203.0.113.9, 10.0.0.1")
            .send()
            .await
            .unwrap();
        let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body = response.text().await.unwrap();
        (address, (request_id, body))
    });
    assert_eq!(response, ("req-7".to_owned(), "user 42".to_owned()));

    let [server] = server_spans(&capture).try_into().unwrap();
    assert_eq!(server.name, "GET /users/{id}");
    assert_eq!(server.instrumentation_scope.name(), "budobserve.axum");
    assert_eq!(server.span_context.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(server.parent_span_id.to_string(), "b7ad6b7169203331");
    assert!(server.parent_span_is_remote);
    assert_eq!(server.status, Status::Unset);
    assert_eq!(text(&server, constants::MSG).as_deref(), Some("GET /users/42"));
    assert_eq!(int(&server, constants::LEVEL_NUM), Some(i64::from(Level::Info.number())));
    for (key, value) in [
        (keys::REQUEST_METHOD, "GET"),
        (keys::URL_PATH, "/users/42"),
        (keys::URL_SCHEME, "http"),
        (keys::ROUTE, "/users/{id}"),
        (keys::SERVER_ADDRESS, "127.0.0.1"),
        (keys::CLIENT_ADDRESS, "203.0.113.9"),
        (keys::USER_AGENT_ORIGINAL, "budapp-tests/1.0"),
        (keys::NETWORK_PROTOCOL_VERSION, "1.1"),
        (bud::PROJECT_ID, "proj-7"),
        (bud::ENDPOINT_ID, "ep-3"),
        (bud::REQUEST_ID, "req-7"),
    ] {
        assert_eq!(text(&server, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(int(&server, keys::SERVER_PORT), Some(i64::from(address.port())));
    // The client is who the proxy says: its port is not known.
    assert_eq!(int(&server, keys::CLIENT_PORT), None);
    assert_eq!(int(&server, keys::RESPONSE_STATUS_CODE), Some(200));
    let query = text(&server, keys::URL_QUERY).unwrap();
    assert!(query.starts_with("[Scrubbed due to "), "the query's API key never leaves: {query}");
    assert_eq!(attribute(&server, "http.request.header.x-tenant"), Some(&strings(&["t-1"])));
    let authorization = format!("{:?}", attribute(&server, "http.request.header.authorization"));
    assert!(authorization.contains("[Scrubbed due to") && !authorization.contains("sk-live"), "{authorization}");
    assert_eq!(attribute(&server, "http.response.header.content-type"), Some(&strings(&["text/plain; charset=utf-8"])));

    // The handler's log, the `#[tracing::instrument]` function and its event are inside the request.
    let log = capture.span("handling {id}");
    let load = capture.span("load_user");
    assert_eq!(log.parent_span_id, server.span_context.span_id());
    assert_eq!(load.parent_span_id, server.span_context.span_id());
    assert_eq!(capture.span("loading").parent_span_id, load.span_context.span_id());
    for span in [&log, &load] {
        assert_eq!(text(span, bud::REQUEST_ID).as_deref(), Some("req-7"), "{}", span.name);
        assert_eq!(text(span, bud::PROJECT_ID).as_deref(), Some("proj-7"), "{}", span.name);
    }
}

#[test]
fn levels_follow_the_status_and_unknown_routes_are_named_by_method() {
    let capture = testing::capture();
    let ids = run(&capture, async {
        let address = serve(app(&capture)).await;
        let client = reqwest::Client::new();
        let missing = client.get(format!("http://{address}/nowhere/7")).send().await.unwrap();
        let failed = client.post(format!("http://{address}/fail")).send().await.unwrap();
        let failed_get = client.get(format!("http://{address}/fail")).send().await.unwrap();
        [missing, failed, failed_get]
            .map(|r| (r.status().as_u16(), r.headers()["x-request-id"].to_str().unwrap().to_owned()))
    });
    assert_eq!(ids.iter().map(|(status, _)| *status).collect::<Vec<_>>(), [404, 405, 500]);
    let spans = server_spans(&capture);
    let by_status: HashMap<i64, &SpanData> =
        spans.iter().map(|s| (int(s, keys::RESPONSE_STATUS_CODE).unwrap(), s)).collect();

    let missing = by_status[&404];
    assert_eq!(missing.name, "GET", "no route matched: the raw path never becomes the name");
    assert_eq!(attribute(missing, keys::ROUTE), None);
    assert_eq!(int(missing, constants::LEVEL_NUM), Some(i64::from(Level::Warn.number())));
    assert_eq!(missing.status, Status::Unset, "a 4xx is the client's error, not the server's");

    let failed = by_status[&500];
    assert_eq!(failed.name, "GET /fail");
    assert_eq!(int(failed, constants::LEVEL_NUM), Some(i64::from(Level::Error.number())));
    assert_eq!(failed.status, Status::error(""));
    assert_eq!(text(failed, keys::ERROR_TYPE).as_deref(), Some("500"));

    // Without an incoming id, each request gets a new one, echoed back and recorded.
    for (status, id) in &ids {
        assert_eq!(id.len(), 32, "{id}");
        assert_eq!(text(by_status[&i64::from(*status)], bud::REQUEST_ID).as_deref(), Some(id.as_str()));
    }
    assert_ne!(ids[0].1, ids[2].1);
}

#[test]
fn excluded_urls_get_no_span() {
    let capture = testing::capture();
    run(&capture, async {
        let address = serve(app(&capture)).await;
        let response = reqwest::get(format!("http://{address}/health")).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "ok");
        reqwest::get(format!("http://{address}/users/1")).await.unwrap();
    });
    assert_eq!(server_spans(&capture).iter().map(|s| s.name.to_string()).collect::<Vec<_>>(), ["GET /users/{id}"]);
}

#[test]
fn a_panicking_handler_is_an_error_span_with_the_panic() {
    let capture = testing::capture();
    let result = run(&capture, async {
        let app = Router::new()
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("handler exploded");
                    }
                    "never"
                }),
            )
            .layer(ServerLayer::for_instance(capture.observe()));
        let address = serve(app).await;
        reqwest::get(format!("http://{address}/panic")).await.map(|r| r.status())
    });
    assert!(result.is_err(), "the connection is closed by the panic: {result:?}");
    let [server] = server_spans(&capture).try_into().unwrap();
    assert_eq!(server.name, "GET /panic");
    assert_eq!(int(&server, constants::LEVEL_NUM), Some(i64::from(Level::Error.number())));
    assert!(matches!(server.status, Status::Error { .. }), "{:?}", server.status);
    let exception = server.events.iter().find(|e| e.name == constants::EXCEPTION_EVENT).expect("an exception event");
    let message = exception.attributes.iter().find(|kv| kv.key.as_str() == constants::EXCEPTION_MESSAGE);
    assert_eq!(message.map(|kv| kv.value.as_str().into_owned()).as_deref(), Some("handler exploded"));
    assert_eq!(text(&server, keys::ERROR_TYPE).as_deref(), Some("panic"));
}

#[test]
fn a_streaming_response_is_measured_to_the_end_of_its_body() {
    let capture = testing::capture();
    let body = run(&capture, async {
        let app = Router::new()
            .route(
                "/stream",
                get(|| async {
                    bud_info!("handler returns");
                    Body::from_stream(Chunks(0))
                }),
            )
            .layer(ServerLayer::for_instance(capture.observe()));
        let address = serve(app).await;
        reqwest::get(format!("http://{address}/stream")).await.unwrap().text().await.unwrap()
    });
    assert_eq!(body, "chunk-1;chunk-2;chunk-3;");
    let [server] = server_spans(&capture).try_into().unwrap();
    let returned = capture.span("handler returns");
    let chunks = capture.spans_named("chunk {n}");
    assert_eq!(chunks.len(), 3);
    for chunk in &chunks {
        assert_eq!(chunk.parent_span_id, server.span_context.span_id(), "the span is current while the body streams");
        assert!(chunk.start_time > returned.start_time);
        assert!(server.end_time > chunk.start_time, "the span ends after the last chunk, not when the handler returns");
    }
}

#[test]
fn request_durations_are_recorded_with_the_semconv_attributes() {
    let exporter = InMemoryMetricExporter::default();
    let capture = testing::capture_with(|b| b.metric_reader(PeriodicReader::builder(exporter.clone()).build()));
    run(&capture, async {
        let address = serve(app(&capture)).await;
        let client = reqwest::Client::new();
        for path in ["/users/1", "/users/2", "/fail"] {
            client.get(format!("http://{address}{path}")).send().await.unwrap();
        }
    });
    let points = histogram_points(&capture, &exporter, "http.server.request.duration");
    let point = |route: &str, status: &str, error: Option<&str>| {
        let mut attributes = vec![
            ("http.request.method", "GET"),
            ("http.response.status_code", status),
            ("http.route", route),
            ("network.protocol.version", "1.1"),
            ("url.scheme", "http"),
        ];
        if let Some(error) = error {
            attributes.push(("error.type", error));
        }
        point_attributes(&attributes)
    };
    assert_eq!(points, [(point("/fail", "500", Some("500")), 1), (point("/users/{id}", "200", None), 2)]);
}

#[test]
fn a_hook_adds_attributes_from_the_request_and_the_scope_can_be_silenced() {
    let capture = testing::capture();
    run(&capture, async {
        let layer = ServerLayer::for_instance(capture.observe()).request_attributes(|parts| {
            let tenant = parts.headers.get("x-tenant").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
            vec![budobserve::KeyValue::new("tenant", tenant)]
        });
        let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(layer);
        let address = serve(app).await;
        let client = reqwest::Client::new();
        client.get(format!("http://{address}/users/1")).header("x-tenant", "t-9").send().await.unwrap();
        // The integration's own scope, silenced: its spans are no longer recorded.
        capture.observe().suppress_scopes(["budobserve.axum"]);
        client.get(format!("http://{address}/users/2")).send().await.unwrap();
    });
    let [server] = server_spans(&capture).try_into().unwrap();
    assert_eq!(text(&server, "tenant").as_deref(), Some("t-9"));
    assert_eq!(text(&server, keys::URL_PATH).as_deref(), Some("/users/1"));
}
