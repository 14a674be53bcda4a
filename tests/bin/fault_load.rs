//! A service's span load in a process of its own, against whatever backend a test put at ENDPOINT:
//! `fault_load ENDPOINT SPANS VALUE_BYTES` emits SPANS spans at 20 a millisecond, each with a VALUE_BYTES-long
//! value, timing every call; shuts down within 2 s (timed); waits until every span is accounted for; and prints one
//! line of `key=value` pairs: the calls' p50/p99/max in nanoseconds, the process's peak RSS in KiB, the shutdown's
//! time in milliseconds and the export counts. What BudObserve writes to standard error is left there.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use budobserve::{BatchOptions, BudObserve, EnvSource, SpanLimits, bud_info};

/// Spans emitted per millisecond.
const RATE: u64 = 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, spans, value_bytes] = args.as_slice() else {
        eprintln!("usage: fault_load ENDPOINT SPANS VALUE_BYTES");
        std::process::exit(2);
    };
    let (Ok(spans), Ok(value_bytes)) = (spans.parse::<u64>(), value_bytes.parse::<usize>()) else {
        eprintln!("SPANS and VALUE_BYTES are numbers");
        std::process::exit(2);
    };
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("fault-load")
        .endpoint(endpoint)
        .export_timeout(Duration::from_secs(1))
        .metrics_interval(Duration::from_secs(3600))
        .span_limits(SpanLimits::new().attribute_value_length(2048))
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_millis(200)))
        .build()
        .unwrap_or_else(|err| panic!("{err}"));
    let observe = BudObserve::new(config);
    let payload = "p".repeat(value_bytes);
    let mut took: Vec<u64> = Vec::with_capacity(spans as usize);
    let started = Instant::now();
    budobserve::with_instance(&observe, || {
        for n in 0..spans {
            let call = Instant::now();
            bud_info!("request {n} served", route = "/v1/chat", payload = payload.as_str());
            took.push(call.elapsed().as_nanos() as u64);
            if n % 100 == 99 {
                let due = started + Duration::from_micros((n + 1) * 1000 / RATE);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        }
    });
    let shutdown = Instant::now();
    let _ = observe.shutdown_with_timeout(Duration::from_secs(2));
    let shutdown_ms = shutdown.elapsed().as_millis();
    // A batch in flight at the deadline ends at the export timeout: wait for it to be counted.
    let deadline = Instant::now() + Duration::from_secs(5);
    let stats = loop {
        let stats = observe.export_stats();
        let accounted = stats.spans_exported + stats.spans_dropped + stats.spans_failed + stats.spans_lost_at_shutdown;
        if accounted >= spans || Instant::now() >= deadline {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    took.sort_unstable();
    let at = |q: f64| took.get(((took.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0);
    println!(
        "p50_ns={} p99_ns={} max_ns={} peak_rss_kib={} shutdown_ms={shutdown_ms} produced={spans} exported={} \
         dropped={} failed={} rejected={} unreachable={} timed_out={} lost_at_shutdown={}",
        at(0.5),
        at(0.99),
        at(1.0),
        peak_rss_kib(),
        stats.spans_exported,
        stats.spans_dropped,
        stats.spans_failed,
        stats.spans_rejected,
        stats.spans_unreachable,
        stats.spans_timed_out,
        stats.spans_lost_at_shutdown,
    );
}

/// `VmHWM` of /proc/self/status: the most resident memory the process has had.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
