//! Levels per target (`RUST_LOG`-style directives): the macros by their module path, decided once per call site and
//! again when the directives change; the `tracing` and `log` bridges by their records' targets; the builder option
//! and `BUD_OBSERVE_LEVELS`.

use std::collections::HashMap;

use budobserve::testing::{self, Capture};
use budobserve::{BudObserve, EnvSource, Level, LevelDirectives, bud_debug, bud_info, bud_log, bud_span, bud_trace};
use tracing_subscriber::layer::SubscriberExt as _;

/// The directives of most tests here: warn by default, this file's `db` module at debug, its pool off.
const DIRECTIVES: &str = "warn,level_directives::db=debug,level_directives::db::pool=off";

fn names(capture: &Capture) -> Vec<String> {
    capture.spans().iter().map(|span| span.name.to_string()).collect()
}

fn directed(directives: &str) -> Capture {
    let directives: LevelDirectives = directives.parse().expect("valid directives");
    testing::capture_with(|builder| builder.levels(directives))
}

mod db {
    use super::*;

    pub(crate) fn query(level: Level) {
        bud_trace!("db trace");
        bud_debug!("db debug");
        bud_log!(level, "db at {level}", level = level.as_str());
        pool::acquire();
        // With options, through the builder: the floor lets it through, the call site's decision stands.
        bud_debug!("db debug under a parent", _parent = budobserve::opentelemetry::Context::current());
        let _span = bud_span!("db span", _level = "debug").entered();
        traced_query();
    }

    #[budobserve::instrument(level = "debug")]
    pub(crate) fn traced_query() {}

    pub(crate) mod pool {
        use super::*;

        pub(crate) fn acquire() {
            bud_info!("pool info");
            budobserve::bud_error!("pool error");
        }
    }
}

mod web {
    use super::*;

    pub(crate) fn handle() {
        bud_debug!("web debug");
        bud_info!("web info");
        budobserve::bud_warn!("web warn");
    }
}

#[test]
fn macros_follow_the_directive_of_their_module() {
    let capture = directed(DIRECTIVES);
    capture.run(|| {
        db::query(Level::Info);
        web::handle();
    });
    assert_eq!(
        names(&capture),
        [
            "db debug",
            "db at {level}",
            "db debug under a parent",
            "Calling level_directives::db::traced_query",
            "db span",
            "web warn"
        ]
    );
    assert_eq!(capture.observe().min_level(), Level::Warn);
    // An explicit instance is filtered the same way.
    let other = directed("error,level_directives=info");
    let obs: &BudObserve = other.observe();
    bud_info!(obs => "module at info");
    bud_debug!(obs => "module below info");
    assert_eq!(names(&other), ["module at info"]);
}

#[test]
fn call_sites_decide_again_when_the_directives_change() {
    let capture = directed(DIRECTIVES);
    let obs = capture.observe();
    capture.run(web::handle);
    obs.set_level_directives("info,level_directives::web=debug".parse().unwrap());
    assert_eq!(obs.min_level(), Level::Info);
    capture.run(web::handle);
    obs.set_min_level(Level::Error);
    assert_eq!(obs.level_directives().to_string(), "error,level_directives::web=debug");
    capture.run(|| {
        web::handle();
        bud_info!("root info");
        budobserve::bud_error!("root error");
    });
    obs.set_level_directives("level_directives::web=off".parse().unwrap());
    capture.run(web::handle);
    assert_eq!(
        names(&capture),
        ["web warn", "web debug", "web info", "web warn", "web debug", "web info", "web warn", "root error"]
    );
}

#[test]
fn off_by_default_and_one_module_on() {
    let capture = directed("off,level_directives::db::pool=trace");
    capture.run(|| {
        db::query(Level::Fatal);
        web::handle();
        budobserve::bud_fatal!("root fatal");
    });
    assert_eq!(names(&capture), ["pool info", "pool error"]);
    assert_eq!(capture.observe().min_level(), Level::Fatal, "off: the minimum level reads as fatal");
    assert!(!capture.observe().is_enabled(Level::Fatal));
    assert!(capture.observe().is_enabled_for("level_directives::db::pool", Level::Trace));
}

#[test]
fn the_tracing_bridge_filters_by_target() {
    let capture = directed("info,hyper=warn,my_service::db=trace");
    let subscriber = tracing_subscriber::registry().with(budobserve::integrations::tracing::layer());
    tracing::subscriber::with_default(subscriber, || {
        capture.run(|| {
            tracing::info!(target: "hyper::proto::h1", "hyper info");
            tracing::warn!(target: "hyper_util::client", "hyper_util warn");
            tracing::trace!(target: "my_service::db::pool", "db trace");
            tracing::debug!(target: "my_service::web", "web debug");
            let span = tracing::info_span!(target: "hyper::client", "hyper span");
            span.in_scope(|| tracing::info!(target: "my_service::web", "inside a skipped span"));
            let _kept = tracing::trace_span!(target: "my_service::db", "db span").entered();
        });
    });
    assert_eq!(names(&capture), ["hyper_util warn", "db trace", "inside a skipped span", "db span"]);
}

#[test]
fn the_log_bridge_filters_by_target() {
    use log::Log as _;

    let capture = directed("warn,my_service::cache=debug");
    let logger = budobserve::integrations::log::logger_for(capture.observe());
    let record = |target: &'static str, level: log::Level, text: &'static str| {
        logger.log(&log::Record::builder().args(format_args!("{text}")).level(level).target(target).build());
    };
    capture.run(|| {
        record("my_service::cache", log::Level::Debug, "cache debug");
        record("my_service::cache", log::Level::Trace, "cache trace");
        record("my_service::web", log::Level::Info, "web info");
        record("my_service::web", log::Level::Warn, "web warn");
    });
    assert!(
        logger.enabled(&log::Metadata::builder().target("my_service::cache::lru").level(log::Level::Debug).build())
    );
    assert!(!logger.enabled(&log::Metadata::builder().target("my_service::web").level(log::Level::Info).build()));
    assert_eq!(names(&capture), ["cache debug", "web warn"]);
}

fn env(pairs: &[(&str, &str)]) -> EnvSource {
    EnvSource::Map(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>())
}

#[test]
fn directives_come_from_the_builder_or_the_variable() {
    let config = budobserve::configure()
        .env(env(&[("BUD_OBSERVE_LEVELS", "debug, my_service::db = trace"), ("BUD_OBSERVE_MIN_LEVEL", "error")]))
        .console(false)
        .build()
        .expect("valid configuration");
    assert_eq!(config.min_level(), Level::Debug, "the bare level is the minimum level");
    assert_eq!(config.level_directives().map(ToString::to_string).as_deref(), Some("debug,my_service::db=trace"));
    let obs = BudObserve::new(config);
    assert!(obs.is_enabled_for("my_service::db", Level::Trace));
    assert!(!obs.is_enabled_for("my_service::web", Level::Trace));

    // Without a bare level, the minimum level stays the variable's.
    let config = budobserve::configure()
        .env(env(&[("BUD_OBSERVE_LEVELS", "my_service::db=trace"), ("BUD_OBSERVE_MIN_LEVEL", "error")]))
        .console(false)
        .build()
        .unwrap();
    assert_eq!(config.min_level(), Level::Error);

    // The builder's directives win over the variable's.
    let config = budobserve::configure()
        .env(env(&[("BUD_OBSERVE_LEVELS", "not a level=at all")]))
        .levels("info".parse().unwrap())
        .console(false)
        .build()
        .unwrap();
    assert_eq!(config.min_level(), Level::Info);

    let error = budobserve::configure()
        .env(env(&[("BUD_OBSERVE_LEVELS", "info,my_service=loud")]))
        .build()
        .unwrap_err()
        .to_string();
    assert!(error.contains("BUD_OBSERVE_LEVELS"), "{error}");
    assert!(error.contains("info,my_service=loud"), "{error}");
    assert!(error.contains("directive `my_service=loud`: unknown level `loud`"), "{error}");
}
