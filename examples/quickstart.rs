//! Quickstart: spans and logs printed to the console, no backend needed.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Needs nothing but this repository. Set `BUD_OBSERVE_CONSOLE=false` to silence the console, or
//! `BUD_OBSERVE_MIN_LEVEL=info` to drop the debug log. With `BUD_OBSERVE_ENDPOINT=http://localhost:4318` (a
//! collector's base address: `/v1/traces`, `/v1/metrics` and `/v1/logs` are added) the same spans, logs and the
//! counter go over OTLP; the guard returned by `install` exports what is still queued when `main` returns. A
//! long-running service keeps that true when it is stopped: see the README's "A traced service".

use std::time::Duration;

use budobserve::{
    BudAttributes, ConsoleOptions, Counter, Instrument, KeyValue, Level, bud_debug, bud_exception, bud_info,
    bud_notice, bud_span, bud_warn,
};

#[derive(BudAttributes)]
struct ChatRequest {
    #[bud(key = "gen_ai.request.model")]
    model: String,
    max_tokens: u32,
    #[bud(redact)]
    api_key: String,
}

#[derive(Debug)]
struct QuotaExceeded {
    used: u32,
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "quota exceeded: {} tokens used", self.used)
    }
}

impl std::error::Error for QuotaExceeded {}

#[tokio::main]
async fn main() -> Result<(), budobserve::ConfigError> {
    // One call: reads BUD_OBSERVE_* variables; the console is on when no backend is configured.
    let _guard = budobserve::configure()
        .service_name("quickstart")
        .environment("dev")
        .console_options(ConsoleOptions::new().min_level(Level::Debug))
        .install()?;

    let requests: Counter<u64> = budobserve::meter().u64_counter("quickstart.requests").with_unit("{request}").build();
    let service = "quickstart";
    bud_info!("service {service} started");

    for (user_id, max_tokens) in [(42_u64, 256_u32), (7, 4096)] {
        let request = ChatRequest { model: "llama-3-8b".into(), max_tokens, api_key: "sk-demo".into() };
        let span = bud_span!("chat request from user {user_id}", _tags = ["api"]);
        if let Err(err) = handle(user_id, &request).instrument(span).await {
            bud_warn!("user {user_id} was refused: {err}");
        }
        requests.add(1, &[KeyValue::new("route", "/chat")]);
    }
    bud_debug!("debug details are shown because the console level is debug");
    bud_notice!("shutting down");
    Ok(())
}

#[budobserve::instrument(msg_template = "chat with {request.model} ({request.max_tokens} tokens)")]
async fn handle(user_id: u64, request: &ChatRequest) -> Result<u32, QuotaExceeded> {
    bud_info!("user {user_id} logged in");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let used = request.max_tokens / 64 * 60;
    let pct = f64::from(used) / 64.0;
    bud_warn!("quota at {pct:.1}%");
    if used > 1000 {
        let err = QuotaExceeded { used };
        bud_exception!(&err, "request rejected for user {user_id}");
        return Err(err);
    }
    Ok(used)
}
