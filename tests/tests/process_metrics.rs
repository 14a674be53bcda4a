//! Process and tokio runtime metrics, read from this process as the reader collects: the values follow what the
//! test does (threads started, files opened, memory touched, CPU burnt, tasks spawned), under the semantic
//! conventions' names.

use std::time::{Duration, Instant};

use budobserve::KeyValue;
use budobserve::integrations::process;
use budobserve::testing;

/// The tests here count the process's threads and descriptors: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn process_metrics_follow_the_process() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let capture = testing::capture();
    process::instrument(capture.observe()).expect("/proc/self is readable");
    let value = |name: &str, attributes: &[KeyValue]| {
        capture.metric_value(name, attributes).unwrap_or_else(|| panic!("no point of {name} {attributes:?}"))
    };
    let point = &capture.metric_points("process.memory.usage")[0];
    assert_eq!((point.unit.as_str(), point.scope.as_str()), ("By", "budobserve.process"));

    // Threads: three more while they wait. Threads of the test harness may end meanwhile (the runtime of the test
    // before): a try in which the count also lost some is tried again.
    let grew_by_three = (0..10).any(|_| {
        let threads_before = value("process.thread.count", &[]);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = std::sync::Arc::new(std::sync::Mutex::new(wait));
        let parked: Vec<_> = (0..3)
            .map(|_| {
                let wait = std::sync::Arc::clone(&wait);
                std::thread::spawn(move || wait.lock().unwrap().recv().is_err())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let threads_during = value("process.thread.count", &[]);
        drop(release);
        assert!(parked.into_iter().all(|t| t.join().unwrap()), "each thread woke to the closed channel");
        threads_during >= threads_before + 3.0
    });
    assert!(grew_by_three, "process.thread.count never showed the three threads started");

    // File descriptors: ten more while they are open.
    let fds_before = value("process.unix.file_descriptor.count", &[]);
    let files: Vec<_> = (0..10).map(|_| std::fs::File::open("/proc/self/stat").unwrap()).collect();
    assert!(value("process.unix.file_descriptor.count", &[]) >= fds_before + 10.0);
    drop(files);

    // Resident memory: 64 MiB touched shows.
    let resident_before = value("process.memory.usage", &[]);
    let touched = vec![1_u8; 64 << 20];
    let resident_after = value("process.memory.usage", &[]);
    assert!(resident_after >= resident_before + f64::from(48_u32 << 20), "{resident_before} → {resident_after}");
    assert!(value("process.memory.virtual", &[]) >= resident_after);
    drop(std::hint::black_box(touched));

    // CPU: user time grows with a busy loop; both modes are reported.
    let user = [KeyValue::new("cpu.mode", "user")];
    let user_before = value("process.cpu.time", &user);
    let start = Instant::now();
    let mut x = 0_u64;
    while start.elapsed() < Duration::from_millis(300) {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    assert!(value("process.cpu.time", &user) >= user_before + 0.1);
    assert!(value("process.cpu.time", &[KeyValue::new("cpu.mode", "system")]) >= 0.0);
}

#[test]
fn runtime_metrics_follow_the_runtime() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    let capture = testing::capture();
    process::instrument_tokio(capture.observe(), runtime.handle());
    assert_eq!(capture.metric_value("tokio.runtime.workers", &[]), Some(2.0));
    assert_eq!(capture.metric_value("tokio.runtime.alive_tasks", &[]), Some(0.0));
    let (release, _) = tokio::sync::broadcast::channel::<()>(1);
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let mut wait = release.subscribe();
            runtime.spawn(async move { drop(wait.recv().await) })
        })
        .collect();
    assert_eq!(capture.metric_value("tokio.runtime.alive_tasks", &[]), Some(5.0));
    drop(release);
    runtime.block_on(async { futures_util::future::join_all(tasks).await });
    assert_eq!(capture.metric_value("tokio.runtime.alive_tasks", &[]), Some(0.0));
    assert!(capture.metric_value("tokio.runtime.global_queue_depth", &[]).is_some());
}
