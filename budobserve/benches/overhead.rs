//! Overhead of BudObserve against its peers, each scenario measured for every implementation in the same run.
//!
//! Run through `scripts/bench.sh`, which turns the results into `BENCHMARKS.md`. Every implementation exports in
//! batches from a worker thread into an exporter that drops everything — BudObserve through its own batch processor
//! (`span_exporter`, as a service configures it), the others through the SDK's, with the same queue and batch
//! sizes; allocations are counted on the calling thread, once per implementation, beside the timings.
//!
//! Every timed producer is paced: calls run in blocks of at most 1,024 (half the queue) with the implementation's
//! flush between blocks, outside the measured time, so that no pipeline drops spans at its queue and does less work
//! than the others (`examples/paced_spans.rs` also counts what each exporter received).

// The counting allocator is the one place in the workspace that needs `unsafe`: `GlobalAlloc` is an unsafe trait.
#![allow(unsafe_code)]
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use budobserve::opentelemetry::trace::{
    FutureExt as _, Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use budobserve::opentelemetry::{Context, KeyValue};
use budobserve::opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SimpleSpanProcessor,
};
use budobserve::{BudObserve, EnvSource, Instrument as _, Level, bud_debug, bud_info, bud_span, bud_trace};
use criterion::{Criterion, criterion_group};

mod common;
use common::{DropEverything, raw_span_same_attributes, ten_attributes};
use tracing_subscriber::layer::SubscriberExt as _;

// ---- allocations on the calling thread ----

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every method forwards to the system allocator with the same arguments; counting touches only a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations per call of `f` on this thread, averaged over many calls after a warm-up.
fn allocations_per_call(mut f: impl FnMut()) -> f64 {
    const CALLS: u64 = 20_000;
    for _ in 0..1_000 {
        f();
    }
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..CALLS {
        f();
    }
    let after = ALLOCATIONS.with(Cell::get);
    (after - before) as f64 / CALLS as f64
}

static ALLOCATION_TABLE: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());

fn record_allocations(id: &str, f: impl FnMut()) {
    let per_call = allocations_per_call(f);
    if let Ok(mut table) = ALLOCATION_TABLE.lock() {
        table.insert(id.to_owned(), per_call);
    }
}

static PAIRED_TABLE: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());

/// A pipeline's flush, run between timed blocks and never timed.
type Flush<'a> = &'a dyn Fn();

/// The calls of one timed block: half the batch queue, so that a flush between blocks keeps every span.
const PACED_BLOCK: u64 = 1_024;

/// Nothing to flush: the implementation exports nothing (a disabled log, formatting alone).
fn nothing() {}

/// The global BudObserve instance's flush.
fn flush_budobserve() {
    let _ = budobserve::force_flush();
}

/// Runs `f` `iters` times in paced blocks, flushing between them; the time of the calls alone.
fn paced(iters: u64, f: &mut impl FnMut(), flush: Flush<'_>) -> Duration {
    let mut total = Duration::ZERO;
    let mut remaining = iters;
    while remaining > 0 {
        let n = remaining.min(PACED_BLOCK);
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        total += start.elapsed();
        flush();
        remaining -= n;
    }
    total
}

/// Times `a` and `b` in alternating paced blocks (many rounds, so drift, frequency changes and the other core's
/// load hit both alike), each followed by its own flush, and records each one's median ns per call under
/// `group/a_name` and `group/b_name`.
fn paired(
    group: &str,
    (a_name, mut a, flush_a): (&str, impl FnMut(), Flush<'_>),
    (b_name, mut b, flush_b): (&str, impl FnMut(), Flush<'_>),
) {
    const ROUNDS: usize = 401;
    let time_block = |f: &mut dyn FnMut(), flush: Flush<'_>| {
        let start = Instant::now();
        for _ in 0..PACED_BLOCK {
            f();
        }
        let per_call = start.elapsed().as_nanos() as f64 / PACED_BLOCK as f64;
        flush();
        per_call
    };
    for _ in 0..3 {
        time_block(&mut a, flush_a);
        time_block(&mut b, flush_b);
    }
    let (mut times_a, mut times_b) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for round in 0..ROUNDS {
        // Alternate which goes first, so neither always follows the other's garbage.
        if round % 2 == 0 {
            times_a.push(time_block(&mut a, flush_a));
            times_b.push(time_block(&mut b, flush_b));
        } else {
            times_b.push(time_block(&mut b, flush_b));
            times_a.push(time_block(&mut a, flush_a));
        }
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    if let Ok(mut table) = PAIRED_TABLE.lock() {
        table.insert(format!("{group}/{a_name}"), median(&mut times_a));
        table.insert(format!("{group}/{b_name}"), median(&mut times_b));
    }
}

/// Measures `f` under `group/name`, paced with `flush`, and counts its allocations.
fn bench(c: &mut Criterion, group: &str, name: &str, flush: Flush<'_>, mut f: impl FnMut()) {
    record_allocations(&format!("{group}/{name}"), &mut f);
    flush();
    c.benchmark_group(group).bench_function(name, |b| b.iter_custom(|iters| paced(iters, &mut f, flush)));
}

// ---- the setups ----

fn batch() -> BatchSpanProcessor {
    BatchSpanProcessor::builder(DropEverything).build()
}

fn sdk_provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_span_processor(batch()).with_sampler(sampler).build()
}

/// Configures the global BudObserve instance (the one the macros use): its batch processor (`span_exporter`, which
/// completes spans on the worker thread; queue 2048, batches of 512, as the SDK's), no console.
fn install_budobserve(min_level: Level, sample_rate: f64) -> budobserve::ShutdownGuard {
    install(budobserve::configure().min_level(min_level).sample_rate(sample_rate).span_exporter(DropEverything))
}

fn install(builder: budobserve::ConfigBuilder) -> budobserve::ShutdownGuard {
    let guard = builder.env(EnvSource::Map(Default::default())).service_name("bench").console(false).install();
    match guard {
        Ok(guard) => guard,
        Err(err) => panic!("bench configuration: {err}"),
    }
}

/// `tracing` with `tracing-opentelemetry` in its leanest settings, into the same batch processor.
fn tracing_dispatch(provider: &SdkTracerProvider) -> tracing::Dispatch {
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("bench"))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_level(false)
        .with_target(false);
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// fastrace with a reporter that drops everything; local spans run under one root, as its `#[trace]` does.
#[derive(Debug)]
struct NoopReporter;

impl fastrace::collector::Reporter for NoopReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        drop(black_box(spans));
    }
}

/// The raw SDK's span of the first and unsampled scenarios: the three attributes only.
fn raw_span(tracer: &SdkTracer) {
    let mut span = tracer
        .span_builder("work")
        .with_attributes([KeyValue::new("a", 1), KeyValue::new("b", "text"), KeyValue::new("c", 2.5)])
        .start(tracer);
    black_box(&span);
    span.end();
}

// ---- the scenarios ----

fn span_with_three_attributes(c: &mut Criterion) {
    const GROUP: &str = "span_3_attributes";
    {
        let _guard = install_budobserve(Level::Trace, 1.0);
        bench(c, GROUP, "budobserve", &flush_budobserve, || {
            let span = bud_span!("work", a = 1, b = "text", c = 2.5);
            black_box(&span);
        });
    }
    let provider = sdk_provider(Sampler::AlwaysOn);
    let flush_sdk = || {
        let _ = provider.force_flush();
    };
    let tracer = provider.tracer("bench");
    bench(c, GROUP, "raw_sdk", &flush_sdk, || {
        raw_span(&tracer);
    });
    // The same span with the same attributes BudObserve writes (its schema and code location): the SDK's floor for
    // what `bud_span!` records.
    bench(c, GROUP, "raw_sdk_same_attributes", &flush_sdk, || raw_span_same_attributes(&tracer));
    let dispatch = tracing_dispatch(&provider);
    tracing::dispatcher::with_default(&dispatch, || {
        bench(c, GROUP, "tracing_otel", &flush_sdk, || {
            let span = tracing::info_span!("work", a = 1, b = "text", c = 2.5);
            let _entered = span.enter();
            black_box(&span);
        });
    });
    // The same pair again, interleaved: BudObserve (configured as above) against the same-attribute raw span.
    {
        let _guard = install_budobserve(Level::Trace, 1.0);
        paired(
            GROUP,
            (
                "budobserve",
                || {
                    let span = bud_span!("work", a = 1, b = "text", c = 2.5);
                    black_box(&span);
                },
                &flush_budobserve,
            ),
            ("raw_sdk_same_attributes", || raw_span_same_attributes(&tracer), &flush_sdk),
        );
    }
    // fastrace collects local spans under a root and submits them when the root ends (and caps how many one root
    // holds): a root per 256 spans, its submission timed with them.
    fastrace::set_reporter(NoopReporter, fastrace::collector::Config::default());
    let fastrace_span = || {
        let span = fastrace::local::LocalSpan::enter_with_local_parent("work")
            .with_properties(|| [("a", "1"), ("b", "text"), ("c", "2.5")]);
        black_box(&span);
    };
    {
        let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
        let _parent = root.set_local_parent();
        record_allocations(&format!("{GROUP}/fastrace"), fastrace_span);
    }
    c.benchmark_group(GROUP).bench_function("fastrace", |b| {
        b.iter_custom(|iters| {
            time_logs_in_a_span(iters, |n| {
                let start = Instant::now();
                let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
                let parent = root.set_local_parent();
                for _ in 0..n {
                    fastrace_span();
                }
                drop(parent);
                drop(root);
                let elapsed = start.elapsed();
                fastrace::flush();
                elapsed
            })
        });
    });
}

fn disabled_log(c: &mut Criterion) {
    const GROUP: &str = "disabled_log";
    {
        let _guard = install_budobserve(Level::Info, 1.0);
        let user_id = 42;
        bench(c, GROUP, "budobserve", &nothing, || bud_debug!("user {user_id} did something", extra = black_box(1)));
    }
    let provider = sdk_provider(Sampler::AlwaysOn);
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(layer).with(tracing_subscriber::filter::LevelFilter::INFO),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        let user_id = 42;
        bench(c, GROUP, "tracing", &nothing, || {
            tracing::debug!(user_id, extra = black_box(1), "user {} did something", user_id)
        });
    });
    // With level directives: another module records debug, so a debug log here passes the first check and its
    // call site's kept decision turns it away; a trace log stays below the floor.
    {
        let directives = match "info,overhead::db=debug".parse() {
            Ok(directives) => directives,
            Err(err) => panic!("bench directives: {err}"),
        };
        let _guard = install(budobserve::configure().levels(directives).sample_rate(1.0).span_exporter(DropEverything));
        let user_id = 42;
        bench(c, GROUP, "budobserve_directives", &nothing, || {
            bud_debug!("user {user_id} did something", extra = black_box(1))
        });
        bench(c, GROUP, "budobserve_directives_below_floor", &nothing, || {
            bud_trace!("user {user_id} did something", extra = black_box(1))
        });
    }
    let provider = sdk_provider(Sampler::AlwaysOn);
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let targets = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::INFO)
        .with_target("overhead::db", tracing::Level::DEBUG);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer).with(targets));
    tracing::dispatcher::with_default(&dispatch, || {
        let user_id = 42;
        bench(c, GROUP, "tracing_targets", &nothing, || {
            tracing::debug!(user_id, extra = black_box(1), "user {} did something", user_id)
        });
    });
}

/// Splits `iters` into batches of at most 256 for `in_batch`, which times what it needs to: logs inside a span
/// created and ended outside the measured time (so the span does not grow without bound), or fastrace's roots.
fn time_logs_in_a_span(iters: u64, mut in_span: impl FnMut(u64) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut remaining = iters;
    while remaining > 0 {
        let n = remaining.min(256);
        total += in_span(n);
        remaining -= n;
    }
    total
}

fn enabled_log(c: &mut Criterion) {
    const GROUP: &str = "enabled_log_2_attributes";
    let user_id = 42_u64;
    let ip = "10.0.0.7";
    {
        let _guard = install_budobserve(Level::Trace, 1.0);
        record_allocations(&format!("{GROUP}/budobserve"), || {
            let _parent = bud_span!("parent").entered();
            bud_info!("user {user_id} from {ip}");
        });
        c.benchmark_group(GROUP).bench_function("budobserve", |b| {
            b.iter_custom(|iters| {
                time_logs_in_a_span(iters, |n| {
                    let parent = bud_span!("parent").entered();
                    let start = Instant::now();
                    for _ in 0..n {
                        bud_info!("user {user_id} from {ip}");
                    }
                    let elapsed = start.elapsed();
                    drop(parent);
                    flush_budobserve();
                    elapsed
                })
            });
        });
    }
    let provider = sdk_provider(Sampler::AlwaysOn);
    let dispatch = tracing_dispatch(&provider);
    tracing::dispatcher::with_default(&dispatch, || {
        record_allocations(&format!("{GROUP}/tracing_otel"), || {
            let parent = tracing::info_span!("parent");
            let _entered = parent.enter();
            tracing::info!(user_id, ip, "user {} from {}", user_id, ip);
        });
        c.benchmark_group(GROUP).bench_function("tracing_otel", |b| {
            b.iter_custom(|iters| {
                time_logs_in_a_span(iters, |n| {
                    let parent = tracing::info_span!("parent");
                    let entered = parent.enter();
                    let start = Instant::now();
                    for _ in 0..n {
                        tracing::info!(user_id, ip, "user {} from {}", user_id, ip);
                    }
                    let elapsed = start.elapsed();
                    drop(entered);
                    drop(parent);
                    let _ = provider.force_flush();
                    elapsed
                })
            });
        });
    });
}

#[budobserve::instrument]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// The span `#[instrument]` writes, by hand: the same template shape and as many attributes (`function` stands for
/// the `code.function` the attribute adds).
fn add_by_hand(a: i64, b: i64) -> i64 {
    let span = bud_span!("Calling overhead::add_by_hand", a, b, function = "add_by_hand");
    let _entered = span.enter();
    a + b
}

fn instrument_attribute(c: &mut Criterion) {
    const GROUP: &str = "instrument_2_arguments";
    let _guard = install_budobserve(Level::Trace, 1.0);
    bench(c, GROUP, "instrument", &flush_budobserve, || {
        black_box(add(black_box(1), black_box(2)));
    });
    bench(c, GROUP, "hand_written_span", &flush_budobserve, || {
        black_box(add_by_hand(black_box(1), black_box(2)));
    });
    paired(
        GROUP,
        (
            "instrument",
            || {
                black_box(add(black_box(1), black_box(2)));
            },
            &flush_budobserve,
        ),
        (
            "hand_written_span",
            || {
                black_box(add_by_hand(black_box(1), black_box(2)));
            },
            &flush_budobserve,
        ),
    );
}

fn formatting(c: &mut Criterion) {
    const GROUP: &str = "message_formatting";
    let user_id = 42_u64;
    let ip = "10.0.0.7";
    let latency = 12.3456_f64;
    bench(c, GROUP, "budobserve", &nothing, || {
        black_box(budobserve::__bud_format!("user {user_id} from {ip} took {latency:.2} ms"));
    });
    bench(c, GROUP, "format", &nothing, || {
        black_box(format!("user {user_id} from {ip} took {latency:.2} ms"));
    });
}

fn unsampled_span(c: &mut Criterion) {
    const GROUP: &str = "span_not_sampled";
    {
        let _guard = install_budobserve(Level::Trace, 0.0);
        bench(c, GROUP, "budobserve", &flush_budobserve, || {
            let span = bud_span!("work", a = 1, b = "text", c = 2.5);
            black_box(&span);
        });
    }
    let provider = sdk_provider(Sampler::TraceIdRatioBased(0.0));
    let flush_sdk = || {
        let _ = provider.force_flush();
    };
    let tracer = provider.tracer("bench");
    bench(c, GROUP, "raw_sdk", &flush_sdk, || {
        raw_span(&tracer);
    });
}

fn nested_async(c: &mut Criterion) {
    const GROUP: &str = "nested_spans_depth_3_async";
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(err) => panic!("tokio runtime: {err}"),
    };
    {
        let _guard = install_budobserve(Level::Trace, 1.0);
        bench(c, GROUP, "budobserve", &flush_budobserve, || {
            runtime.block_on(
                async {
                    async { async { black_box(1) }.instrument(bud_span!("c")).await }.instrument(bud_span!("b")).await
                }
                .instrument(bud_span!("a")),
            );
        });
    }
    let provider = sdk_provider(Sampler::AlwaysOn);
    let flush_sdk = || {
        let _ = provider.force_flush();
    };
    let tracer: SdkTracer = provider.tracer("bench");
    bench(c, GROUP, "raw_sdk", &flush_sdk, || {
        let a = Context::current_with_span(tracer.start("a"));
        runtime.block_on(
            async {
                let b = Context::current_with_span(tracer.start("b"));
                async {
                    let c = Context::current_with_span(tracer.start("c"));
                    async { black_box(1) }.with_context(c).await
                }
                .with_context(b)
                .await
            }
            .with_context(a),
        );
    });
    let dispatch = tracing_dispatch(&provider);
    tracing::dispatcher::with_default(&dispatch, || {
        bench(c, GROUP, "tracing_otel", &flush_sdk, || {
            use tracing::Instrument as TracingInstrument;
            runtime.block_on(TracingInstrument::instrument(
                async {
                    TracingInstrument::instrument(
                        async { TracingInstrument::instrument(async { black_box(1) }, tracing::info_span!("c")).await },
                        tracing::info_span!("b"),
                    )
                    .await
                },
                tracing::info_span!("a"),
            ));
        });
    });
}

/// Writes the allocation counts and the paired timings where `scripts/bench.sh` asked (nowhere when run as a test).
fn write_tables() {
    write_table("BUDOBSERVE_BENCH_ALLOCATIONS", &ALLOCATION_TABLE);
    write_table("BUDOBSERVE_BENCH_PAIRED", &PAIRED_TABLE);
}

fn write_table(variable: &str, table: &Mutex<BTreeMap<String, f64>>) {
    let Ok(path) = std::env::var(variable) else { return };
    let Ok(table) = table.lock() else { return };
    let lines: String = table.iter().map(|(id, count)| format!("{id}\t{count}\n")).collect();
    if let Err(err) = std::fs::write(&path, lines) {
        eprintln!("could not write {path}: {err}");
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .configure_from_args()
}

fn scrubbing(c: &mut Criterion) {
    // Through `span_exporter`: scrubbed on the export worker's thread, as services run.
    const GROUP: &str = "span_10_attributes_scrubbing";
    for (name, scrub) in [("scrubbed", true), ("unscrubbed", false)] {
        let _guard = install(budobserve::configure().scrubbing(scrub).span_exporter(DropEverything));
        bench(c, GROUP, name, &flush_budobserve, ten_attributes);
    }
    // Paired: two explicit instances, each made current the same way.
    let instance = |scrub: bool| {
        budobserve::configure()
            .env(EnvSource::Map(Default::default()))
            .console(false)
            .scrubbing(scrub)
            .span_exporter(DropEverything)
            .build()
            .map(BudObserve::new)
            .unwrap_or_else(|err| panic!("bench configuration: {err}"))
    };
    let (scrubbed, unscrubbed) = (instance(true), instance(false));
    paired(
        GROUP,
        ("scrubbed", || budobserve::with_instance(&scrubbed, ten_attributes), &|| {
            let _ = scrubbed.force_flush();
        }),
        ("unscrubbed", || budobserve::with_instance(&unscrubbed, ten_attributes), &|| {
            let _ = unscrubbed.force_flush();
        }),
    );
    // Through a processor given as such (the SDK's simple processor): scrubbed on the caller's thread, the
    // scrubber's whole cost on the measured thread.
    const ON_CALLER: &str = "span_10_attributes_scrubbing_on_caller";
    for (name, scrub) in [("scrubbed", true), ("unscrubbed", false)] {
        let _guard =
            install(budobserve::configure().scrubbing(scrub).span_processor(SimpleSpanProcessor::new(DropEverything)));
        bench(c, ON_CALLER, name, &flush_budobserve, ten_attributes);
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = span_with_three_attributes, disabled_log, enabled_log, instrument_attribute, formatting,
        unsampled_span, nested_async, scrubbing
}

fn main() {
    benches();
    write_tables();
    Criterion::default().configure_from_args().final_summary();
}
