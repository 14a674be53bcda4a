//! More than one export in flight: the batch processor exports waiting batches concurrently up to
//! `max_concurrent_exports`, counts each batch's outcome on its own, and the ClickHouse exporter keeps
//! `max_concurrent_inserts` inserts in flight against a server that answers slowly.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::routing::post;
use budobserve::exporters::budmetrics::ClickHouseOptions;
use budobserve::opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use budobserve::opentelemetry_sdk::trace::{SpanData, SpanExporter};
use budobserve::{BatchOptions, BudObserve, EnvSource, bud_span};

/// Counts the exports in flight; every export waits for the gate to open, so that the batches of a round meet.
#[derive(Debug, Default)]
struct Flight {
    now: AtomicUsize,
    most: AtomicUsize,
    exported: AtomicUsize,
    refused: AtomicUsize,
    open: Mutex<bool>,
    opened: Condvar,
}

impl Flight {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    fn wait_open(&self) {
        let open = self.open.lock().unwrap();
        drop(self.opened.wait_while(open, |open| !*open).unwrap());
    }
}

#[derive(Debug)]
struct SlowExporter(Arc<Flight>);

impl SpanExporter for SlowExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.enter();
        self.0.wait_open();
        std::thread::sleep(Duration::from_millis(50));
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        let failing =
            |span: &SpanData| span.attributes.iter().any(|kv| kv.key.as_str() == "name" && kv.value.as_str() == "fail");
        if batch.iter().any(failing) {
            self.0.refused.fetch_add(batch.len(), Ordering::SeqCst);
            return Err(OTelSdkError::InternalFailure("a batch refused by the backend".into()));
        }
        self.0.exported.fetch_add(batch.len(), Ordering::SeqCst);
        Ok(())
    }
}

/// An instance exporting to a gated exporter, in batches of 10, `concurrent` at once (`None`: the default).
fn instance(flight: &Arc<Flight>, concurrent: Option<usize>) -> BudObserve {
    let mut batch =
        BatchOptions::new().max_export_batch_size(10).max_queue_size(1_000).scheduled_delay(Duration::from_secs(60));
    if let Some(concurrent) = concurrent {
        batch = batch.max_concurrent_exports(concurrent);
    }
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .console(false)
        .batch_options(batch)
        .span_exporter(SlowExporter(Arc::clone(flight)))
        .build()
        .unwrap();
    BudObserve::new(config)
}

/// Emits `names` while the exporter's gate is shut, then opens it and flushes.
fn run(observe: &BudObserve, flight: &Flight, names: &[&str]) -> Result<(), String> {
    budobserve::with_instance(observe, || {
        for name in names {
            drop(bud_span!("{name}", name = *name));
        }
    });
    // Whatever the worker took before the gate opened, it holds at least one round of batches now.
    std::thread::sleep(Duration::from_millis(100));
    flight.open();
    observe.force_flush().map_err(|err| err.to_string())
}

#[test]
fn waiting_batches_are_exported_together_up_to_the_limit() {
    let flight = Arc::new(Flight::default());
    let observe = instance(&flight, Some(3));
    // Whatever the worker took before the gate shut it in (10 spans or more), a round of 3 batches or more waits.
    let names: Vec<&str> = std::iter::repeat_n("ok", 60).collect();
    run(&observe, &flight, &names).unwrap();
    assert_eq!(flight.most.load(Ordering::SeqCst), 3);
    assert_eq!(flight.exported.load(Ordering::SeqCst), 60);
    assert_eq!(observe.export_stats().spans_exported, 60);
}

#[test]
fn one_export_at_a_time_by_default() {
    let flight = Arc::new(Flight::default());
    let observe = instance(&flight, None);
    let names: Vec<&str> = std::iter::repeat_n("ok", 40).collect();
    run(&observe, &flight, &names).unwrap();
    assert_eq!(flight.most.load(Ordering::SeqCst), 1);
    assert_eq!(observe.export_stats().spans_exported, 40);
}

#[test]
fn each_concurrent_batch_is_counted_on_its_own() {
    let flight = Arc::new(Flight::default());
    let observe = instance(&flight, Some(4));
    // The batch holding the failing span is lost (its size depends on where the worker's rounds fell), the others
    // are exported.
    let mut names: Vec<&str> = std::iter::repeat_n("ok", 39).collect();
    names.insert(25, "fail");
    let err = run(&observe, &flight, &names).unwrap_err();
    assert!(err.contains("a batch refused by the backend"), "{err}");
    let refused = flight.refused.load(Ordering::SeqCst) as u64;
    assert!((1..=10).contains(&refused), "{refused}");
    let stats = observe.export_stats();
    assert_eq!(
        (stats.spans_exported, stats.spans_failed, stats.failed_exports),
        (40 - refused, refused, 1),
        "{stats:?}"
    );
}

#[derive(Clone, Default)]
struct Inserts {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    rows: Arc<AtomicUsize>,
}

async fn clickhouse(
    State(inserts): State<Inserts>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> &'static str {
    if !query.is_some_and(|query| query.starts_with("query=INSERT")) {
        // The schema's statements and the columns' listing (none listed: the exporter's own layout).
        return "";
    }
    let now = inserts.now.fetch_add(1, Ordering::SeqCst) + 1;
    inserts.most.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    inserts.now.fetch_sub(1, Ordering::SeqCst);
    inserts.rows.fetch_add(body.len(), Ordering::SeqCst);
    ""
}

#[test]
fn the_clickhouse_exporter_keeps_two_inserts_in_flight() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let inserts = Inserts::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/", post(clickhouse)).with_state(inserts.clone());
    runtime.spawn(async move { axum::serve(listener, app).await });

    let options = ClickHouseOptions::new(&url).batch_options(
        BatchOptions::new().max_export_batch_size(100).max_queue_size(10_000).scheduled_delay(Duration::from_secs(60)),
    );
    let config = budobserve::configure().env(EnvSource::Map(HashMap::new())).clickhouse(options).build().unwrap();
    let observe = BudObserve::new(config);
    budobserve::with_instance(&observe, || {
        for n in 0..1_000 {
            drop(bud_span!("span {n}"));
        }
    });
    observe.force_flush().unwrap();
    assert_eq!(inserts.most.load(Ordering::SeqCst), 2);
    assert_eq!(observe.export_stats().spans_exported, 1_000);
    assert!(inserts.rows.load(Ordering::SeqCst) > 0);
}
