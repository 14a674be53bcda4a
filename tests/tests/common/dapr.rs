//! A stand-in for the Dapr sidecar (`daprd`) on loopback, for the Dapr tests: no `daprd` binary installs from the
//! package registries these machines reach, so the routes of Dapr's HTTP API the integration uses are served here,
//! as Dapr documents them:
//!
//! - `/v1.0/invoke/{app-id}/method/{method}` forwards the request (method, headers — `traceparent`, `baggage`
//!   included —, query, body) to the target app and hands back its answer;
//! - `/v1.0/publish/{pubsub}/{topic}` and `/v1.0-alpha1/publish/bulk/{pubsub}/{topic}` answer `204` and deliver
//!   the events to the subscribed apps (found through their `GET /dapr/subscribe`) as daprd does: a CloudEvent
//!   (the one published, or the data wrapped in one) with `topic`, `pubsubname`, and the trace of the publish
//!   request in its `traceparent`/`traceid`/`tracestate` attributes, `POST`ed with
//!   `Content-Type: application/cloudevents+json` and a `traceparent` header; to a bulk subscription, a bulk
//!   envelope (`id`, `entries` of `entryId`/`event`/`contentType`/`metadata`, `topic`, `pubsubname`, `type`);
//! - `/v1.0/state/{store}…` (get, save, delete, transaction) on the real Redis, as Dapr's Redis state store keeps
//!   them: a hash `{app-id}||{key}` with the fields `data` and `version`;
//! - `/v1.0/metadata`: the app id and the components;
//! - errors as Dapr answers them (`{"errorCode": "ERR_…", "message": …}`), `401` without the configured API token.
//!
//! One liberty, to test a broker's refusal: the broker refuses an event whose data is `{"poison": true}`.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value as Json, json};
use tokio::sync::Notify;

/// What a subscribed app answered to a delivery.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The route it was posted to.
    pub route: String,
    /// What was posted.
    pub body: Json,
    /// The app's status.
    pub status: u16,
    /// The app's answer.
    pub answer: Json,
}

/// The sidecar's settings.
#[derive(Clone, Debug, Default)]
pub struct Sidecar {
    /// The app id of the app the sidecar runs beside (the prefix of its state keys).
    pub app_id: String,
    /// Every app id the sidecar can invoke, with its app's address (`http://127.0.0.1:PORT`).
    pub apps: HashMap<String, String>,
    /// The API token calls must carry, when set.
    pub token: Option<String>,
    /// The Redis the state store `statestore` uses.
    pub redis_url: String,
}

/// A running stand-in: its address, and the deliveries made so far.
#[derive(Clone)]
pub struct Running {
    pub url: String,
    shared: Arc<Shared>,
}

struct Shared {
    config: Sidecar,
    http: reqwest::Client,
    redis: redis::Client,
    deliveries: Mutex<Vec<Delivery>>,
    delivered: Notify,
}

impl Running {
    /// Waits until `count` deliveries were answered (at most five seconds), and returns them all.
    pub async fn deliveries(&self, count: usize) -> Vec<Delivery> {
        let wait = async {
            loop {
                let notified = self.shared.delivered.notified();
                if self.shared.deliveries.lock().unwrap().len() >= count {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), wait).await.expect("the deliveries were made in time");
        self.shared.deliveries.lock().unwrap().clone()
    }
}

/// The components the sidecar has: a Redis pub/sub and a Redis state store.
const COMPONENTS: [(&str, &str); 2] = [("pubsub", "pubsub.redis"), ("statestore", "state.redis")];

/// Starts the sidecar on a loopback port.
pub async fn start(config: Sidecar) -> Running {
    let shared = Arc::new(Shared {
        redis: redis::Client::open(config.redis_url.as_str()).unwrap(),
        config,
        http: reqwest::Client::new(),
        deliveries: Mutex::new(Vec::new()),
        delivered: Notify::new(),
    });
    let app = Router::new()
        .route("/v1.0/metadata", get(metadata))
        .route("/v1.0/invoke/{app_id}/method/{*method}", any(invoke))
        .route("/v1.0/publish/{pubsub}/{topic}", post(publish))
        .route("/v1.0-alpha1/publish/bulk/{pubsub}/{topic}", post(publish_bulk))
        .route("/v1.0/state/{store}", post(save_state))
        .route("/v1.0/state/{store}/transaction", post(transaction))
        .route("/v1.0/state/{store}/{key}", get(get_state).delete(delete_state))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&shared), authorize))
        .with_state(Arc::clone(&shared));
    let address = super::http::serve(app).await;
    Running { url: format!("http://{address}"), shared }
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (status, axum::Json(json!({"errorCode": code, "message": message}))).into_response()
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(token) = &shared.config.token
        && request.headers().get("dapr-api-token").and_then(|v| v.to_str().ok()) != Some(token.as_str())
    {
        return error(StatusCode::UNAUTHORIZED, "ERR_UNAUTHORIZED", "invalid api token".to_owned());
    }
    next.run(request).await
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Response {
    let components: Vec<Json> =
        COMPONENTS.iter().map(|(name, kind)| json!({"name": name, "type": kind, "version": "v1"})).collect();
    axum::Json(json!({"id": shared.config.app_id, "components": components})).into_response()
}

async fn invoke(
    State(shared): State<Arc<Shared>>,
    Path((app_id, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    http_method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(app) = shared.config.apps.get(&app_id) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_DIRECT_INVOKE",
            format!("failed to invoke, id: {app_id}, err: app id not found"),
        );
    };
    let mut url = format!("{app}/{method}");
    if let Some(query) = query {
        url = format!("{url}?{query}");
    }
    let mut forwarded = headers.clone();
    forwarded.remove(header::HOST);
    forwarded.remove(header::CONTENT_LENGTH);
    forwarded.remove("dapr-api-token");
    let answer = shared.http.request(http_method, url).headers(forwarded).body(body).send().await.unwrap();
    let status = answer.status();
    let mut headers = answer.headers().clone();
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::TRANSFER_ENCODING);
    let body = answer.bytes().await.unwrap();
    (status, headers, body).into_response()
}

/// The CloudEvent daprd delivers for a publish request: the one published, or `body` wrapped in one.
fn cloud_event(
    shared: &Shared,
    pubsub: &str,
    topic: &str,
    content_type: &str,
    body: &[u8],
    headers: &HeaderMap,
) -> Json {
    let mut event = if content_type.starts_with("application/cloudevents+json") {
        serde_json::from_slice::<serde_json::Map<String, Json>>(body).unwrap()
    } else {
        let data = serde_json::from_slice::<Json>(body)
            .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(body).into_owned()));
        let mut event = serde_json::Map::new();
        event.insert("data".to_owned(), data);
        event.insert("datacontenttype".to_owned(), Json::from(content_type));
        event
    };
    let defaults = [
        ("specversion", json!("1.0")),
        ("id", json!(format!("{:032x}", rand_id()))),
        ("source", json!(shared.config.app_id)),
        ("type", json!("com.dapr.event.sent")),
    ];
    for (key, value) in defaults {
        event.entry(key).or_insert(value);
    }
    event.insert("topic".to_owned(), json!(topic));
    event.insert("pubsubname".to_owned(), json!(pubsub));
    // daprd writes the trace of the publish call (its own span's, here the caller's) into the event.
    if let Some(traceparent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        event.insert("traceparent".to_owned(), json!(traceparent));
        event.insert("traceid".to_owned(), json!(traceparent));
    }
    if let Some(tracestate) = headers.get("tracestate").and_then(|v| v.to_str().ok()) {
        event.insert("tracestate".to_owned(), json!(tracestate));
    }
    Json::Object(event)
}

fn rand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    (u128::from(std::process::id()) << 64) | u128::from(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Dapr's answer when `pubsub` is not a pub/sub component.
fn unknown_pubsub(pubsub: &str) -> Option<Response> {
    let known = COMPONENTS.iter().any(|(name, kind)| *name == pubsub && kind.starts_with("pubsub."));
    (!known).then(|| error(StatusCode::NOT_FOUND, "ERR_PUBSUB_NOT_FOUND", format!("pubsub {pubsub} not found")))
}

async fn publish(
    State(shared): State<Arc<Shared>>,
    Path((pubsub, topic)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = unknown_pubsub(&pubsub) {
        return response;
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let event = cloud_event(&shared, &pubsub, &topic, content_type, &body, &headers);
    tokio::spawn(deliver(shared, pubsub, topic, vec![event]));
    StatusCode::NO_CONTENT.into_response()
}

async fn publish_bulk(
    State(shared): State<Arc<Shared>>,
    Path((pubsub, topic)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(entries): axum::Json<Vec<Json>>,
) -> Response {
    if let Some(response) = unknown_pubsub(&pubsub) {
        return response;
    }
    let mut events = Vec::new();
    let mut failed = Vec::new();
    for entry in &entries {
        let content_type = entry["contentType"].as_str().unwrap_or("application/json");
        let body = serde_json::to_vec(&entry["event"]).unwrap();
        let event = cloud_event(&shared, &pubsub, &topic, content_type, &body, &headers);
        if event["data"] == json!({"poison": true}) {
            failed.push(json!({"entryId": entry["entryId"], "error": "the broker refused the message"}));
        } else {
            events.push(event);
        }
    }
    tokio::spawn(deliver(Arc::clone(&shared), pubsub, topic, events));
    if failed.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let answer = json!({"failedEntries": failed, "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE"});
        (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(answer)).into_response()
    }
}

/// Delivers `events` to every app subscribed to `topic`: one by one, or in one bulk envelope.
async fn deliver(shared: Arc<Shared>, pubsub: String, topic: String, events: Vec<Json>) {
    // Each app once, however many app ids point at it.
    let mut apps: Vec<&String> = shared.config.apps.values().collect();
    apps.sort();
    apps.dedup();
    for app in apps {
        let Ok(answer) = shared.http.get(format!("{app}/dapr/subscribe")).send().await else { continue };
        let subscriptions: Vec<Json> = answer.json().await.unwrap_or_default();
        for subscription in subscriptions.iter().filter(|s| s["pubsubname"] == pubsub && s["topic"] == topic) {
            let route = subscription["route"].as_str().unwrap_or_default().to_owned();
            let url = format!("{app}{route}");
            let requests: Vec<(Json, Option<String>)> = if subscription["bulkSubscribe"]["enabled"] == json!(true) {
                let entries: Vec<Json> = events
                    .iter()
                    .enumerate()
                    .map(|(index, event)| {
                        json!({"entryId": index.to_string(), "event": event,
                            "contentType": "application/cloudevents+json", "metadata": {}})
                    })
                    .collect();
                let envelope = json!({"id": format!("{:032x}", rand_id()), "entries": entries, "metadata": {},
                    "topic": topic, "pubsubname": pubsub, "type": "com.dapr.event.sent"});
                vec![(envelope, None)]
            } else {
                events.iter().map(|event| (event.clone(), event["traceparent"].as_str().map(str::to_owned))).collect()
            };
            for (body, traceparent) in requests {
                let mut request = shared
                    .http
                    .post(&url)
                    .header(header::CONTENT_TYPE, "application/cloudevents+json")
                    .body(serde_json::to_vec(&body).unwrap());
                if let Some(traceparent) = traceparent {
                    request = request.header("traceparent", traceparent);
                }
                let answer = request.send().await.unwrap();
                let status = answer.status().as_u16();
                let answer: Json = answer.json().await.unwrap_or(Json::Null);
                shared.deliveries.lock().unwrap().push(Delivery { route: route.clone(), body, status, answer });
                shared.delivered.notify_waiters();
            }
        }
    }
}

/// Dapr's answer when `store` is not a state store.
fn unknown_store(store: &str) -> Option<Response> {
    let known = COMPONENTS.iter().any(|(name, kind)| *name == store && kind.starts_with("state."));
    (!known).then(|| {
        error(StatusCode::BAD_REQUEST, "ERR_STATE_STORE_NOT_FOUND", format!("state store {store} is not found"))
    })
}

fn redis_key(shared: &Shared, key: &str) -> String {
    format!("{}||{key}", shared.config.app_id)
}

async fn get_state(State(shared): State<Arc<Shared>>, Path((store, key)): Path<(String, String)>) -> Response {
    if let Some(response) = unknown_store(&store) {
        return response;
    }
    let mut connection = shared.redis.get_multiplexed_async_connection().await.unwrap();
    let data: Option<String> =
        redis::cmd("HGET").arg(redis_key(&shared, &key)).arg("data").query_async(&mut connection).await.unwrap();
    match data {
        Some(data) => ([(header::CONTENT_TYPE, "application/json")], Body::from(data)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Writes `writes` (a value to save under a key, or `None` to delete it) atomically, as Dapr's Redis store does:
/// the value in the hash's `data` field, its `version` counted up.
async fn apply(shared: &Shared, writes: Vec<(&str, Option<String>)>) -> Response {
    let mut connection = shared.redis.get_multiplexed_async_connection().await.unwrap();
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (key, value) in writes {
        let key = redis_key(shared, key);
        match value {
            Some(value) => {
                pipe.cmd("HSET").arg(&key).arg("data").arg(value).ignore();
                pipe.cmd("HINCRBY").arg(&key).arg("version").arg(1).ignore();
            }
            None => {
                pipe.cmd("DEL").arg(&key).ignore();
            }
        }
    }
    let () = pipe.query_async(&mut connection).await.unwrap();
    StatusCode::NO_CONTENT.into_response()
}

async fn save_state(
    State(shared): State<Arc<Shared>>,
    Path(store): Path<String>,
    axum::Json(items): axum::Json<Vec<Json>>,
) -> Response {
    if let Some(response) = unknown_store(&store) {
        return response;
    }
    let writes = items.iter().map(|item| (item["key"].as_str().unwrap(), Some(item["value"].to_string()))).collect();
    apply(&shared, writes).await
}

async fn delete_state(State(shared): State<Arc<Shared>>, Path((store, key)): Path<(String, String)>) -> Response {
    if let Some(response) = unknown_store(&store) {
        return response;
    }
    apply(&shared, vec![(&key, None)]).await
}

async fn transaction(
    State(shared): State<Arc<Shared>>,
    Path(store): Path<String>,
    axum::Json(body): axum::Json<Json>,
) -> Response {
    if let Some(response) = unknown_store(&store) {
        return response;
    }
    let mut writes = Vec::new();
    for operation in body["operations"].as_array().into_iter().flatten() {
        let key = operation["request"]["key"].as_str().unwrap();
        match operation["operation"].as_str() {
            Some("upsert") => writes.push((key, Some(operation["request"]["value"].to_string()))),
            Some("delete") => writes.push((key, None)),
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ERR_MALFORMED_REQUEST",
                    format!("operation type {other:?} not supported"),
                );
            }
        }
    }
    apply(&shared, writes).await
}
