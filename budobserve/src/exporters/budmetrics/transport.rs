//! ClickHouse's HTTP interface: the schema created and read once, then one insert per request, retried with
//! exponential backoff while the failure is transient and time remains.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

use super::layout::Layout;
use super::options::Target;
use crate::exporters::failure::{self, Failure as Reported};

/// The connection to one ClickHouse table.
#[derive(Debug)]
pub(super) struct Transport {
    pub(super) target: Target,
    /// Built on the first export, on the thread that exports (never in the service's async context).
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    /// How rows are written to the table, once its columns were read (and the schema created, when asked).
    layout: Mutex<Option<Arc<Layout>>>,
    /// Whether the schema was created since the layout was last forgotten.
    schema_created: AtomicBool,
}

impl Transport {
    pub(super) fn new(target: Target) -> Transport {
        Transport { target, client: OnceLock::new(), layout: Mutex::new(None), schema_created: AtomicBool::new(false) }
    }

    /// Sends one insert of the rows `encode` writes for the table's layout (gzip-compressed when so configured),
    /// creating the schema and reading the table's columns first when needed.
    pub(super) fn insert(&self, encode: &dyn Fn(&Layout, &mut Vec<u8>)) -> OTelSdkResult {
        let deadline = Instant::now() + self.target.timeout;
        let client = self.client()?;
        let layout = self.layout(client, deadline)?;
        let body = self.body(&layout, encode)?;
        match self.send(client, &self.target.insert_url, &body, self.target.compression, deadline) {
            Ok(_) => Ok(()),
            Err(Failure::Rejected { code: Some(code), .. }) if RELAYOUT_CODES.contains(&code) => {
                // The table went away (a server restarted on empty storage, say) or was altered since its columns
                // were read: create it again when asked, read its columns again, and send once more.
                self.forget_layout();
                let again = self.layout(client, deadline)?;
                let body = if again == layout { body } else { self.body(&again, encode)? };
                self.send(client, &self.target.insert_url, &body, self.target.compression, deadline)
                    .map(drop)
                    .map_err(|failure| self.error(failure))
            }
            Err(failure) => Err(self.error(failure)),
        }
    }

    /// The layout the next insert uses, once known.
    fn known_layout(&self) -> Option<Arc<Layout>> {
        self.layout.lock().unwrap_or_else(PoisonError::into_inner).clone()
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

    fn forget_layout(&self) {
        *self.layout.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.schema_created.store(false, Ordering::Relaxed);
    }

    /// The table's layout: known, or read now (after creating the schema, when asked).
    fn layout(&self, client: &reqwest::blocking::Client, deadline: Instant) -> Result<Arc<Layout>, OTelSdkError> {
        if let Some(layout) = self.known_layout() {
            return Ok(layout);
        }
        let url = format!("{}/", self.target.url);
        if self.target.create_schema && !self.schema_created.load(Ordering::Relaxed) {
            for statement in &self.target.create_statements {
                let statement = Bytes::copy_from_slice(statement.as_bytes());
                self.send(client, &url, &statement, false, deadline).map_err(|failure| self.error(failure))?;
            }
            self.schema_created.store(true, Ordering::Relaxed);
        }
        let query = Bytes::copy_from_slice(self.target.columns_query.as_bytes());
        let columns = self.send(client, &url, &query, false, deadline).map_err(|failure| self.error(failure))?;
        let columns = String::from_utf8_lossy(&columns);
        let layout = Layout::of_table(self.target.generation, &columns).map_err(|problems| {
            let who = self.who();
            self.error(Failure::Transport(Reported::Rejected {
                status: format!("{who} cannot hold BudObserve's rows"),
                message: problems,
            }))
        })?;
        let layout = Arc::new(layout);
        *self.layout.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&layout));
        Ok(layout)
    }

    /// The body of one insert: the rows `encode` writes for `layout`, compressed when so configured.
    fn body(&self, layout: &Layout, encode: &dyn Fn(&Layout, &mut Vec<u8>)) -> Result<Bytes, OTelSdkError> {
        let mut rows = Vec::new();
        encode(layout, &mut rows);
        Ok(Bytes::from(if self.target.compression { compress(&rows)? } else { rows }))
    }

    /// Sends one request, retrying transient failures with exponential backoff until `deadline`.
    fn send(
        &self,
        client: &reqwest::blocking::Client,
        url: &str,
        body: &Bytes,
        gzip: bool,
        deadline: Instant,
    ) -> Result<Bytes, Failure> {
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            let failure = match self.attempt(client, url, body, gzip, deadline) {
                Ok(answer) => return Ok(answer),
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
    ) -> Result<Bytes, Failure> {
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
            return response.bytes().map_err(|err| Failure::Transport(failure::from_reqwest(&self.who(), err)));
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
        let address = failure::address(&self.target.url);
        format!("ClickHouse {address} ({}.{})", self.target.database, self.target.table)
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

/// The answers after which the table's columns are read again (and the schema created again, when asked):
/// NO_SUCH_COLUMN_IN_TABLE, UNKNOWN_TABLE, UNKNOWN_DATABASE, INCORRECT_DATA (a type in the header that the table
/// no longer has).
const RELAYOUT_CODES: &[u32] = &[16, 60, 81, 117];

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
