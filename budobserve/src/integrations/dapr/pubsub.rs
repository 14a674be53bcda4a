//! Pub/sub: events published as CloudEvents that carry the trace and the bud context, in producer spans.

use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};
use serde::Serialize;
use serde_json::Value as Json;

use super::client::{DaprClient, DaprError, api_error, api_result, finish};
use crate::constants::dapr as keys;
use crate::integrations::http::new_request_id;

/// The CloudEvents type Dapr gives the events it wraps.
const EVENT_TYPE: &str = "com.dapr.event.sent";

impl DaprClient {
    /// Publishes `data` to `topic` of the pub/sub component `pubsub`, as a CloudEvent that carries the trace.
    pub async fn publish<T: Serialize + ?Sized>(&self, pubsub: &str, topic: &str, data: &T) -> Result<(), DaprError> {
        let data = serde_json::to_value(data)?;
        let id = new_request_id();
        let mut attributes = self.messaging_attributes(pubsub, topic);
        attributes.push(KeyValue::new(keys::MESSAGING_MESSAGE_ID, id.clone()));
        let (mut span, context) = self.start(format!("publish {topic}"), SpanKind::Producer, attributes);
        let event = self.cloud_event(&context, id, data);
        let url = self.url(&["v1.0", "publish", pubsub, topic]);
        let request = self.post(url, "application/cloudevents+json", serde_json::to_vec(&event)?);
        let response = self.send(&mut span, &context, request).await?;
        finish(&mut span, api_result(response).await.map(drop))
    }

    /// Publishes every event of `events` to `topic` in one call (Dapr's bulk publish); the entries the sidecar
    /// could not publish are returned (and make the span an error).
    pub async fn publish_bulk<T: Serialize>(
        &self,
        pubsub: &str,
        topic: &str,
        events: &[T],
    ) -> Result<BulkPublished, DaprError> {
        let mut attributes = self.messaging_attributes(pubsub, topic);
        attributes.push(KeyValue::new(keys::MESSAGING_BATCH_MESSAGE_COUNT, events.len() as i64));
        let (mut span, context) = self.start(format!("publish {topic}"), SpanKind::Producer, attributes);
        let mut entries = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let event = self.cloud_event(&context, new_request_id(), serde_json::to_value(event)?);
            entries.push(serde_json::json!({
                "entryId": index.to_string(),
                "event": event,
                "contentType": "application/cloudevents+json",
            }));
        }
        let url = self.url(&["v1.0-alpha1", "publish", "bulk", pubsub, topic]);
        let request = self.post(url, "application/json", serde_json::to_vec(&entries)?);
        let response = self.send(&mut span, &context, request).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(BulkPublished { failed: Vec::new() });
        }
        // Some entries failed: the answer names them.
        let bytes = response.bytes().await?;
        let answer: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
        let failed: Vec<FailedEntry> = answer
            .get("failedEntries")
            .and_then(|entries| serde_json::from_value(entries.clone()).ok())
            .unwrap_or_default();
        if failed.is_empty() {
            return finish(&mut span, Err(api_error(status.as_u16(), &bytes)));
        }
        span.set_attribute(KeyValue::new(keys::BULK_FAILED_ENTRIES, failed.len() as i64));
        span.record_error_message(
            "DaprBulkPublishError",
            format!("{} of {} events not published", failed.len(), events.len()),
        );
        Ok(BulkPublished { failed })
    }

    fn messaging_attributes(&self, pubsub: &str, topic: &str) -> Vec<KeyValue> {
        vec![
            KeyValue::new(keys::MESSAGING_SYSTEM, self.system(pubsub)),
            KeyValue::new(keys::MESSAGING_DESTINATION_NAME, topic.to_owned()),
            KeyValue::new(keys::MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(keys::MESSAGING_OPERATION_NAME, "publish"),
            KeyValue::new(keys::PUBSUB_NAME, pubsub.to_owned()),
        ]
    }

    /// A CloudEvent of `data`, with the trace (`traceparent`, `tracestate`) and the baggage of `context`.
    fn cloud_event(&self, context: &Context, id: String, data: Json) -> Json {
        let mut event = serde_json::Map::new();
        event.insert("specversion".to_owned(), Json::from("1.0"));
        event.insert("id".to_owned(), Json::from(id));
        event.insert("source".to_owned(), Json::from(self.inner.app_id.clone()));
        event.insert("type".to_owned(), Json::from(EVENT_TYPE));
        event.insert("datacontenttype".to_owned(), Json::from("application/json"));
        for (name, value) in crate::baggage::inject_headers(context) {
            event.insert(name, Json::from(value));
        }
        event.insert("data".to_owned(), data);
        Json::Object(event)
    }
}

/// What a bulk publish could not publish.
///
/// ```
/// use budobserve::integrations::dapr::{DaprClient, DaprError};
///
/// async fn audit(dapr: &DaprClient, events: &[serde_json::Value]) -> Result<(), DaprError> {
///     let published = dapr.publish_bulk("pubsub", "audit", events).await?;
///     for failed in &published.failed {
///         eprintln!("event {} not published: {}", failed.entry_id, failed.error); // to retry, or to count
///     }
///     Ok(())
/// }
/// # drop(audit);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkPublished {
    /// The entries not published (their index in the events given, as a string, and the sidecar's error).
    pub failed: Vec<FailedEntry>,
}

/// An event a bulk publish could not publish.
///
/// ```
/// use budobserve::integrations::dapr::{BulkPublished, FailedEntry};
///
/// fn indexes(published: &BulkPublished) -> Vec<usize> {
///     published.failed.iter().filter_map(|entry: &FailedEntry| entry.entry_id.parse().ok()).collect()
/// }
/// assert!(indexes(&BulkPublished::default()).is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct FailedEntry {
    /// The event's index in the events given.
    #[serde(rename = "entryId")]
    pub entry_id: String,
    /// The sidecar's error.
    pub error: String,
}
