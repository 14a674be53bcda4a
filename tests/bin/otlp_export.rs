//! Exports spans over OTLP in a process of its own, so that a test can read what BudObserve writes to standard
//! error: `otlp_export ENDPOINT SPANS QUEUE` emits SPANS spans into a queue of QUEUE spans, flushes, shuts down within
//! a second, and prints the export counts.

use std::collections::HashMap;
use std::time::Duration;

use budobserve::{BatchOptions, BudObserve, EnvSource, bud_info};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, spans, queue] = args.as_slice() else {
        eprintln!("usage: otlp_export ENDPOINT SPANS QUEUE");
        std::process::exit(2);
    };
    let spans: u32 = spans.parse().unwrap();
    let queue: usize = queue.parse().unwrap();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("otlp-export")
        .endpoint(endpoint)
        .export_timeout(Duration::from_millis(300))
        .metrics_interval(Duration::from_secs(3600))
        .batch_options(
            BatchOptions::new()
                .max_queue_size(queue)
                .max_export_batch_size(queue.div_ceil(2))
                .scheduled_delay(Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    budobserve::with_instance(&observe, || {
        for n in 0..spans {
            bud_info!("span {n}");
        }
    });
    let _ = observe.force_flush();
    let _ = observe.shutdown_with_timeout(Duration::from_secs(1));
    let stats = observe.export_stats();
    println!(
        "exported={} dropped={} failed={} lost_at_shutdown={}",
        stats.spans_exported, stats.spans_dropped, stats.spans_failed, stats.spans_lost_at_shutdown
    );
}
