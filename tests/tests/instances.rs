//! Instances: two captures in parallel threads each see only their own spans.

use std::sync::{Arc, Barrier};

use budobserve::testing;
use budobserve::{KeyValue, with_instance};

const ROUNDS: usize = 200;

/// Writes through the free functions (the current instance) while another thread does the same.
fn write_from(label: &'static str, barrier: &Barrier) -> testing::Capture {
    let capture = testing::capture();
    barrier.wait();
    capture.run(|| {
        for i in 0..ROUNDS {
            let _span = budobserve::span(label, [KeyValue::new("i", i as i64)]).entered();
            budobserve::info("log of {label}", [KeyValue::new("label", label)]);
            if i % 16 == 0 {
                std::thread::yield_now();
            }
        }
    });
    capture
}

#[test]
fn parallel_threads_with_their_own_capture_see_only_their_own_spans() {
    let barrier = Arc::new(Barrier::new(2));
    let other = {
        let barrier = barrier.clone();
        std::thread::spawn(move || write_from("b", &barrier))
    };
    let mine = write_from("a", &barrier);
    let other = other.join().expect("thread b");

    for (capture, label) in [(&mine, "a"), (&other, "b")] {
        let spans = capture.spans();
        assert_eq!(spans.len(), 2 * ROUNDS);
        assert!(spans.iter().all(|s| s.name == label || s.name == "log of {label}"));
        assert!(
            capture
                .spans_named("log of {label}")
                .iter()
                .all(|s| { s.attributes.iter().any(|kv| kv.key.as_str() == "label" && kv.value.as_str() == label) })
        );
    }
}

// The two tests below run in parallel with the default test threads, each with its own capture.
#[test]
fn parallel_test_one() {
    let capture = testing::capture();
    capture.run(|| (0..100).for_each(|_| budobserve::info("one", [])));
    assert_eq!(capture.spans().len(), 100);
    assert!(capture.spans().iter().all(|s| s.name == "one"));
}

#[test]
fn parallel_test_two() {
    let capture = testing::capture();
    capture.run(|| (0..100).for_each(|_| budobserve::info("two", [])));
    assert_eq!(capture.spans().len(), 100);
    assert!(capture.spans().iter().all(|s| s.name == "two"));
}

#[test]
fn overrides_nest_and_are_restored() {
    let outer = testing::capture();
    let inner = testing::capture();
    with_instance(outer.observe(), || {
        budobserve::info("to outer", []);
        with_instance(inner.observe(), || budobserve::info("to inner", []));
        budobserve::info("outer again", []);
    });
    let names = |c: &testing::Capture| c.spans().into_iter().map(|s| s.name.into_owned()).collect::<Vec<_>>();
    assert_eq!(names(&outer), ["to outer", "outer again"]);
    assert_eq!(names(&inner), ["to inner"]);
}

#[test]
fn override_is_popped_when_the_closure_panics() {
    let capture = testing::capture();
    let result = std::panic::catch_unwind(|| with_instance(capture.observe(), || panic!("inside override")));
    assert!(result.is_err());
    // Back on the global instance (unconfigured in this binary): nothing lands in the capture.
    budobserve::info("after the panic", []);
    assert!(capture.spans_named("after the panic").is_empty());
}
