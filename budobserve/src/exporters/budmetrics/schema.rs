//! The collector's `otel_traces` schema, in each generation of its ClickHouse exporter: the table, the trace-id
//! lookup table and its materialized view, and the strings the rows hold for span kinds and status codes.

use std::fmt;
use std::time::Duration;

use opentelemetry::trace::{SpanKind, Status};

/// Which generation of the OpenTelemetry Collector's ClickHouse exporter the rows and the schema follow.
///
/// The exporter of collector-contrib changed with its PR #34799: span kinds and status codes went from the
/// protobuf enum names to pdata's short names, `Duration` from `Int64` to `UInt64`, and the tables' order keys and
/// the lookup table's time columns changed. A query filters on these strings (`StatusCode = 'STATUS_CODE_ERROR'`,
/// as budadmin does), so BudObserve writes them as the collector that shares the table does.
///
/// | | [`Contrib0_96`](Self::Contrib0_96) (default) | [`Current`](Self::Current) |
/// |---|---|---|
/// | `SpanKind` | `SPAN_KIND_SERVER`, `SPAN_KIND_CLIENT`, … | `Server`, `Client`, … |
/// | `StatusCode` | `STATUS_CODE_UNSET`, `STATUS_CODE_OK`, `STATUS_CODE_ERROR` | `Unset`, `Ok`, `Error` |
/// | `Duration` | `Int64` | `UInt64` |
/// | order key | `(ServiceName, SpanName, toUnixTimestamp(Timestamp), TraceId)` | `(ServiceName, SpanName, toDateTime(Timestamp))` |
/// | `otel_traces_trace_id_ts` | `Start`/`End` `DateTime64(9)`, ordered by `(TraceId, toUnixTimestamp(Start))` | `Start`/`End` `DateTime`, partitioned by day, ordered by `(TraceId, Start)` |
///
/// The default is what the platform deploys: its Helm values run collector-contrib 0.96.0. Attribute values are
/// written as both generations write them (pdata's `AsString`). When the table already exists, its column types
/// win: a `Duration UInt64` table gets `UInt64` whatever the generation (see the [module](super)).
///
/// ```
/// use budobserve::exporters::budmetrics::{ClickHouseOptions, CollectorGeneration};
///
/// // A ClickHouse fed by a recent collector: `Server` / `Error`, as it writes them.
/// let _options = ClickHouseOptions::new("http://clickhouse:8123").collector(CollectorGeneration::Current);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CollectorGeneration {
    /// collector-contrib before PR #34799, up to the 0.96.0 the platform deploys.
    #[default]
    Contrib0_96,
    /// collector-contrib since PR #34799.
    Current,
}

impl CollectorGeneration {
    /// The name `BUD_OBSERVE_CLICKHOUSE_COLLECTOR` takes: `0.96` or `current`.
    pub fn name(self) -> &'static str {
        match self {
            CollectorGeneration::Contrib0_96 => "0.96",
            CollectorGeneration::Current => "current",
        }
    }

    /// The generation `name` names (see [`name`](Self::name)).
    pub fn from_name(name: &str) -> Option<CollectorGeneration> {
        match name.trim() {
            "0.96" | "contrib-0.96" => Some(CollectorGeneration::Contrib0_96),
            "current" => Some(CollectorGeneration::Current),
            _ => None,
        }
    }

    /// What the `SpanKind` column holds for `kind`.
    pub fn span_kind(self, kind: &SpanKind) -> &'static str {
        match (self, kind) {
            (CollectorGeneration::Contrib0_96, SpanKind::Internal) => "SPAN_KIND_INTERNAL",
            (CollectorGeneration::Contrib0_96, SpanKind::Server) => "SPAN_KIND_SERVER",
            (CollectorGeneration::Contrib0_96, SpanKind::Client) => "SPAN_KIND_CLIENT",
            (CollectorGeneration::Contrib0_96, SpanKind::Producer) => "SPAN_KIND_PRODUCER",
            (CollectorGeneration::Contrib0_96, SpanKind::Consumer) => "SPAN_KIND_CONSUMER",
            (CollectorGeneration::Current, SpanKind::Internal) => "Internal",
            (CollectorGeneration::Current, SpanKind::Server) => "Server",
            (CollectorGeneration::Current, SpanKind::Client) => "Client",
            (CollectorGeneration::Current, SpanKind::Producer) => "Producer",
            (CollectorGeneration::Current, SpanKind::Consumer) => "Consumer",
        }
    }

    /// What the `StatusCode` column holds for `status`.
    pub fn status_code(self, status: &Status) -> &'static str {
        match (self, status) {
            (CollectorGeneration::Contrib0_96, Status::Unset) => "STATUS_CODE_UNSET",
            (CollectorGeneration::Contrib0_96, Status::Ok) => "STATUS_CODE_OK",
            (CollectorGeneration::Contrib0_96, Status::Error { .. }) => "STATUS_CODE_ERROR",
            (CollectorGeneration::Current, Status::Unset) => "Unset",
            (CollectorGeneration::Current, Status::Ok) => "Ok",
            (CollectorGeneration::Current, Status::Error { .. }) => "Error",
        }
    }

    /// The type of `Duration` in the tables this generation creates.
    pub(super) fn duration_type(self) -> &'static str {
        match self {
            CollectorGeneration::Contrib0_96 => "Int64",
            CollectorGeneration::Current => "UInt64",
        }
    }
}

impl fmt::Display for CollectorGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The statements that create the collector's schema, in order: the table, the trace-id lookup table, and the
/// materialized view that fills it.
pub(super) fn create_statements(
    generation: CollectorGeneration,
    database: &str,
    table: &str,
    ttl: Option<Duration>,
) -> [String; 3] {
    let ttl_of = |column: &str| match ttl {
        Some(ttl) if ttl.as_secs() > 0 => {
            format!("TTL toDateTime({column}) + toIntervalSecond({})\n", ttl.as_secs())
        }
        _ => String::new(),
    };
    let (order, lookup) = match generation {
        CollectorGeneration::Contrib0_96 => (
            "ORDER BY (ServiceName, SpanName, toUnixTimestamp(Timestamp), TraceId)",
            format!(
                "CREATE TABLE IF NOT EXISTS `{database}`.`{table}_trace_id_ts` (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime64(9) CODEC(Delta, ZSTD(1)),
    End DateTime64(9) CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree()
ORDER BY (TraceId, toUnixTimestamp(Start))
{}SETTINGS index_granularity = 8192",
                ttl_of("Start")
            ),
        ),
        CollectorGeneration::Current => (
            "ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))",
            format!(
                "CREATE TABLE IF NOT EXISTS `{database}`.`{table}_trace_id_ts` (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta, ZSTD(1)),
    End DateTime CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
{}SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1",
                ttl_of("Start")
            ),
        ),
    };
    let duration = generation.duration_type();
    let table_ttl = ttl_of("Timestamp");
    let traces = format!(
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
    Duration {duration} CODEC(ZSTD(1)),
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
{order}
{table_ttl}SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"
    );
    let view = format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS `{database}`.`{table}_trace_id_ts_mv`
TO `{database}`.`{table}_trace_id_ts`
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM `{database}`.`{table}`
WHERE TraceId != ''
GROUP BY TraceId"
    );
    [traces, lookup, view]
}

/// What a column must hold: the encodings BudObserve writes, each accepting the types that share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `DateTime64(P)` (any precision, any time zone).
    Time,
    /// `String` or `LowCardinality(String)`.
    Text,
    /// `UInt64` or `Int64` (a duration in nanoseconds fits both).
    Nanos,
    /// `Map` of text to text.
    Attributes,
    /// `Array` of one of the above.
    Array(&'static Shape),
}

impl Shape {
    /// What the shape accepts, for an error's text.
    pub(super) fn accepted(self) -> &'static str {
        match self {
            Shape::Time => "DateTime64(P)",
            Shape::Text => "String or LowCardinality(String)",
            Shape::Nanos => "UInt64 or Int64",
            Shape::Attributes => "Map(String, String)",
            Shape::Array(Shape::Time) => "Array(DateTime64(P))",
            Shape::Array(Shape::Attributes) => "Array(Map(String, String))",
            Shape::Array(_) => "Array(String)",
        }
    }
}

/// The columns an insert sends, with their shapes and the types of the table the exporter creates (`Duration`'s
/// by generation).
pub(super) const COLUMNS: [(&str, Shape, &str); 22] = [
    ("Timestamp", Shape::Time, "DateTime64(9)"),
    ("TraceId", Shape::Text, "String"),
    ("SpanId", Shape::Text, "String"),
    ("ParentSpanId", Shape::Text, "String"),
    ("TraceState", Shape::Text, "String"),
    ("SpanName", Shape::Text, "LowCardinality(String)"),
    ("SpanKind", Shape::Text, "LowCardinality(String)"),
    ("ServiceName", Shape::Text, "LowCardinality(String)"),
    ("ResourceAttributes", Shape::Attributes, "Map(LowCardinality(String), String)"),
    ("ScopeName", Shape::Text, "String"),
    ("ScopeVersion", Shape::Text, "String"),
    ("SpanAttributes", Shape::Attributes, "Map(LowCardinality(String), String)"),
    ("Duration", Shape::Nanos, "UInt64"),
    ("StatusCode", Shape::Text, "LowCardinality(String)"),
    ("StatusMessage", Shape::Text, "String"),
    ("Events.Timestamp", Shape::Array(&Shape::Time), "Array(DateTime64(9))"),
    ("Events.Name", Shape::Array(&Shape::Text), "Array(LowCardinality(String))"),
    ("Events.Attributes", Shape::Array(&Shape::Attributes), "Array(Map(LowCardinality(String), String))"),
    ("Links.TraceId", Shape::Array(&Shape::Text), "Array(String)"),
    ("Links.SpanId", Shape::Array(&Shape::Text), "Array(String)"),
    ("Links.TraceState", Shape::Array(&Shape::Text), "Array(String)"),
    ("Links.Attributes", Shape::Array(&Shape::Attributes), "Array(Map(LowCardinality(String), String))"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_is_part_of_both_tables() {
        let ttl = Some(Duration::from_secs(86_400 * 30));
        for generation in [CollectorGeneration::Contrib0_96, CollectorGeneration::Current] {
            let [traces, lookup, view] = create_statements(generation, "metrics", "otel_traces", ttl);
            assert!(traces.contains("TTL toDateTime(Timestamp) + toIntervalSecond(2592000)\nSETTINGS"), "{traces}");
            assert!(lookup.contains("TTL toDateTime(Start) + toIntervalSecond(2592000)\nSETTINGS"), "{lookup}");
            assert!(view.contains("TO `metrics`.`otel_traces_trace_id_ts`"), "{view}");
            let [traces, lookup, _] = create_statements(generation, "metrics", "otel_traces", None);
            assert!(!traces.contains("TTL") && !lookup.contains("TTL"));
        }
    }

    #[test]
    fn generations_differ_where_the_collector_changed() {
        let [old, _, _] = create_statements(CollectorGeneration::Contrib0_96, "m", "t", None);
        let [new, _, _] = create_statements(CollectorGeneration::Current, "m", "t", None);
        assert!(old.contains("Duration Int64") && new.contains("Duration UInt64"));
        assert_eq!(CollectorGeneration::Contrib0_96.span_kind(&SpanKind::Consumer), "SPAN_KIND_CONSUMER");
        assert_eq!(CollectorGeneration::Current.status_code(&Status::error("x")), "Error");
        assert_eq!(CollectorGeneration::from_name("0.96"), Some(CollectorGeneration::Contrib0_96));
        assert_eq!(
            CollectorGeneration::from_name(CollectorGeneration::Current.name()),
            Some(CollectorGeneration::Current)
        );
        assert_eq!(CollectorGeneration::from_name("0.97"), None);
    }
}
