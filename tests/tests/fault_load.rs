//! A service's load against faulty backends, each run in a process of its own (`fault_load`): a black hole, a
//! slow backend, one answering 500 with a reason, one throttling with 429 and `Retry-After`, one resetting the
//! connection mid-answer, one down then up, and huge values to a healthy one. For each: the callers' p99 against a
//! healthy backend's, the peak RSS, the shutdown's time, every span accounted for
//! (exported + dropped + failed + lost at shutdown = produced), and the cause printed on standard error.
//!
//! One test, run alone in its binary: the runs are compared with each other, so none shares the machine with
//! another test of this binary.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use common::raw_backend::{Misbehaviour, RawBackend};
use common::receiver::{Receiver, Reply};

/// What one run printed.
struct Run {
    fault: &'static str,
    values: HashMap<String, u64>,
    stderr: String,
}

impl Run {
    fn get(&self, key: &str) -> u64 {
        self.values[key]
    }
}

fn load(fault: &'static str, endpoint: &str, spans: u64, value_bytes: usize) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_fault_load"))
        .args([endpoint, &spans.to_string(), &value_bytes.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{fault}: {stderr}");
    let values = stdout
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
        .collect();
    let run = Run { fault, values, stderr };
    // Every span is accounted for.
    let accounted = run.get("exported") + run.get("dropped") + run.get("failed") + run.get("lost_at_shutdown");
    assert_eq!(accounted, run.get("produced"), "{fault}: {stdout}");
    // The causes of failed exports add up to the failures (each of these faults is one BudObserve tells apart).
    assert_eq!(
        run.get("rejected") + run.get("unreachable") + run.get("timed_out"),
        run.get("failed"),
        "{fault}: {stdout}"
    );
    // The shutdown keeps its 2 s deadline.
    assert!(run.get("shutdown_ms") <= 2_300, "{fault}: {stdout}");
    // Each cause of loss that occurred has its own warning, whatever came first.
    for (count, warning) in [
        ("dropped", "the span export queue is full"),
        ("rejected", " answered HTTP "),
        ("timed_out", " did not answer in time"),
        ("lost_at_shutdown", "the shutdown's deadline"),
    ] {
        if run.get(count) > 0 {
            printed(&run, &[warning]);
        }
    }
    run
}

/// Asserts that `run` printed a warning containing each of `causes`.
fn printed(run: &Run, causes: &[&str]) {
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("budobserve: ")).collect();
    for cause in causes {
        assert!(
            warnings.iter().any(|w| w.contains(cause)),
            "{}: no warning says {cause:?}: {:?}\n{}",
            run.fault,
            run.values,
            run.stderr
        );
    }
}

const SPANS: u64 = 20_000;
const VALUE: usize = 200;

#[test]
fn under_every_fault_the_host_stays_fast_and_flat_and_every_span_is_accounted_for() {
    let healthy_receiver = Receiver::start();
    let healthy = load("healthy", &healthy_receiver.endpoint(), SPANS, VALUE);
    assert_eq!(healthy.get("exported"), SPANS, "a healthy backend gets every span");
    assert!(!healthy.stderr.contains("budobserve: "), "{}", healthy.stderr);
    let mut runs = Vec::new();

    let black_hole = RawBackend::start(Misbehaviour::BlackHole);
    let run = load("black hole", &black_hole.endpoint(), SPANS, VALUE);
    assert_eq!(run.get("exported"), 0);
    assert!(run.get("timed_out") > 0);
    printed(
        &run,
        &["the span export queue is full", "the OTLP receiver at http://127.0.0.1:", " did not answer in time"],
    );
    runs.push(run);

    let slow = Receiver::start();
    slow.stall(Some(Duration::from_millis(300)));
    let run = load("slow (300 ms an answer)", &slow.endpoint(), SPANS, VALUE);
    assert!(run.get("exported") > 0 && run.get("dropped") > 0, "{:?}", run.values);
    printed(&run, &["the span export queue is full"]);
    runs.push(run);

    let failing = Receiver::start();
    failing.script((0..1_000).map(|_| Reply::Reject(500, "disk full on ingester-2")));
    let run = load("500 with a reason", &failing.endpoint(), SPANS, VALUE);
    assert_eq!(run.get("exported"), 0);
    assert_eq!(run.get("rejected"), run.get("failed"));
    assert!(run.get("rejected") > 0);
    printed(
        &run,
        &[
            "the OTLP receiver at http://127.0.0.1:",
            " answered HTTP 500 Internal Server Error: disk full on ingester-2",
        ],
    );
    runs.push(run);

    let throttling = Receiver::start();
    throttling.script((0..3).map(|_| Reply::Status(429, Some(1))));
    let run = load("429, Retry-After: 1 s, three times", &throttling.endpoint(), SPANS, VALUE);
    assert!(run.get("exported") > 0, "recovers: {:?}", run.values);
    // The exporter waits as told (the queue fills meanwhile), then sends the batch again.
    let statuses: Vec<u16> =
        throttling.requests().iter().filter(|r| r.path == "/v1/traces").map(|r| r.status).collect();
    assert_eq!(statuses[..4], [429, 429, 429, 200]);
    runs.push(run);

    let resetting = RawBackend::start(Misbehaviour::ResetMidAnswer);
    let run = load("reset mid-answer", &resetting.endpoint(), SPANS, VALUE);
    assert_eq!(run.get("exported"), 0);
    assert!(run.get("unreachable") > 0);
    printed(&run, &["the OTLP receiver at http://127.0.0.1:", " broke off its answer"]);
    runs.push(run);

    let address = Receiver::free_address();
    let comes_up = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1_500));
        Receiver::start_on(address)
    });
    let run = load("down, up after 1.5 s", &format!("http://{address}"), SPANS, VALUE);
    let receiver = comes_up.join().unwrap();
    assert!(run.get("unreachable") > 0, "{:?}", run.values);
    assert!(run.get("exported") > 0, "recovers: {:?}", run.values);
    assert_eq!(receiver.spans().len() as u64, run.get("exported"));
    printed(&run, &["the OTLP receiver at http://127.0.0.1:", " is unreachable", "Connection refused"]);
    runs.push(run);

    let huge = load("huge values (1 MiB each)", &healthy_receiver.endpoint(), SPANS / 10, 1 << 20);
    assert_eq!(huge.get("exported"), SPANS / 10, "cut to the value limit as they are queued, none dropped");
    runs.push(huge);

    let mut table = String::from(
        "| Fault | p99 (µs) | p99 / healthy | Peak RSS (MiB) | Shutdown (ms) | Exported | Dropped | Failed (rejected / \
         unreachable / timed out) | Lost at shutdown |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let p99 = healthy.get("p99_ns");
    for run in std::iter::once(&healthy).chain(&runs) {
        let _ = writeln!(
            table,
            "| {} | {:.1} | {:.2} | {:.1} | {} | {} | {} | {} ({} / {} / {}) | {} |",
            run.fault,
            run.get("p99_ns") as f64 / 1e3,
            run.get("p99_ns") as f64 / p99 as f64,
            run.get("peak_rss_kib") as f64 / 1024.0,
            run.get("shutdown_ms"),
            run.get("exported"),
            run.get("dropped"),
            run.get("failed"),
            run.get("rejected"),
            run.get("unreachable"),
            run.get("timed_out"),
            run.get("lost_at_shutdown"),
        );
    }
    eprintln!("{table}");
    for run in &runs {
        // The caller never waits for the backend: its p99 stays within a small factor of a healthy backend's (a
        // caller that waited would take the backend's 300 ms to 1 s). Huge values cost the caller their own copy
        // (a megabyte each), backend or not: that run is held to memory only.
        let p99_bound = 5 * p99 + 50_000;
        assert!(
            run.fault.starts_with("huge") || run.get("p99_ns") <= p99_bound,
            "{}: p99 {} ns against {p99} ns\n{table}",
            run.fault,
            run.get("p99_ns")
        );
        // Memory stays flat: the queue is bounded in spans and bytes, huge values are cut as they are queued.
        assert!(
            run.get("peak_rss_kib") <= healthy.get("peak_rss_kib") + 16 * 1024,
            "{}: peak RSS {} KiB against {} KiB\n{table}",
            run.fault,
            run.get("peak_rss_kib"),
            healthy.get("peak_rss_kib")
        );
    }
}
