//! OTLP/HTTP end to end: spans per second from the caller's thread to a receiver on loopback that decodes every
//! request, for BudObserve and for the raw SDK with `opentelemetry-otlp` sending the same data (the attributes
//! `bud_span!` writes: three dynamic values, the code location and BudObserve's own), both through a batch
//! processor (queue 2,048, batches of 512) and HTTP/protobuf.
//!
//! ```sh
//! cargo run --release --example otlp_throughput -- 100   # blocks of 1,024 spans per implementation
//! ```
//!
//! Producers are paced (blocks of 1,024 spans, each followed by a flush, the flush timed: the spans are only
//! delivered once it returns) and interleaved block by block; the receiver counts the spans it decoded, and a run
//! where a count differs from what was produced fails. Prints one tab-separated line per implementation: name,
//! spans, spans/s end to end, bytes received per span.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use budobserve::opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use budobserve::opentelemetry_sdk::trace::SdkTracerProvider;
use budobserve::{EnvSource, bud_span};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

#[path = "../benches/common/mod.rs"]
#[allow(dead_code, reason = "the benchmarks' shared code; this program takes the attributes alone")]
mod common;
use common::same_attributes;

const BLOCK: u64 = 1_024;

/// What the receiver decoded, by service: spans and request bytes.
#[derive(Debug, Default)]
struct Received {
    budobserve: (AtomicU64, AtomicU64),
    raw_sdk: (AtomicU64, AtomicU64),
}

async fn receive(
    axum::extract::State(received): axum::extract::State<Arc<Received>>,
    body: axum::body::Bytes,
) -> Vec<u8> {
    if let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) {
        let mut bytes = body.len() as u64;
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(|v| format!("{:?}", v.value));
            let spans: u64 = resource.scope_spans.iter().map(|s| s.spans.len() as u64).sum();
            let counter = match service {
                Some(name) if name.contains("raw-sdk") => &received.raw_sdk,
                _ => &received.budobserve,
            };
            counter.0.fetch_add(spans, Ordering::Relaxed);
            // The request's bytes go to the service of its first resource (each exporter sends one).
            counter.1.fetch_add(std::mem::take(&mut bytes), Ordering::Relaxed);
        }
    }
    Vec::new()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let blocks: u64 = std::env::args().nth(1).map_or(Ok(100), |n| n.parse())?;
    let received = Arc::new(Received::default());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    // Metrics and logs (BudObserve's flush sends them too) are accepted and not counted.
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .route("/v1/metrics", axum::routing::post(|| async { Vec::new() }))
        .route("/v1/logs", axum::routing::post(|| async { Vec::new() }))
        .with_state(Arc::clone(&received));
    runtime.spawn(async move { axum::serve(listener, app).await });

    let _guard = budobserve::configure()
        .env(EnvSource::Map(Default::default()))
        .service_name("budobserve-bench")
        .console(false)
        .endpoint(url.as_str())
        .protocol("http/protobuf")
        .install()?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{url}/v1/traces"))
        .with_timeout(Duration::from_secs(10))
        .build()?;
    let resource = budobserve::opentelemetry_sdk::Resource::builder().with_service_name("raw-sdk-bench").build();
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    let tracer = provider.tracer("bench");
    let words: Vec<String> = ["alpha", "beta", "gamma", "delta"].iter().map(|w| format!("{w}-{}", w.len())).collect();

    let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
    for round in 0..=blocks {
        let first = round * BLOCK;
        let started = Instant::now();
        for n in first..first + BLOCK {
            let (a, b, c) = (n, words[(n % 4) as usize].as_str(), n as f64 * 0.5);
            drop(bud_span!("work", a = a, b = b, c = c));
        }
        budobserve::force_flush()?;
        let budobserve_block = started.elapsed();
        let started = Instant::now();
        for n in first..first + BLOCK {
            let (a, b, c) = (n, words[(n % 4) as usize].as_str(), n as f64 * 0.5);
            let mut span =
                tracer.span_builder("work").with_attributes(same_attributes(a as i64, b.to_owned(), c)).start(&tracer);
            span.end();
        }
        provider.force_flush()?;
        // The first round warms both up; it is not counted.
        if round > 0 {
            ours += budobserve_block;
            theirs += started.elapsed();
        }
    }
    let produced = (blocks + 1) * BLOCK;
    let mut out = String::new();
    for (name, counted, elapsed) in
        [("budobserve", &received.budobserve, ours), ("raw_sdk_same_attributes", &received.raw_sdk, theirs)]
    {
        let spans = counted.0.load(Ordering::Relaxed);
        if spans != produced {
            return Err(format!("{name}: produced {produced} spans, the receiver decoded {spans}").into());
        }
        let rate = (blocks * BLOCK) as f64 / elapsed.as_secs_f64();
        let bytes = counted.1.load(Ordering::Relaxed) as f64 / spans as f64;
        out.push_str(&format!("{name}\t{}\t{rate:.0}\t{bytes:.0}\n", blocks * BLOCK));
    }
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    provider.shutdown()?;
    Ok(())
}
