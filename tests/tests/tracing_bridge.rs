//! The `tracing` and `log` bridges: `tracing` spans and events, and `log` records, written as BudObserve spans and
//! logs with its schema, nested with BudObserve's own spans both ways.

use budobserve::constants::{self, bud};
use budobserve::integrations::tracing::{layer, layer_for};
use budobserve::opentelemetry::Value;
use budobserve::opentelemetry::trace::SpanId;
use budobserve::opentelemetry::trace::{SpanKind, Status};
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{self, Capture, attribute};
use budobserve::{BudContext, KeyValue, Level, bud_info, bud_span};
use tracing_subscriber::layer::SubscriberExt as _;

/// Runs `f` with `capture`'s instance current and the bridge as the `tracing` subscriber.
fn traced<R>(capture: &Capture, f: impl FnOnce() -> R) -> R {
    let subscriber = tracing_subscriber::registry().with(layer());
    tracing::subscriber::with_default(subscriber, || capture.run(f))
}

/// The names of the spans exported so far, in the order they ended.
fn names(capture: &Capture) -> Vec<String> {
    capture.spans().iter().map(|span| span.name.to_string()).collect()
}

fn int(span: &SpanData, key: &str) -> Option<i64> {
    match attribute(span, key) {
        Some(Value::I64(n)) => Some(*n),
        _ => None,
    }
}

fn text(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|value| value.as_str().into_owned())
}

#[tracing::instrument(fields(kind = "chat"))]
fn route(user_id: u64, model: &str) -> usize {
    tracing::info!(tokens = 12, "routed");
    let _inner = bud_span!("inner").entered();
    model.len()
}

#[test]
fn an_instrumented_function_is_a_span_under_the_bud_span_around_it() {
    let capture = testing::capture();
    traced(&capture, || {
        let _outer = bud_span!("outer").entered();
        assert_eq!(route(7, "gpt"), 3);
    });
    let outer = capture.span("outer");
    let routed = capture.span("route");
    let log = capture.span("routed");
    let inner = capture.span("inner");
    assert_eq!(routed.parent_span_id, outer.span_context.span_id());
    assert_eq!(routed.span_context.trace_id(), outer.span_context.trace_id());
    assert_eq!(log.parent_span_id, routed.span_context.span_id());
    assert_eq!(inner.parent_span_id, routed.span_context.span_id(), "a bud_span! inside is its child");
    assert_eq!(routed.instrumentation_scope.name(), "budobserve.tracing");

    assert_eq!(int(&routed, "user_id"), Some(7));
    assert_eq!(text(&routed, "model").as_deref(), Some("gpt"));
    assert_eq!(text(&routed, "kind").as_deref(), Some("chat"));
    assert_eq!(text(&routed, constants::SPAN_TYPE).as_deref(), Some("span"));
    assert_eq!(text(&routed, constants::MSG_TEMPLATE).as_deref(), Some("route"));
    assert_eq!(text(&routed, constants::CODE_NAMESPACE).as_deref(), Some("tracing_bridge"));
    assert_eq!(text(&routed, constants::CODE_FILEPATH).as_deref(), Some("tests/tests/tracing_bridge.rs"));
    assert!(int(&routed, constants::CODE_LINENO).is_some_and(|line| line > 0));
    assert_eq!(int(&routed, constants::LEVEL_NUM), Some(i64::from(Level::Info.number())));
    assert!(routed.end_time > routed.start_time);

    assert_eq!(text(&log, constants::SPAN_TYPE).as_deref(), Some("log"));
    assert_eq!(text(&log, constants::MSG).as_deref(), Some("routed"));
    assert_eq!(text(&log, constants::MSG_TEMPLATE).as_deref(), Some("routed"));
    assert_eq!(int(&log, "tokens"), Some(12));
    assert_eq!(attribute(&log, "message"), None, "the message is budobserve_msg, not an attribute");
    assert_eq!(log.start_time, log.end_time);
}

#[test]
fn levels_are_mapped() {
    let capture = testing::capture();
    traced(&capture, || {
        tracing::trace!("at trace");
        tracing::debug!("at debug");
        tracing::info!("at info");
        tracing::warn!("at warn");
        tracing::error!("at error");
        drop(tracing::warn_span!("warn span").entered());
    });
    for (name, level) in [
        ("at trace", Level::Trace),
        ("at debug", Level::Debug),
        ("at info", Level::Info),
        ("at warn", Level::Warn),
        ("at error", Level::Error),
        ("warn span", Level::Warn),
    ] {
        assert_eq!(int(&capture.span(name), constants::LEVEL_NUM), Some(i64::from(level.number())), "{name}");
    }
}

#[test]
fn records_below_the_minimum_level_are_skipped_and_their_children_move_up() {
    let capture = testing::capture_with(|builder| builder.min_level(Level::Info));
    traced(&capture, || {
        let _outer = tracing::info_span!("outer").entered();
        let _detail = tracing::debug_span!("detail").entered();
        tracing::debug!("hidden");
        tracing::info!("shown");
    });
    assert_eq!(names(&capture), ["shown", "outer"]);
    assert_eq!(capture.span("shown").parent_span_id, capture.span("outer").span_context.span_id());
}

#[test]
fn explicit_parents_roots_later_fields_and_follows_from() {
    let capture = testing::capture();
    traced(&capture, || {
        let first = tracing::info_span!("first", answer = tracing::field::Empty);
        let second = tracing::info_span!(parent: &first, "second");
        let root = tracing::info_span!(parent: None, "root");
        second.follows_from(&root);
        tracing::info!(parent: &second, "to second");
        first.record("answer", 42);
        drop((second, root, first));
    });
    let first = capture.span("first");
    let second = capture.span("second");
    let root = capture.span("root");
    assert_eq!(first.parent_span_id, SpanId::INVALID);
    assert_eq!(second.parent_span_id, first.span_context.span_id());
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    assert_ne!(root.span_context.trace_id(), first.span_context.trace_id());
    assert_eq!(int(&first, "answer"), Some(42), "a field recorded later");
    assert_eq!(capture.span("to second").parent_span_id, second.span_context.span_id());
    let links = &second.links.links;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].span_context.span_id(), root.span_context.span_id());
}

#[test]
fn the_bud_context_flows_through_tracing_spans() {
    let capture = testing::capture();
    traced(&capture, || {
        let _bud = BudContext::new().project_id("proj-7").attach();
        let _request = tracing::info_span!("request").entered();
        tracing::info!("inside");
        drop(bud_span!("bud inside"));
    });
    for name in ["request", "inside", "bud inside"] {
        assert_eq!(text(&capture.span(name), bud::PROJECT_ID).as_deref(), Some("proj-7"), "{name}");
    }
}

#[tracing::instrument]
async fn fetch(id: u32) -> u32 {
    tokio::task::yield_now().await;
    bud_info!("fetched {id}");
    id * 2
}

#[test]
fn async_instrumented_functions_stay_parents_across_await() {
    let capture = testing::capture();
    let subscriber = tracing_subscriber::registry().with(layer_for(capture.observe()));
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let _default = tracing::subscriber::set_default(subscriber);
    assert_eq!(runtime.block_on(capture.run_async(fetch(21))), 42);
    let fetch = capture.span("fetch");
    assert_eq!(int(&fetch, "id"), Some(21));
    assert_eq!(capture.span("fetched {id}").parent_span_id, fetch.span_context.span_id());
}

#[test]
fn fields_of_every_kind_become_attributes() {
    let capture = testing::capture();
    let err = std::io::Error::other("disk full");
    traced(&capture, || {
        tracing::info!(
            small = 3_u64,
            huge = u64::MAX,
            negative = -4_i64,
            ratio = 0.5,
            ok = true,
            name = "n",
            shown = ?vec![1, 2],
            display = %"disp",
            error = &err as &(dyn std::error::Error + 'static),
            "fields"
        );
        tracing::info!(only = 1);
    });
    let span = capture.span("fields");
    assert_eq!(int(&span, "small"), Some(3));
    assert_eq!(text(&span, "huge").as_deref(), Some("18446744073709551615"));
    assert_eq!(int(&span, "negative"), Some(-4));
    assert_eq!(attribute(&span, "ratio"), Some(&Value::F64(0.5)));
    assert_eq!(attribute(&span, "ok"), Some(&Value::Bool(true)));
    assert_eq!(text(&span, "name").as_deref(), Some("n"));
    assert_eq!(text(&span, "shown").as_deref(), Some("[1, 2]"));
    assert_eq!(text(&span, "display").as_deref(), Some("disp"));
    assert_eq!(text(&span, "error").as_deref(), Some("disk full"));
    // An event without a message is named after its callsite.
    let unnamed = capture.spans().into_iter().find(|s| s.name.starts_with("event tests/tests/tracing_bridge.rs:"));
    assert_eq!(unnamed.map(|s| int(&s, "only")), Some(Some(1)));
}

#[test]
fn records_on_budobserve_export_threads_are_ignored() {
    let capture = testing::capture();
    traced(&capture, || {
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let observe = capture.observe().clone();
        std::thread::Builder::new()
            .name("budobserve-export".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    budobserve::with_instance(&observe, || tracing::info!("from the exporter's HTTP client"));
                });
            })
            .unwrap()
            .join()
            .unwrap();
        tracing::info!("from the service");
    });
    assert_eq!(names(&capture), ["from the service"]);
}

#[test]
fn log_records_are_logs_with_their_origin_and_key_values() {
    use log::Log as _;

    let capture = testing::capture();
    let logger = budobserve::integrations::log::logger_for(capture.observe());
    let key = "user:42";
    capture.run(|| {
        let _request = bud_span!("request").entered();
        logger.log(
            &log::Record::builder()
                .args(format_args!("cache miss for {key}"))
                .level(log::Level::Warn)
                .target("cache")
                .module_path_static(Some("svc::cache"))
                .file_static(Some("src/cache.rs"))
                .line(Some(7))
                .key_values(&[("attempt", 2_i64)])
                .build(),
        );
        logger.log(&log::Record::builder().args(format_args!("static text")).level(log::Level::Debug).build());
    });
    let miss = capture.span("cache miss for user:42");
    assert_eq!(miss.parent_span_id, capture.span("request").span_context.span_id());
    assert_eq!(miss.instrumentation_scope.name(), "budobserve.log");
    assert_eq!(text(&miss, constants::MSG).as_deref(), Some("cache miss for user:42"));
    assert_eq!(text(&miss, constants::SPAN_TYPE).as_deref(), Some("log"));
    assert_eq!(int(&miss, constants::LEVEL_NUM), Some(i64::from(Level::Warn.number())));
    assert_eq!(text(&miss, constants::CODE_NAMESPACE).as_deref(), Some("svc::cache"));
    assert_eq!(text(&miss, constants::CODE_FILEPATH).as_deref(), Some("src/cache.rs"));
    assert_eq!(int(&miss, constants::CODE_LINENO), Some(7));
    assert_eq!(text(&miss, constants::TARGET).as_deref(), Some("cache"));
    assert_eq!(int(&miss, "attempt"), Some(2));
    let fixed = capture.span("static text");
    assert_eq!(text(&fixed, constants::MSG_TEMPLATE).as_deref(), Some("static text"));
    assert_eq!(int(&fixed, constants::LEVEL_NUM), Some(i64::from(Level::Debug.number())));
}

#[test]
fn the_installed_logger_writes_to_the_current_instance() {
    budobserve::integrations::log::init().unwrap();
    assert!(budobserve::integrations::log::init().is_err(), "a second logger is refused");
    let capture = testing::capture_with(|builder| builder.min_level(Level::Info));
    capture.run(|| {
        log::info!(user_id = 3; "user {} logged in", 3);
        log::debug!("below the minimum level");
    });
    assert_eq!(names(&capture), ["user 3 logged in"]);
    assert_eq!(int(&capture.span("user 3 logged in"), "user_id"), Some(3));
    assert_eq!(text(&capture.span("user 3 logged in"), constants::CODE_NAMESPACE).as_deref(), Some("tracing_bridge"));
}

/// budgateway's pattern (`services/budgateway/tensorzero-internal/src/analytics_middleware.rs`): a span declared
/// with `otel.name` and empty fields, recorded as the request goes, its status set through `otel.status_code`.
#[test]
fn otel_fields_name_kind_and_status_spans_as_tracing_opentelemetry_reads_them() {
    let capture = testing::capture();
    traced(&capture, || {
        let analytics = tracing::info_span!(
            "gateway_analytics",
            otel.name = "gateway_analytics",
            otel.kind = "server",
            gateway_analytics.country_code = tracing::field::Empty,
            gateway_analytics.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
        );
        analytics.in_scope(|| tracing::info!(otel.name = "kept on an event", "inside"));
        analytics.record("gateway_analytics.country_code", "IN");
        analytics.record("gateway_analytics.status_code", 502_u64);
        analytics.record("otel.status_code", "ERROR");
        analytics.record("otel.status_description", "upstream failed");
        drop(analytics);
        let route = tracing::info_span!("request", otel.name = tracing::field::Empty, otel.status_code = "OK");
        route.record("otel.name", "POST /v1/chat/completions");
        drop(route);
        drop(tracing::info_span!("odd", otel.kind = "sideways", otel.status_code = "maybe"));
    });
    let analytics = capture
        .assert_span("gateway_analytics")
        .kind(SpanKind::Server)
        .has_attribute(KeyValue::new("gateway_analytics.country_code", "IN"))
        .has_attribute(KeyValue::new("gateway_analytics.status_code", 502))
        .lacks_attribute("otel.name")
        .lacks_attribute("otel.status_code")
        .lacks_attribute("otel.status_description")
        .into_span();
    assert_eq!(analytics.status, Status::error("upstream failed"));
    capture.assert_span("inside").has_attribute(KeyValue::new("otel.name", "kept on an event"));
    capture.assert_span("POST /v1/chat/completions").status_ok().kind(SpanKind::Internal);
    capture.assert_span("odd").status_unset().kind(SpanKind::Internal).lacks_attribute("otel.kind");
}
