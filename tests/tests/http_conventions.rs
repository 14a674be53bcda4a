//! The HTTP keys of mixed fleets, checked in what an OTLP receiver decodes: a real axum service with the server
//! layer, called through the reqwest middleware on loopback. By default the stable keys only, with `server.port`
//! and `client.port`; with `OTEL_SEMCONV_STABILITY_OPT_IN=http/dup` (or the builder's option) also the keys the
//! platform's Python services write (`http.method`, `http.status_code`, `http.target`, `net.peer.ip`, …).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::reqwest::ClientMiddleware;
use budobserve::{BatchOptions, BudObserve, EnvSource, HttpConventions};
use common::receiver::{Receiver, attr, int, spans_of, string};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

/// One request through the client middleware to the server layer, on an instance configured by `configure`;
/// returns the server address and the server and client spans the receiver decoded.
fn exchange(env: &[(&str, &str)], conventions: Option<HttpConventions>) -> (SocketAddr, Span, Span) {
    let receiver = Receiver::start();
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut builder = budobserve::configure()
        .env(EnvSource::Map(env))
        .service_name("conventions")
        .console(false)
        .endpoint(receiver.endpoint())
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .metrics_interval(Duration::from_secs(3600));
    if let Some(conventions) = conventions {
        builder = builder.http_conventions(conventions);
    }
    let observe = BudObserve::new(builder.build().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let address = runtime.block_on(async {
        let app =
            Router::new().route("/users/{id}", get(|| async { "user" })).layer(ServerLayer::for_instance(&observe));
        let address = common::http::serve(app).await;
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(ClientMiddleware::for_instance(&observe))
            .build();
        let response = client
            .get(format!("http://{address}/users/7?page=2"))
            .header("user-agent", "budapp/1.0")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        address
    });
    observe.force_flush().unwrap();
    let spans: Vec<Span> = receiver.trace_requests().into_iter().flat_map(spans_of).collect();
    let of_kind = |kind: SpanKind| spans.iter().find(|s| s.kind == kind as i32).cloned().unwrap();
    (address, of_kind(SpanKind::Server), of_kind(SpanKind::Client))
}

const OLD_KEYS: [&str; 13] = [
    "http.method",
    "http.status_code",
    "http.scheme",
    "http.target",
    "http.host",
    "http.url",
    "http.user_agent",
    "http.flavor",
    "net.host.name",
    "net.host.port",
    "net.peer.ip",
    "net.peer.name",
    "net.peer.port",
];

#[test]
fn by_default_spans_carry_the_stable_keys_with_both_ports() {
    let (address, server, client) = exchange(&[], None);
    let port = i64::from(address.port());
    assert_eq!(attr(&server.attributes, "server.address"), Some(&string("127.0.0.1")));
    assert_eq!(attr(&server.attributes, "server.port"), Some(&int(port)));
    assert_eq!(attr(&server.attributes, "client.address"), Some(&string("127.0.0.1")));
    let Some(any_value::Value::IntValue(client_port)) = attr(&server.attributes, "client.port").cloned() else {
        panic!("no client.port: {:?}", server.attributes)
    };
    assert!(client_port > 0 && client_port != port, "the client's own port: {client_port}");
    assert_eq!(attr(&client.attributes, "server.port"), Some(&int(port)));
    for span in [&server, &client] {
        for key in OLD_KEYS {
            assert_eq!(attr(&span.attributes, key), None, "{key} on {}", span.name);
        }
    }
    // `http` in the list is the stable keys, as without it.
    let (_, server, _) = exchange(&[("OTEL_SEMCONV_STABILITY_OPT_IN", "http")], None);
    assert_eq!(attr(&server.attributes, "http.method"), None);
}

fn assert_old_keys(address: SocketAddr, server: &Span, client: &Span) {
    let port = i64::from(address.port());
    let client_port = match attr(&server.attributes, "client.port") {
        Some(any_value::Value::IntValue(port)) => *port,
        other => panic!("client.port: {other:?}"),
    };
    let expected_server = [
        ("http.method", string("GET")),
        ("http.status_code", int(200)),
        ("http.scheme", string("http")),
        ("http.target", string("/users/7?page=2")),
        ("http.host", string(&format!("127.0.0.1:{port}"))),
        ("http.user_agent", string("budapp/1.0")),
        ("http.flavor", string("1.1")),
        ("net.host.name", string("127.0.0.1")),
        ("net.host.port", int(port)),
        ("net.peer.ip", string("127.0.0.1")),
        ("net.peer.port", int(client_port)),
    ];
    for (key, value) in &expected_server {
        assert_eq!(attr(&server.attributes, key), Some(value), "server {key}");
    }
    // The stable keys stay.
    assert_eq!(attr(&server.attributes, "http.request.method"), Some(&string("GET")));
    assert_eq!(attr(&server.attributes, "http.response.status_code"), Some(&int(200)));
    let expected_client = [
        ("http.method", string("GET")),
        ("http.status_code", int(200)),
        ("http.url", string(&format!("http://{address}/users/7?page=2"))),
        ("net.peer.name", string("127.0.0.1")),
        ("net.peer.port", int(port)),
    ];
    for (key, value) in &expected_client {
        assert_eq!(attr(&client.attributes, key), Some(value), "client {key}");
    }
    for key in ["http.target", "net.host.name", "net.peer.ip"] {
        assert_eq!(attr(&client.attributes, key), None, "client {key}");
    }
}

#[test]
fn http_dup_adds_the_old_keys_the_python_services_write() {
    let (address, server, client) = exchange(&[("OTEL_SEMCONV_STABILITY_OPT_IN", "database, http/dup")], None);
    assert_old_keys(address, &server, &client);
}

#[test]
fn the_builder_option_wins_over_the_variable() {
    let (address, server, client) =
        exchange(&[("OTEL_SEMCONV_STABILITY_OPT_IN", "http")], Some(HttpConventions::StableAndOld));
    assert_old_keys(address, &server, &client);
    let (_, server, _) = exchange(&[("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")], Some(HttpConventions::Stable));
    assert_eq!(attr(&server.attributes, "http.method"), None);
}
