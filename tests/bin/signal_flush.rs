//! A service stopped by a signal: `signal_flush ENDPOINT flush|graceful|off`. It records a span and a counter,
//! prints `ready`, and waits. `flush` is configured with `flush_on_signals(true)` and no shutdown of its own;
//! `graceful` awaits `shutdown_signal()` and then drops its guard; `off` does neither. Batches wait a minute and
//! metrics an hour, so only a flush exports anything.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use budobserve::{BatchOptions, EnvSource, KeyValue, bud_span};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, mode] = args.as_slice() else {
        eprintln!("usage: signal_flush ENDPOINT flush|graceful|off");
        std::process::exit(2);
    };
    let guard = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("signal-flush")
        .console(false)
        .endpoint(endpoint)
        .metrics_interval(Duration::from_secs(3600))
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .flush_on_signals(mode == "flush")
        .install()
        .unwrap();
    let jobs = budobserve::meter().u64_counter("jobs.done").build();
    {
        let _job = bud_span!("job {id}", id = 7).entered();
        jobs.add(3, &[KeyValue::new("queue", "default")]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if mode == "graceful" {
        let signal = budobserve::shutdown_signal();
        println!("ready");
        std::io::stdout().flush().unwrap();
        runtime.block_on(async {
            let mut signal = signal;
            (&mut signal).await;
            println!("graceful after signal {}", signal.received().unwrap_or(0));
        });
        drop(guard);
        return;
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    runtime.block_on(tokio::time::sleep(Duration::from_secs(60)));
    drop(guard);
    std::process::exit(4);
}
