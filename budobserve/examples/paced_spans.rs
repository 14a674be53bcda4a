//! Spans measured so that every implementation does the same work: each producer is paced (blocks of 1,024 spans,
//! then a flush that is not timed) so that no span is dropped at a queue, and every implementation's exporter counts
//! what it received — a row whose exported count differs from what it produced is an error, not a figure. Values
//! are dynamic: an integer and a float that change with every span and a string chosen at run time.
//!
//! Scenarios: `recorded_span` (a span with the three values) and `instrument` (an instrumented two-argument
//! function called with two of them: `#[budobserve::instrument]`, `#[tracing::instrument]`, `#[fastrace::trace]`).
//!
//! ```sh
//! cargo run --release --example paced_spans -- 200   # blocks per implementation
//! cargo run --release --example paced_spans -- 200 budobserve   # one implementation alone (to profile it)
//! ```
//!
//! Implementations, interleaved block by block: BudObserve (`bud_span!`, its own batch processor), the raw SDK
//! with the same three values (the SDK's batch processor), `tracing` + `tracing-opentelemetry` with the layer's
//! default settings and with its leanest, and fastrace (local spans under a root per 256). Prints one
//! tab-separated line per scenario and implementation: scenario, name, spans, mean ns per span (blocks timed
//! whole), p50 and p99 ns (a second pass timing each span alone; the clock's own cost is in both), spans exported.

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

/// Counts the spans it receives, then drops them.
#[derive(Debug, Clone, Default)]
struct Counting(Arc<AtomicU64>);

impl SpanExporter for Counting {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        drop(black_box(batch));
        std::future::ready(Ok(()))
    }
}

#[derive(Debug, Clone, Default)]
struct CountingReporter(Arc<AtomicU64>);

impl fastrace::collector::Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        // The roots a block opens are fastrace's own cost, not spans of the scenario.
        let work = spans.iter().filter(|span| span.name != "root").count() as u64;
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
    scenario: &'static str,
    name: &'static str,
    span: RecordSpan,
    scope: Scope,
    flush: Box<dyn Fn()>,
    exported: Arc<AtomicU64>,
    /// The exporter's count when the scenario started (pipelines are shared by the scenarios).
    exported_before: u64,
    produced: u64,
    block_nanos: Vec<f64>,
    span_nanos: Vec<u64>,
}

/// The instrumented functions of the `instrument` scenario, one per library, each named `work`.
mod ours {
    #[budobserve::instrument]
    pub(crate) fn work(a: i64, b: i64) -> i64 {
        a + b
    }
}

mod theirs {
    #[tracing::instrument]
    pub(crate) fn work(a: i64, b: i64) -> i64 {
        a + b
    }
}

mod fast {
    #[fastrace::trace]
    pub(crate) fn work(a: i64, b: i64) -> i64 {
        a + b
    }
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

/// The pipelines, built once and shared by the scenarios: BudObserve's global instance, the raw SDK's provider, two
/// `tracing` dispatchers over providers of their own, fastrace's reporter.
struct Pipelines {
    budobserve: Arc<AtomicU64>,
    raw: (SdkTracerProvider, Arc<AtomicU64>),
    tracing: Vec<(&'static str, tracing::Dispatch, SdkTracerProvider, Arc<AtomicU64>)>,
    fastrace: Arc<AtomicU64>,
}

impl Pipelines {
    fn new() -> Pipelines {
        let budobserve = Counting::default();
        let guard = budobserve::configure()
            .env(EnvSource::Map(Default::default()))
            .service_name("bench")
            .console(false)
            .span_exporter(budobserve.clone())
            .install()
            .unwrap_or_else(|err| panic!("bench configuration: {err}"));
        std::mem::forget(guard);
        let raw = Counting::default();
        let tracing = [("tracing_otel", false), ("tracing_otel_lean", true)]
            .into_iter()
            .map(|(name, lean)| {
                let counting = Counting::default();
                let provider = sdk_provider(&counting);
                (name, tracing_dispatch(&provider, lean), provider, counting.0)
            })
            .collect();
        let fastrace = CountingReporter::default();
        fastrace::set_reporter(fastrace.clone(), fastrace::collector::Config::default());
        Pipelines { budobserve: budobserve.0, raw: (sdk_provider(&raw), raw.0), tracing, fastrace: fastrace.0 }
    }

    fn implementation(&self, scenario: &'static str, name: &'static str, span: RecordSpan) -> Implementation {
        let unscoped: Scope = Box::new(|block: &mut dyn FnMut()| block());
        let (scope, flush, exported): (Scope, Box<dyn Fn()>, _) = match name {
            "budobserve" => (
                unscoped,
                Box::new(|| budobserve::force_flush().unwrap_or_else(|err| panic!("flush: {err}"))),
                Arc::clone(&self.budobserve),
            ),
            "raw_sdk" => {
                let provider = self.raw.0.clone();
                (
                    unscoped,
                    Box::new(move || provider.force_flush().unwrap_or_else(|err| panic!("flush: {err}"))),
                    Arc::clone(&self.raw.1),
                )
            }
            "fastrace" => (unscoped, Box::new(fastrace::flush), Arc::clone(&self.fastrace)),
            tracing_name => {
                let (_, dispatch, provider, counted) = self
                    .tracing
                    .iter()
                    .find(|(name, ..)| *name == tracing_name)
                    .unwrap_or_else(|| panic!("no pipeline {tracing_name}"));
                let (dispatch, provider) = (dispatch.clone(), provider.clone());
                (
                    Box::new(move |block: &mut dyn FnMut()| tracing::dispatcher::with_default(&dispatch, block)),
                    Box::new(move || provider.force_flush().unwrap_or_else(|err| panic!("flush: {err}"))),
                    Arc::clone(counted),
                )
            }
        };
        let exported_before = exported.load(Ordering::Relaxed);
        Implementation {
            scenario,
            name,
            span,
            scope,
            flush,
            exported,
            exported_before,
            produced: 0,
            block_nanos: Vec::new(),
            span_nanos: Vec::new(),
        }
    }

    /// A span with the three values, for each implementation.
    fn recorded_span(&self) -> Vec<Implementation> {
        let tracer = self.raw.0.tracer("bench");
        let tracing_span: fn() -> RecordSpan = || {
            Box::new(|a, b, c| {
                let span = tracing::info_span!("work", a = a, b = b, c = c);
                let _entered = span.enter();
                black_box(&span);
            })
        };
        vec![
            self.implementation(
                "recorded_span",
                "budobserve",
                Box::new(|a, b, c| {
                    let span = bud_span!("work", a = a, b = b, c = c);
                    black_box(&span);
                }),
            ),
            self.implementation(
                "recorded_span",
                "raw_sdk",
                Box::new(move |a, b, c| {
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
            ),
            self.implementation("recorded_span", "tracing_otel", tracing_span()),
            self.implementation("recorded_span", "tracing_otel_lean", tracing_span()),
            self.implementation(
                "recorded_span",
                "fastrace",
                Box::new(|a, b, c| {
                    let span = fastrace::local::LocalSpan::enter_with_local_parent("work")
                        .with_properties(|| [("a", a.to_string()), ("b", b.to_owned()), ("c", c.to_string())]);
                    black_box(&span);
                }),
            ),
        ]
    }

    /// An instrumented two-argument function, for each library's attribute.
    fn instrument(&self) -> Vec<Implementation> {
        let args = |a: u64, c: f64| (black_box(a as i64), black_box(c as i64));
        vec![
            self.implementation(
                "instrument",
                "budobserve",
                Box::new(move |a, _, c| {
                    let (a, b) = args(a, c);
                    black_box(ours::work(a, b));
                }),
            ),
            self.implementation(
                "instrument",
                "tracing_otel",
                Box::new(move |a, _, c| {
                    let (a, b) = args(a, c);
                    black_box(theirs::work(a, b));
                }),
            ),
            self.implementation(
                "instrument",
                "tracing_otel_lean",
                Box::new(move |a, _, c| {
                    let (a, b) = args(a, c);
                    black_box(theirs::work(a, b));
                }),
            ),
            self.implementation(
                "instrument",
                "fastrace",
                Box::new(move |a, _, c| {
                    let (a, b) = args(a, c);
                    black_box(fast::work(a, b));
                }),
            ),
        ]
    }
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

/// Runs `all` interleaved, block by block, and writes one line per implementation; `Err` names one whose exporter
/// did not receive what it produced.
fn run(mut all: Vec<Implementation>, blocks: usize, words: &[String], out: &mut String) -> Result<(), String> {
    // Warm-up: one block each, not measured.
    for implementation in &mut all {
        block(implementation, 0, words, false);
        implementation.block_nanos.clear();
        implementation.produced = 0;
        implementation.exported_before = implementation.exported.load(Ordering::Relaxed);
    }
    for round in 0..blocks {
        for implementation in &mut all {
            block(implementation, (round * BLOCK) as u64, words, round % 2 == 1);
        }
    }
    for implementation in &mut all {
        let exported = implementation.exported.load(Ordering::Relaxed) - implementation.exported_before;
        if exported != implementation.produced {
            return Err(format!(
                "{}/{}: produced {} spans, exported {exported}",
                implementation.scenario, implementation.name, implementation.produced
            ));
        }
        implementation.span_nanos.sort_unstable();
        let mean = median(&mut implementation.block_nanos);
        let p50 = percentile(&implementation.span_nanos, 0.5);
        let p99 = percentile(&implementation.span_nanos, 0.99);
        out.push_str(&format!(
            "{}\t{}\t{}\t{mean:.0}\t{p50}\t{p99}\t{exported}\n",
            implementation.scenario, implementation.name, implementation.produced
        ));
    }
    Ok(())
}

fn main() {
    let blocks: usize = std::env::args().nth(1).map_or(200, |n| n.parse().unwrap_or(200));
    // Run-time strings: the value is not a literal the compiler could fold.
    let words: Vec<String> = ["alpha", "beta", "gamma", "delta"].iter().map(|w| format!("{w}-{}", w.len())).collect();
    let pipelines = Pipelines::new();
    let mut out = String::new();
    // An optional second argument keeps only the implementations of that name (to profile one alone).
    let only = std::env::args().nth(2);
    for mut scenario in [pipelines.recorded_span(), pipelines.instrument()] {
        if let Some(only) = &only {
            scenario.retain(|implementation| implementation.name == only);
        }
        if let Err(err) = run(scenario, blocks, &words, &mut out) {
            eprintln!("{err}");
            std::process::exit(1);
        }
    }
    if let Err(err) = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
        eprintln!("cannot write the results: {err}");
        std::process::exit(1);
    }
}
