//! The OTLP/HTTP span exporter: spans encoded by `encode` into one reused buffer (gzip-compressed when configured)
//! and posted to `{endpoint}/v1/traces` through the reporting client, retried as OpenTelemetry's exporter retries
//! (429 and 503 honouring `Retry-After`, 502, 504 and failed connections; three retries with exponential backoff
//! from 100 ms to 1.6 s and up to 100 ms of jitter; never past the exporter's timeout).

use std::io::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_http::{Bytes, HttpClient as _, Request};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::client::ReportingClient;
use super::encode;

const MAX_RETRIES: u32 = 3;
const INITIAL_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_millis(1600);
const MAX_JITTER_MS: u64 = 100;
/// The longest a `Retry-After` is honoured (and the backoff's cap once a server asked for more than `MAX_DELAY`).
const MAX_THROTTLE: Duration = Duration::from_secs(30);

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct HttpTraces {
    client: ReportingClient,
    url: String,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    gzip: bool,
    timeout: Duration,
    resource: Resource,
    /// The encoding buffer, kept between exports (its capacity grows to the largest batch's).
    buffer: Mutex<Vec<u8>>,
}

/// What one attempt met, for the retry decision.
enum Attempt {
    Retryable(String),
    Throttled(Duration, String),
    Final(String),
}

impl HttpTraces {
    pub(crate) fn new(
        client: ReportingClient,
        url: String,
        headers: Vec<(http::HeaderName, http::HeaderValue)>,
        gzip: bool,
        timeout: Duration,
    ) -> HttpTraces {
        HttpTraces {
            client,
            url,
            headers,
            gzip,
            timeout,
            resource: Resource::builder_empty().build(),
            buffer: Mutex::new(Vec::new()),
        }
    }

    /// The request body for `batch`: encoded, and compressed when configured.
    fn body(&self, batch: &[SpanData]) -> Result<Bytes, String> {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        encode::traces_request(&mut buffer, &self.resource, batch);
        if !self.gzip {
            return Ok(Bytes::copy_from_slice(&buffer));
        }
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(buffer.len() / 4), flate2::Compression::default());
        encoder.write_all(&buffer).map_err(|err| err.to_string())?;
        encoder.finish().map(Bytes::from).map_err(|err| err.to_string())
    }

    fn request(&self, body: Bytes) -> Result<Request<Bytes>, String> {
        let mut request = Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body)
            .map_err(|err| format!("cannot build the HTTP request: {err}"))?;
        let headers = request.headers_mut();
        if self.gzip {
            headers.insert(http::header::CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        Ok(request)
    }

    async fn attempt(&self, body: Bytes) -> Result<(), Attempt> {
        let request = self.request(body).map_err(Attempt::Final)?;
        let response = match self.client.send_bytes(request).await {
            Ok(response) => response,
            Err(err) if err.is::<opentelemetry_http::ResponseBodyTooLarge>() => {
                return Err(Attempt::Final(err.to_string()));
            }
            Err(_) => return Err(Attempt::Retryable("HTTP export failed: network error".to_owned())),
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(());
        }
        let message = format!("HTTP export failed with status code: {status}");
        let retry_after = response.headers().get(http::header::RETRY_AFTER).and_then(|value| value.to_str().ok());
        match status {
            429 | 503 => match retry_after.and_then(|value| value.trim().parse::<u64>().ok()) {
                Some(seconds) => Err(Attempt::Throttled(Duration::from_secs(seconds.min(600)), message)),
                None => Err(Attempt::Retryable(message)),
            },
            502 | 504 => Err(Attempt::Retryable(message)),
            _ => Err(Attempt::Final(message)),
        }
    }

    async fn send(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if batch.is_empty() {
            return Ok(());
        }
        let body = self.body(&batch).map_err(OTelSdkError::InternalFailure)?;
        drop(batch);
        let start = Instant::now();
        let mut attempt = 0;
        let mut delay = INITIAL_DELAY;
        let mut cap = MAX_DELAY;
        loop {
            let failure = match self.attempt(body.clone()).await {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            let message = match &failure {
                Attempt::Retryable(message) | Attempt::Throttled(_, message) | Attempt::Final(message) => {
                    message.clone()
                }
            };
            let remaining = self.timeout.saturating_sub(start.elapsed());
            if remaining.is_zero() || attempt >= MAX_RETRIES {
                return Err(OTelSdkError::InternalFailure(message));
            }
            match failure {
                Attempt::Final(_) => return Err(OTelSdkError::InternalFailure(message)),
                Attempt::Retryable(_) => {}
                Attempt::Throttled(asked, _) => {
                    let asked = asked.min(MAX_THROTTLE);
                    if asked > cap {
                        cap = MAX_THROTTLE;
                    }
                    delay = delay.max(asked);
                }
            }
            attempt += 1;
            let pause = delay.saturating_add(jitter()).min(cap);
            if pause >= remaining {
                return Err(OTelSdkError::InternalFailure(message));
            }
            std::thread::sleep(pause);
            delay = delay.saturating_mul(2).min(cap);
        }
    }
}

/// Up to `MAX_JITTER_MS` of random delay, so that many exporters do not retry in step.
fn jitter() -> Duration {
    Duration::from_millis(crate::random::next() % (MAX_JITTER_MS + 1))
}

impl SpanExporter for HttpTraces {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.send(batch)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }
}
