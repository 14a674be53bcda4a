//! Service invocation: `/v1.0/invoke/{app-id}/method/{method}` in a client span.

use ::http::{HeaderMap, HeaderName, HeaderValue, Method};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use serde::Serialize;

use super::client::{DaprClient, DaprError, finish};
use crate::constants::{self, dapr as keys};
use crate::integrations::http;

impl DaprClient {
    /// An invocation of `method` of the app `app_id` (`POST` unless [`Invocation::method`] says otherwise).
    pub fn invoke(&self, app_id: impl Into<String>, method: impl Into<String>) -> Invocation {
        Invocation {
            client: self.clone(),
            app_id: app_id.into(),
            method: method.into(),
            http_method: Method::POST,
            headers: HeaderMap::new(),
            query: Vec::new(),
            body: Ok(None),
        }
    }
}

/// A service invocation being prepared (see [`DaprClient::invoke`]).
///
/// ```
/// use budobserve::integrations::dapr::DaprClient;
/// use http::{HeaderName, HeaderValue, Method};
///
/// async fn status(dapr: &DaprClient) -> Result<u16, budobserve::integrations::dapr::DaprError> {
///     let answer = dapr
///         .invoke("budmodel", "models/42/status")
///         .method(Method::GET)
///         .query("verbose", "true")
///         .header(HeaderName::from_static("x-tenant"), HeaderValue::from_static("t-1"))
///         .send()
///         .await?;
///     Ok(answer.status().as_u16())
/// }
/// # drop(status);
/// ```
#[derive(Debug)]
#[must_use = "an invocation does nothing until sent"]
pub struct Invocation {
    client: DaprClient,
    app_id: String,
    method: String,
    http_method: Method,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: Result<Option<reqwest::Body>, DaprError>,
}

impl Invocation {
    /// The HTTP method (default `POST`).
    pub fn method(mut self, method: Method) -> Invocation {
        self.http_method = method;
        self
    }

    /// A header for the target app (the sidecars forward it).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Invocation {
        self.headers.append(name, value);
        self
    }

    /// A query parameter for the target app.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Invocation {
        self.query.push((name.into(), value.into()));
        self
    }

    /// `value` as a JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Invocation {
        self.body = serde_json::to_vec(value).map(|bytes| Some(bytes.into())).map_err(DaprError::from);
        self.headers.insert(::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self
    }

    /// A body as it is.
    pub fn body(mut self, body: impl Into<reqwest::Body>) -> Invocation {
        self.body = Ok(Some(body.into()));
        self
    }

    /// Calls the method: the target app's answer, whatever its status (a 4xx/5xx answer makes the span an error
    /// or warning, as for any HTTP client span); an error when the sidecar cannot be reached.
    pub async fn send(self) -> Result<reqwest::Response, DaprError> {
        let client = &self.client;
        let mut url = client.url(&["v1.0", "invoke", &self.app_id, "method"]);
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(self.method.split('/'));
        }
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        let attributes = vec![
            KeyValue::new(keys::RPC_SYSTEM, keys::SYSTEM),
            KeyValue::new(keys::RPC_SERVICE, self.app_id.clone()),
            KeyValue::new(keys::RPC_METHOD, self.method.clone()),
            KeyValue::new(keys::APP_ID, self.app_id.clone()),
            KeyValue::new(keys::METHOD, self.method.clone()),
            KeyValue::new(constants::http::REQUEST_METHOD, self.http_method.as_str().to_owned()),
            KeyValue::new(constants::http::URL_FULL, url.as_str().to_owned()),
        ];
        let (mut span, context) =
            client.start(format!("{}/{}", self.app_id, self.method), SpanKind::Client, attributes);
        let body = match self.body {
            Ok(body) => body,
            Err(err) => return finish(&mut span, Err(err)),
        };
        let mut request = client.inner.http.request(self.http_method, url).headers(self.headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = client.send(&mut span, &context, request).await?;
        http::record_client_status(&mut span, response.status().as_u16());
        Ok(response)
    }
}
