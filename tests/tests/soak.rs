//! A million spans with the backend down: the host keeps running, memory stays bounded, every span is counted.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use budobserve::{BatchOptions, BudObserve, EnvSource, bud_span};
use common::receiver::Receiver;

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn emit(observe: &BudObserve, count: u64) {
    budobserve::with_instance(observe, || {
        for n in 0..count {
            let _span = bud_span!("request {n}", route = "/v1/chat/completions", status = 200);
        }
    });
}

#[test]
fn a_million_spans_with_the_backend_down_keep_memory_bounded() {
    let addr = Receiver::free_address();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("soak")
        .endpoint(format!("http://{addr}"))
        .export_timeout(Duration::from_millis(100))
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_millis(20)))
        .build()
        .unwrap();
    let observe = BudObserve::new(config);

    // Warm up: the queue fills, the allocator reaches its steady state.
    emit(&observe, 100_000);
    let before = resident_bytes();
    emit(&observe, 1_000_000);
    let after = resident_bytes();
    let _ = observe.force_flush();

    let stats = observe.export_stats();
    assert_eq!(stats.spans_exported, 0);
    assert_eq!(stats.spans_dropped + stats.spans_failed, 1_100_000, "{stats:?}");
    let growth = after.saturating_sub(before);
    eprintln!("resident memory: {} KiB before, {} KiB after a million spans", before >> 10, after >> 10);
    assert!(growth < 16 << 20, "resident memory grew by {} KiB over a million spans", growth >> 10);
}
