//! A trace with the bud context written straight into BudMetrics' ClickHouse table (`metrics.otel_traces`), no
//! collector in between.
//!
//! Needs a ClickHouse server's HTTP interface (`./scripts/test.sh` starts one on loopback and runs this example
//! against it):
//!
//! ```sh
//! BUD_OBSERVE_CLICKHOUSE_URL=http://localhost:8123 cargo run --example budmetrics
//! # with credentials and another database:
//! BUD_OBSERVE_CLICKHOUSE_URL=https://ch:8443 BUD_OBSERVE_CLICKHOUSE_USER=writer \
//!   BUD_OBSERVE_CLICKHOUSE_PASSWORD=… BUD_OBSERVE_CLICKHOUSE_DATABASE=metrics cargo run --example budmetrics
//! ```
//!
//! The table is created when missing. The example prints the trace id and the SQL that finds the trace.

use budobserve::{BudContext, KeyValue, bud_info, bud_span};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("BUD_OBSERVE_CLICKHOUSE_URL").is_none() {
        return Err("set BUD_OBSERVE_CLICKHOUSE_URL to a ClickHouse HTTP address, e.g. http://localhost:8123".into());
    }
    let guard = budobserve::configure().service_name("budmetrics-example").environment("dev").install()?;
    let database = std::env::var("BUD_OBSERVE_CLICKHOUSE_DATABASE").unwrap_or_else(|_| "metrics".to_owned());

    let trace_id = {
        // What budgateway puts in the baggage of a request; every span below carries it.
        let _bud = BudContext::new()
            .project_id("proj-example")
            .endpoint_id("endpoint-chat")
            .model_id("llama-3-8b")
            .request_id("req-1")
            .attach();
        let model = "llama-3-8b";
        let mut request = bud_span!("POST {route}", route = "/v1/chat/completions", _tags = ["example"]).entered();
        let trace_id = request.span().span_context().trace_id();
        {
            let mut llm = bud_span!("Chat Completion with {model}").entered();
            llm.span().set_attributes([
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", model),
                KeyValue::new("gen_ai.usage.input_tokens", 128),
                KeyValue::new("gen_ai.usage.output_tokens", 42),
            ]);
        }
        bud_info!("answered with {model}");
        trace_id
    };

    budobserve::force_flush()?;
    let stats = budobserve::global().export_stats();
    let mut out = std::io::stdout().lock();
    std::io::Write::write_fmt(
        &mut out,
        format_args!(
            "exported {} spans, dropped {}, lost in failed exports {}\ntrace {trace_id}; find it with:\n\
             SELECT SpanName, ParentSpanId, Duration, SpanAttributes['bud.project_id'] AS project, \
             toUInt32OrNull(SpanAttributes['gen_ai.usage.input_tokens']) AS input_tokens FROM {database}.otel_traces \
             WHERE TraceId = '{trace_id}' ORDER BY Timestamp\n",
            stats.spans_exported, stats.spans_dropped, stats.spans_failed
        ),
    )?;
    drop(guard);
    Ok(())
}
