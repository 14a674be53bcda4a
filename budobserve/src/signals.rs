//! Telemetry kept when the process is told to stop:
//! [`ConfigBuilder::flush_on_signals`](crate::ConfigBuilder::flush_on_signals) flushes on `SIGTERM` and `SIGINT`, and
//! [`shutdown_signal`] is the future a graceful shutdown waits on.
//!
//! One thread (`budobserve-signals`) waits for the signals once either is asked for. On the first signal it flushes
//! every instance that asked (each within [`SIGNAL_FLUSH_TIMEOUT`]), then wakes the [`shutdown_signal`] futures. When
//! none was ever created, nobody else is there to end the process, so it ends as the signal's default would
//! (killed by it: exit status 143 for `SIGTERM` in a shell, what Kubernetes expects). A second signal ends the
//! process at once, as an impatient Ctrl-C should.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::observe::Instance;

/// How long a signal's flush waits for each instance's exports: a backend that does not answer must not keep a
/// stopping pod past its grace period (Kubernetes gives 30 s).
pub const SIGNAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The signals waited for.
const SIGNALS: [i32; 2] = [SIGTERM, SIGINT];

static WATCHER: OnceLock<Option<Watcher>> = OnceLock::new();

struct Watcher {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Instances configured with `flush_on_signals(true)`, and how to flush them (the lifecycle's, given with them).
    flushed: Vec<Weak<Instance>>,
    flush: Option<Flush>,
    /// Whether a [`shutdown_signal`] future was created: the application then ends the process itself.
    listened: bool,
    /// The first signal received.
    received: Option<i32>,
    /// Whether the first signal's flush is over (the futures complete then).
    flushed_all: bool,
    wakers: Vec<Waker>,
}

impl Watcher {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The watcher, started on first use; `None` when the signals could not be registered (said once on standard
/// error).
fn watcher() -> Option<&'static Watcher> {
    WATCHER
        .get_or_init(|| {
            let started = Signals::new(SIGNALS).and_then(|signals| {
                std::thread::Builder::new().name("budobserve-signals".into()).spawn(move || watch(signals))
            });
            match started {
                Ok(_) => Some(Watcher { state: Mutex::new(State::default()) }),
                Err(error) => {
                    eprintln!(
                        "budobserve: SIGTERM and SIGINT cannot be watched ({error}): telemetry is not flushed on them"
                    );
                    None
                }
            }
        })
        .as_ref()
}

/// Flushes an instance's providers within a timeout.
pub(crate) type Flush = fn(&Instance, Duration);

/// Flushes `instance` with `flush` on the first `SIGTERM` or `SIGINT` (`ConfigBuilder::flush_on_signals`).
pub(crate) fn flush_on_signals(instance: &Arc<Instance>, flush: Flush) {
    let Some(watcher) = watcher() else { return };
    let mut state = watcher.state();
    state.flush = Some(flush);
    state.flushed.retain(|known| known.strong_count() > 0 && !std::ptr::eq(known.as_ptr(), Arc::as_ptr(instance)));
    state.flushed.push(Arc::downgrade(instance));
}

/// The watcher thread's loop. Signals received before the watcher is stored wait in `signals`.
fn watch(mut signals: Signals) {
    let Some(watcher) = WATCHER.wait() else { return };
    for signal in signals.forever() {
        handle(watcher, signal);
    }
}

fn handle(watcher: &Watcher, signal: i32) {
    let instances = {
        let mut state = watcher.state();
        if state.received.is_some() {
            drop(state);
            terminate(signal);
            return;
        }
        state.received = Some(signal);
        (state.flush, state.flushed.iter().filter_map(Weak::upgrade).collect::<Vec<_>>())
    };
    if let (Some(flush), instances) = instances {
        for instance in instances {
            flush(&instance, SIGNAL_FLUSH_TIMEOUT);
        }
    }
    let listened = {
        let mut state = watcher.state();
        state.flushed_all = true;
        for waker in state.wakers.drain(..) {
            waker.wake();
        }
        state.listened
    };
    if !listened {
        terminate(signal);
    }
}

/// Ends the process as `signal`'s default action would.
fn terminate(signal: i32) {
    if signal_hook::low_level::emulate_default_handler(signal).is_err() {
        std::process::exit(128 + signal);
    }
}

/// A future that completes on the first `SIGTERM` or `SIGINT` the process receives, after the instances configured
/// with [`flush_on_signals`](crate::ConfigBuilder::flush_on_signals) have been flushed — for a graceful shutdown
/// (axum's `with_graceful_shutdown`, a worker loop's `select!`). Creating one tells BudObserve that the application
/// ends the process itself: the signal no longer ends it at once (a second one does). Any executor can poll it.
///
/// ```no_run
/// # async fn serve() -> std::io::Result<()> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let _guard = budobserve::configure().service_name("budapp").install().expect("configuration");
/// let app = axum::Router::new();
/// axum::serve(listener, app).with_graceful_shutdown(budobserve::shutdown_signal()).await?;
/// // `_guard` drops here: what the requests in flight recorded is exported before the process ends.
/// # Ok(())
/// # }
/// ```
pub fn shutdown_signal() -> ShutdownSignal {
    let watcher = watcher();
    if let Some(watcher) = watcher {
        watcher.state().listened = true;
    }
    ShutdownSignal { watcher }
}

/// The future of [`shutdown_signal`]. It never completes when the signals could not be watched (the reason is on
/// standard error).
#[must_use = "a future does nothing unless awaited"]
#[derive(Debug)]
pub struct ShutdownSignal {
    watcher: Option<&'static Watcher>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("received", &self.state().received).finish()
    }
}

impl ShutdownSignal {
    /// The signal received (`SIGTERM` is 15, `SIGINT` 2), once there is one.
    pub fn received(&self) -> Option<i32> {
        self.watcher.and_then(|watcher| watcher.state().received)
    }
}

impl Future for ShutdownSignal {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(watcher) = self.watcher else { return Poll::Pending };
        let mut state = watcher.state();
        // Ready only once the flush is done: the wakers are woken after it.
        if state.flushed_all {
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|waker| waker.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
