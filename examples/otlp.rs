//! Spans, logs and metrics exported over OTLP/HTTP to a collector (or BudMetrics through the gateway's OTLP proxy).
//!
//! ```sh
//! cargo run --example otlp -- http://localhost:4318
//! # BudMetrics through the gateway, with an API key:
//! BUD_OBSERVE_TOKEN=<api key> cargo run --example otlp -- http://gateway:8000
//! ```
//!
//! The first argument is the collector's base address (`/v1/traces`, `/v1/metrics`, `/v1/logs` are appended);
//! without it, `BUD_OBSERVE_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` are used. The example exits with what the
//! exporter reports: spans exported, dropped, lost.

use std::time::Duration;

use budobserve::{KeyValue, bud_exception, bud_info, bud_span, bud_warn};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = budobserve::configure().service_name("otlp-example").environment("dev").console(true);
    if let Some(endpoint) = std::env::args().nth(1) {
        builder = builder.endpoint(endpoint);
    }
    let guard = builder.install()?;

    let requests = budobserve::meter().u64_counter("example.requests").with_unit("{request}").build();
    for user_id in 0..3 {
        let span = bud_span!("chat request from user {user_id}", _tags = ["example"]).entered();
        requests.add(1, &[KeyValue::new("route", "/v1/chat/completions")]);
        bud_info!("routing user {user_id} to model {model}", model = "llama-3-8b");
        if user_id == 2 {
            let err = std::io::Error::other("upstream timed out");
            bud_exception!(&err, "request failed for user {user_id}");
        } else {
            std::thread::sleep(Duration::from_millis(20));
            bud_warn!("slow answer for user {user_id}", elapsed_ms = 20);
        }
        drop(span);
    }

    if let Err(err) = budobserve::force_flush() {
        std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("flush failed: {err}\n"))?;
    }
    let stats = budobserve::global().export_stats();
    // The example's output: what reached the collector.
    let mut out = std::io::stdout().lock();
    std::io::Write::write_fmt(
        &mut out,
        format_args!(
            "exported {} spans, dropped {}, lost in failed exports {}\n",
            stats.spans_exported, stats.spans_dropped, stats.spans_failed
        ),
    )?;
    drop(guard);
    Ok(())
}
