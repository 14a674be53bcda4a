//! A service whose worker thread panics and which then exits at once without flushing: `panic_report ENDPOINT
//! on|off`. With the panic hook on, the fatal log of the panic and what was recorded before it reach ENDPOINT;
//! off, nothing does (the batch delay is a minute).

use std::collections::HashMap;
use std::time::Duration;

use budobserve::{BatchOptions, EnvSource, bud_info};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, mode] = args.as_slice() else {
        eprintln!("usage: panic_report ENDPOINT on|off");
        std::process::exit(2);
    };
    let guard = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("panic-report")
        .console(false)
        .endpoint(endpoint)
        .metrics_interval(Duration::from_secs(3600))
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .panic_hook(mode == "on")
        .install()
        .unwrap();
    // As a service's guard that lives in `main` past a worker's panic: never dropped here.
    std::mem::forget(guard);
    bud_info!("before the panic");
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| {
            let job = 42;
            panic!("job {job} failed");
        })
        .unwrap();
    assert!(worker.join().is_err());
    std::process::exit(3);
}
