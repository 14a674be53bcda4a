//! Process metrics (Logfire's `instrument_system_metrics`): CPU time, resident and virtual memory, threads and open
//! file descriptors of this process, read from `/proc/self` through the `procfs` crate when the reader collects,
//! under the semantic conventions' names; and a tokio runtime's workers, alive tasks and global queue depth.
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! let capture = budobserve::testing::capture();
//! budobserve::integrations::process::instrument(capture.observe())?;
//! assert!(capture.metric_value("process.thread.count", &[]).is_some_and(|threads| threads >= 1.0));
//! # }
//! # Ok::<(), budobserve::integrations::process::ProcessMetricsError>(())
//! ```
//!
//! The instruments are observable: nothing is read until a metric reader collects (each collection reads
//! `/proc/self/stat` and counts `/proc/self/fd`), and a reading that fails is skipped, not reported as zero.

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_semantic_conventions::attribute::CPU_MODE;
use opentelemetry_semantic_conventions::metric::{
    PROCESS_CPU_TIME, PROCESS_MEMORY_USAGE, PROCESS_MEMORY_VIRTUAL, PROCESS_THREAD_COUNT,
    PROCESS_UNIX_FILE_DESCRIPTOR_COUNT,
};

use crate::constants::metrics as names;
use crate::observe::BudObserve;

/// The instrumentation scope of the process and runtime metrics.
const SCOPE: &str = "budobserve.process";

/// Why [`instrument`] registered nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessMetricsError {
    /// Not on Linux: the metrics are read from `/proc`.
    #[error("process metrics are read from /proc and are only available on Linux")]
    Unsupported,
    /// `/proc/self` could not be read.
    #[error("cannot read /proc/self: {0}")]
    Proc(String),
}

/// Registers the process metrics on `obs`'s meter provider (scope `budobserve.process`): `process.cpu.time`
/// (counter, seconds, `cpu.mode` `user` / `system`), `process.memory.usage` (resident set, bytes),
/// `process.memory.virtual` (bytes), `process.thread.count` and `process.unix.file_descriptor.count`
/// (up-down counters). Call it once per instance: each call registers the instruments again.
pub fn instrument(obs: &BudObserve) -> Result<(), ProcessMetricsError> {
    imp::instrument(obs)
}

/// Registers `runtime`'s metrics on `obs`'s meter provider: `tokio.runtime.workers`, `tokio.runtime.alive_tasks`
/// and `tokio.runtime.global_queue_depth` (gauges), read when the reader collects.
///
/// ```
/// let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build()?;
/// let capture = budobserve::testing::capture();
/// budobserve::integrations::process::instrument_tokio(capture.observe(), runtime.handle());
/// assert_eq!(capture.metric_value("tokio.runtime.workers", &[]), Some(2.0));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn instrument_tokio(obs: &BudObserve, runtime: &tokio::runtime::Handle) {
    let meter = obs.meter_provider().meter(SCOPE);
    let gauge = |name: &'static str, unit: &'static str, read: fn(&tokio::runtime::RuntimeMetrics) -> usize| {
        let metrics = runtime.metrics();
        meter
            .u64_observable_gauge(name)
            .with_unit(unit)
            .with_callback(move |observer| observer.observe(u64::try_from(read(&metrics)).unwrap_or(u64::MAX), &[]))
            .build()
    };
    gauge(names::TOKIO_WORKERS, "{worker}", tokio::runtime::RuntimeMetrics::num_workers);
    gauge(names::TOKIO_ALIVE_TASKS, "{task}", tokio::runtime::RuntimeMetrics::num_alive_tasks);
    gauge(names::TOKIO_GLOBAL_QUEUE_DEPTH, "{task}", tokio::runtime::RuntimeMetrics::global_queue_depth);
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;

    /// One reading of `/proc/self/stat`.
    struct Reading {
        user_seconds: f64,
        system_seconds: f64,
        resident_bytes: i64,
        virtual_bytes: i64,
        threads: i64,
    }

    fn read() -> Option<Reading> {
        let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
        let ticks = procfs::ticks_per_second() as f64;
        Some(Reading {
            user_seconds: stat.utime as f64 / ticks,
            system_seconds: stat.stime as f64 / ticks,
            resident_bytes: i64::try_from(stat.rss.saturating_mul(procfs::page_size())).unwrap_or(i64::MAX),
            virtual_bytes: i64::try_from(stat.vsize).unwrap_or(i64::MAX),
            threads: stat.num_threads,
        })
    }

    fn open_descriptors() -> Option<i64> {
        let count = procfs::process::Process::myself().ok()?.fd_count().ok()?;
        i64::try_from(count).ok()
    }

    pub(super) fn instrument(obs: &BudObserve) -> Result<(), ProcessMetricsError> {
        // Checked once up front: a process that cannot read its own /proc gets an error, not silent instruments.
        let process = procfs::process::Process::myself().map_err(|e| ProcessMetricsError::Proc(e.to_string()))?;
        process.stat().map_err(|e| ProcessMetricsError::Proc(e.to_string()))?;
        let meter = obs.meter_provider().meter(SCOPE);
        meter
            .f64_observable_counter(PROCESS_CPU_TIME)
            .with_unit("s")
            .with_description("CPU time of the process, by mode")
            .with_callback(|observer| {
                if let Some(reading) = read() {
                    observer.observe(reading.user_seconds, &[KeyValue::new(CPU_MODE, "user")]);
                    observer.observe(reading.system_seconds, &[KeyValue::new(CPU_MODE, "system")]);
                }
            })
            .build();
        let up_down =
            |name: &'static str, unit: &'static str, description: &'static str, value: fn() -> Option<i64>| {
                meter
                    .i64_observable_up_down_counter(name)
                    .with_unit(unit)
                    .with_description(description)
                    .with_callback(move |observer| {
                        if let Some(value) = value() {
                            observer.observe(value, &[]);
                        }
                    })
                    .build()
            };
        up_down(PROCESS_MEMORY_USAGE, "By", "Resident memory of the process", || read().map(|r| r.resident_bytes));
        up_down(PROCESS_MEMORY_VIRTUAL, "By", "Virtual memory of the process", || read().map(|r| r.virtual_bytes));
        up_down(PROCESS_THREAD_COUNT, "{thread}", "Threads of the process", || read().map(|r| r.threads));
        up_down(PROCESS_UNIX_FILE_DESCRIPTOR_COUNT, "{file_descriptor}", "Open file descriptors", open_descriptors);
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    pub(super) fn instrument(_obs: &BudObserve) -> Result<(), ProcessMetricsError> {
        Err(ProcessMetricsError::Unsupported)
    }
}
