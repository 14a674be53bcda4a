//! Throughput into ClickHouse: spans per second through BudObserve's batch processor into a ClickHouse server's
//! `otel_traces`, for each wire format, with and without gzip, one insert in flight or two; and how fast the
//! exporter encodes rows by itself.
//!
//! ```sh
//! cargo run --release --features clickhouse --example budmetrics_throughput -- http://localhost:8123 100000
//! ```
//!
//! Needs a ClickHouse HTTP interface (`scripts/bench.sh` starts the local one). Each run writes to databases of
//! its own (`bench_*`, dropped at the end) and checks that every span was stored. Prints one tab-separated line per
//! configuration (wire format, spans per insert): name, spans, end-to-end spans/s, encoded spans/s, bytes per span
//! on the wire, inserts in flight at most.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use budobserve::exporters::budmetrics::{BudMetricsExporter, ClickHouseOptions, InsertFormat};
use budobserve::opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use budobserve::{BatchOptions, BudContext, BudObserve, EnvSource, KeyValue, bud_span, testing};

/// A span of a chat request: bud context, a template with two values, gen_ai usage.
fn request_span(n: u64) {
    let model = "llama-3-8b";
    let mut span = bud_span!("Chat Completion with {model} for {n}", _tags = ["llm"]).entered();
    span.span().set_attributes([
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.usage.input_tokens", 128),
        KeyValue::new("gen_ai.usage.output_tokens", 42),
    ]);
}

fn sample_spans() -> Vec<SpanData> {
    let capture = testing::capture();
    capture.run(|| {
        let _bud = BudContext::new().project_id("proj-1").endpoint_id("ep-1").model_id("m-1").attach();
        for n in 0..512 {
            request_span(n);
        }
    });
    capture.spans()
}

fn sql(client: &reqwest::blocking::Client, url: &str, statement: &str) -> Result<String, Box<dyn std::error::Error>> {
    let response = client.post(format!("{url}/")).body(statement.to_owned()).send()?;
    let status = response.status();
    let text = response.text()?;
    if !status.is_success() {
        return Err(format!("{statement}: {status}: {text}").into());
    }
    Ok(text)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: budmetrics_throughput URL [SPANS]")?;
    let spans: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(100_000);
    let client = reqwest::blocking::Client::new();
    let sample = sample_spans();
    let mut out = String::new();
    for (name, format, gzip, batch, in_flight) in [
        ("RowBinary, 512 per insert", InsertFormat::RowBinary, false, 512, 1),
        ("RowBinary, 512 per insert", InsertFormat::RowBinary, false, 512, 2),
        ("JSONEachRow, 512 per insert", InsertFormat::JsonEachRow, false, 512, 2),
        ("RowBinary + gzip, 512 per insert", InsertFormat::RowBinary, true, 512, 2),
        ("JSONEachRow + gzip, 512 per insert", InsertFormat::JsonEachRow, true, 512, 2),
        ("RowBinary, 4,096 per insert", InsertFormat::RowBinary, false, 4096, 1),
        ("RowBinary, 4,096 per insert", InsertFormat::RowBinary, false, 4096, 2),
    ] {
        let database = format!("bench_{}_{}", out.lines().count(), std::process::id());
        let options = ClickHouseOptions::new(&url)
            .database(&database)
            .format(format)
            .compression(gzip)
            .max_concurrent_inserts(in_flight)
            .timeout(Duration::from_secs(60));

        // Encoding alone, on this thread, 512 spans at a time.
        let mut exporter = BudMetricsExporter::new(options.clone())?;
        let resource =
            budobserve::configure().env(EnvSource::Map(HashMap::new())).service_name("throughput").build()?;
        exporter.set_resource(&resource.resource());
        let mut body = Vec::new();
        let rounds = (spans / 512).max(1);
        let started = Instant::now();
        for _ in 0..rounds {
            body.clear();
            exporter.encode(&sample, &mut body);
        }
        let encoded = (rounds * 512) as f64 / started.elapsed().as_secs_f64();
        let bytes_per_span = if gzip {
            use std::io::Write as _;
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&body)?;
            encoder.finish()?.len() as f64 / 512.0
        } else {
            body.len() as f64 / 512.0
        };

        // End to end: spans recorded, batched, encoded, sent and stored (the queue holds them all: none dropped).
        let config = budobserve::configure()
            .env(EnvSource::Map(HashMap::new()))
            .service_name("throughput")
            .clickhouse(
                options.batch_options(
                    BatchOptions::new()
                        .max_queue_size(spans as usize + 1)
                        .max_queue_bytes(usize::MAX)
                        .max_export_batch_size(batch),
                ),
            )
            .build()?;
        let observe = BudObserve::new(config);
        // The schema is created by a first export, outside the measurement.
        budobserve::with_instance(&observe, || request_span(0));
        observe.force_flush()?;
        let started = Instant::now();
        budobserve::with_instance(&observe, || {
            let _bud = BudContext::new().project_id("proj-1").endpoint_id("ep-1").model_id("m-1").attach();
            for n in 0..spans {
                request_span(n);
            }
        });
        observe.force_flush()?;
        let end_to_end = spans as f64 / started.elapsed().as_secs_f64();
        let stats = observe.export_stats();
        let stored: u64 =
            sql(&client, &url, &format!("SELECT count() FROM `{database}`.otel_traces"))?.trim().parse()?;
        if stored != spans + 1 || stats.spans_dropped + stats.spans_failed > 0 {
            return Err(format!("{name}: stored {stored} of {} spans ({stats:?})", spans + 1).into());
        }
        sql(&client, &url, &format!("DROP DATABASE `{database}`"))?;
        out.push_str(&format!("{name}\t{spans}\t{end_to_end:.0}\t{encoded:.0}\t{bytes_per_span:.0}\t{in_flight}\n"));
    }
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(())
}
