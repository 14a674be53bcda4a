//! The Dapr integration across two services and a stand-in sidecar (`common::dapr`, Dapr's HTTP API on loopback,
//! its state on the real Redis): invocation, publish (single and bulk) and state from one service, subscriptions
//! and an invoked method in the other, one trace across every hop with the bud context.

mod common;

use std::collections::HashMap;

use axum::Router;
use axum::extract::Json;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use budobserve::constants::{self, bud, dapr as keys};
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::dapr::{DaprClient, DaprError, StateOperation, Subscription, SubscriptionLayer};
use budobserve::opentelemetry::Context;
use budobserve::opentelemetry::context::FutureExt as _;
use budobserve::opentelemetry::trace::{SpanKind, Status};
use budobserve::opentelemetry::{Array, Value};
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{self, Capture, attribute};
use budobserve::{BudContext, BudSpan, EnvSource, Level, bud_info, bud_span};
use common::dapr::{Running, Sidecar};
use common::http::{int, run, serve, text};
use serde_json::{Value as JsonValue, json};

const TOKEN: &str = "dapr-secret-token-1234";

fn redis_url() -> String {
    std::env::var("BUD_OBSERVE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/3".to_owned())
}

fn strings(values: &[&str]) -> Value {
    Value::Array(Array::String(values.iter().map(|v| v.to_string().into()).collect()))
}

/// The billing service: subscribes to `orders` (one by one) and `audit` (in bulk), and has a `charge` method.
fn billing(capture: &Capture, server_layer: bool) -> Router {
    let subscriptions = vec![
        Subscription::new("pubsub", "orders", "/events/orders"),
        Subscription::new("pubsub", "audit", "/events/audit").bulk(10),
    ];
    let events = Router::new()
        .route(
            "/events/orders",
            post(|Json(event): Json<JsonValue>| async move {
                let order = event["data"]["order"].as_i64().unwrap_or_default();
                bud_info!("order {order} received");
                let status = if event["data"]["retry"] == json!(true) { "RETRY" } else { "SUCCESS" };
                Json(json!({"status": status}))
            }),
        )
        .route(
            "/events/audit",
            post(|Json(envelope): Json<JsonValue>| async move {
                let entries = envelope["entries"].as_array().cloned().unwrap_or_default();
                let count = entries.len();
                bud_info!("{count} audit events");
                let statuses: Vec<JsonValue> =
                    entries.iter().map(|e| json!({"entryId": e["entryId"], "status": "SUCCESS"})).collect();
                Json(json!({"statuses": statuses}))
            }),
        )
        .route_layer(SubscriptionLayer::for_instance(capture.observe()));
    let app = Router::new()
        .route("/dapr/subscribe", get(move || async move { Json(subscriptions.clone()).into_response() }))
        .route(
            "/charge",
            post(|headers: axum::http::HeaderMap, Json(body): Json<JsonValue>| async move {
                let order = body["order"].as_i64().unwrap_or_default();
                bud_info!("charging order {order}");
                assert!(!headers.contains_key("dapr-api-token"), "the sidecar does not forward the token");
                Json(json!({"charged": order}))
            }),
        )
        .merge(events);
    if server_layer { app.layer(ServerLayer::for_instance(capture.observe())) } else { app }
}

/// The orders service: one request publishes, invokes billing and keeps state, through its sidecar.
fn orders(capture: &Capture, sidecar: &str) -> Router {
    let dapr =
        DaprClient::new(sidecar).unwrap().for_instance(capture.observe()).app_id("orders").api_token(TOKEN).unwrap();
    Router::new()
        .route(
            "/order",
            post(move || {
                let dapr = dapr.clone();
                async move {
                    dapr.load_components().await.unwrap();
                    dapr.publish("pubsub", "orders", &json!({"order": 7})).await.unwrap();
                    let answer = dapr.invoke("billing", "charge").json(&json!({"order": 7})).send().await.unwrap();
                    let charged: JsonValue = answer.json().await.unwrap();
                    dapr.save_state("statestore", "order-7", &json!({"status": "charged"})).await.unwrap();
                    let saved: Option<JsonValue> = dapr.get_state("statestore", "order-7").await.unwrap();
                    Json(json!({"charged": charged, "saved": saved}))
                }
            }),
        )
        .layer(ServerLayer::for_instance(capture.observe()))
}

/// The billing service, the orders service and the sidecar they share (it knows both apps).
async fn services(capture: &Capture, server_layer: bool) -> (String, Running) {
    let billing = serve(billing(capture, server_layer)).await;
    let apps = HashMap::from([("billing".to_owned(), format!("http://{billing}"))]);
    let sidecar = common::dapr::start(Sidecar {
        app_id: "orders".to_owned(),
        apps,
        token: Some(TOKEN.to_owned()),
        redis_url: redis_url(),
    })
    .await;
    let orders = serve(orders(capture, &sidecar.url)).await;
    (format!("http://{orders}"), sidecar)
}

/// A root span with a bud context, and the context to run the test's calls in. The calls get it only while they are
/// polled (`with_context`), never as the thread's context: the services, served on the same thread, see only what
/// reaches them through the sidecar.
fn root_span(start: impl FnOnce() -> BudSpan, project: &str) -> (BudSpan, Context) {
    let cx = BudContext::new().project_id(project).to_context(&Context::current());
    let span = {
        let _attached = cx.clone().attach();
        start()
    };
    let context = span.context_in(cx);
    (span, context)
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!("no span {name:?} in {:?}", spans.iter().map(|s| s.name.as_ref()).collect::<Vec<_>>())
    })
}

fn redis_hash(key: &str) -> HashMap<String, String> {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    redis::cmd("HGETALL").arg(key).query(&mut connection).unwrap()
}

#[test]
fn one_trace_across_invocation_pubsub_and_state_with_the_bud_context() {
    let capture = testing::capture();
    let (answer, deliveries) = run(&capture, async {
        let (orders, sidecar) = services(&capture, true).await;
        let (root, cx) = root_span(|| bud_span!("checkout"), "proj-dapr");
        let call = async {
            let mut request = reqwest::Client::new().post(format!("{orders}/order"));
            for (name, value) in budobserve::baggage::inject_headers(&Context::current()) {
                request = request.header(name, value);
            }
            request.send().await.unwrap().json::<JsonValue>().await.unwrap()
        };
        let answer = call.with_context(cx).await;
        drop(root);
        (answer, sidecar.deliveries(1).await)
    });
    assert_eq!(answer, json!({"charged": {"charged": 7}, "saved": {"status": "charged"}}));
    assert_eq!(redis_hash("orders||order-7").get("data").map(String::as_str), Some(r#"{"status":"charged"}"#));

    // The spans of the request (the `tracing` bridge also records hyper's own logs, the sidecar's among them; the
    // sidecar asks billing for its subscriptions on its own).
    let spans: Vec<SpanData> = capture
        .spans()
        .into_iter()
        .filter(|s| s.instrumentation_scope.name() != "budobserve.tracing" && s.name != "GET /dapr/subscribe")
        .collect();
    let root = span(&spans, "checkout");
    let trace = root.span_context.trace_id();
    assert!(spans.iter().all(|s| s.span_context.trace_id() == trace), "one trace: {spans:#?}");
    let request = span(&spans, "POST /order");
    assert_eq!(request.parent_span_id, root.span_context.span_id());

    // Invocation: a client span, and billing's server span as its child through the sidecar.
    let invoke = span(&spans, "billing/charge");
    assert_eq!(invoke.span_kind, SpanKind::Client);
    assert_eq!(invoke.parent_span_id, request.span_context.span_id());
    assert_eq!(invoke.instrumentation_scope.name(), "budobserve.dapr");
    for (key, value) in [
        (keys::RPC_SYSTEM, "dapr"),
        (keys::RPC_SERVICE, "billing"),
        (keys::RPC_METHOD, "charge"),
        (keys::APP_ID, "billing"),
        (keys::METHOD, "charge"),
        (constants::http::REQUEST_METHOD, "POST"),
        (constants::http::SERVER_ADDRESS, "127.0.0.1"),
    ] {
        assert_eq!(text(invoke, key).as_deref(), Some(value), "{key}");
    }
    assert!(text(invoke, constants::http::URL_FULL).unwrap().ends_with("/v1.0/invoke/billing/method/charge"));
    assert_eq!(int(invoke, constants::http::RESPONSE_STATUS_CODE), Some(200));
    let charge = span(&spans, "POST /charge");
    assert_eq!(charge.span_kind, SpanKind::Server);
    assert_eq!(charge.parent_span_id, invoke.span_context.span_id());
    assert_eq!(text(charge, bud::PROJECT_ID).as_deref(), Some("proj-dapr"));
    let charging = span(&spans, "charging order {order}");
    assert_eq!(charging.parent_span_id, charge.span_context.span_id());
    assert_eq!(text(charging, bud::PROJECT_ID).as_deref(), Some("proj-dapr"));

    // Publish: a producer span; the event, delivered as a CloudEvent, is processed in a consumer span.
    let publish = span(&spans, "publish orders");
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(publish.parent_span_id, request.span_context.span_id());
    for (key, value) in [
        (keys::MESSAGING_SYSTEM, "redis"),
        (keys::MESSAGING_DESTINATION_NAME, "orders"),
        (keys::MESSAGING_OPERATION_TYPE, "send"),
        (keys::MESSAGING_OPERATION_NAME, "publish"),
        (keys::PUBSUB_NAME, "pubsub"),
    ] {
        assert_eq!(text(publish, key).as_deref(), Some(value), "{key}");
    }
    let [delivery] = deliveries.as_slice() else { panic!("{deliveries:?}") };
    let event = &delivery.body;
    assert_eq!(event["data"], json!({"order": 7}));
    assert_eq!(
        (&event["specversion"], &event["source"], &event["type"]),
        (&json!("1.0"), &json!("orders"), &json!("com.dapr.event.sent"))
    );
    assert_eq!((&event["topic"], &event["pubsubname"]), (&json!("orders"), &json!("pubsub")));
    assert_eq!(text(publish, keys::MESSAGING_MESSAGE_ID).as_deref(), event["id"].as_str());
    let traceparent = event["traceparent"].as_str().unwrap();
    assert_eq!(traceparent, format!("00-{trace}-{}-01", publish.span_context.span_id()));
    assert!(event["baggage"].as_str().unwrap().contains("bud.project_id=proj-dapr"), "{event}");
    assert_eq!(delivery.answer, json!({"status": "SUCCESS"}));

    // Billing's server layer continues the delivery's trace; the consumer span is its child, linked to the producer.
    let delivered = span(&spans, "POST /events/orders");
    assert_eq!(delivered.parent_span_id, publish.span_context.span_id());
    let process = span(&spans, "process orders");
    assert_eq!(process.span_kind, SpanKind::Consumer);
    assert_eq!(process.parent_span_id, delivered.span_context.span_id());
    let links: Vec<_> = process.links.iter().map(|l| l.span_context.span_id()).collect();
    assert_eq!(links, [publish.span_context.span_id()]);
    for (key, value) in [
        (keys::MESSAGING_SYSTEM, "dapr"),
        (keys::MESSAGING_DESTINATION_NAME, "orders"),
        (keys::MESSAGING_OPERATION_TYPE, "process"),
        (keys::PUBSUB_NAME, "pubsub"),
        (keys::CLOUDEVENTS_SOURCE, "orders"),
        (keys::CLOUDEVENTS_TYPE, "com.dapr.event.sent"),
        (keys::SUBSCRIPTION_STATUS, "SUCCESS"),
        (bud::PROJECT_ID, "proj-dapr"),
    ] {
        assert_eq!(text(process, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(text(process, keys::MESSAGING_MESSAGE_ID).as_deref(), event["id"].as_str());
    let received = span(&spans, "order {order} received");
    assert_eq!(received.parent_span_id, process.span_context.span_id());
    assert_eq!(text(received, bud::PROJECT_ID).as_deref(), Some("proj-dapr"));

    // State: database client spans with the keys, never the values.
    let save = span(&spans, "SAVE statestore");
    let get = span(&spans, "GET statestore");
    for (state, operation) in [(save, "SAVE"), (get, "GET")] {
        assert_eq!(state.span_kind, SpanKind::Client);
        assert_eq!(state.parent_span_id, request.span_context.span_id());
        assert_eq!(text(state, constants::db::SYSTEM_NAME).as_deref(), Some("redis"));
        assert_eq!(text(state, constants::db::OPERATION_NAME).as_deref(), Some(operation));
        assert_eq!(text(state, keys::STORE_NAME).as_deref(), Some("statestore"));
        assert_eq!(attribute(state, keys::STATE_KEYS), Some(&strings(&["order-7"])));
    }
    let everything = format!("{spans:?}");
    assert!(!everything.contains("charged\\\""), "state values are never recorded");
    assert!(!everything.contains(TOKEN), "the API token is never recorded");
}

#[test]
fn without_a_server_layer_the_consumer_span_is_the_producers_child() {
    let capture = testing::capture();
    let deliveries = run(&capture, async {
        let (_, sidecar) = services(&capture, false).await;
        let dapr = DaprClient::new(&sidecar.url).unwrap().for_instance(capture.observe()).api_token(TOKEN).unwrap();
        let (root, cx) = root_span(|| bud_span!("producer"), "proj-sub");
        dapr.publish("pubsub", "orders", &json!({"order": 8, "retry": true})).with_context(cx).await.unwrap();
        drop(root);
        sidecar.deliveries(1).await
    });
    assert_eq!(deliveries[0].answer, json!({"status": "RETRY"}));
    let spans = capture.spans();
    let publish = span(&spans, "publish orders");
    assert_eq!(text(publish, keys::MESSAGING_SYSTEM).as_deref(), Some("dapr"), "the component's type is not known");
    let process = span(&spans, "process orders");
    assert_eq!(process.parent_span_id, publish.span_context.span_id());
    assert_eq!(process.span_context.trace_id(), publish.span_context.trace_id());
    assert!(process.links.is_empty(), "the parent is the producer: no link");
    assert_eq!(text(process, bud::PROJECT_ID).as_deref(), Some("proj-sub"));
    assert_eq!(text(process, keys::SUBSCRIPTION_STATUS).as_deref(), Some("RETRY"));
    assert_eq!(int(process, constants::LEVEL_NUM), Some(i64::from(Level::Warn.number())));
    let received = span(&spans, "order {order} received");
    assert_eq!(received.parent_span_id, process.span_context.span_id());
}

#[test]
fn bulk_publish_and_bulk_subscribe() {
    let capture = testing::capture();
    let (published, deliveries) = run(&capture, async {
        let (_, sidecar) = services(&capture, false).await;
        let dapr = DaprClient::new(&sidecar.url).unwrap().for_instance(capture.observe()).api_token(TOKEN).unwrap();
        dapr.load_components().await.unwrap();
        let (root, cx) = root_span(|| bud_span!("audit batch"), "proj-audit");
        let events = [json!({"event": 1}), json!({"poison": true}), json!({"event": 3})];
        let published = dapr.publish_bulk("pubsub", "audit", &events).with_context(cx).await.unwrap();
        drop(root);
        (published, sidecar.deliveries(1).await)
    });
    assert_eq!(published.failed.len(), 1);
    assert_eq!(published.failed[0].entry_id, "1");
    assert_eq!(published.failed[0].error, "the broker refused the message");
    let spans = capture.spans();
    let publish = span(&spans, "publish audit");
    assert_eq!(int(publish, keys::MESSAGING_BATCH_MESSAGE_COUNT), Some(3));
    assert_eq!(int(publish, keys::BULK_FAILED_ENTRIES), Some(1));
    assert_eq!(int(publish, constants::LEVEL_NUM), Some(i64::from(Level::Error.number())));

    // The two published events arrive in one bulk envelope; the consumer span links to their producer.
    let envelope = &deliveries[0].body;
    let entries = envelope["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["event"]["data"], json!({"event": 1}));
    assert_eq!(deliveries[0].answer["statuses"].as_array().unwrap().len(), 2);
    let process = span(&spans, "process audit");
    assert_eq!(int(process, keys::MESSAGING_BATCH_MESSAGE_COUNT), Some(2));
    let links: Vec<_> = process.links.iter().map(|l| l.span_context.span_id()).collect();
    assert_eq!(links, [publish.span_context.span_id()], "one link per producer");
    assert_eq!(text(process, keys::SUBSCRIPTION_STATUS).as_deref(), Some("SUCCESS"));
    let handled = span(&spans, "{count} audit events");
    assert_eq!(handled.parent_span_id, process.span_context.span_id());
}

#[test]
fn state_transactions_deletes_and_errors() {
    let capture = testing::capture();
    let (missing, unknown_store, unauthorized) = run(&capture, async {
        let (_, sidecar) = services(&capture, false).await;
        let dapr = DaprClient::new(&sidecar.url)
            .unwrap()
            .for_instance(capture.observe())
            .component("statestore", "state.redis")
            .api_token(TOKEN)
            .unwrap();
        let operations = [
            StateOperation::upsert("cart-1", &json!({"items": 2})).unwrap(),
            StateOperation::upsert("cart-2", &json!({"items": 5})).unwrap(),
            StateOperation::delete("cart-3"),
        ];
        dapr.transaction("statestore", &operations).await.unwrap();
        dapr.delete_state("statestore", "cart-2").await.unwrap();
        let missing: Option<JsonValue> = dapr.get_state("statestore", "cart-2").await.unwrap();
        let unknown_store = dapr.get_state::<JsonValue>("nostore", "cart-1").await.unwrap_err();
        let anonymous = DaprClient::new(&sidecar.url).unwrap().for_instance(capture.observe());
        let unauthorized = anonymous.delete_state("statestore", "cart-1").await.unwrap_err();
        (missing, unknown_store, unauthorized)
    });
    assert_eq!(missing, None);
    assert_eq!(redis_hash("orders||cart-1").get("data").map(String::as_str), Some(r#"{"items":2}"#));
    assert!(redis_hash("orders||cart-2").is_empty());
    let DaprError::Api { status, code, message } = &unknown_store else { panic!("{unknown_store:?}") };
    assert_eq!(
        (*status, code.as_str(), message.as_str()),
        (400, "ERR_STATE_STORE_NOT_FOUND", "state store nostore is not found")
    );
    assert!(matches!(&unauthorized, DaprError::Api { status: 401, code, .. } if code == "ERR_UNAUTHORIZED"));

    let spans = capture.spans();
    let transaction = span(&spans, "TRANSACTION statestore");
    assert_eq!(attribute(transaction, keys::STATE_KEYS), Some(&strings(&["cart-1", "cart-2", "cart-3"])));
    assert_eq!(int(transaction, constants::db::OPERATION_BATCH_SIZE), Some(3));
    assert_eq!(text(transaction, constants::db::SYSTEM_NAME).as_deref(), Some("redis"));
    assert_eq!(transaction.status, Status::Unset);
    let delete = spans.iter().filter(|s| s.name == "DELETE statestore").collect::<Vec<_>>();
    assert_eq!(delete.len(), 2);
    let get_missing = span(&spans, "GET statestore");
    assert_eq!(int(get_missing, constants::http::RESPONSE_STATUS_CODE), Some(204));
    let failed = span(&spans, "GET nostore");
    assert!(
        matches!(&failed.status, Status::Error { description } if description.contains("state store nostore is not found"))
    );
    assert_eq!(text(failed, constants::http::ERROR_TYPE).as_deref(), Some("ERR_STATE_STORE_NOT_FOUND"));
    assert_eq!(int(failed, constants::http::RESPONSE_STATUS_CODE), Some(400));
    assert_eq!(int(delete[1], constants::http::RESPONSE_STATUS_CODE), Some(401));
    assert!(!format!("{spans:?}").contains(TOKEN));
}

#[test]
fn configuration_from_the_environment_is_checked() {
    let env = |pairs: &[(&str, &str)]| {
        EnvSource::Map(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    };
    let error = |pairs: &[(&str, &str)]| DaprClient::from_env_source(&env(pairs)).unwrap_err().to_string();
    assert_eq!(
        error(&[("DAPR_HTTP_PORT", "not-a-port")]),
        r#"invalid value "not-a-port" in environment variable `DAPR_HTTP_PORT`: expected a port number (1-65535)"#
    );
    assert_eq!(
        error(&[("DAPR_HTTP_ENDPOINT", "localhost:3500")]),
        r#"invalid value "localhost:3500" in environment variable `DAPR_HTTP_ENDPOINT`: expected an http:// or https:// URL"#
    );
    assert_eq!(
        error(&[("DAPR_API_TOKEN", "secret\n")]),
        r#"invalid value "<hidden>" in environment variable `DAPR_API_TOKEN`: expected visible ASCII characters"#
    );
    let client = DaprClient::from_env_source(&env(&[
        ("DAPR_HTTP_PORT", "3999"),
        ("APP_ID", "budapp"),
        ("DAPR_API_TOKEN", TOKEN),
    ]))
    .unwrap();
    let shown = format!("{client:?}");
    assert!(shown.contains(r#"base: "http://127.0.0.1:3999/""#) && shown.contains(r#"app_id: "budapp""#), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    let defaults = format!("{:?}", DaprClient::from_env_source(&env(&[])).unwrap());
    assert!(defaults.contains(r#"base: "http://127.0.0.1:3500/""#), "{defaults}");
}
