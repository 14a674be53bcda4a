//! The recorded-span scenario of `budobserve/examples/paced_spans.rs` for logfire-rust: `logfire::span!` with the
//! same three dynamic values, entered and dropped, through a batch processor (queue 2,048, batches of 512) into an
//! exporter that counts the spans it receives (logfire's pending-span records left out) — paced in blocks of 1,024
//! with an untimed flush between, the run failing when exported ≠ produced. Prints one line in `paced_spans`'
//! format: scenario, implementation, spans, mean ns per span, p50 ns, p99 ns, spans exported.
//!
//! ```sh
//! cargo run --release --manifest-path peers/logfire/Cargo.toml -- 400
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanData, SpanExporter};

const BLOCK: u64 = 1_024;

/// Counts the spans it receives, leaving out logfire's pending-span records, then drops them.
#[derive(Debug, Clone, Default)]
struct Counting(Arc<AtomicU64>);

impl SpanExporter for Counting {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let pending = |span: &SpanData| {
            span.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "logfire.span_type" && kv.value.as_str() == "pending_span")
        };
        let spans = batch.iter().filter(|span| !pending(span)).count() as u64;
        self.0.fetch_add(spans, Ordering::Relaxed);
        drop(black_box(batch));
        std::future::ready(Ok(()))
    }
}

fn main() {
    let blocks: u64 = std::env::args().nth(1).map_or(200, |n| n.parse().unwrap_or(200));
    let counting = Counting::default();
    let logfire = logfire::configure()
        .send_to_logfire(false)
        .with_console(None)
        .with_additional_span_processor(BatchSpanProcessor::builder(counting.clone()).build())
        .finish()
        .unwrap_or_else(|err| panic!("logfire configuration: {err}"));
    let words: Vec<String> = ["alpha", "beta", "gamma", "delta"].iter().map(|w| format!("{w}-{}", w.len())).collect();
    let span = |n: u64| {
        let (a, b, c) = (n, words[(n % 4) as usize].as_str(), n as f64 * 0.5);
        let span = logfire::span!("work", a = a, b = b, c = c);
        let _entered = span.enter();
        black_box(&span);
    };
    let flush = || logfire.force_flush().unwrap_or_else(|err| panic!("flush: {err}"));
    // Warm-up, not counted.
    for n in 0..BLOCK {
        span(n);
    }
    flush();
    let before = counting.0.load(Ordering::Relaxed);
    let (mut block_nanos, mut span_nanos) = (Vec::new(), Vec::new());
    for round in 0..blocks {
        let first = round * BLOCK;
        if round % 2 == 0 {
            let started = Instant::now();
            for n in first..first + BLOCK {
                span(n);
            }
            block_nanos.push(started.elapsed().as_nanos() as f64 / BLOCK as f64);
        } else {
            for n in first..first + BLOCK {
                let one = Instant::now();
                span(n);
                span_nanos.push(one.elapsed().as_nanos() as u64);
            }
        }
        flush();
    }
    let produced = blocks * BLOCK;
    let exported = counting.0.load(Ordering::Relaxed) - before;
    if exported != produced {
        eprintln!("logfire_rust: produced {produced} spans, exported {exported}");
        std::process::exit(1);
    }
    block_nanos.sort_by(f64::total_cmp);
    span_nanos.sort_unstable();
    let mean = block_nanos[block_nanos.len() / 2];
    let at = |p: f64| span_nanos[((span_nanos.len() - 1) as f64 * p).round() as usize];
    println!("recorded_span\tlogfire_rust\t{produced}\t{mean:.0}\t{}\t{}\t{exported}", at(0.5), at(0.99));
    let _ = logfire.shutdown();
}
