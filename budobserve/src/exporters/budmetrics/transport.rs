//! ClickHouse's HTTP interface: one insert or statement per request, retried with exponential backoff while the
//! failure is transient and time remains.

use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

use super::options::Target;
use crate::exporters::failure::{self, Failure as Reported};

/// The connection to one ClickHouse table.
#[derive(Debug)]
pub(super) struct Transport {
    pub(super) target: Target,
    /// Built on the first export, on the thread that exports (never in the service's async context).
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    schema_ready: AtomicBool,
}

impl Transport {
    pub(super) fn new(target: Target) -> Transport {
        Transport { target, client: OnceLock::new(), schema_ready: AtomicBool::new(false) }
    }

    /// Sends one insert of `body` (gzip-compressed when so configured), creating the schema first when needed.
    pub(super) fn insert(&self, body: Vec<u8>) -> OTelSdkResult {
        let deadline = Instant::now() + self.target.timeout;
        let client = self.client()?;
        // Shared by every attempt without a copy.
        let gzip = self.target.compression;
        let body = Bytes::from(if gzip { compress(&body)? } else { body });
        if self.target.create_schema && !self.schema_ready.load(Ordering::Relaxed) {
            self.create_schema(client, deadline)?;
        }
        match self.send(client, &self.target.insert_url, &body, gzip, deadline) {
            Err(Failure::Rejected { code: Some(UNKNOWN_TABLE | UNKNOWN_DATABASE), .. })
                if self.target.create_schema =>
            {
                // The table went away (a server restarted on empty storage, say): create it again, once.
                self.schema_ready.store(false, Ordering::Relaxed);
                self.create_schema(client, deadline)?;
                self.send(client, &self.target.insert_url, &body, gzip, deadline).map_err(|failure| self.error(failure))
            }
            result => result.map_err(|failure| self.error(failure)),
        }
    }
}

impl Transport {
    fn client(&self) -> Result<&reqwest::blocking::Client, OTelSdkError> {
        let client = self.client.get_or_init(|| {
            reqwest::blocking::Client::builder()
                .timeout(self.target.timeout)
                .connect_timeout(self.target.timeout.min(Duration::from_secs(5)))
                .build()
                .map_err(|err| format!("cannot build the HTTP client for ClickHouse: {err}"))
        });
        client.as_ref().map_err(|err| OTelSdkError::InternalFailure(err.clone()))
    }

    fn create_schema(&self, client: &reqwest::blocking::Client, deadline: Instant) -> OTelSdkResult {
        let url = format!("{}/", self.target.url);
        for statement in [&self.target.create_database, &self.target.create_table] {
            let statement = Bytes::copy_from_slice(statement.as_bytes());
            self.send(client, &url, &statement, false, deadline).map_err(|failure| self.error(failure))?;
        }
        self.schema_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Sends one request, retrying transient failures with exponential backoff until `deadline`.
    fn send(
        &self,
        client: &reqwest::blocking::Client,
        url: &str,
        body: &Bytes,
        gzip: bool,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            let failure = match self.attempt(client, url, body, gzip, deadline) {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            let now = Instant::now();
            if attempt >= self.target.retries || !failure.transient() || now + backoff >= deadline {
                return Err(failure);
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
            attempt += 1;
        }
    }

    fn attempt(
        &self,
        client: &reqwest::blocking::Client,
        url: &str,
        body: &Bytes,
        gzip: bool,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let timeout = self.target.timeout;
            return Err(Failure::Transport(Reported::TimedOut(format!(
                "{} did not answer within {timeout:?}",
                self.who()
            ))));
        }
        let mut request = client.post(url).timeout(remaining).body(body.clone());
        if let Some(user) = &self.target.user {
            request = request.header("X-ClickHouse-User", user);
        }
        if let Some(password) = &self.target.password {
            request = request.header("X-ClickHouse-Key", password);
        }
        if gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        let response = request.send().map_err(|err| Failure::Transport(failure::from_reqwest(&self.who(), err)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let code = response
            .headers()
            .get("X-ClickHouse-Exception-Code")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u32>().ok());
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.bytes().unwrap_or_default();
        let message = failure::body_message(content_type.as_deref(), &body);
        Err(Failure::Rejected { status: status.as_u16(), code, message })
    }

    /// Who a failure's text names: the server and the table.
    fn who(&self) -> String {
        format!("ClickHouse {} ({}.{})", self.target.url, self.target.database, self.target.table)
    }

    /// The error of a failed request, also reported to the export worker (see `exporters::failure`).
    fn error(&self, failure: Failure) -> OTelSdkError {
        let reported = match failure {
            Failure::Transport(reported) => reported,
            Failure::Rejected { status, message, .. } => {
                let status = reqwest::StatusCode::from_u16(status).map_or(status.to_string(), |s| s.to_string());
                Reported::Rejected { status: format!("{} answered HTTP {status}", self.who()), message }
            }
        };
        let error = OTelSdkError::InternalFailure(reported.to_string());
        failure::report(Some(reported));
        error
    }
}

const UNKNOWN_TABLE: u32 = 60;
const UNKNOWN_DATABASE: u32 = 81;

/// ClickHouse error codes worth a retry: the server is busy, short of memory, or lost a connection.
const TRANSIENT_CODES: &[u32] = &[
    159, // TIMEOUT_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    236, // ABORTED
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    285, // TOO_FEW_LIVE_REPLICAS
    319, // UNKNOWN_STATUS_OF_INSERT
    425, // SYSTEM_ERROR
    999, // KEEPER_EXCEPTION
];

/// Why a request failed.
#[derive(Debug)]
enum Failure {
    /// No answer: connection refused or reset, timeout.
    Transport(Reported),
    /// ClickHouse (or a proxy in front of it) answered with an error.
    Rejected { status: u16, code: Option<u32>, message: String },
}

impl Failure {
    fn transient(&self) -> bool {
        match self {
            Failure::Transport(_) => true,
            Failure::Rejected { status, code, .. } => {
                matches!(status, 429 | 502 | 503 | 504) || code.is_some_and(|code| TRANSIENT_CODES.contains(&code))
            }
        }
    }
}

fn compress(body: &[u8]) -> Result<Vec<u8>, OTelSdkError> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .map_err(|err| OTelSdkError::InternalFailure(format!("cannot compress the ClickHouse insert: {err}")))
}
