//! The layer of an app's subscription routes: each delivered event handled in a consumer span (feature `axum`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use axum::body::Body;
use http::{Request, Response};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use serde_json::Value as Json;
use tower_layer::Layer;
use tower_service::Service;

use super::client::SCOPE;
use crate::constants::{self, dapr as keys};
use crate::level::Level;
use crate::observe::BudObserve;
use crate::span::BudSpan;

/// The largest request or handler answer the subscription layer reads (a CloudEvent, a bulk envelope).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// A tower layer for an app's subscription routes: each delivered event is handled in a consumer span (see the
/// [module](super)).
///
/// ```
/// use axum::{Json, Router, routing::post};
/// use budobserve::integrations::dapr::SubscriptionLayer;
/// use serde_json::{Value, json};
///
/// async fn on_order(Json(event): Json<Value>) -> Json<Value> {
///     budobserve::bud_info!("order {order} received", order = event["data"]["order"].as_i64().unwrap_or_default());
///     Json(json!({"status": "SUCCESS"}))                   // or RETRY, DROP: recorded on the consumer span
/// }
///
/// let _app: Router = Router::new().route("/events/orders", post(on_order).layer(SubscriptionLayer::new()));
/// ```
#[derive(Clone, Debug)]
pub struct SubscriptionLayer {
    observe: BudObserve,
}

impl Default for SubscriptionLayer {
    fn default() -> Self {
        SubscriptionLayer::new()
    }
}

impl SubscriptionLayer {
    /// The layer writing to the instance current now.
    pub fn new() -> SubscriptionLayer {
        SubscriptionLayer::for_instance(&crate::current())
    }

    /// The layer writing to `observe`.
    pub fn for_instance(observe: &BudObserve) -> SubscriptionLayer {
        SubscriptionLayer { observe: crate::integrations::handle::integration(observe, SCOPE) }
    }
}

impl<S> Layer<S> for SubscriptionLayer {
    type Service = SubscriptionService<S>;

    fn layer(&self, inner: S) -> SubscriptionService<S> {
        SubscriptionService { inner, observe: self.observe.clone() }
    }
}

/// The service [`SubscriptionLayer`] makes.
///
/// ```
/// use axum::routing::{MethodRouter, post};
/// use budobserve::integrations::dapr::{SubscriptionLayer, SubscriptionService};
/// use tower_layer::Layer as _;
///
/// let handler: MethodRouter = post(|| async { r#"{"status":"SUCCESS"}"# });
/// let _service: SubscriptionService<MethodRouter> = SubscriptionLayer::new().layer(handler);
/// ```
#[derive(Clone, Debug)]
pub struct SubscriptionService<S> {
    inner: S,
    observe: BudObserve,
}

impl<S> Service<Request<Body>> for SubscriptionService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let observe = self.observe.clone();
        // The request's span (a server layer's), when there is one.
        let current = Context::current();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
                // Unreadable: the handler sees the same failure.
                let request = Request::from_parts(parts, Body::empty());
                return inner.call(request).await;
            };
            let event: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
            let (mut span, context) = start_process(&observe, &current, &event);
            let request = Request::from_parts(parts, Body::from(bytes));
            let future = {
                let _attached = context.clone().attach();
                inner.call(request)
            };
            let response = opentelemetry::context::FutureExt::with_context(future, context).await?;
            Ok(record_answer(&mut span, response).await)
        })
    }
}

/// The consumer span of a delivered event (a CloudEvent or a bulk envelope), and the context its handler runs in.
fn start_process(observe: &BudObserve, current: &Context, event: &Json) -> (BudSpan, Context) {
    let text = |json: &Json, key: &str| json.get(key).and_then(Json::as_str).map(str::to_owned);
    let topic = text(event, "topic").unwrap_or_default();
    let mut attributes = vec![
        KeyValue::new(keys::MESSAGING_SYSTEM, keys::SYSTEM),
        KeyValue::new(keys::MESSAGING_DESTINATION_NAME, topic.clone()),
        KeyValue::new(keys::MESSAGING_OPERATION_TYPE, "process"),
        KeyValue::new(keys::MESSAGING_OPERATION_NAME, "process"),
    ];
    if let Some(pubsub) = text(event, "pubsubname") {
        attributes.push(KeyValue::new(keys::PUBSUB_NAME, pubsub));
    }
    // The producers' contexts: the event's, or each entry's of a bulk envelope.
    let events: Vec<&Json> = match event.get("entries").and_then(Json::as_array) {
        Some(entries) => {
            attributes.push(KeyValue::new(keys::MESSAGING_BATCH_MESSAGE_COUNT, entries.len() as i64));
            entries.iter().filter_map(|entry| entry.get("event")).collect()
        }
        None => {
            for (key, field) in [
                (keys::MESSAGING_MESSAGE_ID, "id"),
                (keys::CLOUDEVENTS_SOURCE, "source"),
                (keys::CLOUDEVENTS_TYPE, "type"),
            ] {
                if let Some(value) = text(event, field) {
                    attributes.push(KeyValue::new(key, value));
                }
            }
            vec![event]
        }
    };
    let producers: Vec<Context> = events
        .iter()
        .map(|event| {
            let carrier: HashMap<String, String> = ["traceparent", "tracestate", "baggage"]
                .iter()
                .filter_map(|key| {
                    event.get(*key).and_then(Json::as_str).map(|value| ((*key).to_owned(), value.to_owned()))
                })
                .collect();
            crate::baggage::extract(&carrier)
        })
        .collect();
    // The request's span when a server layer continued the producer's trace; else the one producer's span. A
    // batch has no one producer: its span is the request's (or a root), linked to each.
    let single = (producers.len() == 1).then(|| &producers[0]);
    let request = current.span().span_context().clone();
    let mut parent = match single {
        Some(producer) if !request.is_valid() || request.trace_id() != producer.span().span_context().trace_id() => {
            producer.clone()
        }
        _ => current.clone(),
    };
    // The bud context travels in the events: the producer's entries join the request's own.
    if let Some(producer) = single {
        let mut entries: HashMap<String, KeyValue> = HashMap::new();
        for (key, (value, _)) in producer.baggage().iter().chain(parent.baggage().iter()) {
            entries.insert(key.to_string(), KeyValue::new(key.clone(), value.clone()));
        }
        parent = parent.with_baggage(entries.into_values());
    }
    let mut builder = observe.span_builder(format!("process {topic}")).kind(SpanKind::Consumer).parent(parent.clone());
    let mut linked: Vec<opentelemetry::trace::SpanContext> = Vec::new();
    for producer in &producers {
        let producer = producer.span().span_context().clone();
        if producer.is_valid() && &producer != parent.span().span_context() && !linked.contains(&producer) {
            linked.push(producer.clone());
            builder = builder.link(producer, Vec::new());
        }
    }
    let span = builder.attributes(attributes).start();
    let context = span.context_in(parent);
    (span, context)
}

/// Records the handler's answer — its status, and Dapr's `SUCCESS`/`RETRY`/`DROP` — and hands it back unchanged.
async fn record_answer(span: &mut BudSpan, response: Response<Body>) -> Response<Body> {
    let status = response.status();
    span.set_attribute(KeyValue::new(constants::http::RESPONSE_STATUS_CODE, i64::from(status.as_u16())));
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        span.record_error_message("DaprSubscriptionError", "the handler's answer could not be read".to_owned());
        return Response::from_parts(parts, Body::empty());
    };
    let answer: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
    // A single event's status, or the statuses of a bulk envelope's entries that did not succeed.
    let statuses: Vec<&str> = match answer.get("statuses").and_then(Json::as_array) {
        Some(statuses) => statuses.iter().filter_map(|s| s.get("status").and_then(Json::as_str)).collect(),
        None => answer.get("status").and_then(Json::as_str).into_iter().collect(),
    };
    let outcome = if !status.is_success() {
        // Dapr drops the event on 404 and retries it on other errors.
        if status == http::StatusCode::NOT_FOUND { "DROP" } else { "RETRY" }
    } else {
        statuses.iter().copied().find(|s| *s != "SUCCESS").unwrap_or("SUCCESS")
    }
    .to_owned();
    span.set_attribute(KeyValue::new(keys::SUBSCRIPTION_STATUS, outcome.clone()));
    if status.is_server_error() {
        span.set_level(Level::Error);
        span.set_status(Status::error(format!("the handler answered {status}")));
    } else if outcome != "SUCCESS" {
        span.set_level(Level::Warn);
    }
    Response::from_parts(parts, Body::from(bytes))
}
