//! The lifecycle of an instance: built from a configuration ([`BudObserve::new`], [`ConfigBuilder::install`]), its
//! SDK providers put behind its proxies (and replaced, when configured again), flushed, and shut down — by a call or
//! by the [`ShutdownGuard`].

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{IdGenerator, SdkTracerProvider};

use crate::callsite::COMPLETION_ROOM;
use crate::clock::Clock;
use crate::config::{BudObserveConfig, ConfigBuilder};
use crate::error::{ConfigError, LifecycleError};
use crate::exporters::batch::{DEFAULT_FLUSH_TIMEOUT, with_flush_timeout};
use crate::exporters::console::ConsoleProcessor;
use crate::exporters::prepare::Preparation;
use crate::exporters::processor::Pipeline;
use crate::observe::BudObserve;
use crate::panic;
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
        let instance = &self.instance;
        let _configuring = lock(&instance.configure_lock);
        let resource = config.resource();

        instance.head.configure(config.sample_rate, config.sampler.is_some());
        let scrubber = config.scrubber;
        instance.scrubber.store(scrubber.clone());
        let span_limits = config.span_limits;
        let preparation = Preparation::new(scrubber.clone(), span_limits);
        let console = config.console.map(|options| ConsoleProcessor::new(options).preparation(preparation.clone()));
        let pipeline = Pipeline::new(
            console,
            config.span_processors,
            &config.batch_options,
            &instance.export_counters,
            config.pending_spans,
            config.tail_sampling,
            preparation.clone(),
        );
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
        if let Some(generator) = config.id_generator {
            tracer_builder = tracer_builder.with_id_generator(BoxedIdGenerator(generator));
        }
        if let Some(sampler) = config.sampler {
            tracer_builder = tracer_builder.with_sampler(sampler);
        }
        let mut meter_builder = SdkMeterProvider::builder().with_resource(resource.clone());
        for step in config.metric_readers {
            meter_builder = step(meter_builder);
        }
        let mut logger_builder = SdkLoggerProvider::builder().with_resource(resource);
        // First: every log processor after it sees records with unique keys, scrubbed.
        logger_builder = logger_builder.with_log_processor(RecordPreparation::new(scrubber));
        for step in config.log_processors {
            logger_builder = step(logger_builder);
        }

        self.store_min_level(config.min_level);
        instance.attribute_limit.store(span_limits.attribute_count_limit(), Ordering::Relaxed);
        // Set before the provider: a span started in between gets room it does not need, never too little.
        instance.completion_room.fetch_max(room, Ordering::Relaxed);
        let replaced = Providers {
            traces: instance.tracer_provider.set_provider(Some(tracer_builder.build())),
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

    /// [`force_flush`](Self::force_flush), waiting at most `timeout` for each span exporter's queue (default 30 s);
    /// an export still running then goes on in the background and the flush reports a timeout. Metrics and logs
    /// flush through the SDK's reader and log processor, with their own timeouts.
    pub fn force_flush_with_timeout(&self, timeout: Duration) -> Result<(), LifecycleError> {
        let providers = self.current_providers();
        with_flush_timeout(timeout, || providers.force_flush())
    }

    /// [`shutdown`](Self::shutdown), giving each provider at most `timeout` (default 5 s) to export what it holds.
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
        Providers {
            traces: self.instance.tracer_provider.provider(),
            metrics: self.instance.meter_provider.provider(),
            logs: self.instance.logger_provider.provider(),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.instance.generation.load(Ordering::Acquire)
    }
}

/// How long a shutdown gives each provider by default (the SDK's own default).
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK providers of one configuration.
struct Providers {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
    logs: Option<SdkLoggerProvider>,
}

impl Providers {
    /// Runs `action` on every provider, returning the first error after trying them all.
    fn each(
        &self,
        action: &'static str,
        traces: impl Fn(&SdkTracerProvider) -> Result<(), OTelSdkError>,
        metrics: impl Fn(&SdkMeterProvider) -> Result<(), OTelSdkError>,
        logs: impl Fn(&SdkLoggerProvider) -> Result<(), OTelSdkError>,
    ) -> Result<(), LifecycleError> {
        let results = [
            ("traces", self.traces.as_ref().map(traces)),
            ("metrics", self.metrics.as_ref().map(metrics)),
            ("logs", self.logs.as_ref().map(logs)),
        ];
        for (signal, result) in results {
            match result {
                Some(Err(OTelSdkError::AlreadyShutdown)) | Some(Ok(())) | None => {}
                Some(Err(source)) => {
                    return Err(LifecycleError { signal, action, source });
                }
            }
        }
        Ok(())
    }

    fn force_flush(&self) -> Result<(), LifecycleError> {
        self.each(
            "flush",
            SdkTracerProvider::force_flush,
            SdkMeterProvider::force_flush,
            SdkLoggerProvider::force_flush,
        )
    }

    fn shutdown(&self) -> Result<(), LifecycleError> {
        self.shutdown_with_timeout(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> Result<(), LifecycleError> {
        self.each(
            "shut down",
            |p| p.shutdown_with_timeout(timeout),
            |p| p.shutdown_with_timeout(timeout),
            |p| p.shutdown_with_timeout(timeout),
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

/// An id generator chosen at configuration time.
#[derive(Debug)]
struct BoxedIdGenerator(Box<dyn IdGenerator>);

impl IdGenerator for BoxedIdGenerator {
    fn new_trace_id(&self) -> opentelemetry::TraceId {
        self.0.new_trace_id()
    }

    fn new_span_id(&self) -> opentelemetry::SpanId {
        self.0.new_span_id()
    }
}
