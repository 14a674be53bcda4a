//! The bud context: set for a scope, copied onto every span started in it, carried to other services as W3C
//! baggage with budgateway's keys.

use budobserve::opentelemetry::trace::{FutureExt as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use budobserve::opentelemetry::{Context, Value};
use budobserve::testing::{self, attribute};
use budobserve::{BudContext, bud_info, bud_span, constants::bud};

fn context() -> BudContext {
    BudContext::new().project_id("p-1").endpoint_id("e-2").api_key_id("k-3").request_id("r-4")
}

fn assert_bud(span: &budobserve::opentelemetry_sdk::trace::SpanData) {
    assert_eq!(attribute(span, bud::PROJECT_ID), Some(&Value::from("p-1")), "{}", span.name);
    assert_eq!(attribute(span, bud::ENDPOINT_ID), Some(&Value::from("e-2")));
    assert_eq!(attribute(span, bud::API_KEY_ID), Some(&Value::from("k-3")));
    assert_eq!(attribute(span, bud::REQUEST_ID), Some(&Value::from("r-4")));
    assert_eq!(attribute(span, bud::MODEL_ID), None);
}

#[test]
fn every_span_in_the_scope_carries_it() {
    let capture = testing::capture();
    capture.run(|| {
        {
            let _bud = context().attach();
            assert_eq!(BudContext::current(), context());
            let _request = bud_span!("request").entered();
            bud_info!("inside");
            // A library using the OpenTelemetry API through BudObserve's provider.
            let tracer = capture.observe().tracer_provider().tracer("some-library");
            drop(tracer.start("library span"));
        }
        bud_info!("outside");
    });
    for name in ["request", "inside", "library span"] {
        assert_bud(&capture.span(name));
    }
    assert_eq!(attribute(&capture.span("outside"), bud::PROJECT_ID), None);
}

#[test]
fn it_crosses_services_in_headers() {
    let upstream = testing::capture();
    let headers = upstream.run(|| {
        let _bud = context().attach();
        let _request = bud_span!("gateway request").entered();
        budobserve::baggage::inject_headers(&Context::current())
    });
    assert!(headers["baggage"].contains("bud.project_id=p-1"), "{headers:?}");
    assert!(headers.contains_key("traceparent"));

    // Another service: the context comes from the headers.
    let downstream = testing::capture();
    let remote = budobserve::baggage::extract(&headers);
    downstream.run(|| {
        let _remote = remote.clone().attach();
        drop(bud_span!("handler"));
    });
    let handler = downstream.span("handler");
    assert_bud(&handler);
    let gateway = upstream.span("gateway request");
    assert_eq!(handler.span_context.trace_id(), gateway.span_context.trace_id());
    assert_eq!(handler.parent_span_id, gateway.span_context.span_id());
    assert!(handler.parent_span_is_remote);
    assert!(remote.span().span_context().is_remote());
}

#[test]
fn a_future_carries_it_across_await() {
    let capture = testing::capture();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(
        capture.run_async(
            async {
                tokio::task::yield_now().await;
                drop(bud_span!("after await"));
            }
            .with_context(context().to_context(&Context::current())),
        ),
    );
    assert_bud(&capture.span("after await"));
}
