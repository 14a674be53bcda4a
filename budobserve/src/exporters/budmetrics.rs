//! Spans straight into BudMetrics' ClickHouse table `otel_traces` (feature `clickhouse`).
//!
//! BudMetrics reads spans from ClickHouse, in the table the OpenTelemetry Collector's ClickHouse exporter creates
//! (`metrics.otel_traces`). [`BudMetricsExporter`] writes that table itself, over ClickHouse's HTTP interface, so a
//! service needs no collector in between:
//!
//! ```no_run
//! # fn main() -> Result<(), budobserve::ConfigError> {
//! use budobserve::exporters::budmetrics::ClickHouseOptions;
//!
//! let _guard = budobserve::configure()
//!     .service_name("budapp")
//!     .clickhouse(ClickHouseOptions::new("http://clickhouse:8123").credentials("budobserve", "secret"))
//!     .install()?;
//! # Ok(()) }
//! ```
//!
//! or, without code, `BUD_OBSERVE_CLICKHOUSE_URL=http://clickhouse:8123` (with `BUD_OBSERVE_CLICKHOUSE_DATABASE`,
//! `BUD_OBSERVE_CLICKHOUSE_USER`, `BUD_OBSERVE_CLICKHOUSE_PASSWORD`).
//!
//! **Rows.** One row per span, in the collector's columns: `Timestamp` (the start, `DateTime64(9)`), `TraceId`,
//! `SpanId`, `ParentSpanId` (lowercase hex; empty for a root), `TraceState`, `SpanName`, `SpanKind` (`Internal`,
//! `Server`, `Client`, `Producer`, `Consumer`), `ServiceName` (the resource's `service.name`),
//! `ResourceAttributes`, `ScopeName`, `ScopeVersion`, `SpanAttributes`, `Duration` (nanoseconds), `StatusCode`
//! (`Unset`, `Ok`, `Error`), `StatusMessage`, `Events.{Timestamp,Name,Attributes}` and
//! `Links.{TraceId,SpanId,TraceState,Attributes}`. Attribute values are strings, as the collector writes them:
//! strings as they are, booleans `true`/`false`, integers and floats in decimal (`1.5`, `3`, `NaN`, `+Inf`), arrays
//! as JSON (`["a","b"]`, `[1,2]`).
//!
//! **Wire format.** Rows are sent as `RowBinaryWithNamesAndTypes` (the default, [`InsertFormat::RowBinary`]): the
//! columns' binary encoding, preceded by their names and types, so that a table whose columns differ from what is
//! sent rejects the batch with ClickHouse's own message instead of storing misread values.
//! [`InsertFormat::JsonEachRow`] is the text alternative. Both are formats of the stock ClickHouse server, sent as
//! `POST /?query=INSERT INTO db.table FORMAT …` with the rows in the body (gzip-compressed with
//! [`compression`](ClickHouseOptions::compression)); `BENCHMARKS.md` compares their throughput.
//!
//! **Schema.** With [`create_schema`](ClickHouseOptions::create_schema) (on by default) the exporter issues
//! `CREATE DATABASE IF NOT EXISTS` and the collector's `CREATE TABLE IF NOT EXISTS` (MergeTree, partitioned by day,
//! ordered by `(ServiceName, SpanName, toUnixTimestamp(Timestamp), TraceId)`, with [`ttl`](ClickHouseOptions::ttl))
//! before its first insert, and again when ClickHouse answers that the table or database is missing.
//!
//! **Failures.** The exporter runs on the batch processor's worker thread, never on the caller's. A failed insert
//! is retried with exponential backoff (connection errors, timeouts, 429/502/503/504 and ClickHouse's transient
//! error codes) within [`timeout`](ClickHouseOptions::timeout); a batch ClickHouse rejects (a schema mismatch, say)
//! is not retried. Either way the batch is counted as lost in [`ExportStats`](crate::ExportStats) and the error,
//! with the server's message, is written to standard error at most once a minute. While ClickHouse is down the
//! queue stays bounded (spans beyond it are dropped and counted); once it is back, new batches are stored.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::config::ConfigError;
use crate::constants;
use crate::exporters::BatchOptions;

/// The database of BudMetrics' spans.
pub const DEFAULT_DATABASE: &str = "metrics";
/// The table of BudMetrics' spans.
pub const DEFAULT_TABLE: &str = "otel_traces";

/// How rows are encoded on the wire.
///
/// ```
/// use budobserve::exporters::budmetrics::{ClickHouseOptions, InsertFormat};
///
/// // JSON rows: slower to encode, readable in ClickHouse's query log.
/// let _options = ClickHouseOptions::new("http://clickhouse:8123").format(InsertFormat::JsonEachRow);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InsertFormat {
    /// `RowBinaryWithNamesAndTypes`: binary columns after a header of names and types (checked by the server).
    #[default]
    RowBinary,
    /// `JSONEachRow`: one JSON object per row.
    JsonEachRow,
}

impl InsertFormat {
    /// The format's name in ClickHouse.
    pub fn name(self) -> &'static str {
        match self {
            InsertFormat::RowBinary => "RowBinaryWithNamesAndTypes",
            InsertFormat::JsonEachRow => "JSONEachRow",
        }
    }
}

/// Where and how spans are written to ClickHouse. Built with [`ClickHouseOptions::new`]; the database, user and
/// password not given here come from `BUD_OBSERVE_CLICKHOUSE_DATABASE`, `_USER`, `_PASSWORD` when configured
/// through [`ConfigBuilder::clickhouse`](crate::ConfigBuilder::clickhouse).
///
/// ```
/// use std::time::Duration;
///
/// use budobserve::BatchOptions;
/// use budobserve::exporters::budmetrics::{ClickHouseOptions, InsertFormat};
///
/// let clickhouse = ClickHouseOptions::new("http://clickhouse.budmetrics:8123")
///     .credentials("writer", "secret")
///     .ttl(Duration::from_secs(30 * 86_400))              // for the table it creates when missing
///     .format(InsertFormat::RowBinary)
///     .batch_options(BatchOptions::new().max_export_batch_size(4_096).max_queue_size(16_384));
/// let _config = budobserve::configure().clickhouse(clickhouse).build();
/// ```
#[derive(Clone)]
pub struct ClickHouseOptions {
    pub(crate) url: String,
    pub(crate) database: Option<String>,
    pub(crate) table: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    create_schema: bool,
    ttl: Option<Duration>,
    timeout: Duration,
    retries: u32,
    format: InsertFormat,
    compression: bool,
    pub(crate) batch: Option<BatchOptions>,
}

impl fmt::Debug for ClickHouseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseOptions")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("table", &self.table)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("create_schema", &self.create_schema)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("format", &self.format)
            .field("compression", &self.compression)
            .field("batch", &self.batch)
            .finish()
    }
}

impl ClickHouseOptions {
    /// Spans go to the ClickHouse HTTP interface at `url` (`http://host:8123`; `https://` needs the
    /// `clickhouse-tls` feature), into `metrics.otel_traces`.
    pub fn new(url: impl Into<String>) -> ClickHouseOptions {
        ClickHouseOptions {
            url: url.into(),
            database: None,
            table: None,
            user: None,
            password: None,
            create_schema: true,
            ttl: None,
            timeout: Duration::from_secs(10),
            retries: 3,
            format: InsertFormat::RowBinary,
            compression: false,
            batch: None,
        }
    }

    /// The database (default `metrics`): letters, digits and `_`, not starting with a digit.
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into());
        self
    }

    /// The table (default `otel_traces`): letters, digits and `_`, not starting with a digit.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// The user and password (sent as `X-ClickHouse-User` / `X-ClickHouse-Key`; never printed).
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// Whether the database and table are created when missing (default on).
    pub fn create_schema(mut self, create: bool) -> Self {
        self.create_schema = create;
        self
    }

    /// How long rows are kept, for the table the exporter creates (`TTL toDateTime(Timestamp) + …`; whole
    /// seconds; default: kept forever).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The longest an export may take, retries included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a failed insert is retried (default 3), within the timeout.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The wire format (default [`InsertFormat::RowBinary`]).
    pub fn format(mut self, format: InsertFormat) -> Self {
        self.format = format;
        self
    }

    /// Whether request bodies are gzip-compressed (default off: the CPU of the export thread against bandwidth).
    pub fn compression(mut self, gzip: bool) -> Self {
        self.compression = gzip;
        self
    }

    /// The batching of this exporter (default: the instance's
    /// [`batch_options`](crate::ConfigBuilder::batch_options)). ClickHouse favours fewer, larger inserts (each
    /// insert makes a part on disk): with several service instances writing one table, a larger
    /// [`max_export_batch_size`](BatchOptions::max_export_batch_size) (and a queue to hold it) keeps the parts few;
    /// `BENCHMARKS.md` shows the throughput of 512 and 4,096 spans per insert.
    pub fn batch_options(mut self, options: BatchOptions) -> Self {
        self.batch = Some(options);
        self
    }

    /// The URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The checked settings of an exporter.
#[derive(Debug)]
struct Target {
    url: String,
    database: String,
    table: String,
    user: Option<String>,
    password: Option<String>,
    /// `{url}/?query=INSERT…` and `{url}/?query=` (for the DDL, sent in the body).
    insert_url: String,
    create_database: String,
    create_table: String,
    create_schema: bool,
    timeout: Duration,
    retries: u32,
    format: InsertFormat,
    compression: bool,
}

/// A [`SpanExporter`] writing spans into ClickHouse's `otel_traces` (see the [module](self)).
///
/// Its exports block their thread on network I/O: use it behind a batch processor (as
/// [`ConfigBuilder::clickhouse`](crate::ConfigBuilder::clickhouse) and
/// [`span_exporter`](crate::ConfigBuilder::span_exporter) do), not a simple one.
///
/// ```
/// use budobserve::exporters::budmetrics::{BudMetricsExporter, ClickHouseOptions};
///
/// // A second ClickHouse besides the configured backends, behind BudObserve's batch processor.
/// let exporter = BudMetricsExporter::new(ClickHouseOptions::new("http://clickhouse-archive:8123").database("archive"))?;
/// let _config = budobserve::configure().span_exporter(exporter).build()?;
/// # Ok::<(), budobserve::ConfigError>(())
/// ```
pub struct BudMetricsExporter {
    target: Target,
    batch: Option<BatchOptions>,
    /// Built on the first export, on the thread that exports (never in the service's async context).
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    resource: ResourceColumns,
    schema_ready: AtomicBool,
    shut_down: AtomicBool,
    /// The size of the last body, to size the next one.
    last_body: AtomicUsize,
    scratch: Mutex<String>,
}

impl fmt::Debug for BudMetricsExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudMetricsExporter")
            .field("url", &self.target.url)
            .field("database", &self.target.database)
            .field("table", &self.target.table)
            .field("format", &self.target.format)
            .finish_non_exhaustive()
    }
}

/// The resource's columns, encoded once per resource.
#[derive(Debug, Default)]
struct ResourceColumns {
    service_name: String,
    /// `ResourceAttributes` as a RowBinary map.
    binary: Vec<u8>,
    /// `ResourceAttributes` as a JSON object.
    json: String,
}

impl ResourceColumns {
    fn new(resource: &Resource) -> ResourceColumns {
        let mut attributes: Vec<(&str, &Value)> = resource.iter().map(|(key, value)| (key.as_str(), value)).collect();
        attributes.sort_by_key(|(key, _)| *key);
        let mut scratch = String::new();
        let mut binary = Vec::new();
        write_varint(&mut binary, attributes.len());
        let mut json = String::from("{");
        for (i, (key, value)) in attributes.iter().enumerate() {
            scratch.clear();
            stringify(&mut scratch, value);
            write_string(&mut binary, key);
            write_string(&mut binary, &scratch);
            if i > 0 {
                json.push(',');
            }
            json_string(&mut json, key);
            json.push(':');
            json_string(&mut json, &scratch);
        }
        json.push('}');
        let service_name = resource
            .get(&opentelemetry::Key::from_static_str(constants::SERVICE_NAME))
            .map(|value| value.as_str().into_owned())
            .unwrap_or_default();
        ResourceColumns { service_name, binary, json }
    }
}

impl BudMetricsExporter {
    /// An exporter for `options`; the URL, database and table are checked here, nothing is sent until the first
    /// export.
    pub fn new(options: ClickHouseOptions) -> Result<BudMetricsExporter, ConfigError> {
        let invalid = |option: &'static str, value: &str, expected: Cow<'static, str>| ConfigError::InvalidOption {
            option,
            value: value.to_owned(),
            expected,
        };
        let url = super::normalise_url(&options.url, cfg!(feature = "clickhouse-tls"), "clickhouse-tls", 8123)
            .map_err(|expected| invalid("clickhouse url", &options.url, expected))?;
        let database = options.database.unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let table = options.table.unwrap_or_else(|| DEFAULT_TABLE.to_owned());
        for (option, name) in [("clickhouse database", &database), ("clickhouse table", &table)] {
            if !identifier(name) {
                return Err(invalid(option, name, IDENTIFIER_EXPECTED.into()));
            }
        }
        if options.timeout.is_zero() {
            return Err(invalid("clickhouse timeout", "0s", "a timeout above zero".into()));
        }
        let insert = format!("INSERT INTO `{database}`.`{table}` FORMAT {}", options.format.name());
        let target = Target {
            insert_url: format!("{url}/?query={}", percent_encode(&insert)),
            create_database: format!("CREATE DATABASE IF NOT EXISTS `{database}`"),
            create_table: create_table_statement(&database, &table, options.ttl),
            url,
            database,
            table,
            user: options.user,
            password: options.password,
            create_schema: options.create_schema,
            timeout: options.timeout,
            retries: options.retries,
            format: options.format,
            compression: options.compression,
        };
        Ok(BudMetricsExporter {
            target,
            batch: options.batch,
            client: OnceLock::new(),
            resource: ResourceColumns::default(),
            schema_ready: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            last_body: AtomicUsize::new(0),
            scratch: Mutex::new(String::new()),
        })
    }

    /// The `CREATE TABLE IF NOT EXISTS` statement the exporter issues.
    pub fn create_table_statement(&self) -> &str {
        &self.target.create_table
    }

    /// The batching asked for in [`ClickHouseOptions::batch_options`], if any.
    pub(crate) fn batch_options(&self) -> Option<&BatchOptions> {
        self.batch.as_ref()
    }

    /// The ClickHouse address (normalised: no trailing `/`).
    pub fn url(&self) -> &str {
        &self.target.url
    }

    /// `database.table`.
    pub fn table(&self) -> String {
        format!("{}.{}", self.target.database, self.target.table)
    }

    /// Encodes `spans` as the rows of one insert, in the configured format.
    pub fn encode(&self, spans: &[SpanData], out: &mut Vec<u8>) {
        let mut scratch = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
        match self.target.format {
            InsertFormat::RowBinary => encode_row_binary(spans, &self.resource, &mut scratch, out),
            InsertFormat::JsonEachRow => encode_json(spans, &self.resource, &mut scratch, out),
        }
    }

    fn export_batch(&self, batch: &[SpanData]) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.target.timeout;
        let client = self.client()?;
        let mut body = Vec::with_capacity(self.last_body.load(Ordering::Relaxed) + 4096);
        self.encode(batch, &mut body);
        self.last_body.store(body.len(), Ordering::Relaxed);
        // Shared by every attempt without a copy.
        let body = Bytes::from(if self.target.compression { gzip(&body)? } else { body });
        let gzip = self.target.compression;
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
                self.send(client, &self.target.insert_url, &body, gzip, deadline)
                    .map_err(|failure| self.error(&failure))
            }
            result => result.map_err(|failure| self.error(&failure)),
        }
    }

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
            self.send(client, &url, &statement, false, deadline).map_err(|failure| self.error(&failure))?;
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
            return Err(Failure::Transport(format!("timed out after {:?}", self.target.timeout)));
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
        let response = request.send().map_err(|err| Failure::Transport(transport_error(&err)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let code = response
            .headers()
            .get("X-ClickHouse-Exception-Code")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u32>().ok());
        let text = response.text().unwrap_or_default();
        Err(Failure::Rejected { status: status.as_u16(), code, message: server_message(&text) })
    }

    fn error(&self, failure: &Failure) -> OTelSdkError {
        let target = format!("ClickHouse {} ({}.{})", self.target.url, self.target.database, self.target.table);
        OTelSdkError::InternalFailure(match failure {
            Failure::Transport(reason) => format!("{target} unreachable: {reason}"),
            Failure::Rejected { status, message, .. } => format!("{target} answered {status}: {message}"),
        })
    }
}

impl SpanExporter for BudMetricsExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.export_batch(&batch)
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = ResourceColumns::new(resource);
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
    Transport(String),
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

/// A reqwest error with its causes (the cause says "connection refused").
fn transport_error(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// The server's error text, on one line and at most 1,000 characters.
fn server_message(text: &str) -> String {
    let message: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if message.is_empty() { "(no message)".to_owned() } else { crate::text::truncate(&message, 1000).into_owned() }
}

fn gzip(body: &[u8]) -> Result<Vec<u8>, OTelSdkError> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .map_err(|err| OTelSdkError::InternalFailure(format!("cannot compress the ClickHouse insert: {err}")))
}

const IDENTIFIER_EXPECTED: &str = "a name of letters, digits and `_`, not starting with a digit";

fn identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `text` for a URL's query string.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The collector's `otel_traces` DDL, with the order key BudMetrics' views rely on.
fn create_table_statement(database: &str, table: &str, ttl: Option<Duration>) -> String {
    let ttl = match ttl {
        Some(ttl) if ttl.as_secs() > 0 => format!("TTL toDateTime(Timestamp) + toIntervalSecond({})\n", ttl.as_secs()),
        _ => String::new(),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS `{database}`.`{table}` (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toUnixTimestamp(Timestamp), TraceId)
{ttl}SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"
    )
}

/// The columns sent, with their ClickHouse types (the names and types header of `RowBinaryWithNamesAndTypes`).
const COLUMNS: [(&str, &str); 22] = [
    ("Timestamp", "DateTime64(9)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("ParentSpanId", "String"),
    ("TraceState", "String"),
    ("SpanName", "LowCardinality(String)"),
    ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"),
    ("ResourceAttributes", "Map(LowCardinality(String), String)"),
    ("ScopeName", "String"),
    ("ScopeVersion", "String"),
    ("SpanAttributes", "Map(LowCardinality(String), String)"),
    ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"),
    ("StatusMessage", "String"),
    ("Events.Timestamp", "Array(DateTime64(9))"),
    ("Events.Name", "Array(LowCardinality(String))"),
    ("Events.Attributes", "Array(Map(LowCardinality(String), String))"),
    ("Links.TraceId", "Array(String)"),
    ("Links.SpanId", "Array(String)"),
    ("Links.TraceState", "Array(String)"),
    ("Links.Attributes", "Array(Map(LowCardinality(String), String))"),
];

/// The span's values that are not plain fields, computed once for either format.
struct Row<'a> {
    trace_id: [u8; 32],
    span_id: [u8; 16],
    parent_id: Option<[u8; 16]>,
    trace_state: String,
    kind: &'static str,
    status: (&'static str, &'a str),
    duration: u64,
}

impl<'a> Row<'a> {
    fn new(span: &'a SpanData) -> Row<'a> {
        let context = &span.span_context;
        Row {
            trace_id: hex_trace_id(context.trace_id()),
            span_id: hex_span_id(context.span_id()),
            parent_id: (span.parent_span_id != SpanId::INVALID).then(|| hex_span_id(span.parent_span_id)),
            trace_state: context.trace_state().header(),
            kind: span_kind(&span.span_kind),
            status: match &span.status {
                Status::Unset => ("Unset", ""),
                Status::Ok => ("Ok", ""),
                Status::Error { description } => ("Error", description.as_ref()),
            },
            duration: span.end_time.duration_since(span.start_time).map_or(0, |d| d.as_nanos() as u64),
        }
    }

    fn parent_id(&self) -> &str {
        self.parent_id.as_ref().map_or("", |id| ascii(id))
    }
}

fn encode_row_binary(spans: &[SpanData], resource: &ResourceColumns, scratch: &mut String, out: &mut Vec<u8>) {
    write_varint(out, COLUMNS.len());
    for (name, _) in COLUMNS {
        write_string(out, name);
    }
    for (_, kind) in COLUMNS {
        write_string(out, kind);
    }
    for span in spans {
        let row = Row::new(span);
        out.extend_from_slice(&unix_nanos(span.start_time).to_le_bytes());
        write_string(out, ascii(&row.trace_id));
        write_string(out, ascii(&row.span_id));
        write_string(out, row.parent_id());
        write_string(out, &row.trace_state);
        write_string(out, &span.name);
        write_string(out, row.kind);
        write_string(out, &resource.service_name);
        out.extend_from_slice(&resource.binary);
        write_string(out, span.instrumentation_scope.name());
        write_string(out, span.instrumentation_scope.version().unwrap_or(""));
        binary_map(out, scratch, &span.attributes);
        out.extend_from_slice(&row.duration.to_le_bytes());
        write_string(out, row.status.0);
        write_string(out, row.status.1);
        let events = &span.events.events;
        write_varint(out, events.len());
        for event in events {
            out.extend_from_slice(&unix_nanos(event.timestamp).to_le_bytes());
        }
        write_varint(out, events.len());
        for event in events {
            write_string(out, &event.name);
        }
        write_varint(out, events.len());
        for event in events {
            binary_map(out, scratch, &event.attributes);
        }
        let links = &span.links.links;
        write_varint(out, links.len());
        for link in links {
            write_string(out, ascii(&hex_trace_id(link.span_context.trace_id())));
        }
        write_varint(out, links.len());
        for link in links {
            write_string(out, ascii(&hex_span_id(link.span_context.span_id())));
        }
        write_varint(out, links.len());
        for link in links {
            write_string(out, &link.span_context.trace_state().header());
        }
        write_varint(out, links.len());
        for link in links {
            binary_map(out, scratch, &link.attributes);
        }
    }
}

fn encode_json(spans: &[SpanData], resource: &ResourceColumns, scratch: &mut String, out: &mut Vec<u8>) {
    let mut line = String::with_capacity(1024);
    for span in spans {
        let row = Row::new(span);
        line.clear();
        line.push_str("{\"Timestamp\":");
        json_time(&mut line, span.start_time);
        json_field(&mut line, "TraceId", ascii(&row.trace_id));
        json_field(&mut line, "SpanId", ascii(&row.span_id));
        json_field(&mut line, "ParentSpanId", row.parent_id());
        json_field(&mut line, "TraceState", &row.trace_state);
        json_field(&mut line, "SpanName", &span.name);
        json_field(&mut line, "SpanKind", row.kind);
        json_field(&mut line, "ServiceName", &resource.service_name);
        line.push_str(",\"ResourceAttributes\":");
        line.push_str(&resource.json);
        json_field(&mut line, "ScopeName", span.instrumentation_scope.name());
        json_field(&mut line, "ScopeVersion", span.instrumentation_scope.version().unwrap_or(""));
        line.push_str(",\"SpanAttributes\":");
        json_map(&mut line, scratch, &span.attributes);
        let _ = write!(line, ",\"Duration\":{}", row.duration);
        json_field(&mut line, "StatusCode", row.status.0);
        json_field(&mut line, "StatusMessage", row.status.1);
        let events = &span.events.events;
        json_array(&mut line, "Events.Timestamp", events, |line, event| json_time(line, event.timestamp));
        json_array(&mut line, "Events.Name", events, |line, event| json_string(line, &event.name));
        json_array(&mut line, "Events.Attributes", events, |line, event| {
            json_map(line, scratch, &event.attributes);
        });
        let links = &span.links.links;
        json_array(&mut line, "Links.TraceId", links, |line, link| {
            json_string(line, ascii(&hex_trace_id(link.span_context.trace_id())));
        });
        json_array(&mut line, "Links.SpanId", links, |line, link| {
            json_string(line, ascii(&hex_span_id(link.span_context.span_id())));
        });
        json_array(&mut line, "Links.TraceState", links, |line, link| {
            json_string(line, &link.span_context.trace_state().header());
        });
        json_array(&mut line, "Links.Attributes", links, |line, link| json_map(line, scratch, &link.attributes));
        line.push_str("}\n");
        out.extend_from_slice(line.as_bytes());
    }
}

/// The collector's names of span kinds.
fn span_kind(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "Internal",
        SpanKind::Server => "Server",
        SpanKind::Client => "Client",
        SpanKind::Producer => "Producer",
        SpanKind::Consumer => "Consumer",
    }
}

fn unix_nanos(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [b'0'; N];
    for (i, byte) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(byte >> 4)];
        out[2 * i + 1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

fn hex_trace_id(id: TraceId) -> [u8; 32] {
    hex_into(&id.to_bytes())
}

fn hex_span_id(id: SpanId) -> [u8; 16] {
    hex_into(&id.to_bytes())
}

/// Hex digits as text (they are ASCII by construction).
fn ascii(hex: &[u8]) -> &str {
    std::str::from_utf8(hex).unwrap_or_default()
}

/// A value as the collector stringifies it (pcommon's `AsString`).
fn stringify(out: &mut String, value: &Value) {
    match value {
        Value::String(text) => out.push_str(text.as_str()),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::I64(number) => {
            let _ = write!(out, "{number}");
        }
        Value::F64(number) => float(out, *number),
        Value::Array(array) => json_array_value(out, array),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that reads back, never an exponent.
fn float(out: &mut String, number: f64) {
    if number.is_nan() {
        out.push_str("NaN");
    } else if number.is_infinite() {
        out.push_str(if number > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{number}");
    }
}

/// An array as JSON, the way the collector writes array attributes.
fn json_array_value(out: &mut String, array: &Array) {
    out.push('[');
    match array {
        Array::Bool(values) => join(out, values, |out, v| out.push_str(if *v { "true" } else { "false" })),
        Array::I64(values) => join(out, values, |out, v| {
            let _ = write!(out, "{v}");
        }),
        Array::F64(values) => {
            join(out, values, |out, v| if v.is_finite() { float(out, *v) } else { out.push_str("null") })
        }
        Array::String(values) => join(out, values, |out, v| json_string(out, v.as_str())),
        other => {
            out.pop();
            let _ = write!(out, "{other}");
            return;
        }
    }
    out.push(']');
}

fn join<T>(out: &mut String, values: &[T], mut write: impl FnMut(&mut String, &T)) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, value);
    }
}

/// `text` as a JSON string.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

fn json_field(out: &mut String, name: &str, value: &str) {
    out.push(',');
    json_string(out, name);
    out.push(':');
    json_string(out, value);
}

/// A time as the number `seconds.nanoseconds`, which ClickHouse reads into `DateTime64(9)` exactly (a quoted one
/// would be parsed as a date text, an integer as seconds).
fn json_time(out: &mut String, time: SystemTime) {
    let nanos = unix_nanos(time);
    let _ = write!(out, "{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
}

fn json_map(out: &mut String, scratch: &mut String, attributes: &[KeyValue]) {
    out.push('{');
    for (i, attribute) in attributes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, attribute.key.as_str());
        out.push(':');
        match &attribute.value {
            Value::String(text) => json_string(out, text.as_str()),
            value => {
                scratch.clear();
                stringify(scratch, value);
                json_string(out, scratch);
            }
        }
    }
    out.push('}');
}

fn json_array<T>(out: &mut String, name: &str, items: &[T], mut write: impl FnMut(&mut String, &T)) {
    out.push(',');
    json_string(out, name);
    out.push_str(":[");
    join(out, items, |out, item| write(out, item));
    out.push(']');
}

fn write_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    write_varint(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn binary_map(out: &mut Vec<u8>, scratch: &mut String, attributes: &[KeyValue]) {
    write_varint(out, attributes.len());
    for attribute in attributes {
        write_string(out, attribute.key.as_str());
        match &attribute.value {
            Value::String(text) => write_string(out, text.as_str()),
            value => {
                scratch.clear();
                stringify(scratch, value);
                write_string(out, scratch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Value) -> String {
        let mut out = String::new();
        stringify(&mut out, &value);
        out
    }

    #[test]
    fn values_are_stringified_as_the_collector_does() {
        assert_eq!(text(Value::from("plain \"text\"")), "plain \"text\"");
        assert_eq!(text(Value::Bool(true)), "true");
        assert_eq!(text(Value::Bool(false)), "false");
        assert_eq!(text(Value::I64(-42)), "-42");
        assert_eq!(text(Value::F64(1.5)), "1.5");
        assert_eq!(text(Value::F64(3.0)), "3");
        assert_eq!(text(Value::F64(1e21)), "1000000000000000000000");
        assert_eq!(text(Value::F64(f64::NAN)), "NaN");
        assert_eq!(text(Value::F64(f64::NEG_INFINITY)), "-Inf");
        assert_eq!(text(Value::Array(Array::String(vec!["a".into(), "b\"c".into()]))), r#"["a","b\"c"]"#);
        assert_eq!(text(Value::Array(Array::I64(vec![1, 2]))), "[1,2]");
        assert_eq!(text(Value::Array(Array::Bool(vec![true, false]))), "[true,false]");
        assert_eq!(text(Value::Array(Array::F64(vec![0.5, 2.0]))), "[0.5,2]");
        assert_eq!(text(Value::Array(Array::String(vec![]))), "[]");
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        assert_eq!(serde_json::from_str::<String>(&out).ok().as_deref(), Some("a\"b\\c\nd\u{1}é"));
    }

    #[test]
    fn varints_are_leb128() {
        let mut out = Vec::new();
        write_varint(&mut out, 0);
        write_varint(&mut out, 127);
        write_varint(&mut out, 128);
        write_varint(&mut out, 300);
        assert_eq!(out, [0, 127, 0x80, 1, 0xac, 2]);
    }

    #[test]
    fn names_and_urls_are_checked() {
        let err = BudMetricsExporter::new(ClickHouseOptions::new("http://ch:8123").table("otel traces"));
        assert!(matches!(err, Err(ConfigError::InvalidOption { option: "clickhouse table", .. })), "{err:?}");
        let err = BudMetricsExporter::new(ClickHouseOptions::new("ch:8123"));
        assert!(matches!(err, Err(ConfigError::InvalidOption { option: "clickhouse url", .. })), "{err:?}");
        let exporter = BudMetricsExporter::new(ClickHouseOptions::new("http://ch:8123/").database("bud_1"));
        let exporter = exporter.map_err(|err| err.to_string());
        assert_eq!(exporter.as_ref().map(BudMetricsExporter::table), Ok("bud_1.otel_traces".to_owned()));
        assert_eq!(
            exporter.map(|e| e.target.insert_url),
            Ok("http://ch:8123/?query=INSERT%20INTO%20%60bud_1%60.%60otel_traces%60%20FORMAT%20\
                RowBinaryWithNamesAndTypes"
                .to_owned())
        );
    }

    #[test]
    fn the_password_is_never_printed() {
        let options = ClickHouseOptions::new("http://ch:8123").credentials("writer", "hunter2");
        let printed = format!("{options:?}");
        assert!(printed.contains("writer") && !printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn server_messages_are_one_bounded_line() {
        assert_eq!(server_message("Code: 16. DB::Exception: x\n  y \n"), "Code: 16. DB::Exception: x y");
        assert_eq!(server_message(""), "(no message)");
        assert_eq!(server_message(&"é".repeat(900)).chars().count(), 501);
    }

    #[test]
    fn the_ttl_is_part_of_the_table() {
        let statement = create_table_statement("metrics", "otel_traces", Some(Duration::from_secs(86_400 * 30)));
        assert!(statement.contains("TTL toDateTime(Timestamp) + toIntervalSecond(2592000)\nSETTINGS"), "{statement}");
        assert!(!create_table_statement("metrics", "otel_traces", None).contains("TTL"));
    }
}
