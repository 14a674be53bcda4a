//! Profiling driver: starts and ends N spans through BudObserve (`bud`) or the raw OpenTelemetry SDK with the same
//! attributes (`raw`), or ten-attribute spans scrubbed on the caller's thread (`scrub`), into an exporter that drops everything, through the simple processor (one thread, the
//! default) or the batch processor (`batch`); or an `#[instrument]`ed function (`instrument`) against the same span
//! written by hand (`by_hand`), batched.
//!
//! ```sh
//! cargo build --release --example span_profile
//! time target/release/examples/span_profile bud 10000000
//! time target/release/examples/span_profile raw 10000000 batch
//! valgrind --tool=callgrind target/release/examples/span_profile raw 20000
//! perf record -e cpu-clock target/release/examples/span_profile bud 3000000
//! ```
//!
//! Needs nothing else. The numbers in `BENCHMARKS.md` ("profile") come from it; the raw SDK's span is the one
//! the benchmarks use (`benches/common/mod.rs`).

use std::hint::black_box;

use budobserve::opentelemetry::trace::TracerProvider as _;
use budobserve::opentelemetry_sdk::error::OTelSdkResult;
use budobserve::opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, SimpleSpanProcessor, SpanData, SpanProcessor,
};

#[path = "../benches/common/mod.rs"]
mod common;
use common::{DropEverything, raw_span_same_attributes, ten_attributes};

fn main() -> Result<(), budobserve::ConfigError> {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "bud".to_owned());
    let count: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let batch = args.next().is_some_and(|p| p == "batch");
    let processor = || -> Box<dyn SpanProcessor> {
        if batch {
            Box::new(BatchSpanProcessor::builder(DropEverything).build())
        } else {
            Box::new(SimpleSpanProcessor::new(DropEverything))
        }
    };
    if which == "scrub" {
        // Ten attributes, two of them secrets by name, scrubbed on this thread (simple processor).
        let _guard = budobserve::configure()
            .env(budobserve::EnvSource::Map(Default::default()))
            .console(false)
            .span_processor(SimpleSpanProcessor::new(DropEverything))
            .install()?;
        for _ in 0..count {
            ten_attributes();
        }
    } else if which == "instrument" || which == "by_hand" {
        // `#[instrument]` against the same span written by hand (the benchmark's pair), batched: the caller's
        // thread's work alone, for an instruction count.
        let _guard = budobserve::configure()
            .env(budobserve::EnvSource::Map(Default::default()))
            .console(false)
            .span_exporter(DropEverything)
            .install()?;
        let instrumented = which == "instrument";
        for _ in 0..count {
            black_box(if instrumented {
                add(black_box(1), black_box(2))
            } else {
                add_by_hand(black_box(1), black_box(2))
            });
        }
    } else if which == "bud" {
        let builder = budobserve::configure().env(budobserve::EnvSource::Map(Default::default())).console(false);
        // Batched, spans are completed on the batch thread (`span_exporter`); with the simple processor, which
        // exports on the caller's thread, they are completed there.
        let builder = if batch {
            builder.span_exporter(DropEverything)
        } else {
            builder.span_processor(SimpleSpanProcessor::new(DropEverything))
        };
        let _guard = builder.install()?;
        for _ in 0..count {
            let span = budobserve::bud_span!("work", a = 1, b = "text", c = 2.5);
            black_box(&span);
        }
        let _ = budobserve::force_flush();
        // What the worker kept up with (stderr: the driver's output is its timing).
        let stats = budobserve::global().export_stats();
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr(),
            format_args!("exported {}, dropped {}\n", stats.spans_exported, stats.spans_dropped),
        );
    } else {
        let provider = SdkTracerProvider::builder().with_span_processor(BoxedProcessor(processor())).build();
        let tracer = provider.tracer("bench");
        for _ in 0..count {
            raw_span_same_attributes(&tracer);
        }
    }
    Ok(())
}

#[budobserve::instrument]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// The span `#[instrument]` writes, by hand (as in the benchmark).
fn add_by_hand(a: i64, b: i64) -> i64 {
    let span = budobserve::bud_span!("Calling span_profile::add_by_hand", a, b, function = "add_by_hand");
    let _entered = span.enter();
    a + b
}

/// A processor chosen at run time.
#[derive(Debug)]
struct BoxedProcessor(Box<dyn SpanProcessor>);

impl SpanProcessor for BoxedProcessor {
    fn on_start(&self, span: &mut budobserve::opentelemetry_sdk::trace::Span, cx: &budobserve::opentelemetry::Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}
