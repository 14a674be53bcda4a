//! Reading a call's response: a whole answer is read and recorded, a stream is handed back with a body that records
//! it as the caller reads it.

use serde_json::Value as Json;

use super::call::Call;
use super::seen::Seen;
use super::stream::StreamState;

impl Call {
    /// Reads the response of the call: a stream is handed back with a body that records it as the caller reads
    /// it; a whole answer is read (it is complete anyway), recorded, and handed back unchanged.
    pub(crate) async fn finish(mut self, response: reqwest::Response) -> Result<reqwest::Response, reqwest::Error> {
        let status = response.status();
        let event_stream = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        if status.is_success() && (event_stream || self.stream) {
            return Ok(self.stream(response));
        }
        let (parts, body) = crate::integrations::http::split_response(response);
        let bytes = match http_body_util::BodyExt::collect(body).await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                self.failed("reqwest::Error", &err);
                return Err(err);
            }
        };
        let json = serde_json::from_slice::<Json>(&bytes).ok();
        match json {
            Some(json) if status.is_success() => self.response(&json),
            Some(json) => self.api_error_body(status.as_u16(), &json),
            None if !status.is_success() => self.api_error(status.as_u16(), None, None),
            // A success the call cannot read as JSON: what the request said, and the time it took.
            None => self.end(Seen::default(), false),
        }
        Ok(reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::from(bytes))))
    }

    /// The response with a body that records the stream as the caller reads it.
    fn stream(self, response: reqwest::Response) -> reqwest::Response {
        let started = self.timed.started();
        let state = StreamState { call: self, seen: Seen::default(), line: Vec::new(), started };
        crate::integrations::http::observe_body(response, state)
    }
}
