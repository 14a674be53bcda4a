//! State: get, save, delete and transactions in database client spans; keys recorded, values never.

use opentelemetry::trace::SpanKind;
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::client::{DaprClient, DaprError, api_result, finish};
use crate::constants::{self, dapr as keys};
use crate::span::BudSpan;

impl DaprClient {
    /// The value saved under `key` in the state store `store`, `None` when there is none.
    pub async fn get_state<T: DeserializeOwned>(&self, store: &str, key: &str) -> Result<Option<T>, DaprError> {
        let (mut span, context) = self.start_state("GET", store, &[key]);
        let request = self.inner.http.get(self.url(&["v1.0", "state", store, key]));
        let response = self.send(&mut span, &context, request).await?;
        let result = async {
            let response = api_result(response).await?;
            if response.status() == http::StatusCode::NO_CONTENT {
                return Ok(None);
            }
            let bytes = response.bytes().await?;
            Ok(Some(serde_json::from_slice(&bytes)?))
        }
        .await;
        finish(&mut span, result)
    }

    /// Saves `value` under `key` in the state store `store`.
    pub async fn save_state<T: Serialize + ?Sized>(&self, store: &str, key: &str, value: &T) -> Result<(), DaprError> {
        let body = serde_json::to_vec(&[serde_json::json!({"key": key, "value": value})])?;
        let (mut span, context) = self.start_state("SAVE", store, &[key]);
        let request = self.post(self.url(&["v1.0", "state", store]), "application/json", body);
        let response = self.send(&mut span, &context, request).await?;
        finish(&mut span, api_result(response).await.map(drop))
    }

    /// Deletes `key` from the state store `store`.
    pub async fn delete_state(&self, store: &str, key: &str) -> Result<(), DaprError> {
        let (mut span, context) = self.start_state("DELETE", store, &[key]);
        let request = self.inner.http.delete(self.url(&["v1.0", "state", store, key]));
        let response = self.send(&mut span, &context, request).await?;
        finish(&mut span, api_result(response).await.map(drop))
    }

    /// Applies `operations` to the state store `store` in one transaction.
    pub async fn transaction(&self, store: &str, operations: &[StateOperation]) -> Result<(), DaprError> {
        let keys: Vec<&str> = operations.iter().map(StateOperation::key).collect();
        let (mut span, context) = self.start_state("TRANSACTION", store, &keys);
        span.set_attribute(KeyValue::new(constants::db::OPERATION_BATCH_SIZE, operations.len() as i64));
        let body = serde_json::json!({"operations": operations});
        let url = self.url(&["v1.0", "state", store, "transaction"]);
        let request = self.post(url, "application/json", serde_json::to_vec(&body)?);
        let response = self.send(&mut span, &context, request).await?;
        finish(&mut span, api_result(response).await.map(drop))
    }

    fn start_state(&self, operation: &'static str, store: &str, keys_: &[&str]) -> (BudSpan, Context) {
        let keys_: Vec<StringValue> = keys_.iter().map(|key| (*key).to_owned().into()).collect();
        let attributes = vec![
            KeyValue::new(constants::db::SYSTEM_NAME, self.system(store)),
            KeyValue::new(constants::db::OPERATION_NAME, operation),
            KeyValue::new(keys::STORE_NAME, store.to_owned()),
            KeyValue::new(keys::STATE_KEYS, Value::Array(Array::String(keys_))),
        ];
        self.start(format!("{operation} {store}"), SpanKind::Client, attributes)
    }
}

/// An operation of a state [transaction](DaprClient::transaction).
///
/// ```
/// use budobserve::integrations::dapr::{DaprClient, DaprError, StateOperation};
///
/// async fn move_cart(dapr: &DaprClient) -> Result<(), DaprError> {
///     let operations = [
///         StateOperation::upsert("order-7", &serde_json::json!({"items": 2}))?,
///         StateOperation::delete("cart-7"),
///     ];
///     dapr.transaction("statestore", &operations).await   // one span, keys `order-7`, `cart-7`
/// }
/// # drop(move_cart);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum StateOperation {
    /// Saves a value under a key.
    Upsert {
        /// The key.
        key: String,
        /// The value.
        value: Json,
    },
    /// Deletes a key.
    Delete {
        /// The key.
        key: String,
    },
}

impl StateOperation {
    /// Saves `value` under `key`.
    pub fn upsert<T: Serialize + ?Sized>(key: impl Into<String>, value: &T) -> Result<StateOperation, DaprError> {
        Ok(StateOperation::Upsert { key: key.into(), value: serde_json::to_value(value)? })
    }

    /// Deletes `key`.
    pub fn delete(key: impl Into<String>) -> StateOperation {
        StateOperation::Delete { key: key.into() }
    }

    fn key(&self) -> &str {
        match self {
            StateOperation::Upsert { key, .. } | StateOperation::Delete { key } => key,
        }
    }
}

impl Serialize for StateOperation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let json = match self {
            StateOperation::Upsert { key, value } => {
                serde_json::json!({"operation": "upsert", "request": {"key": key, "value": value}})
            }
            StateOperation::Delete { key } => serde_json::json!({"operation": "delete", "request": {"key": key}}),
        };
        json.serialize(serializer)
    }
}
