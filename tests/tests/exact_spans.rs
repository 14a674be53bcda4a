//! Every exported span exactly right, checked where it leaves the process — the bytes an OTLP/HTTP receiver decodes
//! with `opentelemetry-proto` (and the console's text, and ClickHouse's rows, where they differ): one value per key,
//! span limits that never drop BudObserve's own keys (with the dropped counts exported), code locations for the
//! method API, JSON schemas covering late values, bounded message values, the detected resource and the span type
//! of integrations.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use budobserve::constants::{self, bud};
use budobserve::exporters::{ColorChoice, ConsoleOptions, ConsoleWriter};
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::reqwest::ClientMiddleware;
use budobserve::opentelemetry::Context;
use budobserve::{
    BatchOptions, BudAttributes, BudContext, BudObserve, ConfigBuilder, EnvSource, KeyValue, Level, SpanLimits,
    bud_info, bud_span,
};
use common::receiver::{Receiver, attr, int, string};
use opentelemetry_proto::tonic::common::v1::{KeyValue as WireKeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;

fn builder(receiver: &Receiver, env: &[(&str, &str)]) -> ConfigBuilder {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    budobserve::configure()
        .env(EnvSource::Map(env))
        .service_name("exact-spans")
        .endpoint(receiver.endpoint())
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .export_timeout(Duration::from_secs(5))
        .metrics_interval(Duration::from_secs(3600))
}

fn instance(receiver: &Receiver, env: &[(&str, &str)]) -> BudObserve {
    BudObserve::new(builder(receiver, env).build().unwrap())
}

/// Runs `f` with `observe` current, flushes, and returns every span the receiver decoded.
fn exported(receiver: &Receiver, observe: &BudObserve, f: impl FnOnce()) -> Vec<Span> {
    budobserve::with_instance(observe, f);
    observe.force_flush().unwrap();
    receiver.spans()
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name:?} in {:?}", names(spans)))
}

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

/// Every key of `attributes`, in order; asserts they are unique.
fn unique_keys(attributes: &[WireKeyValue]) -> Vec<&str> {
    let keys: Vec<&str> = attributes.iter().map(|kv| kv.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), keys.len(), "duplicate keys in {keys:?}");
    keys
}

fn text(attributes: &[WireKeyValue], key: &str) -> Option<String> {
    match attr(attributes, key) {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

#[test]
fn a_key_set_again_is_replaced_everywhere_it_leaves() {
    let receiver = Receiver::start();
    let observe = instance(&receiver, &[]);
    let spans = exported(&receiver, &observe, || {
        let mut span = bud_span!("import {rows}", rows = 1);
        for n in 0..1_000 {
            span.set_attribute(KeyValue::new("progress", n));
        }
        span.set_attribute(KeyValue::new("rows", 1_200));
        span.set_attributes([KeyValue::new("stage", "parse"), KeyValue::new("stage", "load")]);
        span.add_event("batch", vec![KeyValue::new("n", 1), KeyValue::new("n", 2)]);
        span.set_level(Level::Warn);
        drop(span);
        // The method API: explicit duplicates in one call keep the last.
        observe.info("twice {k}", [KeyValue::new("k", "first"), KeyValue::new("k", "second")]);
    });
    let span = named(&spans, "import {rows}");
    let keys = unique_keys(&span.attributes);
    assert_eq!(attr(&span.attributes, "progress"), Some(&int(999)));
    assert_eq!(attr(&span.attributes, "rows"), Some(&int(1_200)));
    assert_eq!(attr(&span.attributes, "stage"), Some(&string("load")));
    assert_eq!(attr(&span.attributes, constants::LEVEL_NUM), Some(&int(13)));
    // The message is rendered from the value the span ends with.
    assert_eq!(text(&span.attributes, constants::MSG).as_deref(), Some("import 1200"));
    assert!(keys.contains(&constants::SPAN_TYPE) && keys.contains(&constants::CODE_LINENO), "{keys:?}");
    assert_eq!(span.dropped_attributes_count, 0);
    let event = &span.events[0];
    unique_keys(&event.attributes);
    assert_eq!(attr(&event.attributes, "n"), Some(&int(2)));
    let log = named(&spans, "twice {k}");
    unique_keys(&log.attributes);
    assert_eq!(text(&log.attributes, "k").as_deref(), Some("second"));
    assert_eq!(text(&log.attributes, constants::MSG).as_deref(), Some("twice second"));
}

#[derive(BudAttributes)]
struct Routed {
    #[bud(key = "bud.endpoint_id")]
    endpoint: String,
    model: String,
}

#[test]
fn an_explicit_attribute_wins_over_the_bud_context() {
    let receiver = Receiver::start();
    let observe = instance(&receiver, &[]);
    let spans = exported(&receiver, &observe, || {
        let cx = BudContext::new().project_id("proj-1").endpoint_id("ep-context").to_context(&Context::current());
        let _attached = cx.attach();
        let routed = Routed { endpoint: "ep-explicit".into(), model: "llama".into() };
        bud_info!("routed", routed);
        let mut span = bud_span!("late");
        span.set_attribute(KeyValue::new(bud::ENDPOINT_ID, "ep-late"));
        drop(span);
        bud_info!("context only");
    });
    let routed = named(&spans, "routed");
    assert_eq!(text(&routed.attributes, "routed.model").as_deref(), Some("llama"));
    unique_keys(&routed.attributes);
    assert_eq!(text(&routed.attributes, bud::ENDPOINT_ID).as_deref(), Some("ep-explicit"));
    assert_eq!(text(&routed.attributes, bud::PROJECT_ID).as_deref(), Some("proj-1"));
    let late = named(&spans, "late");
    unique_keys(&late.attributes);
    assert_eq!(text(&late.attributes, bud::ENDPOINT_ID).as_deref(), Some("ep-late"));
    let plain = named(&spans, "context only");
    assert_eq!(text(&plain.attributes, bud::ENDPOINT_ID).as_deref(), Some("ep-context"));
}

/// BudObserve's keys every log has, whatever the limit.
const OWN: [&str; 6] = [
    constants::SPAN_TYPE,
    constants::LEVEL_NUM,
    constants::MSG_TEMPLATE,
    constants::MSG,
    constants::CODE_FILEPATH,
    constants::CODE_LINENO,
];

fn many(count: usize) -> Vec<KeyValue> {
    (0..count).map(|i| KeyValue::new(format!("field_{i:03}"), i as i64)).collect()
}

#[test]
fn limits_drop_the_users_last_attributes_and_never_budobserves() {
    let receiver = Receiver::start();
    let observe = instance(&receiver, &[]);
    let spans = exported(&receiver, &observe, || {
        observe.info("300 fields", many(300));
        let mut span = observe.span("late fields", many(10));
        for (i, kv) in many(400).into_iter().enumerate() {
            if i >= 10 {
                span.set_attribute(kv);
            }
        }
        span.set_level(Level::Error);
        drop(span);
    });
    let log = named(&spans, "300 fields");
    let keys = unique_keys(&log.attributes);
    assert_eq!(keys.len(), 128, "{keys:?}");
    for own in OWN {
        assert!(keys.contains(&own), "{own} dropped: {keys:?}");
    }
    let users: Vec<&str> = keys.iter().copied().filter(|k| k.starts_with("field_")).collect();
    assert_eq!(users.len(), 128 - OWN.len());
    assert_eq!(users.first(), Some(&"field_000"));
    assert_eq!(users.last().copied(), Some(format!("field_{:03}", 128 - OWN.len() - 1).as_str()));
    assert_eq!(log.dropped_attributes_count, 300 - users.len() as u32);
    assert_eq!(text(&log.attributes, constants::MSG).as_deref(), Some("300 fields"));

    let span = named(&spans, "late fields");
    let keys = unique_keys(&span.attributes);
    assert_eq!(keys.len(), 128);
    assert_eq!(attr(&span.attributes, constants::LEVEL_NUM), Some(&int(17)));
    assert!(keys.contains(&constants::SPAN_TYPE) && keys.contains(&constants::CODE_FILEPATH), "{keys:?}");
    assert_eq!(span.dropped_attributes_count, 400 - (keys.len() - OWN.len()) as u32);
}

#[test]
fn limits_come_from_the_builder_and_the_standard_variables() {
    let receiver = Receiver::start();
    let observe = instance(
        &receiver,
        &[
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "2"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "1"),
        ],
    );
    let spans = exported(&receiver, &observe, || {
        let long = "abcdefghijklmnopqrstuvwxyz";
        bud_info!("long {long}", more = 1, extra = 2, other = 3, fourth = 4, fifth = 5);
        let linked = observe.span_builder("first").start();
        let mut span = observe
            .span_builder("events")
            .link(linked.span_context().clone(), vec![])
            .link(linked.span_context().clone(), vec![])
            .start();
        for n in 0..5 {
            span.add_event("tick", vec![KeyValue::new("label", "0123456789abc"), KeyValue::new("n", n)]);
        }
        drop(span);
        drop(linked);
    });
    // Seven of BudObserve's keys (a macro's location has its module path too), three of the six given.
    let log = named(&spans, "long {long}");
    let keys = unique_keys(&log.attributes);
    assert_eq!(keys.len(), 10, "{keys:?}");
    assert_eq!(keys.iter().filter(|k| ["long", "more", "extra"].contains(k)).count(), 3, "{keys:?}");
    assert_eq!(text(&log.attributes, "long").as_deref(), Some("abcdefgh"));
    // BudObserve's own values are bounded by their own rules, not cut.
    assert_eq!(text(&log.attributes, constants::MSG).as_deref(), Some("long abcdefghijklmnopqrstuvwxyz"));
    assert_eq!(log.dropped_attributes_count, 3);
    let span = named(&spans, "events");
    assert_eq!(span.events.len(), 2);
    assert_eq!(span.dropped_events_count, 3);
    assert_eq!(text(&span.events[0].attributes, "label").as_deref(), Some("01234567"));
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.dropped_links_count, 1);

    // The builder's limit wins over the variable.
    let receiver = Receiver::start();
    let config = builder(&receiver, &[("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "10")])
        .span_limits(SpanLimits::new().attribute_count(20))
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    let spans = exported(&receiver, &observe, || observe.info("fields", many(50)));
    assert_eq!(unique_keys(&named(&spans, "fields").attributes).len(), 20);

    let error = budobserve::configure()
        .env(EnvSource::Map(HashMap::from([("OTEL_SPAN_EVENT_COUNT_LIMIT".to_owned(), "-1".to_owned())])))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("OTEL_SPAN_EVENT_COUNT_LIMIT"), "{error}");
}

#[test]
fn the_method_api_records_where_it_was_called() {
    let receiver = Receiver::start();
    let observe = instance(&receiver, &[]);
    let mut lines = Vec::new();
    let spans = exported(&receiver, &observe, || {
        lines.push(line!() + 1);
        budobserve::info("free function", []);
        lines.push(line!() + 1);
        observe.warn("method", []);
        lines.push(line!() + 1);
        let span = budobserve::span("free span", []);
        drop(span);
        lines.push(line!() + 1);
        let span = observe.span_builder("builder").start();
        drop(span);
        lines.push(line!() + 1);
        budobserve::exception(&std::io::Error::other("boom"), "free exception", []);
        lines.push(line!() + 1);
        observe.log(Level::Debug, "method log", []);
    });
    for (name, line) in
        ["free function", "method", "free span", "builder", "free exception", "method log"].into_iter().zip(lines)
    {
        let span = named(&spans, name);
        unique_keys(&span.attributes);
        assert_eq!(text(&span.attributes, constants::CODE_FILEPATH).as_deref(), Some(file!()), "{name}");
        assert_eq!(attr(&span.attributes, constants::CODE_LINENO), Some(&int(i64::from(line))), "{name}");
    }
}

#[derive(serde::Serialize)]
struct Answer {
    id: u32,
    choices: Vec<String>,
}

#[budobserve::instrument(record_return)]
fn answer(order: &Order) -> Answer {
    Answer { id: order.id, choices: vec!["yes".into()] }
}

#[derive(serde::Serialize)]
struct Order {
    id: u32,
    items: Vec<&'static str>,
}

#[test]
fn late_json_values_are_in_the_schema() {
    let receiver = Receiver::start();
    let observe = instance(&receiver, &[]);
    let spans = exported(&receiver, &observe, || {
        let order = Order { id: 7, items: vec!["gpu"] };
        answer(&order);
        let mut span = bud_span!("late json {order}", order);
        span.set_json("result", &HashMap::from([("k", vec![1, 2])]));
        span.set_json("order", &7);
        drop(span);
    });
    let span = named(&spans, "Calling exact_spans::answer");
    unique_keys(&span.attributes);
    assert_eq!(text(&span.attributes, "return").as_deref(), Some(r#"{"id":7,"choices":["yes"]}"#));
    let schema: serde_json::Value =
        serde_json::from_str(&text(&span.attributes, constants::JSON_SCHEMA).expect("a schema")).unwrap();
    assert_eq!(schema["properties"]["return"]["type"], "object");
    assert_eq!(schema["properties"]["return"]["properties"]["choices"]["type"], "array");
    assert_eq!(schema["properties"]["order"]["properties"]["items"]["type"], "array", "{schema}");

    let span = named(&spans, "late json {order}");
    unique_keys(&span.attributes);
    let schema: serde_json::Value =
        serde_json::from_str(&text(&span.attributes, constants::JSON_SCHEMA).expect("a schema")).unwrap();
    // `order` was replaced by a number: its entry went with it; `result` came late.
    assert_eq!(attr(&span.attributes, "order"), Some(&int(7)));
    assert!(schema["properties"].get("order").is_none(), "{schema}");
    assert_eq!(schema["properties"]["result"]["type"], "object", "{schema}");
}

#[test]
fn message_values_are_bounded_and_attributes_whole() {
    let receiver = Receiver::start();
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let console = ConsoleOptions::new()
        .colors(ColorChoice::Never)
        .include_timestamps(false)
        .writer(ConsoleWriter::Shared(buffer.clone()));
    let observe = BudObserve::new(builder(&receiver, &[]).console(true).console_options(console).build().unwrap());
    let big = format!("{}{}{}", "a".repeat(100), "b".repeat(99_800), "c".repeat(100));
    let shown = format!("{}...{}", "a".repeat(62), "c".repeat(62));
    let spans = exported(&receiver, &observe, || {
        bud_info!("deferred {big}", big = big.clone());
        bud_info!("formatted {big:>5}!", big = big.clone());
        observe.info("method {big}", [KeyValue::new("big", big.clone())]);
        bud_info!("short {n:>4}", n = 7);
    });
    for (name, message) in [
        ("deferred {big}", format!("deferred {shown}")),
        ("formatted {big:>5}!", format!("formatted {shown}!")),
        ("method {big}", format!("method {shown}")),
    ] {
        let span = named(&spans, name);
        assert_eq!(text(&span.attributes, constants::MSG).as_deref(), Some(message.as_str()), "{name}");
        assert_eq!(text(&span.attributes, "big").map(|b| b.len()), Some(100_000), "{name}");
    }
    assert_eq!(text(&named(&spans, "short {n:>4}").attributes, constants::MSG).as_deref(), Some("short    7"));
    let printed = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    for line in [format!("deferred {shown}"), format!("formatted {shown}!"), format!("method {shown}")] {
        assert!(printed.lines().any(|l| l == line), "{line:?} not in {printed}");
    }
    assert!(!printed.contains(&"b".repeat(200)), "a whole value on the console");
}

#[test]
fn every_instance_has_its_own_id_and_the_resource_says_where_it_runs() {
    let receiver = Receiver::start();
    let first = instance(&receiver, &[]);
    let second = instance(&receiver, &[("K8S_POD_NAME", "budapp-5d8f"), ("K8S_NAMESPACE_NAME", "bud")]);
    let fixed = BudObserve::new(
        builder(&receiver, &[("OTEL_RESOURCE_ATTRIBUTES", "host.name=edge-1")])
            .resource_attribute(KeyValue::new(constants::resource::SERVICE_INSTANCE_ID, "replica-a"))
            .build()
            .unwrap(),
    );
    let off = BudObserve::new(builder(&receiver, &[("BUD_OBSERVE_RESOURCE_DETECTION", "false")]).build().unwrap());
    for (observe, name) in [(&first, "first"), (&second, "second"), (&fixed, "fixed"), (&off, "off")] {
        budobserve::with_instance(observe, || budobserve::info(name, []));
        observe.force_flush().unwrap();
    }
    let resources: HashMap<String, Vec<WireKeyValue>> = receiver
        .trace_requests()
        .into_iter()
        .flat_map(|request| request.resource_spans)
        .map(|rs| {
            let name = rs.scope_spans[0].spans[0].name.clone();
            (name, rs.resource.unwrap().attributes)
        })
        .collect();
    let get = |name: &str, key: &str| text(&resources[name], key);
    let (a, b) = (get("first", "service.instance.id").unwrap(), get("second", "service.instance.id").unwrap());
    assert_ne!(a, b);
    assert_eq!(a.len(), 36, "{a}");
    assert_eq!(get("fixed", "service.instance.id").as_deref(), Some("replica-a"));
    assert_eq!(get("fixed", "host.name").as_deref(), Some("edge-1"));
    for key in ["service.name", "host.name", "process.runtime.name", "process.runtime.version", "os.type"] {
        assert!(get("first", key).is_some_and(|v| !v.is_empty()), "{key} missing: {:?}", resources["first"]);
    }
    assert_eq!(get("first", "os.type").as_deref(), Some(std::env::consts::OS));
    assert_eq!(get("first", "process.runtime.name").as_deref(), Some("rustc"));
    assert_eq!(attr(&resources["first"], "process.pid"), Some(&int(i64::from(std::process::id()))));
    let executable = std::env::current_exe().unwrap();
    assert_eq!(
        get("first", "process.executable.name").as_deref(),
        executable.file_name().and_then(|name| name.to_str())
    );
    assert_eq!(get("second", "k8s.pod.name").as_deref(), Some("budapp-5d8f"));
    assert_eq!(get("second", "k8s.namespace.name").as_deref(), Some("bud"));
    assert_eq!(get("first", "k8s.pod.name"), None);
    assert_eq!(get("off", "service.instance.id"), None);
    assert_eq!(get("off", "host.name"), None);
    assert_eq!(get("off", "service.name").as_deref(), Some("exact-spans"));
    for name in ["first", "second", "fixed", "off"] {
        unique_keys(&resources[name]);
    }
}

#[test]
fn spans_of_integrations_are_told_apart() {
    let receiver = Receiver::start();
    let observe = instance(&receiver, &[]);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let handler = observe.clone();
        let app = Router::new()
            .route(
                "/ping",
                get(move || async move {
                    bud_info!(handler => "handled");
                    "pong"
                }),
            )
            .layer(ServerLayer::for_instance(&observe));
        let address = common::http::serve(app).await;
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(ClientMiddleware::for_instance(&observe))
            .build();
        let span = observe.span("caller", []);
        let cx = span.context();
        let answer = budobserve::opentelemetry::context::FutureExt::with_context(
            async { client.get(format!("http://{address}/ping")).send().await.unwrap().text().await.unwrap() },
            cx,
        )
        .await;
        assert_eq!(answer, "pong");
        drop(span);
    });
    observe.force_flush().unwrap();
    let spans = receiver.spans();
    let type_of = |span: &Span| text(&span.attributes, constants::SPAN_TYPE).unwrap();
    let server = spans.iter().find(|s| s.kind == 2).expect("a server span");
    let client = spans.iter().find(|s| s.kind == 3).expect("a client span");
    assert_eq!(type_of(server), "integration");
    assert_eq!(type_of(client), "integration");
    assert_eq!(type_of(named(&spans, "caller")), "span");
    assert_eq!(type_of(named(&spans, "handled")), "log");
    // An integration's span carries its operation's attributes, not a location in BudObserve's code.
    assert_eq!(text(&server.attributes, constants::CODE_FILEPATH), None);
    assert_eq!(text(&client.attributes, constants::CODE_FILEPATH), None);
    for span in &spans {
        unique_keys(&span.attributes);
    }
}

#[test]
fn clickhouse_rows_and_log_records_have_one_value_per_key() {
    use budobserve::exporters::budmetrics::ClickHouseOptions;
    use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};

    let receiver = Receiver::start();
    let url = common::clickhouse::shared_url();
    let database = format!("t{}_exact_spans", std::process::id());
    let observe = BudObserve::new(
        builder(&receiver, &[]).clickhouse(ClickHouseOptions::new(&url).database(&database)).build().unwrap(),
    );
    let spans = exported(&receiver, &observe, || {
        let mut span = bud_span!("replaced {rows}", rows = 1);
        span.set_attribute(KeyValue::new("rows", 2));
        span.set_attribute(KeyValue::new("rows", 3));
        drop(span);
        observe.info("300 fields", many(300));
    });
    assert_eq!(spans.len(), 2);
    let rows = common::clickhouse::rows(
        &url,
        &format!(
            "SELECT SpanName, length(mapKeys(SpanAttributes)) AS keys, \
             length(arrayDistinct(mapKeys(SpanAttributes))) AS distinct_keys, SpanAttributes['rows'] AS rows, \
             SpanAttributes['budobserve_msg'] AS message, SpanAttributes['code.lineno'] != '' AS located, \
             ResourceAttributes['service.instance.id'] AS instance FROM `{database}`.otel_traces ORDER BY SpanName"
        ),
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    let instance = text(
        &receiver.trace_requests()[0].resource_spans[0].resource.clone().unwrap().attributes,
        "service.instance.id",
    );
    for row in &rows {
        assert_eq!(row["keys"], row["distinct_keys"], "{row}");
        assert_eq!(row["located"], 1, "{row}");
        assert_eq!(row["instance"].as_str(), instance.as_deref(), "{row}");
    }
    assert_eq!(rows[0]["SpanName"], "300 fields");
    assert_eq!(rows[0]["keys"], 128);
    assert_eq!(rows[1]["rows"], "3");
    assert_eq!(rows[1]["message"], "replaced 3");

    // An OpenTelemetry log record given one key twice.
    let logger = observe.logger_provider().logger("exact-spans");
    let mut record = logger.create_log_record();
    record.set_body("twice".into());
    record.add_attribute("attempt", 1);
    record.add_attribute("attempt", 2);
    record.add_attribute("route", "/v1/chat");
    logger.emit(record);
    observe.force_flush().unwrap();
    let logs = receiver.log_records();
    assert_eq!(logs.len(), 1);
    assert_eq!(unique_keys(&logs[0].attributes), ["attempt", "route"]);
    assert_eq!(attr(&logs[0].attributes, "attempt"), Some(&int(2)));
}
