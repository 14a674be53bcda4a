//! The direct exporter against a real collector's ClickHouse exporter: the same program's spans, sent once over
//! OTLP through rotel-agent's ClickHouse exporter (a collector written in Rust, writing the collector's
//! `otel_traces` over ClickHouse's HTTP interface: chunked bodies, `decompress=1` LZ4 blocks, `RowBinary`) and once
//! straight from BudObserve, land in two tables created with the current collector's DDL; the rows are compared
//! column by column.
//!
//! Where rotel departs from the OpenTelemetry Collector's own exporter, the collector's code is the reference and
//! the departure is listed at `undo_departures`, with its source; the test checks that rotel's rows show each one,
//! then undoes it on rotel's side — it is never copied into BudObserve.
//!
//! rotel-agent is fetched by `scripts/test.sh` (PyPI's `rotel` wheel, cached under `~/.cache/budobserve/rotel`);
//! `BUD_OBSERVE_TEST_ROTEL` names the binary.

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use budobserve::exporters::budmetrics::{ClickHouseOptions, CollectorGeneration};
use budobserve::opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use budobserve::opentelemetry::{Array, KeyValue, Value};
use budobserve::{BatchOptions, BudObserve, EnvSource};
use common::clickhouse::{free_port, query, rows, shared_url};
use common::collector_ddl;
use serde_json::{Map, Value as Json};

fn rotel() -> PathBuf {
    if let Some(path) = std::env::var_os("BUD_OBSERVE_TEST_ROTEL") {
        return path.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    let path = PathBuf::from(home).join(".cache/budobserve/rotel/rotel/rotel-agent");
    assert!(path.exists(), "no rotel-agent: run ./scripts/test.sh (it fetches it), or set BUD_OBSERVE_TEST_ROTEL");
    path
}

/// rotel-agent on loopback, exporting to `database` on the ClickHouse at `url`; killed when dropped.
struct Rotel(Child);

impl Rotel {
    fn start(url: &str, database: &str) -> (Rotel, String) {
        let port = free_port();
        let mut child = Command::new(rotel())
            .args(["start", "--exporter", "clickhouse", "--clickhouse-exporter-endpoint", url])
            .args(["--clickhouse-exporter-database", database, "--otlp-grpc-endpoint", "127.0.0.1:0"])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = lines.by_ref().map_while(Result::ok).any(|line| line.contains("Starting Rotel"));
        assert!(started, "rotel-agent did not start");
        // Its log is read no further; a thread drains it so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        (Rotel(child), format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The program: spans of every kind, every attribute value type, statuses, events and links.
fn program(observe: &BudObserve) -> usize {
    let mut count = 0;
    budobserve::with_instance(observe, || {
        for (name, kind) in [
            ("server", SpanKind::Server),
            ("client", SpanKind::Client),
            ("producer", SpanKind::Producer),
            ("consumer", SpanKind::Consumer),
            ("internal", SpanKind::Internal),
        ] {
            let mut span = observe.span_builder(name).kind(kind.clone()).start();
            span.set_attributes([
                KeyValue::new("text", "plain \"quoted\" <b>&</b> é"),
                KeyValue::new("count", 42),
                KeyValue::new("negative", -7),
                KeyValue::new("flag", true),
                KeyValue::new("ratio", 0.25),
                KeyValue::new("cost", 0.0000135),
                KeyValue::new("tiny", 5e-7),
                KeyValue::new("huge", 1e21),
                KeyValue::new("whole", 3.0),
                KeyValue::new("words", Value::Array(Array::String(vec!["a".into(), "b\"c".into(), "<x>".into()]))),
                KeyValue::new("numbers", Value::Array(Array::I64(vec![1, -2, 3]))),
                KeyValue::new("switches", Value::Array(Array::Bool(vec![true, false]))),
                KeyValue::new("fractions", Value::Array(Array::F64(vec![0.5, 2.0, 5e-7]))),
            ]);
            span.add_event("checkpoint", vec![KeyValue::new("step", 2), KeyValue::new("note", "half way")]);
            span.add_event("bare", vec![]);
            let linked = SpanContext::new(
                TraceId::from(0xabcd_u128),
                SpanId::from(0x1234_u64),
                TraceFlags::SAMPLED,
                true,
                TraceState::from_key_value([("bud", "x1")]).unwrap(),
            );
            span.add_link(linked, vec![KeyValue::new("link.kind", "follows")]);
            match kind {
                SpanKind::Client => span.set_status(Status::error("upstream refused: 503")),
                SpanKind::Producer => span.set_status(Status::Ok),
                _ => {}
            }
            span.end();
            count += 1;
        }
    });
    count
}

const COLUMNS: &str = "toUnixTimestamp64Nano(Timestamp) AS Timestamp, TraceId, SpanId, ParentSpanId, TraceState, \
    SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, \
    StatusCode, StatusMessage, arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS `Events.Timestamp`, \
    Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes";

fn table(url: &str, database: &str) -> Vec<Map<String, Json>> {
    rows(
        url,
        &format!(
            "SELECT {COLUMNS} FROM `{database}`.otel_traces ORDER BY SpanName \
             SETTINGS output_format_json_quote_64bit_integers = 0"
        ),
    )
    .into_iter()
    .map(|row| match row {
        Json::Object(map) => map,
        other => panic!("not a row: {other}"),
    })
    .collect()
}

/// A double as Go's JSON writes it: the shortest decimal, with a signed exponent below 1e-6 and from 1e21.
fn go_double(f: f64) -> String {
    if f != 0.0 && !(1e-6..1e21).contains(&f.abs()) {
        let text = format!("{f:e}");
        if text.contains("e-") { text } else { text.replacen('e', "e+", 1) }
    } else {
        format!("{f}")
    }
}

/// An attribute value as rotel writes it, as the collector writes it: an array (rotel's protobuf JSON) as the values
/// themselves, marshalled as Go marshals them (HTML characters escaped); a double (one with a `.` or an exponent)
/// in Go's number form. Other values are left as they are.
fn collector_form(value: &str) -> String {
    if (value.contains('.') || value.contains('e'))
        && let Ok(f) = value.parse::<f64>()
    {
        return go_double(f);
    }
    let Ok(Json::Object(array)) = serde_json::from_str::<Json>(value) else { return value.to_owned() };
    let Some(Json::Array(values)) = array.get("values") else { return value.to_owned() };
    let plain: Vec<Json> = values
        .iter()
        .map(|v| match v.as_object().and_then(|o| o.iter().next()) {
            Some((kind, v)) if kind == "intValue" => {
                Json::from(v.as_str().and_then(|s| s.parse::<i64>().ok()).unwrap())
            }
            Some((_, v)) => v.clone(),
            None => Json::Null,
        })
        .collect();
    let floats = |v: &Json| v.as_f64().filter(|_| v.is_f64());
    let mut out = String::from("[");
    for (i, v) in plain.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match (v, floats(v)) {
            (_, Some(f)) => out.push_str(&go_double(f)),
            (Json::String(s), _) => out.push_str(
                &serde_json::to_string(s)
                    .unwrap()
                    .replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026"),
            ),
            (other, _) => out.push_str(&other.to_string()),
        }
    }
    out.push(']');
    out
}

/// How rotel-agent's rows depart from the OpenTelemetry Collector's, each with its source, undone:
///
/// - **Array attribute values as protobuf JSON.** rotel's ClickHouse exporter writes an array attribute as the
///   protobuf JSON of its `ArrayValue` (`{"values":[{"stringValue":"a"}]}`); the collector writes pdata's
///   `AsString`, `json.Marshal` of the values (`["a"]`) — contrib `exporter/clickhouseexporter/internal`
///   `AttributesToMap` → pdata `Value.AsString`.
/// - **Doubles in rotel's own number form** (`3.0` for a whole number, `1e21` with no exponent sign); the collector
///   writes pdata's `float64AsString`, Go's JSON number form (`3`, `1e+21`, `5e-7`) — pdata `pcommon/value.go`.
/// - **Consumer spans' kind as `client`** (rotel's kind table maps `SPAN_KIND_CONSUMER` to that text); the
///   collector writes pdata's `SpanKind.String()`, `Consumer` — pdata `ptrace/span_kind.go`.
fn undo_departures(row: &mut Map<String, Json>) {
    if row["SpanKind"] == "client" {
        row.insert("SpanKind".to_owned(), Json::from("Consumer"));
    }
    let fix = |map: &mut Json| {
        if let Json::Object(map) = map {
            for value in map.values_mut() {
                if let Json::String(text) = value {
                    *text = collector_form(text);
                }
            }
        }
    };
    fix(row.get_mut("SpanAttributes").unwrap());
    for key in ["Events.Attributes", "Links.Attributes"] {
        if let Some(Json::Array(maps)) = row.get_mut(key) {
            maps.iter_mut().for_each(fix);
        }
    }
}

#[test]
fn rotels_rows_and_the_direct_exporters_match_column_by_column() {
    let url = shared_url();
    let (through_rotel, direct) = (format!("r{}_rotel", std::process::id()), format!("r{}_direct", std::process::id()));
    for database in [&through_rotel, &direct] {
        collector_ddl::create(&url, database, &collector_ddl::CURRENT);
    }
    let (_rotel, otlp) = Rotel::start(&url, &through_rotel);
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("rotel-comparison")
        .service_version("2.0.1")
        .console(false)
        .endpoint(otlp)
        .protocol("http/protobuf")
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .clickhouse(ClickHouseOptions::new(&url).database(&direct).collector(CollectorGeneration::Current))
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    let count = program(&observe);
    observe.force_flush().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let stored =
        || query(&url, &format!("SELECT count() FROM `{through_rotel}`.otel_traces")).trim().parse::<usize>().unwrap();
    while stored() < count {
        assert!(Instant::now() < deadline, "rotel stored {} of {count} spans in 30 s", stored());
        std::thread::sleep(Duration::from_millis(100));
    }
    let expected = table(&url, &direct);
    let mut actual = table(&url, &through_rotel);
    assert_eq!((expected.len(), actual.len()), (count, count));
    // Each departure undone below is one rotel's rows really show (a fixed rotel would fail here, not pass silently).
    let values: Vec<&str> = actual
        .iter()
        .flat_map(|row| row["SpanAttributes"].as_object().into_iter().flat_map(|map| map.values()))
        .filter_map(Json::as_str)
        .collect();
    assert!(values.iter().any(|v| v.starts_with(r#"{"values":"#)), "arrays as protobuf JSON: {values:?}");
    assert!(values.contains(&"1e21") && values.contains(&"3.0"), "doubles in rotel's form: {values:?}");
    assert!(actual.iter().any(|row| row["SpanKind"] == "client"), "Consumer as client");
    actual.iter_mut().for_each(undo_departures);
    for (rotel_row, direct_row) in actual.iter().zip(&expected) {
        let name = direct_row["SpanName"].as_str().unwrap();
        for (column, value) in direct_row {
            assert_eq!(rotel_row.get(column), Some(value), "span {name}, column {column}");
        }
    }
}
