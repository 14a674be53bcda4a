//! The recorded-span scenario measured so that every implementation does the same work: each producer is paced
//! (blocks of 1,024 spans, then a flush that is not timed) so that no span is dropped at a queue, and every
//! implementation's exporter counts what it received — a row whose exported count differs from what it produced
//! is an error, not a figure. Values are dynamic: an integer and a float that change with every span and a string
//! chosen at run time.
//!
//! ```sh
//! cargo run --release --example paced_spans -- 200   # blocks per implementation
//! ```
//!
//! Implementations, interleaved block by block: BudObserve (`bud_span!`, its own batch processor), the raw SDK
//! with the same three values (the SDK's batch processor), `tracing` + `tracing-opentelemetry` with the layer's
//! default settings and with its leanest, and fastrace (local spans under a root per 256). Prints one
//! tab-separated line per implementation: name, spans, mean ns per span (blocks timed whole), p50 and p99 ns
//! (a second pass timing each span alone; the clock's own cost is in both), spans exported.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use budobserve::opentelemetry::KeyValue;
use budobserve::opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use budobserve::opentelemetry_sdk::error::OTelSdkResult;
use budobserve::opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use budobserve::{EnvSource, bud_span};
use tracing_subscriber::layer::SubscriberExt as _;

const BLOCK: usize = 1_024;
const FASTRACE_ROOT: usize = 256;

/// Counts the spans it receives (those named `work`), then drops them.
#[derive(Debug, Clone, Default)]
struct Counting(Arc<AtomicU64>);

impl SpanExporter for Counting {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let work = batch.iter().filter(|span| span.name == "work").count() as u64;
        self.0.fetch_add(work, Ordering::Relaxed);
        drop(black_box(batch));
        std::future::ready(Ok(()))
    }
}

#[derive(Debug, Clone, Default)]
struct CountingReporter(Arc<AtomicU64>);

impl fastrace::collector::Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        let work = spans.iter().filter(|span| span.name == "work").count() as u64;
        self.0.fetch_add(work, Ordering::Relaxed);
        drop(black_box(spans));
    }
}

/// Records one span with the values of span `n`: the integer, the run-time string, the float.
type RecordSpan = Box<dyn Fn(u64, &str, f64)>;
/// Runs a block of spans in whatever scope an implementation needs (its dispatcher).
type Scope = Box<dyn Fn(&mut dyn FnMut())>;

/// One implementation: a span with the three values of span `n`, and the flush of its pipeline.
struct Implementation {
    name: &'static str,
    span: RecordSpan,
    scope: Scope,
    flush: Box<dyn Fn()>,
    exported: Arc<AtomicU64>,
    produced: u64,
    block_nanos: Vec<f64>,
    span_nanos: Vec<u64>,
}

fn sdk_provider(counting: &Counting) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_span_processor(BatchSpanProcessor::builder(counting.clone()).build()).build()
}

fn tracing_dispatch(provider: &SdkTracerProvider, lean: bool) -> tracing::Dispatch {
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let layer = if lean {
        layer
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_level(false)
            .with_target(false)
    } else {
        layer
    };
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

fn implementations() -> Vec<Implementation> {
    let mut all = Vec::new();
    let unscoped = || -> Scope { Box::new(|block: &mut dyn FnMut()| block()) };

    let budobserve = Counting::default();
    let guard = budobserve::configure()
        .env(EnvSource::Map(Default::default()))
        .service_name("bench")
        .console(false)
        .span_exporter(budobserve.clone())
        .install()
        .unwrap_or_else(|err| panic!("bench configuration: {err}"));
    std::mem::forget(guard);
    all.push(Implementation {
        name: "budobserve",
        span: Box::new(|a, b, c| {
            let span = bud_span!("work", a = a, b = b, c = c);
            black_box(&span);
        }),
        scope: unscoped(),
        flush: Box::new(|| budobserve::force_flush().unwrap_or_else(|err| panic!("flush: {err}"))),
        exported: budobserve.0,
        produced: 0,
        block_nanos: Vec::new(),
        span_nanos: Vec::new(),
    });

    let raw = Counting::default();
    let provider = sdk_provider(&raw);
    let tracer = provider.tracer("bench");
    let flushed = provider.clone();
    all.push(Implementation {
        name: "raw_sdk",
        span: Box::new(move |a, b, c| {
            let mut span = tracer
                .span_builder("work")
                .with_attributes([
                    KeyValue::new("a", a as i64),
                    KeyValue::new("b", b.to_owned()),
                    KeyValue::new("c", c),
                ])
                .start(&tracer);
            black_box(&span);
            span.end();
        }),
        scope: unscoped(),
        flush: Box::new(move || flushed.force_flush().unwrap_or_else(|err| panic!("flush: {err}"))),
        exported: raw.0,
        produced: 0,
        block_nanos: Vec::new(),
        span_nanos: Vec::new(),
    });

    for (name, lean) in [("tracing_otel", false), ("tracing_otel_lean", true)] {
        let counting = Counting::default();
        let provider = sdk_provider(&counting);
        let dispatch = tracing_dispatch(&provider, lean);
        all.push(Implementation {
            name,
            span: Box::new(|a, b, c| {
                let span = tracing::info_span!("work", a = a, b = b, c = c);
                let _entered = span.enter();
                black_box(&span);
            }),
            scope: Box::new(move |block: &mut dyn FnMut()| tracing::dispatcher::with_default(&dispatch, block)),
            flush: Box::new(move || provider.force_flush().unwrap_or_else(|err| panic!("flush: {err}"))),
            exported: counting.0,
            produced: 0,
            block_nanos: Vec::new(),
            span_nanos: Vec::new(),
        });
    }

    let fastrace = CountingReporter::default();
    fastrace::set_reporter(fastrace.clone(), fastrace::collector::Config::default());
    all.push(Implementation {
        name: "fastrace",
        span: Box::new(|a, b, c| {
            let span = fastrace::local::LocalSpan::enter_with_local_parent("work")
                .with_properties(|| [("a", a.to_string()), ("b", b.to_owned()), ("c", c.to_string())]);
            black_box(&span);
        }),
        // The roots are part of fastrace's cost: a root per 256 spans (it caps the spans one root collects).
        scope: Box::new(|block: &mut dyn FnMut()| block()),
        flush: Box::new(fastrace::flush),
        exported: fastrace.0,
        produced: 0,
        block_nanos: Vec::new(),
        span_nanos: Vec::new(),
    });
    all
}

/// Runs one block of `implementation`: every span timed whole (`each = false`) or one by one.
fn block(implementation: &mut Implementation, first: u64, words: &[String], each: bool) {
    let span = &implementation.span;
    let fastrace = implementation.name == "fastrace";
    let mut timings = Vec::with_capacity(if each { BLOCK } else { 0 });
    let mut elapsed = Duration::ZERO;
    (implementation.scope)(&mut || {
        let started = Instant::now();
        let mut root = None;
        for i in 0..BLOCK {
            let n = first + i as u64;
            if fastrace && i % FASTRACE_ROOT == 0 {
                drop(root.take());
                let span = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
                let guard = span.set_local_parent();
                root = Some((guard, span));
            }
            let word = &words[(n % words.len() as u64) as usize];
            if each {
                let one = Instant::now();
                span(n, word, n as f64 * 0.5);
                timings.push(one.elapsed().as_nanos() as u64);
            } else {
                span(n, word, n as f64 * 0.5);
            }
        }
        drop(root);
        elapsed = started.elapsed();
    });
    (implementation.flush)();
    implementation.produced += BLOCK as u64;
    if each {
        implementation.span_nanos.extend(timings);
    } else {
        implementation.block_nanos.push(elapsed.as_nanos() as f64 / BLOCK as f64);
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let blocks: usize = std::env::args().nth(1).map_or(200, |n| n.parse().unwrap_or(200));
    // Run-time strings: the value is not a literal the compiler could fold.
    let words: Vec<String> = ["alpha", "beta", "gamma", "delta"].iter().map(|w| format!("{w}-{}", w.len())).collect();
    let mut all = implementations();
    // Warm-up: one block each, not measured.
    for implementation in &mut all {
        block(implementation, 0, &words, false);
        implementation.block_nanos.clear();
    }
    for round in 0..blocks {
        for implementation in &mut all {
            block(implementation, (round * BLOCK) as u64, &words, round % 2 == 1);
        }
    }
    let mut out = String::new();
    for implementation in &mut all {
        let exported = implementation.exported.load(Ordering::Relaxed);
        if exported != implementation.produced {
            eprintln!("{}: produced {} spans, exported {exported}", implementation.name, implementation.produced);
            std::process::exit(1);
        }
        implementation.span_nanos.sort_unstable();
        let mean = median(&mut implementation.block_nanos);
        let p50 = percentile(&implementation.span_nanos, 0.5);
        let p99 = percentile(&implementation.span_nanos, 0.99);
        out.push_str(&format!(
            "{}\t{}\t{mean:.0}\t{p50}\t{p99}\t{exported}\n",
            implementation.name, implementation.produced
        ));
    }
    if let Err(err) = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
        eprintln!("cannot write the results: {err}");
        std::process::exit(1);
    }
}
