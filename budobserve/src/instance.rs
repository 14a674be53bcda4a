//! Which instance the macros and free functions write to: the global one, or a scoped override.
//!
//! Tests running in parallel threads each make their own instance current with [`with_instance`] (or
//! [`with_instance_async`] for a future) and see only their own spans. When no override is active anywhere in the
//! process — the production case — finding the current instance costs one relaxed atomic load.

use std::cell::RefCell;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use crate::clock::Clock;
use crate::gate::{self, overridden};
use crate::observe::BudObserve;

static GLOBAL: LazyLock<BudObserve> = LazyLock::new(|| BudObserve::unconfigured(Clock::System, true));

thread_local! {
    static STACK: RefCell<Vec<BudObserve>> = const { RefCell::new(Vec::new()) };
}

/// The global instance: what [`configure`](crate::configure) sets up, and what is current where no override is.
///
/// ```
/// let _guard = budobserve::configure().console(false).install();
/// budobserve::global().counter("started").build().add(1, &[]);
/// ```
pub fn global() -> &'static BudObserve {
    &GLOBAL
}

/// Runs `f` with the current instance: this thread's innermost override, else the global instance.
///
/// ```
/// use budobserve::Level;
///
/// let debug_on = budobserve::with_current(|obs| obs.is_enabled(Level::Debug));
/// # drop(debug_on);
/// ```
#[inline]
pub fn with_current<R>(f: impl FnOnce(&BudObserve) -> R) -> R {
    if overridden()
        && let Some(overridden) = innermost()
    {
        return f(&overridden);
    }
    f(&GLOBAL)
}

#[cold]
fn innermost() -> Option<BudObserve> {
    STACK.try_with(|stack| stack.try_borrow().ok().and_then(|stack| stack.last().cloned())).ok().flatten()
}

/// The current instance as the macros see it: borrowed when it is the global one.
#[inline]
pub(crate) fn current_for_macros() -> Current {
    if overridden()
        && let Some(overridden) = innermost()
    {
        return Current::Scoped(overridden);
    }
    Current::Global(&GLOBAL)
}

/// The current instance (a cheap clone of the handle).
///
/// ```
/// let obs = budobserve::current();                            // cheap to clone, to keep in a struct
/// obs.histogram("queue.wait").with_unit("s").build().record(0.02, &[]);
/// ```
pub fn current() -> BudObserve {
    with_current(BudObserve::clone)
}

/// Runs `f` with `observe` as the current instance of this thread.
///
/// ```
/// let capture = budobserve::testing::capture();
/// budobserve::with_instance(capture.observe(), || budobserve::info("only in this capture", []));
/// capture.assert_has_span("only in this capture", &[]);
/// ```
///
/// ```
/// use budobserve::bud_info;
///
/// let capture = budobserve::testing::capture();
/// budobserve::with_instance(capture.observe(), || bud_info!("written to the capture"));
/// assert_eq!(capture.spans().len(), 1);
/// ```
pub fn with_instance<R>(observe: &BudObserve, f: impl FnOnce() -> R) -> R {
    let _guard = OverrideGuard::push(observe);
    f()
}

/// Makes `observe` the current instance whenever `future` is polled, on whatever thread polls it.
///
/// ```
/// use budobserve::bud_info;
///
/// let capture = budobserve::testing::capture();
/// let job = async { bud_info!("from a task") };
/// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// runtime.block_on(budobserve::with_instance_async(capture.observe(), job)); // current whenever the job is polled
/// assert_eq!(capture.spans().len(), 1);
/// ```
pub fn with_instance_async<F: Future>(observe: &BudObserve, future: F) -> WithInstance<F> {
    WithInstance { observe: observe.clone(), future }
}

/// Pops the override it pushed, also when `f` panics.
struct OverrideGuard {
    pushed: bool,
}

impl OverrideGuard {
    fn push(observe: &BudObserve) -> OverrideGuard {
        let pushed = STACK
            .try_with(|stack| match stack.try_borrow_mut() {
                Ok(mut stack) => {
                    stack.push(observe.clone());
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        if pushed {
            gate::override_started();
        }
        OverrideGuard { pushed }
    }
}

impl Drop for OverrideGuard {
    fn drop(&mut self) {
        if self.pushed {
            let _ = STACK.try_with(|stack| {
                if let Ok(mut stack) = stack.try_borrow_mut() {
                    stack.pop();
                }
            });
            gate::override_ended();
        }
    }
}

pin_project_lite::pin_project! {
    /// A future polled with its instance current (see [`with_instance_async`]).
    #[derive(Debug)]
    pub struct WithInstance<F> {
        observe: BudObserve,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for WithInstance<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = OverrideGuard::push(this.observe);
        this.future.poll(cx)
    }
}

/// The current instance: borrowed from the global one, or a clone of a scoped override.
#[doc(hidden)]
#[derive(Debug)]
pub enum Current {
    Global(&'static BudObserve),
    Scoped(BudObserve),
}

impl Deref for Current {
    type Target = BudObserve;

    #[inline]
    fn deref(&self) -> &BudObserve {
        match self {
            Current::Global(observe) => observe,
            Current::Scoped(observe) => observe,
        }
    }
}
