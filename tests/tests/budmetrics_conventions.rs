//! The ClickHouse exporter writes as the collector that shares the table: each generation's strings into each
//! generation's table (created with the collector's own DDL), the table's column types as they are, attribute
//! values as pdata's `AsString` writes them, and the collector's trace-id lookup table — read back from a real
//! ClickHouse engine.

mod common;

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use budobserve::exporters::budmetrics::{ClickHouseOptions, CollectorGeneration};
use budobserve::opentelemetry::trace::{SpanKind, Status, TraceId};
use budobserve::opentelemetry::{Array, KeyValue, Value};
use budobserve::{BudObserve, EnvSource, bud_span, testing};
use common::clickhouse::{query, rows, shared_url};
use common::collector_ddl;
use serde_json::{Value as Json, json};

fn database(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!("c{}_{}_{name}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Spans of every kind and status into `database`, with `options` on top of the URL and database.
fn emit_kinds(url: &str, database: &str, options: impl FnOnce(ClickHouseOptions) -> ClickHouseOptions) -> Vec<u64> {
    let capture =
        testing::capture_with(|builder| builder.clickhouse(options(ClickHouseOptions::new(url).database(database))));
    capture.run(|| {
        for (name, kind, status) in [
            ("server", SpanKind::Server, Status::Unset),
            ("client", SpanKind::Client, Status::error("refused")),
            ("producer", SpanKind::Producer, Status::Ok),
            ("consumer", SpanKind::Consumer, Status::Unset),
            ("internal", SpanKind::Internal, Status::Unset),
        ] {
            let mut span = capture.observe().span_builder(name).kind(kind).start();
            span.set_status(status);
            span.end();
        }
    });
    capture.observe().force_flush().unwrap();
    capture.spans().iter().map(|s| s.end_time.duration_since(s.start_time).unwrap().as_nanos() as u64).collect()
}

fn kinds(url: &str, database: &str) -> Vec<Json> {
    rows(
        url,
        &format!(
            "SELECT SpanName, SpanKind, StatusCode, StatusMessage, Duration FROM `{database}`.otel_traces \
             ORDER BY SpanId SETTINGS output_format_json_quote_64bit_integers = 0"
        ),
    )
}

fn expected(generation: CollectorGeneration, durations: &[u64]) -> Vec<Json> {
    let names = [
        ("server", "Server", "Unset", ""),
        ("client", "Client", "Error", "refused"),
        ("producer", "Producer", "Ok", ""),
        ("consumer", "Consumer", "Unset", ""),
        ("internal", "Internal", "Unset", ""),
    ];
    names
        .iter()
        .zip(durations)
        .map(|((name, kind, status, message), duration)| {
            let (kind, status) = match generation {
                CollectorGeneration::Current => (kind.to_string(), status.to_string()),
                _ => (
                    format!("SPAN_KIND_{}", kind.to_uppercase()),
                    format!("STATUS_CODE_{}", status.to_uppercase()),
                ),
            };
            json!({ "SpanName": name, "SpanKind": kind, "StatusCode": status, "StatusMessage": message, "Duration": duration })
        })
        .collect()
}

#[test]
fn each_generation_writes_its_collectors_strings_into_its_collectors_table() {
    let url = shared_url();
    for (generation, ddl) in [
        (CollectorGeneration::Contrib0_96, &collector_ddl::CONTRIB_0_96),
        (CollectorGeneration::Current, &collector_ddl::CURRENT),
    ] {
        let database = database(generation.name().replace('.', "_").as_str());
        collector_ddl::create(&url, &database, ddl);
        let durations = emit_kinds(&url, &database, |o| o.collector(generation).create_schema(false));
        assert_eq!(kinds(&url, &database), expected(generation, &durations), "{generation}");
        // A filter on the deployed collector's strings finds the error span (budadmin's `STATUS_CODE_ERROR`).
        let error = if generation == CollectorGeneration::Current { "Error" } else { "STATUS_CODE_ERROR" };
        let found = query(&url, &format!("SELECT count() FROM `{database}`.otel_traces WHERE StatusCode = '{error}'"));
        assert_eq!(found.trim(), "1", "{generation}");
    }
}

#[test]
fn a_table_of_the_other_generation_keeps_its_own_duration_type() {
    let url = shared_url();
    // A `Duration Int64` table (an older collector made it), the current strings asked for: every batch stored.
    let old = database("old_table");
    collector_ddl::create(&url, &old, &collector_ddl::CONTRIB_0_96);
    let durations = emit_kinds(&url, &old, |o| o.collector(CollectorGeneration::Current));
    assert_eq!(kinds(&url, &old), expected(CollectorGeneration::Current, &durations));
    // And the other way round.
    let new = database("new_table");
    collector_ddl::create(&url, &new, &collector_ddl::CURRENT);
    let durations = emit_kinds(&url, &new, |o| o);
    assert_eq!(kinds(&url, &new), expected(CollectorGeneration::Contrib0_96, &durations));
    let types = rows(
        &url,
        &format!(
            "SELECT database, type FROM system.columns WHERE name = 'Duration' AND table = 'otel_traces' AND database IN ('{old}', '{new}') ORDER BY type"
        ),
    );
    assert_eq!(types, [json!({ "database": old, "type": "Int64" }), json!({ "database": new, "type": "UInt64" })]);
}

#[test]
fn times_are_written_in_the_tables_precision() {
    let url = shared_url();
    let database = database("precision");
    let ddl: Vec<String> = collector_ddl::CURRENT
        .iter()
        .map(|statement| {
            statement
                .replacen(
                    "Timestamp DateTime64(9) CODEC(Delta, ZSTD(1))",
                    "Timestamp DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1))",
                    1,
                )
                .replacen("\t\tTimestamp DateTime64(9),", "\t\tTimestamp DateTime64(3),", 1)
        })
        .collect();
    collector_ddl::create(&url, &database, &ddl);
    let capture = testing::capture_with(|b| b.clickhouse(ClickHouseOptions::new(&url).database(&database)));
    capture.run(|| {
        let mut span = bud_span!("timed").entered();
        span.span().add_event("checkpoint", vec![]);
    });
    capture.observe().force_flush().unwrap();
    let span = &capture.spans()[0];
    let nanos = |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let stored = rows(
        &url,
        &format!(
            "SELECT toUnixTimestamp64Micro(Timestamp) AS start, arrayMap(t -> toUnixTimestamp64Milli(t), Events.Timestamp) \
             AS events FROM `{database}`.otel_traces SETTINGS output_format_json_quote_64bit_integers = 0"
        ),
    );
    assert_eq!(
        stored,
        [
            json!({ "start": nanos(span.start_time) / 1_000, "events": [nanos(span.events.events[0].timestamp) / 1_000_000] })
        ]
    );
}

#[test]
fn attribute_values_are_stored_as_the_collector_stringifies_them() {
    let url = shared_url();
    let database = database("values");
    let capture = testing::capture_with(|b| b.clickhouse(ClickHouseOptions::new(&url).database(&database)));
    let values: Vec<(&str, Value, &str)> = vec![
        ("tiny", Value::F64(5e-7), "5e-7"),
        ("small", Value::F64(0.000001), "0.000001"),
        ("cost", Value::F64(0.0000135), "0.0000135"),
        ("huge", Value::F64(1e21), "1e+21"),
        ("big", Value::F64(123456789012345680000.0), "123456789012345680000"),
        ("negative_tiny", Value::F64(-2.5e-10), "-2.5e-10"),
        ("whole", Value::F64(3.0), "3"),
        ("nan", Value::F64(f64::NAN), "json: unsupported value: NaN"),
        ("minus_infinity", Value::F64(f64::NEG_INFINITY), "json: unsupported value: -Inf"),
        ("floats", Value::Array(Array::F64(vec![0.5, 5e-7, 1e21])), "[0.5,5e-7,1e+21]"),
        ("floats_with_nan", Value::Array(Array::F64(vec![0.5, f64::NAN])), ""),
        (
            "html",
            Value::Array(Array::String(vec!["<b>&</b>".into(), "tab\tquote\"".into()])),
            r#"["\u003cb\u003e\u0026\u003c/b\u003e","tab\tquote\""]"#,
        ),
        ("flags", Value::Array(Array::Bool(vec![true, false])), "[true,false]"),
        ("counts", Value::Array(Array::I64(vec![-1, 9_007_199_254_740_993])), "[-1,9007199254740993]"),
    ];
    capture.run(|| {
        let mut span = capture.observe().span_builder("values").start();
        for (key, value, _) in &values {
            span.set_attribute(KeyValue::new(*key, value.clone()));
        }
        span.end();
    });
    capture.observe().force_flush().unwrap();
    let stored = rows(&url, &format!("SELECT SpanAttributes AS a FROM `{database}`.otel_traces"));
    let stored: HashMap<String, String> = serde_json::from_value(stored[0]["a"].clone()).unwrap();
    for (key, _, expected) in &values {
        assert_eq!(stored.get(*key).map(String::as_str), Some(*expected), "{key}");
    }
}

#[test]
fn the_collectors_lookup_table_finds_a_trace_by_its_id() {
    let url = shared_url();
    for generation in [CollectorGeneration::Contrib0_96, CollectorGeneration::Current] {
        let database = database("lookup");
        let capture = testing::capture_with(|b| {
            b.clickhouse(ClickHouseOptions::new(&url).database(&database).collector(generation))
        });
        capture.run(|| {
            let _outer = bud_span!("outer").entered();
            drop(bud_span!("inner"));
        });
        capture.observe().force_flush().unwrap();
        let trace: TraceId = capture.spans()[0].span_context.trace_id();
        let found = rows(
            &url,
            &format!(
                "SELECT toUnixTimestamp(Start) AS start, toUnixTimestamp(End) AS end FROM \
                 `{database}`.otel_traces_trace_id_ts WHERE TraceId = '{trace}'"
            ),
        );
        let bounds = rows(
            &url,
            &format!(
                "SELECT toUnixTimestamp(min(Timestamp)) AS start, toUnixTimestamp(max(Timestamp)) AS end FROM \
                 `{database}`.otel_traces WHERE TraceId = '{trace}'"
            ),
        );
        assert_eq!(found, bounds, "{generation}");
        assert_eq!(found.len(), 1, "{generation}");
        let sorting = query(
            &url,
            &format!(
                "SELECT sorting_key FROM system.tables WHERE database = '{database}' AND name = 'otel_traces_trace_id_ts'"
            ),
        );
        let expected = if generation == CollectorGeneration::Current {
            "TraceId, Start"
        } else {
            "TraceId, toUnixTimestamp(Start)"
        };
        assert_eq!(sorting.trim(), expected, "{generation}");
    }
}

#[test]
fn a_table_altered_while_running_is_read_again() {
    let url = shared_url();
    let database = database("altered");
    collector_ddl::create(&url, &database, &collector_ddl::CONTRIB_0_96);
    let observe = instance(&url, &database, HashMap::new());
    budobserve::with_instance(&observe, || drop(bud_span!("before")));
    observe.force_flush().unwrap();
    // The insert after this one sends `Int64` in its header: ClickHouse refuses it, the columns are read again.
    query(&url, &format!("ALTER TABLE `{database}`.otel_traces MODIFY COLUMN Duration UInt64"));
    budobserve::with_instance(&observe, || drop(bud_span!("after")));
    observe.force_flush().unwrap();
    let names = rows(&url, &format!("SELECT SpanName FROM `{database}`.otel_traces ORDER BY SpanName"));
    assert_eq!(names, [json!({ "SpanName": "after" }), json!({ "SpanName": "before" })]);
    assert_eq!(observe.export_stats().spans_failed, 0);
}

fn instance(url: &str, database: &str, mut env: HashMap<String, String>) -> BudObserve {
    env.insert("BUD_OBSERVE_CLICKHOUSE_URL".to_owned(), url.to_owned());
    env.insert("BUD_OBSERVE_CLICKHOUSE_DATABASE".to_owned(), database.to_owned());
    let config = budobserve::configure()
        .env(EnvSource::Map(env))
        .service_name("conventions")
        .batch_options(budobserve::BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .build()
        .unwrap();
    BudObserve::new(config)
}

#[test]
fn the_environment_names_the_generation() {
    let url = shared_url();
    let database = database("env");
    let env = HashMap::from([("BUD_OBSERVE_CLICKHOUSE_COLLECTOR".to_owned(), "current".to_owned())]);
    let observe = instance(&url, &database, env);
    budobserve::with_instance(&observe, || drop(bud_span!("from the environment")));
    observe.force_flush().unwrap();
    assert_eq!(
        rows(&url, &format!("SELECT SpanKind, StatusCode FROM `{database}`.otel_traces")),
        [json!({ "SpanKind": "Internal", "StatusCode": "Unset" })]
    );
    let env = EnvSource::Map(HashMap::from([
        ("BUD_OBSERVE_CLICKHOUSE_URL".to_owned(), url.clone()),
        ("BUD_OBSERVE_CLICKHOUSE_COLLECTOR".to_owned(), "0.120".to_owned()),
    ]));
    let err = budobserve::configure().env(env).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"0.120\" in environment variable `BUD_OBSERVE_CLICKHOUSE_COLLECTOR`: expected `0.96` \
         (collector-contrib before PR #34799: SPAN_KIND_SERVER, STATUS_CODE_ERROR, Duration Int64) or `current` \
         (Server, Error, Duration UInt64)"
    );
}
