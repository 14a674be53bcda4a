//! Spans straight into BudMetrics' ClickHouse table, against a real ClickHouse engine on loopback: what the rows
//! hold (read back with SQL), the schema the exporter creates, the configuration from the environment, and what
//! happens when ClickHouse is down, restarts, rejects a batch or refuses the credentials.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use budobserve::exporters::budmetrics::{BudMetricsExporter, ClickHouseOptions, InsertFormat};
use budobserve::opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use budobserve::opentelemetry::{Array, Value};
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::{BatchOptions, BudContext, BudObserve, EnvSource, KeyValue, bud_info, bud_span, testing};
use common::clickhouse::{ClickHouse, free_port, query, rows, shared_url};
use serde_json::{Value as Json, json};

/// A database of its own for each test, so that tests sharing the server never see each other's rows.
fn database(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("t{}_{}_{name}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Every column of every row of `database.otel_traces`, the nested columns as arrays, ordered by span id.
fn table(url: &str, database: &str) -> Vec<Json> {
    rows(
        url,
        &format!(
            "SELECT toUnixTimestamp64Nano(Timestamp) AS Nanos, TraceId, SpanId, ParentSpanId, TraceState, SpanName, \
             SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, \
             StatusCode, StatusMessage, arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS EventNanos, \
             Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes \
             FROM `{database}`.otel_traces ORDER BY SpanId SETTINGS output_format_json_quote_64bit_integers = 0"
        ),
    )
}

fn nanos(time: std::time::SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// What the collector writes for an attribute value.
fn collector_string(value: &Value) -> String {
    match value {
        Value::Array(Array::String(values)) => {
            serde_json::to_string(&values.iter().map(|v| v.as_str()).collect::<Vec<_>>()).unwrap()
        }
        Value::Array(Array::I64(values)) => serde_json::to_string(values).unwrap(),
        Value::Array(Array::Bool(values)) => serde_json::to_string(values).unwrap(),
        other => other.to_string(),
    }
}

fn map(attributes: &[KeyValue]) -> Json {
    Json::Object(attributes.iter().map(|kv| (kv.key.to_string(), Json::from(collector_string(&kv.value)))).collect())
}

/// The collector's `SpanKind` text before its PR #34799 (contrib 0.96.0, the default generation): the protobuf
/// enum names (`traceutil.SpanKindStr`).
fn kind_0_96(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

fn hex_or_empty(id: SpanId) -> String {
    if id == SpanId::INVALID { String::new() } else { id.to_string() }
}

/// The row the collector would write for `span`.
fn expected_row(span: &SpanData, resource: &Json) -> Json {
    let events = &span.events.events;
    let links = &span.links.links;
    json!({
        "Nanos": nanos(span.start_time),
        "TraceId": span.span_context.trace_id().to_string(),
        "SpanId": span.span_context.span_id().to_string(),
        "ParentSpanId": hex_or_empty(span.parent_span_id),
        "TraceState": span.span_context.trace_state().header(),
        "SpanName": span.name,
        "SpanKind": kind_0_96(&span.span_kind),
        "ServiceName": "budapp",
        "ResourceAttributes": resource,
        "ScopeName": span.instrumentation_scope.name(),
        "ScopeVersion": span.instrumentation_scope.version().unwrap_or(""),
        "SpanAttributes": map(&span.attributes),
        "Duration": span.end_time.duration_since(span.start_time).unwrap().as_nanos() as u64,
        "StatusCode": match span.status {
            Status::Unset => "STATUS_CODE_UNSET",
            Status::Ok => "STATUS_CODE_OK",
            Status::Error { .. } => "STATUS_CODE_ERROR",
        },
        "StatusMessage": match &span.status { Status::Error { description } => description.to_string(), _ => String::new() },
        "EventNanos": events.iter().map(|e| nanos(e.timestamp)).collect::<Vec<_>>(),
        "Events.Name": events.iter().map(|e| e.name.to_string()).collect::<Vec<_>>(),
        "Events.Attributes": events.iter().map(|e| map(&e.attributes)).collect::<Vec<_>>(),
        "Links.TraceId": links.iter().map(|l| l.span_context.trace_id().to_string()).collect::<Vec<_>>(),
        "Links.SpanId": links.iter().map(|l| l.span_context.span_id().to_string()).collect::<Vec<_>>(),
        "Links.TraceState": links.iter().map(|l| l.span_context.trace_state().header()).collect::<Vec<_>>(),
        "Links.Attributes": links.iter().map(|l| map(&l.attributes)).collect::<Vec<_>>(),
    })
}

#[derive(Debug)]
struct CannotReach;

impl std::fmt::Display for CannotReach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("model server unreachable")
    }
}

impl std::error::Error for CannotReach {}

/// A request of budapp: a server span with the bud context, an LLM call with gen_ai attributes, a failed call
/// recorded as an exception, a link, and a log.
fn request(capture: &testing::Capture) {
    capture.run(|| {
        let _bud = BudContext::new().project_id("proj-7").endpoint_id("ep-3").model_id("m-1").attach();
        let route = "/v1/chat";
        let mut server =
            bud_span!("POST {route}", _tags = ["api"], attempt = 2, cached = false, ratio = 0.25).entered();
        server.span().set_attribute(KeyValue::new("http.request.method", "POST"));
        server
            .span()
            .set_attribute(KeyValue::new("stop", Value::Array(Array::String(vec!["\n".into(), "\"end\"".into()]))));
        server.span().set_attribute(KeyValue::new("choices", Value::Array(Array::I64(vec![1, 2]))));
        let model = "gpt-4o";
        let mut llm = bud_span!("Chat Completion with {model}").entered();
        llm.span().set_attribute(KeyValue::new("gen_ai.request.model", model));
        llm.span().set_attribute(KeyValue::new("gen_ai.usage.input_tokens", 42));
        llm.span().set_attribute(KeyValue::new("gen_ai.usage.output_tokens", 7));
        let upstream = SpanContext::new(
            TraceId::from(0xabcd_u128),
            SpanId::from(0x1234_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("bud", "x1")]).unwrap(),
        );
        llm.span().add_link(upstream, vec![KeyValue::new("link.kind", "retry-of")]);
        llm.span().record_exception(&CannotReach);
        llm.span().set_status(Status::error("model server unreachable"));
        drop(llm);
        bud_info!("answered {route} with {model}");
    });
}

fn round_trip(format: InsertFormat) {
    let url = shared_url();
    let database = database("round_trip");
    let capture = testing::capture_with(|builder| {
        builder
            .service_name("budapp")
            .service_version("1.4.0")
            .resource_attribute(KeyValue::new("bud.cluster_id", "c-9"))
            // The row's exact shape: the detected resource (host, process) is checked in `exact_spans`.
            .resource_detection(false)
            .clickhouse(ClickHouseOptions::new(&url).database(&database).format(format))
    });
    request(&capture);
    capture.observe().force_flush().unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 3);
    let table = table(&url, &database);
    assert_eq!(table.len(), 3);

    let resource = json!({
        "bud.cluster_id": "c-9",
        "service.name": "budapp",
        "service.version": "1.4.0",
        "telemetry.sdk.language": "rust",
        "telemetry.sdk.name": "budobserve",
        "telemetry.sdk.version": env!("CARGO_PKG_VERSION"),
    });
    let mut expected: Vec<Json> = spans.iter().map(|span| expected_row(span, &resource)).collect();
    expected.sort_by_key(|row| row["SpanId"].as_str().unwrap().to_owned());
    for (row, expected) in table.iter().zip(&expected) {
        assert_eq!(row, expected);
    }

    // The same rows, checked by what BudMetrics relies on rather than against the spans.
    let by_name: HashMap<&str, &Json> = table.iter().map(|row| (row["SpanName"].as_str().unwrap(), row)).collect();
    let server = by_name["POST {route}"];
    let llm = by_name["Chat Completion with {model}"];
    let log = by_name["answered {route} with {model}"];
    assert_eq!(server["TraceId"], "00000000000000000000000000000001");
    assert_eq!(server["ParentSpanId"], "");
    assert_eq!(llm["ParentSpanId"], server["SpanId"]);
    assert_eq!(log["ParentSpanId"], server["SpanId"]);
    assert_eq!(llm["TraceId"], server["TraceId"]);
    assert_eq!(server["SpanKind"], "SPAN_KIND_INTERNAL");
    assert_eq!(server["ScopeName"], "budobserve");
    assert_eq!(server["StatusCode"], "STATUS_CODE_UNSET");
    assert_eq!(
        (llm["StatusCode"].as_str(), llm["StatusMessage"].as_str()),
        (Some("STATUS_CODE_ERROR"), Some("model server unreachable"))
    );
    assert_eq!(llm["Events.Name"], json!(["exception"]));
    assert_eq!(llm["Events.Attributes"][0]["exception.message"], "model server unreachable");
    assert_eq!(llm["Links.TraceId"], json!(["0000000000000000000000000000abcd"]));
    assert_eq!(llm["Links.SpanId"], json!(["0000000000001234"]));
    assert_eq!(llm["Links.TraceState"], json!(["bud=x1"]));
    assert_eq!(llm["Links.Attributes"], json!([{ "link.kind": "retry-of" }]));
    // The stepping clock moves one second per read.
    assert_eq!(server["Duration"].as_u64().unwrap() % 1_000_000_000, 0);
    assert!(server["Duration"].as_u64().unwrap() > llm["Duration"].as_u64().unwrap());

    let attributes = &server["SpanAttributes"];
    for (key, value) in [
        ("budobserve_msg_template", "POST {route}"),
        ("budobserve_msg", "POST /v1/chat"),
        ("budobserve_span_type", "span"),
        ("budobserve_level_num", "9"),
        ("budobserve_tags", r#"["api"]"#),
        ("route", "/v1/chat"),
        ("attempt", "2"),
        ("cached", "false"),
        ("ratio", "0.25"),
        ("stop", r#"["\n","\"end\""]"#),
        ("choices", "[1,2]"),
        ("http.request.method", "POST"),
        ("bud.project_id", "proj-7"),
        ("bud.endpoint_id", "ep-3"),
        ("bud.model_id", "m-1"),
        ("code.filepath", "tests/tests/budmetrics.rs"),
        ("code.namespace", "budmetrics"),
    ] {
        assert_eq!(attributes[key], value, "{key} in {attributes}");
    }
    assert!(attributes["code.lineno"].as_str().unwrap().parse::<u32>().is_ok());
    assert_eq!(log["SpanAttributes"]["budobserve_span_type"], "log");
    assert_eq!(log["SpanAttributes"]["budobserve_msg"], "answered /v1/chat with gpt-4o");
    assert_eq!(llm["SpanAttributes"]["gen_ai.usage.input_tokens"], "42");

    // A query in the style of BudMetrics' views.
    let usage = rows(
        &url,
        &format!(
            "SELECT SpanAttributes['bud.project_id'] AS project, SpanAttributes['bud.endpoint_id'] AS endpoint, \
             sum(toUInt32OrNull(SpanAttributes['gen_ai.usage.input_tokens'])) AS input_tokens, \
             sum(toUInt32OrNull(SpanAttributes['gen_ai.usage.output_tokens'])) AS output_tokens, count() AS spans \
             FROM `{database}`.otel_traces WHERE SpanAttributes['bud.project_id'] != '' \
             AND mapContains(SpanAttributes, 'gen_ai.request.model') GROUP BY project, endpoint"
        ),
    );
    assert_eq!(
        usage,
        [json!({ "project": "proj-7", "endpoint": "ep-3", "input_tokens": 42, "output_tokens": 7, "spans": 1 })]
    );
}

#[test]
fn spans_round_trip_as_row_binary() {
    round_trip(InsertFormat::RowBinary);
}

#[test]
fn spans_round_trip_as_json_each_row() {
    round_trip(InsertFormat::JsonEachRow);
}

#[test]
fn gzip_bodies_store_the_same_rows() {
    let url = shared_url();
    let database = database("gzip");
    let capture = testing::capture_with(|builder| {
        builder.service_name("budapp").clickhouse(ClickHouseOptions::new(&url).database(&database).compression(true))
    });
    request(&capture);
    capture.observe().force_flush().unwrap();
    let names: Vec<Json> =
        rows(&url, &format!("SELECT SpanName FROM `{database}`.otel_traces ORDER BY SpanId")).into_iter().collect();
    assert_eq!(
        names,
        [
            json!({ "SpanName": "POST {route}" }),
            json!({ "SpanName": "Chat Completion with {model}" }),
            json!({ "SpanName": "answered {route} with {model}" }),
        ]
    );
}

#[test]
fn the_schema_is_the_collectors_with_the_ttl_asked_for() {
    let url = shared_url();
    let database = database("schema");
    let options = ClickHouseOptions::new(&url).database(&database).ttl(Duration::from_secs(7 * 86_400));
    let capture = testing::capture_with(|builder| builder.clickhouse(options.clone()));
    capture.run(|| drop(bud_span!("one")));
    capture.observe().force_flush().unwrap();
    let table = rows(
        &url,
        &format!(
            "SELECT engine, partition_key, sorting_key, create_table_query LIKE '%TTL toDateTime(Timestamp) + \
             toIntervalSecond(604800)%' AS has_ttl FROM system.tables WHERE database = '{database}' AND name = \
             'otel_traces'"
        ),
    );
    assert_eq!(
        table,
        [json!({
            "engine": "MergeTree",
            "partition_key": "toDate(Timestamp)",
            "sorting_key": "ServiceName, SpanName, toUnixTimestamp(Timestamp), TraceId",
            "has_ttl": 1,
        })]
    );
    let columns = rows(
        &url,
        &format!(
            "SELECT name, type FROM system.columns WHERE database = '{database}' AND table = 'otel_traces' \
             ORDER BY position"
        ),
    );
    let columns: Vec<(String, String)> = columns
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["type"].as_str().unwrap().to_owned()))
        .collect();
    let expected: Vec<(String, String)> = [
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
        ("Duration", "Int64"),
        ("StatusCode", "LowCardinality(String)"),
        ("StatusMessage", "String"),
        ("Events.Timestamp", "Array(DateTime64(9))"),
        ("Events.Name", "Array(LowCardinality(String))"),
        ("Events.Attributes", "Array(Map(LowCardinality(String), String))"),
        ("Links.TraceId", "Array(String)"),
        ("Links.SpanId", "Array(String)"),
        ("Links.TraceState", "Array(String)"),
        ("Links.Attributes", "Array(Map(LowCardinality(String), String))"),
    ]
    .iter()
    .map(|(name, kind)| (name.to_string(), kind.to_string()))
    .collect();
    assert_eq!(columns, expected);
    let exporter = BudMetricsExporter::new(options).unwrap();
    let statements = exporter.create_statements();
    assert_eq!(statements[0], format!("CREATE DATABASE IF NOT EXISTS `{database}`"));
    assert!(statements[1].starts_with(&format!("CREATE TABLE IF NOT EXISTS `{database}`.`otel_traces` (")));
    assert!(statements[2].starts_with(&format!("CREATE TABLE IF NOT EXISTS `{database}`.`otel_traces_trace_id_ts` (")));
    assert!(
        statements[3]
            .starts_with(&format!("CREATE MATERIALIZED VIEW IF NOT EXISTS `{database}`.`otel_traces_trace_id_ts_mv`"))
    );
}

#[test]
fn the_environment_configures_the_exporter() {
    let url = shared_url();
    let database = database("env");
    let env = EnvSource::Map(HashMap::from([
        ("BUD_OBSERVE_CLICKHOUSE_URL".to_owned(), url.clone()),
        ("BUD_OBSERVE_CLICKHOUSE_DATABASE".to_owned(), database.clone()),
        ("BUD_OBSERVE_SERVICE_NAME".to_owned(), "budsim".to_owned()),
    ]));
    let config = budobserve::configure().env(env).build().unwrap();
    assert_eq!(config.clickhouse_url(), Some(url.as_str()));
    assert!(!config.console_enabled(), "ClickHouse is a backend: the console is off unless asked for");
    let observe = BudObserve::new(config);
    budobserve::with_instance(&observe, || drop(bud_span!("simulate {n}", n = 3)));
    observe.force_flush().unwrap();
    assert_eq!(
        rows(&url, &format!("SELECT ServiceName, SpanName, SpanAttributes['n'] AS n FROM `{database}`.otel_traces")),
        [json!({ "ServiceName": "budsim", "SpanName": "simulate {n}", "n": "3" })]
    );

    let bad = EnvSource::Map(HashMap::from([
        ("BUD_OBSERVE_CLICKHOUSE_URL".to_owned(), url.clone()),
        ("BUD_OBSERVE_CLICKHOUSE_DATABASE".to_owned(), "metrics; DROP TABLE x".to_owned()),
    ]));
    let err = budobserve::configure().env(bad).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"metrics; DROP TABLE x\" in environment variable `BUD_OBSERVE_CLICKHOUSE_DATABASE`: expected a \
         name of letters, digits and `_`, not starting with a digit"
    );
    let bad = EnvSource::Map(HashMap::from([("BUD_OBSERVE_CLICKHOUSE_URL".to_owned(), "clickhouse:8123".to_owned())]));
    let err = budobserve::configure().env(bad).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"clickhouse:8123\" in environment variable `BUD_OBSERVE_CLICKHOUSE_URL`: expected an \
         `http://` or `https://` address, e.g. `http://localhost:8123`"
    );
}

/// An instance exporting `n`-numbered spans to `url`, with a small queue and short timeouts.
fn exporting_instance(
    url: &str,
    database: &str,
    options: impl FnOnce(ClickHouseOptions) -> ClickHouseOptions,
) -> BudObserve {
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("budapp")
        .batch_options(BatchOptions::new().max_queue_size(1_000).scheduled_delay(Duration::from_secs(60)))
        .clickhouse(options(ClickHouseOptions::new(url).database(database).timeout(Duration::from_secs(2))))
        .build()
        .unwrap();
    BudObserve::new(config)
}

fn emit(observe: &BudObserve, range: std::ops::Range<u64>) {
    budobserve::with_instance(observe, || {
        for n in range {
            drop(bud_span!("span {n}"));
        }
    });
}

fn stored(url: &str, database: &str) -> Vec<u64> {
    rows(url, &format!("SELECT toUInt64(SpanAttributes['n']) AS n FROM `{database}`.otel_traces ORDER BY n"))
        .iter()
        .map(|row| row["n"].as_u64().unwrap())
        .collect()
}

#[test]
fn clickhouse_down_then_back_and_restarting() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let database = database("down");
    let observe = exporting_instance(&url, &database, |options| options.retries(2));

    // Down: nothing listens. The host goes on, the queue stays bounded, every span is accounted for.
    emit(&observe, 0..5_000);
    let err = observe.force_flush().unwrap_err().to_string();
    assert!(err.contains(&format!("ClickHouse {url} ({database}.otel_traces) is unreachable")), "{err}");
    let stats = observe.export_stats();
    assert_eq!(stats.spans_unreachable, stats.spans_failed, "every failure is a refused connection: {stats:?}");
    assert_eq!(stats.spans_exported, 0);
    assert!(stats.spans_dropped > 0, "the queue holds 1,000 spans: {stats:?}");
    assert_eq!(stats.spans_dropped + stats.spans_failed, 5_000, "{stats:?}");

    // Back: what is accepted from now on is stored (the schema is created then).
    let mut server = ClickHouse::start(port, None);
    emit(&observe, 10_000..10_100);
    observe.force_flush().unwrap();
    assert_eq!(stored(&server.url(), &database), (10_000..10_100).collect::<Vec<_>>());

    // Restarting: down for a while, then up on the same data.
    server.stop();
    emit(&observe, 20_000..20_050);
    assert!(observe.force_flush().is_err());
    server.restart();
    emit(&observe, 30_000..30_050);
    observe.force_flush().unwrap();
    let numbers = stored(&server.url(), &database);
    assert_eq!(numbers.len(), 150, "{numbers:?}");
    assert!(numbers.iter().all(|n| !(20_000..20_050).contains(n)), "spans of the failed exports are not stored twice");
    let stats = observe.export_stats();
    assert_eq!(stats.spans_exported, 150, "{stats:?}");
    assert_eq!(stats.spans_dropped + stats.spans_failed, 5_050, "{stats:?}");
}

#[test]
fn a_table_dropped_while_running_is_created_again() {
    let url = shared_url();
    let database = database("recreate");
    let observe = exporting_instance(&url, &database, |options| options);
    emit(&observe, 0..10);
    observe.force_flush().unwrap();
    query(&url, &format!("DROP TABLE `{database}`.otel_traces"));
    emit(&observe, 10..20);
    observe.force_flush().unwrap();
    assert_eq!(stored(&url, &database), (10..20).collect::<Vec<_>>());
}

#[test]
fn a_table_that_cannot_hold_the_rows_is_refused_with_one_clear_error() {
    let url = shared_url();
    let database = database("mismatch");
    query(&url, &format!("CREATE DATABASE `{database}`"));
    let ddl = BudMetricsExporter::new(ClickHouseOptions::new(&url).database(&database)).unwrap();
    // The collector's table, but `Duration` as text: no encoding of a duration fits it.
    let mismatched = ddl.create_statements()[1].replace("Duration Int64", "Duration String");
    query(&url, &mismatched);

    let output = Command::new(env!("CARGO_BIN_EXE_clickhouse_export"))
        .args([url.as_str(), database.as_str(), "3", "20"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stdout.trim(), "exported=0 failed=60 failed_exports=3 dropped=0");
    let warnings: Vec<&str> = stderr.lines().filter(|line| line.starts_with("budobserve:")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with(&format!(
            "budobserve: exporting 20 spans failed: ClickHouse {url} ({database}.otel_traces) cannot hold \
             BudObserve's rows: column `Duration` is String, BudObserve writes UInt64 or Int64"
        )),
        "{stderr}"
    );
    assert_eq!(query(&url, &format!("SELECT count() FROM `{database}`.otel_traces")).trim(), "0");
}

#[test]
fn wrong_credentials_are_reported_with_the_servers_message() {
    let server = ClickHouse::start(0, Some(("writer", "s3cret")));
    let database = database("auth");
    let observe = exporting_instance(&server.url(), &database, |options| options.credentials("writer", "wrong"));
    emit(&observe, 0..3);
    let err = observe.force_flush().unwrap_err().to_string();
    assert!(err.contains("answered HTTP 403 Forbidden: Code: 516."), "{err}");
    assert!(err.contains("Authentication failed"), "{err}");
    assert!(!err.contains("wrong"), "the password is never printed: {err}");

    let observe = exporting_instance(&server.url(), &database, |options| options.credentials("writer", "s3cret"));
    emit(&observe, 0..3);
    observe.force_flush().unwrap();
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/", server.url()))
        .header("X-ClickHouse-User", "writer")
        .header("X-ClickHouse-Key", "s3cret")
        .body(format!("SELECT count() FROM `{database}`.otel_traces"))
        .send()
        .unwrap();
    assert_eq!(response.text().unwrap().trim(), "3");
}

#[test]
fn span_kinds_are_named_as_the_deployed_collector_names_them() {
    let url = shared_url();
    let database = database("kinds");
    let capture = testing::capture_with(|builder| builder.clickhouse(ClickHouseOptions::new(&url).database(&database)));
    capture.run(|| {
        for (name, kind) in [
            ("server", SpanKind::Server),
            ("client", SpanKind::Client),
            ("producer", SpanKind::Producer),
            ("consumer", SpanKind::Consumer),
            ("internal", SpanKind::Internal),
        ] {
            capture.observe().span_builder(name).kind(kind).start().end();
        }
    });
    capture.observe().force_flush().unwrap();
    let kinds = rows(&url, &format!("SELECT SpanName, SpanKind FROM `{database}`.otel_traces ORDER BY SpanId"));
    let kinds: Vec<(String, String)> = kinds
        .iter()
        .map(|row| (row["SpanName"].as_str().unwrap().to_owned(), row["SpanKind"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("server", "SPAN_KIND_SERVER"),
            ("client", "SPAN_KIND_CLIENT"),
            ("producer", "SPAN_KIND_PRODUCER"),
            ("consumer", "SPAN_KIND_CONSUMER"),
            ("internal", "SPAN_KIND_INTERNAL")
        ]
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
    );
}

#[test]
fn the_exporter_batches_as_its_own_options_say() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let database = database("batches");
    // The instance batches by 512; this exporter by at most 7: 20 spans are 3 inserts or more (the worker may take
    // a batch before all 20 are queued), all failing: nothing listens.
    let observe = exporting_instance(&url, &database, |options| {
        options.retries(0).batch_options(BatchOptions::new().max_export_batch_size(7))
    });
    emit(&observe, 0..20);
    assert!(observe.force_flush().is_err());
    let stats = observe.export_stats();
    assert_eq!(stats.spans_failed, 20, "{stats:?}");
    assert!(stats.failed_exports >= 3, "{stats:?}");
}
