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
//! `SpanId`, `ParentSpanId` (lowercase hex; empty for a root), `TraceState`, `SpanName`, `SpanKind`, `ServiceName`
//! (the resource's `service.name`), `ResourceAttributes`, `ScopeName`, `ScopeVersion`, `SpanAttributes`, `Duration`
//! (nanoseconds), `StatusCode`, `StatusMessage`, `Events.{Timestamp,Name,Attributes}` and
//! `Links.{TraceId,SpanId,TraceState,Attributes}`. Span kinds and status codes are written as the collector
//! generation of [`ClickHouseOptions::collector`] writes them — by default the one the platform deploys
//! (contrib 0.96.0: `SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`; the current one: `Server`, `Error`; see
//! [`CollectorGeneration`]). Attribute values are strings, as both generations write them (pdata's `AsString`):
//! strings as they are, booleans `true`/`false`, integers in decimal, floats as Go's JSON writes them (`1.5`, `3`,
//! `5e-7`, `1e+21`), arrays as JSON (`["a","b"]`, `[1,2]`, HTML characters escaped as `\u003c`).
//!
//! **The table that exists.** Before its first insert the exporter reads the table's column types
//! (`system.columns`) and writes to them: `Duration` as `Int64` or `UInt64`, times in the table's `DateTime64`
//! precision, `String` or `LowCardinality(String)` as declared. A table that cannot hold the rows (a column
//! missing, `Duration` as `Float64`, …) is refused before any batch is sent, with one error naming every column
//! and both types ("ClickHouse … cannot hold BudObserve's rows: column \`Duration\` is Float64, BudObserve writes
//! UInt64 or Int64"), counted as rejected like any refused batch and read again at the next export (an `ALTER
//! TABLE` fixes it without a restart). A table altered or dropped while running is read again when ClickHouse
//! answers that a column, a type or the table is wrong.
//!
//! **Wire format.** Rows are sent as `RowBinaryWithNamesAndTypes` (the default, [`InsertFormat::RowBinary`]): the
//! columns' binary encoding, preceded by their names and the table's types, so that a table whose columns changed
//! rejects the batch with ClickHouse's own message instead of storing misread values.
//! [`InsertFormat::JsonEachRow`] is the text alternative. Both are formats of the stock ClickHouse server, sent as
//! `POST /?query=INSERT INTO db.table FORMAT …` with the rows in the body (gzip-compressed with
//! [`compression`](ClickHouseOptions::compression)). Up to
//! [`max_concurrent_inserts`](ClickHouseOptions::max_concurrent_inserts) inserts (default 2) are in flight when
//! batches wait; `BENCHMARKS.md` compares the formats' throughput.
//!
//! **Schema.** With [`create_schema`](ClickHouseOptions::create_schema) (on by default) the exporter issues
//! `CREATE DATABASE IF NOT EXISTS` and the collector's whole schema for its generation: `otel_traces` (MergeTree,
//! partitioned by day, with [`ttl`](ClickHouseOptions::ttl)), the trace-id lookup table `otel_traces_trace_id_ts`
//! and the materialized view `otel_traces_trace_id_ts_mv` that fills it (so a lookup by trace id reads a few rows,
//! not the table), before its first insert, and again when ClickHouse answers that the table or database is missing.
//!
//! **BudMetrics' figures.** [`llm_usage_statements`] is the SQL that folds the LLM calls BudObserve services make
//! themselves into BudMetrics' per-project usage and cost (its `InferenceFact` and rollups), without counting twice
//! a call that went through budgateway.
//!
//! **Failures.** The exporter runs on the batch processor's worker thread, never on the caller's. A failed insert
//! is retried with exponential backoff (connection errors, timeouts, 429/502/503/504 and ClickHouse's transient
//! error codes) within [`timeout`](ClickHouseOptions::timeout); a batch ClickHouse rejects (a schema mismatch, say)
//! is not retried. Either way the batch is counted as lost in [`ExportStats`](crate::ExportStats) and the error,
//! with the server's message, is written to standard error at most once a minute. While ClickHouse is down the
//! queue stays bounded (spans beyond it are dropped and counted); once it is back, new batches are stored.

mod encode;
mod layout;
mod options;
mod schema;
mod transport;
mod usage;
mod wire;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use self::encode::{ResourceColumns, encode_json, encode_row_binary};
use self::layout::Layout;
use self::options::Target;
pub(crate) use self::options::resolve;
pub use self::options::{ClickHouseOptions, DEFAULT_DATABASE, DEFAULT_TABLE, InsertFormat};
pub use self::schema::CollectorGeneration;
use self::transport::Transport;
pub use self::usage::llm_usage_statements;
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
    concurrent_inserts: usize,
    resource: ResourceColumns,
    shut_down: AtomicBool,
    /// The size of the last body, to size the next one.
    last_body: AtomicUsize,
}

impl fmt::Debug for BudMetricsExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudMetricsExporter")
            .field("url", &self.transport.target.url)
            .field("database", &self.transport.target.database)
            .field("table", &self.transport.target.table)
            .field("format", &self.transport.target.format)
            .field("collector", &self.transport.target.generation)
            .finish_non_exhaustive()
    }
}

impl BudMetricsExporter {
    /// An exporter for `options`; the URL, database and table are checked here, nothing is sent until the first
    /// export.
    pub fn new(options: ClickHouseOptions) -> Result<BudMetricsExporter, ConfigError> {
        let batch = options.batch.clone();
        let concurrent_inserts = options.concurrent_inserts;
        Ok(BudMetricsExporter {
            transport: Transport::new(Target::new(options)?),
            batch,
            concurrent_inserts,
            resource: ResourceColumns::default(),
            shut_down: AtomicBool::new(false),
            last_body: AtomicUsize::new(0),
        })
    }

    /// The statements the exporter issues to create the schema, in order: `CREATE DATABASE IF NOT EXISTS`, the
    /// collector's `CREATE TABLE IF NOT EXISTS` for `otel_traces`, for its trace-id lookup table
    /// `otel_traces_trace_id_ts`, and the materialized view `otel_traces_trace_id_ts_mv` that fills it.
    pub fn create_statements(&self) -> &[String] {
        &self.transport.target.create_statements
    }

    /// The collector generation the rows and the schema follow.
    pub fn collector(&self) -> CollectorGeneration {
        self.transport.target.generation
    }

    /// The batching asked for in [`ClickHouseOptions::batch_options`], if any.
    pub(crate) fn batch_options(&self) -> Option<&BatchOptions> {
        self.batch.as_ref()
    }

    /// How many inserts may be in flight ([`ClickHouseOptions::max_concurrent_inserts`]).
    pub(crate) fn concurrent_inserts(&self) -> usize {
        self.concurrent_inserts
    }

    /// The ClickHouse address (normalised: no trailing `/`).
    pub fn url(&self) -> &str {
        &self.transport.target.url
    }

    /// `database.table`.
    pub fn table(&self) -> String {
        format!("{}.{}", self.transport.target.database, self.transport.target.table)
    }

    /// Encodes `spans` as the rows of one insert, in the configured format, for the table the exporter creates
    /// (an export encodes for the table it found).
    pub fn encode(&self, spans: &[SpanData], out: &mut Vec<u8>) {
        self.encode_for(&Layout::created(self.transport.target.generation), spans, out);
    }

    fn encode_for(&self, layout: &Layout, spans: &[SpanData], out: &mut Vec<u8>) {
        let mut scratch = String::new();
        match self.transport.target.format {
            InsertFormat::RowBinary => encode_row_binary(spans, &self.resource, layout, &mut scratch, out),
            InsertFormat::JsonEachRow => encode_json(spans, &self.resource, layout, &mut scratch, out),
        }
    }

    fn export_batch(&self, batch: &[SpanData]) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.transport.insert(&|layout, body| {
            body.reserve(self.last_body.load(Ordering::Relaxed) + 4096);
            self.encode_for(layout, batch, body);
            self.last_body.store(body.len(), Ordering::Relaxed);
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
