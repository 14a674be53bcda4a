//! Head sampling: decided before anything is built, whole traces kept or dropped, children follow their parent.

use std::cell::Cell;

use budobserve::opentelemetry::Context;
use budobserve::opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
use budobserve::opentelemetry_sdk::trace::Sampler;
use budobserve::testing;
use budobserve::{bud_info, bud_span};

#[test]
fn rate_zero_drops_whole_traces_without_evaluating_anything() {
    let capture = testing::capture_with(|b| b.sample_rate(0.0));
    let evaluations = Cell::new(0);
    let count = || {
        evaluations.set(evaluations.get() + 1);
        1
    };
    let propagated = capture.run(|| {
        let root = bud_span!("root {n}", n = count());
        assert!(!root.is_recording());
        // A dropped root still has a valid, unsampled context: its children are dropped with it.
        assert!(root.span_context().is_valid());
        assert!(!root.span_context().is_sampled());
        let _entered = root.entered();
        bud_info!("log {n}", n = count());
        let child = bud_span!("child {n}", n = count());
        assert!(!child.is_recording());
        budobserve::info("method api", []);
        Context::map_current(|cx| cx.span().span_context().clone())
    });
    assert_eq!(evaluations.get(), 0, "a dropped span evaluates no argument");
    assert!(capture.spans().is_empty());
    assert!(propagated.is_valid() && !propagated.is_sampled(), "downstream services see an unsampled parent");
}

#[test]
fn rate_one_and_no_rate_keep_everything() {
    for capture in [testing::capture(), testing::capture_with(|b| b.sample_rate(1.0))] {
        capture.run(|| {
            let _root = bud_span!("root").entered();
            bud_info!("log");
        });
        assert_eq!(capture.spans().len(), 2);
    }
}

#[test]
fn a_sampled_remote_parent_is_followed_even_at_rate_zero() {
    let capture = testing::capture_with(|b| b.sample_rate(0.0));
    let remote = |flags| {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(7u128),
            SpanId::from(9u64),
            flags,
            true,
            TraceState::default(),
        ))
    };
    capture.run(|| {
        let _sampled = remote(TraceFlags::SAMPLED).attach();
        bud_info!("under a sampled parent");
        let _span = bud_span!("span under a sampled parent");
    });
    capture.run(|| {
        let _unsampled = remote(TraceFlags::default()).attach();
        bud_info!("under an unsampled parent");
    });
    let log = capture.span("under a sampled parent");
    assert_eq!(log.span_context.trace_id(), TraceId::from(7u128));
    assert_eq!(log.parent_span_id, SpanId::from(9u64));
    assert!(log.parent_span_is_remote);
    capture.span("span under a sampled parent");
    assert!(capture.spans_named("under an unsampled parent").is_empty());
}

#[test]
fn half_the_traces_are_kept_and_each_is_kept_whole() {
    let capture = testing::capture_with(|b| b.sample_rate(0.5));
    const TRACES: usize = 2_000;
    capture.run(|| {
        for i in 0..TRACES {
            let _root = bud_span!("root {i}", i = i as i64).entered();
            bud_info!("child");
            let _nested = bud_span!("nested").entered();
            bud_info!("grandchild");
        }
    });
    let roots = capture.spans_named("root {i}");
    assert!((800..1_200).contains(&roots.len()), "kept {} of {TRACES} traces at rate 0.5", roots.len());
    // Every kept trace is complete: as many children, nested spans and grandchildren as roots, all in kept traces.
    let kept: std::collections::HashSet<_> = roots.iter().map(|s| s.span_context.trace_id()).collect();
    for name in ["child", "nested", "grandchild"] {
        let spans = capture.spans_named(name);
        assert_eq!(spans.len(), roots.len(), "{name}");
        assert!(spans.iter().all(|s| kept.contains(&s.span_context.trace_id())), "{name} outside a kept trace");
    }
}

#[budobserve::instrument(new_trace)]
fn background_job() {
    bud_info!("job step");
}

#[test]
fn instrumented_functions_and_new_traces_are_sampled_as_roots() {
    let capture = testing::capture_with(|b| b.sample_rate(0.0));
    capture.run(|| {
        let _request = bud_span!("request").entered();
        background_job();
    });
    assert!(capture.spans().is_empty());
}

#[test]
fn a_custom_sampler_decides_after_the_span_is_built() {
    // With a custom sampler the rate is not applied: the SDK's sampler is the only one.
    let capture = testing::capture_with(|b| b.sample_rate(0.0).sampler(Sampler::AlwaysOn));
    capture.run(|| bud_info!("kept by the custom sampler"));
    capture.span("kept by the custom sampler");

    let capture = testing::capture_with(|b| b.sampler(Sampler::AlwaysOff));
    capture.run(|| bud_info!("dropped by the custom sampler"));
    assert!(capture.spans().is_empty());
}
