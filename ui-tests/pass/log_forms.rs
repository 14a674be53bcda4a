//! Every form of the log and span macros.
#![deny(warnings)]

use budobserve::{Level, bud_debug, bud_error, bud_exception, bud_fatal, bud_info, bud_log, bud_notice, bud_span, bud_trace, bud_warn};

#[derive(serde::Serialize)]
struct Order {
    id: u64,
}

#[derive(Debug)]
struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure")
    }
}

impl std::error::Error for Failure {}

fn main() {
    let user_id = 42;
    let order = Order { id: 7 };
    let ratio = 0.25_f64;
    let name = "ada";
    let maybe: Option<u8> = None;
    let obs = budobserve::global().clone();

    bud_trace!("trace");
    bud_debug!("debug {user_id}");
    bud_info!("user {user_id} logged in");
    bud_notice!("order {order.id}", order);
    bud_warn!("ratio {ratio:.1} {ratio:>8.2} {ratio:e}", extra = 1);
    bud_error!("{name=} {name:?} {{literal}}");
    bud_fatal!("{maybe}");
    bud_info!("named {value}", value = user_id + 1, _tags = ["a", "b"]);
    bud_info!("order as JSON {order}");
    bud_info!(obs => "explicit instance {user_id}");
    bud_log!(Level::Warn, "dynamic level");
    bud_log!(obs => Level::Info, "dynamic level on an instance");
    bud_exception!(&Failure, "failed for {user_id}");
    bud_exception!(obs => &Failure, "failed", _tags = ["x"]);

    let parent = bud_span!("parent");
    let other = bud_span!("other");
    let span = bud_span!("work {user_id}", _span_name = "work", _level = "debug", _parent = &parent,
        _links = [&other], _tags = ["t"]);
    let _entered = span.entered();
    let _dynamic = bud_span!("dynamic level", _level = Level::Notice);
    let _on_instance = bud_span!(obs => "on an instance");
}
