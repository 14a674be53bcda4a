//! The lifecycle of an instance: built from a configuration ([`BudObserve::new`], [`ConfigBuilder::install`]), its
//! SDK providers put behind its proxies (and replaced, when configured again), flushed, and shut down — by a call or
//! by the [`ShutdownGuard`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::callsite::COMPLETION_ROOM;
use crate::clock::Clock;
use crate::config::{BudObserveConfig, ConfigBuilder};
use crate::contained::{ContainedIdGenerator, ContainedSampler, SharedIdGenerator};
use crate::direct::DirectSettings;
use crate::error::{ConfigError, LifecycleError};
use crate::exceptions;
use crate::exporters::batch::{DEFAULT_FLUSH_TIMEOUT, with_flush_timeout};
use crate::exporters::console::ConsoleProcessor;
use crate::exporters::prepare::Preparation;
use crate::exporters::processor::{Pipeline, Routing};
use crate::observe::{BudObserve, Instance};
use crate::panic;
use crate::panic_report;
use crate::providers::lock;
use crate::records::RecordPreparation;

impl ConfigBuilder {
    /// Configures the global instance (the one the macros and free functions use) and returns the guard that
    /// flushes and shuts it down when dropped. Tracers, meters and instruments obtained before start recording now.
    /// Installing again replaces the previous configuration.
    ///
    /// Also makes the global instance's proxies OpenTelemetry's global tracer and meter providers, and W3C trace
    /// context + baggage the global propagator, so libraries using the OpenTelemetry API join the same traces.
    pub fn install(self) -> Result<ShutdownGuard, ConfigError> {
        let config = self.build()?;
        if matches!(config.clock, Some(Clock::Stepping(_))) {
            return Err(ConfigError::InvalidOption {
                option: "clock",
                value: "Clock::Stepping".to_owned(),
                expected: "the system clock for the global instance (use `BudObserve::new` for another clock)".into(),
            });
        }
        let global = crate::instance::global();
        let generation = global.apply(config);
        // Libraries instrumented with the OpenTelemetry API write through the same pipeline, and W3C trace context
        // and baggage are what propagators inject and extract.
        opentelemetry::global::set_tracer_provider(global.tracer_provider().clone());
        opentelemetry::global::set_meter_provider(global.meter_provider().clone());
        opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]));
        Ok(ShutdownGuard::new(global.clone(), generation))
    }
}

impl BudObserve {
    /// Builds an explicit instance from a resolved configuration. It is independent of the global instance: use it
    /// directly, or make it current for a scope with [`with_instance`](crate::with_instance).
    pub fn new(config: BudObserveConfig) -> BudObserve {
        let clock = config.clock.clone().unwrap_or_default();
        let observe = BudObserve::unconfigured(clock, false);
        // The instance owns its providers; they shut down with its last handle or with `shutdown`.
        observe.apply(config);
        observe
    }

    /// Builds the SDK providers of `config` and points this instance's proxies at them. The providers they replace
    /// are flushed and shut down. Returns the new configuration's generation.
    pub(crate) fn apply(&self, config: BudObserveConfig) -> u64 {
        panic::install_hook();
        panic_report::install();
        let instance = &self.instance;
        let _configuring = lock(&instance.configure_lock);
        let resource = config.resource();

        instance.head.configure(config.sample_rate, config.sampler.is_some());
        let scrubber = config.scrubber;
        instance.scrubber.store(scrubber.clone());
        let span_limits = config.span_limits;
        let preparation = Preparation::new(scrubber.clone(), span_limits, Arc::clone(&instance.export_counters))
            .http_conventions(config.http_conventions);
        let console = config.console.map(|options| ConsoleProcessor::new(options).preparation(preparation.clone()));
        let counters = &instance.export_counters;
        let ids = config
            .id_generator
            .map(|generator| SharedIdGenerator(Arc::new(ContainedIdGenerator::new(generator, Arc::clone(counters)))));
        // A sampler of the user's is called on the caller's thread with the SDK's inputs: its spans keep the SDK's
        // path. Otherwise the pipeline decides whether the direct path can take them.
        let direct = config.sampler.is_none().then(|| DirectSettings {
            limits: span_limits.sdk(),
            cut: crate::limits::queue_cut(&span_limits),
            ids: ids.as_ref().map(|ids| Arc::clone(&ids.0)),
        });
        let pipeline = Pipeline::new(
            console,
            config.span_processors,
            &config.batch_options,
            &instance.export_counters,
            Routing { pending_spans: config.pending_spans, tail: config.tail_sampling, direct },
            preparation.clone(),
        );
        let direct = pipeline.direct();
        // Every span is completed somewhere (on the export worker, or on the caller for processors given as such):
        // reserving the room here, in the one allocation the span makes anyway, lets the completion write in place.
        // Completing it on the worker into a vector of its own instead made the worker allocate, copy and free per
        // span, and fall behind a fast producer (a third of the spans dropped at full speed, against ~3% now).
        // Scrubbing may add its note: `budobserve_scrubbed` and `budobserve_scrubbed_rules`.
        let room = if pipeline.has_stages() { COMPLETION_ROOM + 2 * usize::from(preparation.scrubs()) } else { 0 };
        let mut tracer_builder = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_span_limits(span_limits.sdk())
            .with_span_processor(pipeline);
        if let Some(ids) = ids {
            tracer_builder = tracer_builder.with_id_generator(ids);
        }
        if let Some(sampler) = config.sampler {
            tracer_builder = tracer_builder.with_sampler(ContainedSampler::new(sampler, Arc::clone(counters)));
        }
        let mut meter_builder = SdkMeterProvider::builder().with_resource(resource.clone());
        for step in config.metric_readers {
            meter_builder = step(meter_builder);
        }
        let mut logger_builder = SdkLoggerProvider::builder().with_resource(resource);
        // First: every log processor after it sees records with unique keys, scrubbed.
        logger_builder = logger_builder.with_log_processor(RecordPreparation::new(scrubber));
        for step in config.log_processors {
            logger_builder = step(logger_builder, counters);
        }

        instance.levels.set(config.min_level, config.level_directives.clone());
        exceptions::set_callback(instance.number, config.exception_callback.clone(), &instance.export_counters);
        instance.report_panics.store(config.panic_hook, Ordering::Relaxed);
        exceptions::set_backtraces(instance.number, config.error_backtraces);
        #[cfg(all(feature = "signals", unix))]
        if config.flush_on_signals {
            crate::signals::flush_on_signals(instance, flush_instance);
        }
        instance.attribute_limit.store(span_limits.attribute_count_limit(), Ordering::Relaxed);
        // Set before the provider: a span started in between gets room it does not need, never too little.
        instance.completion_room.fetch_max(room, Ordering::Relaxed);
        let replaced = Providers {
            traces: instance.tracer_provider.set_backend(
                Some(tracer_builder.build()),
                direct,
                config.baggage_to_attributes,
            ),
            metrics: instance.meter_provider.set_provider(Some(meter_builder.build())),
            logs: instance.logger_provider.set_provider(Some(logger_builder.build())),
        };
        instance.completion_room.store(room, Ordering::Relaxed);
        // Whatever the replaced providers still hold is exported; their errors are theirs to report.
        let _ = replaced.shutdown();
        instance.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Flushes every provider: spans, metrics and logs recorded so far are exported before it returns.
    pub fn force_flush(&self) -> Result<(), LifecycleError> {
        self.force_flush_with_timeout(DEFAULT_FLUSH_TIMEOUT)
    }

    /// [`force_flush`](Self::force_flush), returning within `timeout` (default 30 s): traces, metrics and logs
    /// flush at once, and an export still running then goes on in the background while the flush reports a
    /// timeout.
    pub fn force_flush_with_timeout(&self, timeout: Duration) -> Result<(), LifecycleError> {
        self.current_providers().force_flush(timeout)
    }

    /// [`shutdown`](Self::shutdown), returning within `timeout` (default 5 s): traces, metrics and logs shut down at
    /// once, each given `timeout` to export what it holds; one still busy then is reported as timed out.
    pub fn shutdown_with_timeout(&self, timeout: Duration) -> Result<(), LifecycleError> {
        let instance = &self.instance;
        let _configuring = lock(&instance.configure_lock);
        let providers = Providers {
            traces: instance.tracer_provider.set_provider(None),
            metrics: instance.meter_provider.set_provider(None),
            logs: instance.logger_provider.set_provider(None),
        };
        providers.shutdown_with_timeout(timeout)
    }

    /// Flushes and shuts down the providers; the instance records nothing afterwards until configured again.
    pub fn shutdown(&self) -> Result<(), LifecycleError> {
        self.shutdown_with_timeout(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    fn current_providers(&self) -> Providers {
        current_providers(&self.instance)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.instance.generation.load(Ordering::Acquire)
    }
}

fn current_providers(instance: &Instance) -> Providers {
    Providers {
        traces: instance.tracer_provider.provider(),
        metrics: instance.meter_provider.provider(),
        logs: instance.logger_provider.provider(),
    }
}

/// Flushes `instance`'s providers within `timeout`, for what holds the instance without a handle (the signal
/// watcher). Errors are the exporters' to report; the process is stopping either way.
#[cfg(all(feature = "signals", unix))]
fn flush_instance(instance: &Instance, timeout: Duration) {
    let _ = current_providers(instance).force_flush(timeout);
}

/// How long a shutdown gives each provider by default (the SDK's own default).
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK providers of one configuration.
struct Providers {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
    logs: Option<SdkLoggerProvider>,
}

/// What one provider is asked: a flush or a shutdown, given the time it has.
type Action<P> = fn(&P, Duration) -> Result<(), OTelSdkError>;

impl Providers {
    /// Runs `action` on every provider at once, each on a thread of its own, and waits for them at most `timeout`
    /// in all: a provider still busy then goes on in the background and is reported as timed out. (The SDK's
    /// meter provider ignores the timeout it is given; run one after another, three providers would take up to
    /// three times the timeout.) Returns the first error, in the order traces, metrics, logs.
    fn each_within(
        &self,
        action: &'static str,
        timeout: Duration,
        traces: Action<SdkTracerProvider>,
        metrics: Action<SdkMeterProvider>,
        logs: Action<SdkLoggerProvider>,
    ) -> Result<(), LifecycleError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let mut pending: Vec<&'static str> = Vec::new();
        // The providers get a little less than the whole, so that one that keeps its own deadline reports (and
        // counts what it lost) before this stops waiting.
        let whole = timeout;
        let timeout = whole.saturating_sub((whole / 10).min(Duration::from_millis(100)));
        fn run<P: Clone + Send + 'static>(
            signal: &'static str,
            provider: Option<&P>,
            f: Action<P>,
            timeout: Duration,
            sender: &std::sync::mpsc::Sender<(&'static str, Result<(), OTelSdkError>)>,
            pending: &mut Vec<&'static str>,
        ) {
            let Some(provider) = provider.cloned() else { return };
            pending.push(signal);
            let sender = sender.clone();
            let task = move || {
                let _ = sender.send((signal, f(&provider, timeout)));
            };
            // Without a thread (the system refused one), the provider is asked here, unbounded.
            if std::thread::Builder::new().name(format!("budobserve-{signal}")).spawn(task.clone()).is_err() {
                task();
            }
        }
        run("traces", self.traces.as_ref(), traces, timeout, &sender, &mut pending);
        run("metrics", self.metrics.as_ref(), metrics, timeout, &sender, &mut pending);
        run("logs", self.logs.as_ref(), logs, timeout, &sender, &mut pending);
        drop(sender);
        let deadline = Instant::now() + whole;
        let mut results: Vec<(&'static str, Result<(), OTelSdkError>)> = Vec::with_capacity(pending.len());
        while results.len() < pending.len() {
            match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(result) => results.push(result),
                Err(_) => break,
            }
        }
        for signal in ["traces", "metrics", "logs"] {
            if !pending.contains(&signal) {
                continue;
            }
            let result = results.iter().position(|(s, _)| *s == signal).map(|i| results.swap_remove(i).1);
            match result {
                Some(Err(OTelSdkError::AlreadyShutdown)) | Some(Ok(())) => {}
                Some(Err(source)) => return Err(LifecycleError { signal, action, source }),
                None => return Err(LifecycleError { signal, action, source: OTelSdkError::Timeout(timeout) }),
            }
        }
        Ok(())
    }

    /// Flushes every provider within `timeout` in all (each span exporter's queue waits at most that long).
    fn force_flush(&self, timeout: Duration) -> Result<(), LifecycleError> {
        self.each_within(
            "flush",
            timeout,
            |p, timeout| with_flush_timeout(timeout, || p.force_flush()),
            |p, _| p.force_flush(),
            |p, _| p.force_flush(),
        )
    }

    fn shutdown(&self) -> Result<(), LifecycleError> {
        self.shutdown_with_timeout(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> Result<(), LifecycleError> {
        self.each_within(
            "shut down",
            timeout,
            |p, timeout| p.shutdown_with_timeout(timeout),
            |p, timeout| p.shutdown_with_timeout(timeout),
            |p, timeout| p.shutdown_with_timeout(timeout),
        )
    }
}

/// Flushes and shuts down the configuration installed by [`ConfigBuilder::install`](crate::ConfigBuilder::install)
/// when dropped — unless a later configuration replaced it, which then owns the instance.
///
/// ```
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let guard = budobserve::configure().console(false).install()?;
///     budobserve::bud_info!("work done");
///     guard.shutdown()?;                                   // or drop it: flushes and shuts down, errors reported
///     Ok(())
/// }
/// ```
#[must_use = "dropping the guard shuts BudObserve down at once: keep it alive for the life of the program"]
pub struct ShutdownGuard {
    observe: BudObserve,
    generation: u64,
    done: bool,
}

impl ShutdownGuard {
    pub(crate) fn new(observe: BudObserve, generation: u64) -> ShutdownGuard {
        ShutdownGuard { observe, generation, done: false }
    }

    /// The instance this guard shuts down.
    pub fn observe(&self) -> &BudObserve {
        &self.observe
    }

    /// Flushes and shuts down now, reporting errors (dropping the guard does the same and ignores them).
    pub fn shutdown(mut self) -> Result<(), LifecycleError> {
        self.shutdown_if_current()
    }

    fn shutdown_if_current(&mut self) -> Result<(), LifecycleError> {
        if !std::mem::replace(&mut self.done, true) && self.observe.generation() == self.generation {
            self.observe.shutdown()
        } else {
            Ok(())
        }
    }
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        let _ = self.shutdown_if_current();
    }
}

impl fmt::Debug for ShutdownGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownGuard").field("generation", &self.generation).finish()
    }
}
