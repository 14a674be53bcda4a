//! The handle an integration writes with: an instance's handle under the integration's instrumentation scope —
//! one way to make it, for the client integrations (a fixed instance, with their duration histogram) and for the
//! `tracing`/`log` bridges (whichever instance is current when a record arrives).

#[cfg(any(feature = "axum", feature = "reqwest", feature = "redis", feature = "sqlx"))]
use opentelemetry::metrics::Histogram;

use crate::launch::Origin;
use crate::observe::{BudObserve, Settings};

/// `observe`'s handle under the instrumentation scope `scope`, writing as `origin`.
fn scoped_handle(observe: &BudObserve, scope: &'static str, origin: Origin) -> BudObserve {
    observe.with_settings(Settings::new().scope(scope).origin(origin))
}

/// `observe`'s handle for an integration: under its instrumentation scope, its spans typed `integration`.
#[cfg(feature = "dapr")]
pub(crate) fn integration(observe: &BudObserve, scope: &'static str) -> BudObserve {
    scoped_handle(observe, scope, Origin::Integration)
}

/// An integration's handle on `observe`, under its instrumentation scope, and its histogram of durations (seconds,
/// the semantic conventions' buckets).
#[cfg(any(feature = "axum", feature = "reqwest", feature = "redis", feature = "sqlx"))]
pub(crate) fn scoped(
    observe: &BudObserve,
    scope: &'static str,
    name: &'static str,
    description: &'static str,
) -> (BudObserve, Histogram<f64>) {
    let observe = scoped_handle(observe, scope, Origin::Integration);
    let histogram = observe
        .histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(vec![0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0])
        .build();
    (observe, histogram)
}

/// The handle a bridge writes with: the instance current on this thread, under the bridge's scope. The global
/// instance's handle is made once per bridge; an instance made current with [`with_instance`](crate::with_instance)
/// gets one per call.
#[cfg(any(feature = "tracing", feature = "log"))]
#[derive(Debug)]
pub(crate) struct ScopedHandle {
    scope: &'static str,
    fixed: Option<BudObserve>,
    global: std::sync::OnceLock<BudObserve>,
}

#[cfg(any(feature = "tracing", feature = "log"))]
impl ScopedHandle {
    /// Writes to whichever instance is current when a record arrives.
    pub(crate) const fn current(scope: &'static str) -> ScopedHandle {
        ScopedHandle { scope, fixed: None, global: std::sync::OnceLock::new() }
    }

    /// Always writes to `observe`.
    pub(crate) fn fixed(scope: &'static str, observe: &BudObserve) -> ScopedHandle {
        ScopedHandle {
            scope,
            fixed: Some(scoped_handle(observe, scope, Origin::Bridge)),
            global: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&BudObserve) -> R) -> R {
        if let Some(fixed) = &self.fixed {
            return f(fixed);
        }
        crate::with_current(|current| {
            if current.is_global() {
                f(self.global.get_or_init(|| scoped_handle(current, self.scope, Origin::Bridge)))
            } else {
                f(&scoped_handle(current, self.scope, Origin::Bridge))
            }
        })
    }
}
