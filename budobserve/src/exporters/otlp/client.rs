//! The HTTP client of OTLP/HTTP exports: reqwest's blocking client, reporting what each request met (see
//! `exporters::failure`) — the backend's status and the message of its body, a refused or broken connection, a
//! timeout — which the OTLP exporter itself reduces to "status code: 500" or "network error".

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response, ResponseBodyTooLarge};

use crate::exporters::failure::{self, Failure};

/// Who the failures' texts name: the receiver and its address (see `failure::address`).
fn who(uri: &http::Uri) -> String {
    format!("the OTLP receiver at {}", failure::address(&uri.to_string()))
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct ReportingClient(reqwest::blocking::Client);

impl ReportingClient {
    /// A client whose requests time out after `timeout`. Built on a thread of its own: reqwest's blocking client
    /// must not be built inside an async runtime, and a service configures BudObserve from one.
    pub(super) fn new(timeout: Duration) -> Result<ReportingClient, String> {
        std::thread::Builder::new()
            .name("budobserve-otlp-client".into())
            .spawn(move || reqwest::blocking::Client::builder().timeout(timeout).build())
            .map_err(|err| format!("cannot start a thread to build the HTTP client: {err}"))?
            .join()
            .map_err(|_| "building the HTTP client panicked".to_owned())?
            .map(ReportingClient)
            .map_err(|err| format!("cannot build the HTTP client: {err}"))
    }
}

#[async_trait]
impl HttpClient for ReportingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let who = who(request.uri());
        match self.0.send_bytes(request).await {
            Ok(response) => {
                failure::report(rejection(&who, &response));
                Ok(response)
            }
            Err(err) => {
                // The exporter looks for this one (it is not worth a retry): passed on as it is.
                if err.is::<ResponseBodyTooLarge>() {
                    failure::report(Some(Failure::Other(err.to_string())));
                    return Err(err);
                }
                let failure = match err.downcast::<reqwest::Error>() {
                    Ok(err) => failure::from_reqwest(&who, *err),
                    // Reading the body failed: the connection broke mid-answer, or the answer was too slow.
                    Err(err) => {
                        let text = failure::with_causes(err.as_ref());
                        match err.downcast_ref::<std::io::Error>() {
                            Some(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                                Failure::TimedOut(format!("{who} did not finish its answer in time: {text}"))
                            }
                            _ => Failure::Unreachable(format!("{who} broke off its answer: {text}")),
                        }
                    }
                };
                failure::report(Some(failure.clone()));
                Err(Box::new(failure))
            }
        }
    }
}

/// The failure an error response stands for (`None` for a success).
fn rejection(who: &str, response: &Response<Bytes>) -> Option<Failure> {
    let status = response.status();
    if status.is_success() {
        return None;
    }
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok());
    Some(Failure::Rejected {
        status: format!("{who} answered HTTP {status}"),
        message: failure::body_message(content_type, response.body()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_response_is_a_rejection_with_its_message() {
        let response = Response::builder()
            .status(503)
            .header("content-type", "text/plain")
            .body(Bytes::from_static(b"collector overloaded\n"))
            .unwrap_or_default();
        let who = who(&"http://user:secret@collector:4318/v1/traces?token=t".parse().unwrap_or_default());
        assert_eq!(
            rejection(&who, &response),
            Some(Failure::Rejected {
                status: "the OTLP receiver at http://collector:4318 answered HTTP 503 Service Unavailable".into(),
                message: "collector overloaded".into()
            })
        );
        assert_eq!(rejection(&who, &Response::new(Bytes::new())), None);
        assert_eq!(
            super::who(&"https://[::1]/v1/logs".parse().unwrap_or_default()),
            "the OTLP receiver at https://[::1]"
        );
    }
}
