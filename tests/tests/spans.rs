//! Spans: nesting (sync and across `.await` on a multi-threaded runtime), levels, events, links, new traces.

use std::time::Duration;

use budobserve::opentelemetry::trace::{SpanId, Status, TraceContextExt as _};
use budobserve::opentelemetry::{Context, Value};
use budobserve::testing::{self, attribute};
use budobserve::{Instrument, KeyValue, Level};

#[test]
fn entered_spans_nest_and_logs_inside_take_them_as_parent() {
    let capture = testing::capture();
    let obs = capture.observe();
    {
        let _outer = obs.span("outer", []).entered();
        obs.info("in outer", []);
        {
            let _inner = obs.span("inner {n}", [KeyValue::new("n", 1)]).entered();
            obs.info("in inner", []);
        }
        obs.info("back in outer", []);
    }
    obs.info("after", []);

    let outer = capture.span("outer");
    let inner = capture.span("inner {n}");
    let id = |name: &str| capture.span(name).span_context.span_id();
    assert_eq!(outer.parent_span_id, SpanId::INVALID);
    assert_eq!(inner.parent_span_id, outer.span_context.span_id());
    assert_eq!(capture.span("in outer").parent_span_id, id("outer"));
    assert_eq!(capture.span("in inner").parent_span_id, id("inner {n}"));
    assert_eq!(capture.span("back in outer").parent_span_id, id("outer"));
    assert_eq!(capture.span("after").parent_span_id, SpanId::INVALID);
    assert_eq!(inner.span_context.trace_id(), outer.span_context.trace_id());
    assert_ne!(capture.span("after").span_context.trace_id(), outer.span_context.trace_id());

    assert_eq!(attribute(&inner, "budobserve_span_type"), Some(&Value::from("span")));
    assert_eq!(attribute(&inner, "budobserve_msg"), Some(&Value::from("inner 1")));
    assert_eq!(attribute(&inner, "budobserve_level_num"), Some(&Value::I64(9)));
    assert!(inner.end_time > inner.start_time);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_nest_across_await_on_a_multi_threaded_runtime() {
    let capture = testing::capture();
    let obs = capture.observe().clone();
    let task_obs = obs.clone();
    let outer = obs.span("outer", []);
    let outer_id = outer.span_context().span_id();
    let handle = tokio::spawn(
        async move {
            tokio::task::yield_now().await;
            task_obs.info("after yield", []);
            let inner = task_obs.span("inner", []);
            let deep_obs = task_obs.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                deep_obs.info("after sleep", []);
            }
            .instrument(inner)
            .await;
            // A task spawned from inside the span, instrumented with the current context as parent.
            let child = task_obs.span("spawned child", []);
            let child_obs = task_obs.clone();
            tokio::spawn(async move { child_obs.info("in spawned child", []) }.instrument(child))
                .await
                .expect("child task");
        }
        .instrument(outer),
    );
    handle.await.expect("task");

    let id = |name: &str| capture.span(name).span_context.span_id();
    assert_eq!(capture.span("after yield").parent_span_id, outer_id);
    assert_eq!(capture.span("inner").parent_span_id, outer_id);
    assert_eq!(capture.span("after sleep").parent_span_id, id("inner"));
    assert_eq!(capture.span("spawned child").parent_span_id, outer_id);
    assert_eq!(capture.span("in spawned child").parent_span_id, id("spawned child"));
    let trace = capture.span("outer").span_context.trace_id();
    assert!(capture.spans().iter().all(|s| s.span_context.trace_id() == trace));
    // The instrumented future's span ends when the future completes.
    assert!(capture.span("inner").end_time > capture.span("after sleep").start_time);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_functions_follow_the_instance_of_an_instrumented_future_across_threads() {
    let capture = testing::capture();
    let span = capture.observe().span("request", []);
    let future = capture.run_async(
        async {
            for i in 0..3 {
                tokio::task::yield_now().await;
                budobserve::info("step {i}", [KeyValue::new("i", i)]);
            }
        }
        .instrument(span),
    );
    tokio::spawn(future).await.expect("task");
    let request = capture.span("request").span_context.span_id();
    let steps = capture.spans_named("step {i}");
    assert_eq!(steps.len(), 3);
    assert!(steps.iter().all(|s| s.parent_span_id == request));
}

#[test]
fn set_level_events_links_status_and_attributes() {
    let capture = testing::capture();
    let obs = capture.observe();
    let other = obs.span("other", []);
    let other_context = other.span_context().clone();
    other.end();
    {
        let mut span = obs.span("work", []);
        span.set_attribute(KeyValue::new("items", 3));
        span.set_attributes([KeyValue::new("a", true), KeyValue::new("b", 1.5)]);
        span.add_event("checkpoint", vec![KeyValue::new("stage", "parse")]);
        span.add_link(other_context.clone(), vec![KeyValue::new("why", "retry of")]);
        span.set_level(Level::Warn);
        assert_eq!(span.level(), Level::Warn);
        span.end();
    }
    let work = capture.assert_has_span(
        "work",
        &[
            KeyValue::new("items", 3),
            KeyValue::new("a", true),
            KeyValue::new("b", 1.5),
            KeyValue::new("budobserve_level_num", 13),
        ],
    );
    assert_eq!(work.events.len(), 1);
    assert_eq!(work.events[0].name, "checkpoint");
    assert_eq!(work.events[0].attributes, vec![KeyValue::new("stage", "parse")]);
    assert_eq!(work.links.len(), 1);
    assert_eq!(work.links[0].span_context, other_context);
    assert_eq!(work.links[0].attributes, vec![KeyValue::new("why", "retry of")]);
    assert_eq!(work.status, Status::Unset);
    // The level is written once, when the span ends.
    assert_eq!(work.attributes.iter().filter(|kv| kv.key.as_str() == "budobserve_level_num").count(), 1);
}

#[test]
fn new_trace_starts_a_root_linked_to_the_current_span() {
    let capture = testing::capture();
    let obs = capture.observe();
    {
        let _request = obs.span("request", []).entered();
        let _job = obs.span_builder("background job").new_trace().start().entered();
        obs.info("in job", []);
    }
    let request = capture.span("request");
    let job = capture.span("background job");
    assert_eq!(job.parent_span_id, SpanId::INVALID);
    assert_ne!(job.span_context.trace_id(), request.span_context.trace_id());
    assert_eq!(job.links.len(), 1);
    assert_eq!(job.links[0].span_context, request.span_context);
    assert_eq!(capture.span("in job").parent_span_id, job.span_context.span_id());
}

#[test]
fn explicit_parent_context_and_span_context_for_propagation() {
    let capture = testing::capture();
    let obs = capture.observe();
    let parent = obs.span("parent", []);
    let cx: Context = parent.context();
    assert_eq!(cx.span().span_context(), parent.span_context());
    // Started elsewhere, with no current span: the explicit parent is used.
    obs.span_builder("child").parent(cx).log();
    let parent_id = parent.span_context().span_id();
    parent.end();
    assert_eq!(capture.span("child").parent_span_id, parent_id);
}

#[test]
fn in_scope_and_enter_make_a_span_current_without_ending_it() {
    let capture = testing::capture();
    let obs = capture.observe();
    let span = obs.span("held", []);
    span.in_scope(|| obs.info("first", []));
    {
        let _guard = span.enter();
        obs.info("second", []);
    }
    assert!(capture.spans_named("held").is_empty(), "still open");
    let id = span.span_context().span_id();
    drop(span);
    assert_eq!(capture.span("first").parent_span_id, id);
    assert_eq!(capture.span("second").parent_span_id, id);
    assert_eq!(capture.spans_named("held").len(), 1);
}

#[test]
fn exported_json_is_stable() {
    let capture = testing::capture();
    let obs = capture.observe();
    let line = line!() + 2;
    {
        let _outer = obs.with_tags(["api"]).span("outer {n}", [KeyValue::new("n", 1)]).entered();
        obs.warn("inside", [KeyValue::new("k", "v")]);
    }
    let expected = serde_json::json!([
        {
            "name": "outer {n}",
            "context": {"trace_id": 1, "span_id": 1, "is_remote": false},
            "parent": null,
            "kind": "internal",
            "scope": "budobserve",
            "start_time": 1_000_000_000u64,
            "end_time": 3_000_000_000u64,
            "attributes": {
                "budobserve_span_type": "span",
                "budobserve_msg_template": "outer {n}",
                "budobserve_msg": "outer 1",
                "budobserve_tags": ["api"],
                "n": 1,
                "budobserve_level_num": 9,
                "code.filepath": file!(),
                "code.lineno": line
            },
            "events": [],
            "links": [],
            "status": {"code": "unset"}
        },
        {
            "name": "inside",
            "context": {"trace_id": 1, "span_id": 2, "is_remote": false},
            "parent": {"trace_id": 1, "span_id": 1, "is_remote": false},
            "kind": "internal",
            "scope": "budobserve",
            "start_time": 2_000_000_000u64,
            "end_time": 2_000_000_000u64,
            "attributes": {
                "budobserve_span_type": "log",
                "budobserve_level_num": 13,
                "budobserve_msg_template": "inside",
                "budobserve_msg": "inside",
                "k": "v",
                "code.filepath": file!(),
                "code.lineno": line + 1
            },
            "events": [],
            "links": [],
            "status": {"code": "unset"}
        }
    ]);
    assert_eq!(capture.exported_spans_as_json(), expected);
}
