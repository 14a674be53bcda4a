//! Quickstart: spans and logs printed to the console, no backend needed.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Needs nothing but this repository. Set `BUD_OBSERVE_MIN_LEVEL=debug` to see the debug log too, or
//! `BUD_OBSERVE_CONSOLE=false` to silence the console.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use budobserve::exporters::ConsoleOptions;
use budobserve::{Instrument, KeyValue, Level};

#[derive(Debug)]
struct QuotaExceeded {
    used: u64,
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quota exceeded: {} tokens used", self.used)
    }
}

impl Error for QuotaExceeded {}

#[tokio::main]
async fn main() -> Result<(), budobserve::ConfigError> {
    // One call: reads BUD_OBSERVE_* variables; the console is on when no backend is configured.
    let _guard = budobserve::configure()
        .service_name("quickstart")
        .environment("dev")
        .console_options(ConsoleOptions::new().min_level(Level::Debug))
        .install()?;

    let requests = budobserve::meter().u64_counter("quickstart.requests").with_unit("{request}").build();
    let api = budobserve::global().with_tags(["api"]);

    budobserve::info("service {service} started", [KeyValue::new("service", "quickstart")]);
    for user_id in [42_i64, 7] {
        let request = api.span("chat request from user {user_id}", [KeyValue::new("user_id", user_id)]);
        handle(user_id).instrument(request).await;
        requests.add(1, &[KeyValue::new("route", "/chat")]);
    }
    budobserve::debug("debug details are shown because the console level is debug", []);
    budobserve::notice("shutting down", []);
    Ok(())
}

async fn handle(user_id: i64) {
    budobserve::info("user {user_id} logged in", [KeyValue::new("user_id", user_id)]);
    let items = [3_i64, 5, 8];
    let processing = budobserve::span("processing {count} items", [KeyValue::new("count", items.len() as i64)]);
    async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let used = items.iter().sum::<i64>() as f64 * 6.0;
        budobserve::warn("quota at {pct:.1}%", [KeyValue::new("pct", used)]);
    }
    .instrument(processing)
    .await;
    if user_id == 7 {
        budobserve::exception(
            &QuotaExceeded { used: 1024 },
            "request rejected for user {user_id}",
            [KeyValue::new("user_id", user_id)],
        );
    }
}
