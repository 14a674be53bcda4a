//! How a service tests its own instrumentation with `budobserve::testing`: a handler's spans, attributes, levels,
//! errors and bud context, asserted exactly, without a backend.
//!
//! ```sh
//! cargo run --example testing    # runs the checks below and prints what was captured
//! cargo test --example testing   # the same checks as the service's tests would hold them
//! ```
//!
//! Needs nothing but this repository.

use budobserve::opentelemetry::trace::Status;
use budobserve::testing::{self, Capture};
use budobserve::{BudContext, KeyValue, Level, bud_info, bud_warn};

/// The service's code: an order is placed, with a warning when stock runs low and an error when it runs out.
#[budobserve::instrument(msg_template = "place order {order_id}", record_return)]
fn place_order(order_id: u64, stock: u32) -> Result<u32, StockError> {
    let left = stock.checked_sub(1).ok_or(StockError { order_id })?;
    if left < 3 {
        bud_warn!("stock low: {left} left");
    }
    bud_info!("order {order_id} placed");
    Ok(left)
}

#[derive(Debug)]
struct StockError {
    order_id: u64,
}

impl std::fmt::Display for StockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no stock for order {}", self.order_id)
    }
}

impl std::error::Error for StockError {}

/// Runs the code under a capture: an isolated instance with deterministic ids and clock, nothing exported.
fn capture_orders() -> Capture {
    let capture = testing::capture();
    capture.run(|| {
        let _bud = BudContext::new().project_id("proj-7").attach();
        let _ = place_order(1, 10);
        let _ = place_order(2, 2);
        let _ = place_order(3, 0);
    });
    capture
}

/// The checks a service's test makes: exact names, attributes, parents, levels and errors.
fn check(capture: &Capture) {
    // The span of a call, with its argument, its return value and the bud context.
    let first = capture.assert_has_span(
        "place order {order_id}",
        &[KeyValue::new("order_id", 1), KeyValue::new("return", 9), KeyValue::new("bud.project_id", "proj-7")],
    );
    // Logs are spans too, children of the call they were written in.
    let placed = capture.spans_named("order {order_id} placed");
    assert_eq!(placed.len(), 2);
    assert_eq!(placed[0].parent_span_id, first.span_context.span_id());
    let warning = capture.span("stock low: {left} left");
    assert_eq!(testing::attribute(&warning, "budobserve_level_num"), Some(&i64::from(Level::Warn.number()).into()));
    // The failed call: status error, the error as an exception event with its message.
    let failed = capture.assert_has_span("place order {order_id}", &[KeyValue::new("order_id", 3)]);
    assert!(matches!(&failed.status, Status::Error { description } if description.contains("no stock for order 3")));
    let exception = failed.events.iter().find(|e| e.name == "exception");
    let message = exception.and_then(|e| e.attributes.iter().find(|kv| kv.key.as_str() == "exception.message"));
    assert_eq!(message.map(|kv| kv.value.as_str().into_owned()).as_deref(), Some("no stock for order 3"));
    assert_eq!(testing::attribute(&failed, "return"), None, "an error has no return value");
}

fn main() -> std::io::Result<()> {
    let capture = capture_orders();
    check(&capture);
    let json = capture.exported_spans_as_json();
    let names: Vec<&str> = json.as_array().into_iter().flatten().filter_map(|s| s["name"].as_str()).collect();
    let mut out = std::io::stdout().lock();
    std::io::Write::write_fmt(&mut out, format_args!("captured {} spans: {names:?}\nevery check passed\n", names.len()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn orders_are_instrumented() {
        super::check(&super::capture_orders());
    }
}
