//! The app's answer to the sidecar's `GET /dapr/subscribe`.

use serde::Serialize;

/// A programmatic subscription, as an app lists it in its answer to the sidecar's `GET /dapr/subscribe`.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use budobserve::integrations::dapr::Subscription;
///
/// let subscriptions = vec![
///     Subscription::new("pubsub", "orders", "/events/orders"),
///     Subscription::new("pubsub", "audit", "/events/audit").bulk(100),
/// ];
/// let _app: Router = Router::new().route("/dapr/subscribe", get(move || async move { Json(subscriptions.clone()) }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// The pub/sub component.
    #[serde(rename = "pubsubname")]
    pub pubsub_name: String,
    /// The topic.
    pub topic: String,
    /// The app's route that receives the events.
    pub route: String,
    /// Bulk subscribe: the events arrive in batches (a bulk envelope).
    #[serde(rename = "bulkSubscribe", skip_serializing_if = "BulkSubscribe::is_off")]
    pub bulk_subscribe: BulkSubscribe,
}

/// The bulk-subscribe settings of a [`Subscription`].
///
/// ```
/// use budobserve::integrations::dapr::Subscription;
///
/// let subscription = Subscription::new("pubsub", "audit", "/events/audit").bulk(100);
/// assert!(subscription.bulk_subscribe.enabled);
/// assert_eq!(subscription.bulk_subscribe.max_messages_count, Some(100));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BulkSubscribe {
    /// Whether events arrive in batches.
    pub enabled: bool,
    /// The largest batch.
    #[serde(rename = "maxMessagesCount", skip_serializing_if = "Option::is_none")]
    pub max_messages_count: Option<u32>,
}

impl BulkSubscribe {
    fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Subscription {
    /// Events of `topic` on `pubsub_name`, delivered one by one to `route`.
    pub fn new(pubsub_name: impl Into<String>, topic: impl Into<String>, route: impl Into<String>) -> Subscription {
        Subscription {
            pubsub_name: pubsub_name.into(),
            topic: topic.into(),
            route: route.into(),
            bulk_subscribe: BulkSubscribe::default(),
        }
    }

    /// Events delivered in batches of at most `max_messages` (a bulk-subscribe envelope).
    pub fn bulk(mut self, max_messages: u32) -> Subscription {
        self.bulk_subscribe = BulkSubscribe { enabled: true, max_messages_count: Some(max_messages) };
        self
    }
}
