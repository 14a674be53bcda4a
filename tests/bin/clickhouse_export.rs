//! Exports spans to ClickHouse in a process of its own, so that a test can read what BudObserve writes to standard
//! error: `clickhouse_export URL DATABASE ROUNDS SPANS` emits SPANS spans per round, flushes after each round, and
//! prints the export counts at the end.

use std::collections::HashMap;
use std::time::Duration;

use budobserve::exporters::budmetrics::ClickHouseOptions;
use budobserve::{BudObserve, EnvSource, bud_span};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, database, rounds, spans] = args.as_slice() else {
        eprintln!("usage: clickhouse_export URL DATABASE ROUNDS SPANS");
        std::process::exit(2);
    };
    let rounds: u32 = rounds.parse().unwrap();
    let spans: u32 = spans.parse().unwrap();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("clickhouse-export")
        .clickhouse(ClickHouseOptions::new(url).database(database).create_schema(false).timeout(Duration::from_secs(5)))
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    for round in 0..rounds {
        budobserve::with_instance(&observe, || {
            for n in 0..spans {
                drop(bud_span!("round {round} span {n}"));
            }
        });
        let _ = observe.force_flush();
    }
    let stats = observe.export_stats();
    println!(
        "exported={} failed={} failed_exports={} dropped={}",
        stats.spans_exported, stats.spans_failed, stats.failed_exports, stats.spans_dropped
    );
}
