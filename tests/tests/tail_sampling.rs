//! Tail sampling: whole traces kept when a span reaches the level or the root lasts long enough, else a
//! background fraction; bounded buffering; late spans follow their trace's decision.

use std::time::Duration;

use budobserve::opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use budobserve::testing::{self, Capture};
use budobserve::{Level, TailSampling, bud_info, bud_span, bud_warn};

/// The test clock steps one second per reading: a span that reads it twice lasts at least a second.
fn capture(sampling: TailSampling) -> Capture {
    testing::capture_with(|b| b.tail_sampling(sampling))
}

fn names(capture: &Capture) -> Vec<String> {
    capture.spans().iter().map(|s| s.name.to_string()).collect()
}

fn one_trace(with_warning: bool) {
    let root = bud_span!("root").entered();
    {
        let _child = bud_span!("child").entered();
        bud_info!("info log");
        if with_warning {
            bud_warn!("warning log");
        }
    }
    drop(root);
}

#[test]
fn a_trace_with_nothing_notable_is_dropped_whole() {
    let capture = capture(TailSampling::level_or_duration().duration(Duration::from_secs(3600)));
    capture.run(|| one_trace(false));
    assert!(capture.spans().is_empty(), "{:?}", names(&capture));
    assert_eq!(capture.observe().export_stats().spans_sampled_out, 3);
}

#[test]
fn one_span_at_the_level_keeps_the_whole_trace_in_end_order() {
    let capture = capture(TailSampling::level_or_duration().level(Level::Warn).duration(Duration::from_secs(3600)));
    capture.run(|| one_trace(true));
    assert_eq!(names(&capture), ["info log", "warning log", "child", "root"]);
    assert_eq!(capture.observe().export_stats().spans_sampled_out, 0);
    // A trace after it is decided on its own.
    capture.run(|| one_trace(false));
    assert_eq!(capture.spans().len(), 4);
}

#[test]
fn a_long_root_keeps_the_trace() {
    // The stepping clock makes the root last several seconds.
    let capture = capture(TailSampling::level_or_duration().duration(Duration::from_secs(2)));
    capture.run(|| one_trace(false));
    assert_eq!(names(&capture), ["info log", "child", "root"]);
}

#[test]
fn the_background_rate_keeps_all_or_nothing_at_its_ends() {
    let all = capture(TailSampling::level_or_duration().duration(Duration::from_secs(3600)).background_rate(1.0));
    all.run(|| one_trace(false));
    assert_eq!(all.spans().len(), 3);
    let none = capture(TailSampling::level_or_duration().duration(Duration::from_secs(3600)).background_rate(0.0));
    none.run(|| one_trace(false));
    assert!(none.spans().is_empty());
}

#[test]
fn a_child_of_a_remote_span_is_a_local_root() {
    let capture = capture(TailSampling::level_or_duration().level(Level::Error).duration(Duration::from_secs(3600)));
    let remote = SpanContext::new(
        TraceId::from(0x1234_u128),
        SpanId::from(0x42_u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    capture.run(|| {
        let local_root = bud_span!("handler", _parent = &remote).entered();
        budobserve::bud_error!("failed");
        drop(local_root);
    });
    assert_eq!(names(&capture), ["failed", "handler"]);
}

#[test]
fn spans_ending_after_the_decision_follow_it() {
    let capture = capture(TailSampling::level_or_duration().level(Level::Warn).duration(Duration::from_secs(3600)));
    capture.run(|| {
        let root = bud_span!("root").entered();
        let detached = bud_span!("detached");
        bud_warn!("warning");
        drop(root);
        // The trace was kept when the root ended: a span of it ending later goes straight through.
        drop(detached);
    });
    assert_eq!(names(&capture), ["warning", "root", "detached"]);
}

#[test]
fn buffering_is_bounded() {
    let capture = capture(
        TailSampling::level_or_duration().level(Level::Warn).duration(Duration::from_secs(3600)).max_buffered_spans(3),
    );
    capture.run(|| {
        let root = bud_span!("long request").entered();
        for _ in 0..5 {
            drop(bud_span!("step"));
        }
        // The first trace was decided (dropped) when the buffer overflowed: its warning comes too late.
        bud_warn!("late warning");
        drop(root);
    });
    assert!(capture.spans().is_empty(), "{:?}", names(&capture));
    assert_eq!(capture.observe().export_stats().spans_sampled_out, 7);
}

#[test]
fn shutdown_decides_what_still_waits() {
    let capture = capture(TailSampling::level_or_duration().level(Level::Warn).duration(Duration::from_secs(3600)));
    let root = capture.run(|| {
        let root = bud_span!("never ends before shutdown");
        root.in_scope(|| bud_warn!("warning"));
        root
    });
    assert!(capture.spans().is_empty());
    capture.observe().shutdown().unwrap();
    assert_eq!(names(&capture), ["warning"]);
    drop(root);
}
