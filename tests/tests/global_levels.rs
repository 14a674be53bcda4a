//! The global instance's level directives: the macros' first check (one load) holds the floor — the lowest level
//! any target records — so a module given a lower level than the minimum still records, and everything below
//! the floor is turned away before the instance is found. A process of its own: it configures the global instance.

use budobserve::opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};
use budobserve::{EnvSource, Level, bud_debug, bud_info, bud_trace};

mod db {
    pub(crate) fn query() {
        budobserve::bud_trace!("db trace");
        budobserve::bud_debug!("db debug");
    }
}

#[test]
fn the_global_floor_lets_a_lower_module_through() {
    let spans = InMemorySpanExporter::default();
    let _guard = budobserve::configure()
        .env(EnvSource::Map(Default::default()))
        .console(false)
        .levels("info,global_levels::db=debug".parse().unwrap())
        .span_processor(SimpleSpanProcessor::new(spans.clone()))
        .install()
        .expect("valid configuration");
    let names = || -> Vec<String> {
        spans.get_finished_spans().unwrap_or_default().into_iter().map(|span| span.name.into_owned()).collect()
    };
    db::query();
    bud_debug!("root debug");
    bud_trace!("root trace");
    bud_info!("root info");
    assert_eq!(names(), ["db debug", "root info"]);

    // Raised at run time: the floor follows, and the module's call sites decide again.
    budobserve::global().set_level_directives("warn,global_levels::db=error".parse().unwrap());
    spans.reset();
    db::query();
    bud_info!("root info");
    budobserve::bud_error!("root error");
    assert_eq!(names(), ["root error"]);

    // Lowered: trace passes the floor for the module only.
    budobserve::global().set_level_directives("global_levels::db=trace".parse().unwrap());
    assert_eq!(budobserve::global().min_level(), Level::Warn);
    spans.reset();
    db::query();
    bud_debug!("root debug");
    assert_eq!(names(), ["db trace", "db debug"]);
}
