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

mod encode;
mod options;
mod schema;
mod transport;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use self::encode::{ResourceColumns, encode_json, encode_row_binary};
use self::options::Target;
pub(crate) use self::options::resolve;
pub use self::options::{ClickHouseOptions, DEFAULT_DATABASE, DEFAULT_TABLE, InsertFormat};
use self::transport::Transport;
use crate::error::ConfigError;
use crate::exporters::batch::BatchOptions;

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
    transport: Transport,
    batch: Option<BatchOptions>,
    resource: ResourceColumns,
    shut_down: AtomicBool,
    /// The size of the last body, to size the next one.
    last_body: AtomicUsize,
    scratch: Mutex<String>,
}

impl fmt::Debug for BudMetricsExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudMetricsExporter")
            .field("url", &self.transport.target.url)
            .field("database", &self.transport.target.database)
            .field("table", &self.transport.target.table)
            .field("format", &self.transport.target.format)
            .finish_non_exhaustive()
    }
}

impl BudMetricsExporter {
    /// An exporter for `options`; the URL, database and table are checked here, nothing is sent until the first
    /// export.
    pub fn new(options: ClickHouseOptions) -> Result<BudMetricsExporter, ConfigError> {
        let batch = options.batch.clone();
        Ok(BudMetricsExporter {
            transport: Transport::new(Target::new(options)?),
            batch,
            resource: ResourceColumns::default(),
            shut_down: AtomicBool::new(false),
            last_body: AtomicUsize::new(0),
            scratch: Mutex::new(String::new()),
        })
    }

    /// The `CREATE TABLE IF NOT EXISTS` statement the exporter issues.
    pub fn create_table_statement(&self) -> &str {
        &self.transport.target.create_table
    }

    /// The batching asked for in [`ClickHouseOptions::batch_options`], if any.
    pub(crate) fn batch_options(&self) -> Option<&BatchOptions> {
        self.batch.as_ref()
    }

    /// The ClickHouse address (normalised: no trailing `/`).
    pub fn url(&self) -> &str {
        &self.transport.target.url
    }

    /// `database.table`.
    pub fn table(&self) -> String {
        format!("{}.{}", self.transport.target.database, self.transport.target.table)
    }

    /// Encodes `spans` as the rows of one insert, in the configured format.
    pub fn encode(&self, spans: &[SpanData], out: &mut Vec<u8>) {
        let mut scratch = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
        match self.transport.target.format {
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
        let mut body = Vec::with_capacity(self.last_body.load(Ordering::Relaxed) + 4096);
        self.encode(batch, &mut body);
        self.last_body.store(body.len(), Ordering::Relaxed);
        self.transport.insert(body)
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

#[cfg(test)]
mod tests {
    use super::*;

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
            exporter.map(|e| e.transport.target.insert_url.clone()),
            Ok("http://ch:8123/?query=INSERT%20INTO%20%60bud_1%60.%60otel_traces%60%20FORMAT%20\
                RowBinaryWithNamesAndTypes"
                .to_owned())
        );
    }
}
