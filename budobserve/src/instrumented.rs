//! Futures that carry a span across `.await`: [`Instrument::instrument`], and the future of an instrumented
//! `async fn`, which records the function's result on its span before the span ends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::Context;

use crate::span::BudSpan;

/// Carries a span across `.await`: the span is current while the future is polled, and ends when the future
/// completes or is dropped.
///
/// ```
/// use budobserve::{Instrument, bud_info, bud_span};
///
/// async fn fetch() -> u32 {
///     bud_info!("fetching");                          // a child of `sync`, wherever the task is polled
///     7
/// }
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # runtime.block_on(async {
/// let count = fetch().instrument(bud_span!("sync")).await;
/// # assert_eq!(count, 7);
/// # });
/// ```
pub trait Instrument: Future + Sized {
    /// Wraps this future so that `span` is current whenever it is polled.
    fn instrument(self, span: BudSpan) -> Instrumented<Self> {
        instrumented(self, span, NoCompletion)
    }
}

impl<F: Future> Instrument for F {}

/// What an instrumented future does with its span and output when it completes, before the span ends.
///
/// ```
/// // `#[budobserve::instrument(record_return)]` completes its span with the function's output: the `return`
/// // attribute, and an `Err` recorded. Closures `FnOnce(&mut BudSpan, &T)` are completions too.
/// #[budobserve::instrument(record_return)]
/// async fn answer() -> Result<u32, std::io::Error> {
///     Ok(42)
/// }
/// # drop(answer());
/// ```
pub trait Completion<T> {
    /// Records what it needs of `output` on `span`.
    fn complete(self, span: &mut BudSpan, output: &T);
}

/// Records nothing (plain [`Instrument::instrument`]).
///
/// ```
/// use budobserve::{Instrument, bud_span};
///
/// // `instrument` uses it: the span ends when the future completes, with nothing more recorded.
/// let future = async { 1 + 1 }.instrument(bud_span!("add"));
/// # drop(future);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCompletion;

impl<T> Completion<T> for NoCompletion {
    #[inline]
    fn complete(self, _span: &mut BudSpan, _output: &T) {}
}

impl<T, C: FnOnce(&mut BudSpan, &T)> Completion<T> for C {
    #[inline]
    fn complete(self, span: &mut BudSpan, output: &T) {
        self(span, output);
    }
}

pin_project_lite::pin_project! {
    /// A future with its span (see [`Instrument`]; `#[budobserve::instrument]` on an `async fn` also records the
    /// function's result through `C`).
    pub struct InstrumentedFn<F, C> {
        #[pin]
        future: F,
        span: Option<BudSpan>,
        context: Context,
        on_complete: Option<C>,
    }
}

/// A future with its span, as returned by [`Instrument::instrument`].
///
/// ```
/// use budobserve::{Instrument, Instrumented, bud_span};
///
/// // A field holding an instrumented future, named by its type.
/// struct Job<F> {
///     run: Instrumented<F>,
/// }
///
/// let job = Job { run: async { 7 }.instrument(bud_span!("job")) };
/// # drop(job);
/// ```
pub type Instrumented<F> = InstrumentedFn<F, NoCompletion>;

fn instrumented<F, C>(future: F, span: BudSpan, on_complete: C) -> InstrumentedFn<F, C> {
    let context = span.context();
    InstrumentedFn { future, span: Some(span), context, on_complete: Some(on_complete) }
}

/// Wraps the future of an instrumented function.
#[doc(hidden)]
pub fn instrument_fn<F, C>(future: F, span: BudSpan, on_complete: C) -> InstrumentedFn<F, C>
where
    F: Future,
    C: FnOnce(&mut BudSpan, &F::Output),
{
    instrumented(future, span, on_complete)
}

impl<F, C> InstrumentedFn<F, C> {
    /// The span this future carries (`None` once the future has completed).
    pub fn span_mut(self: Pin<&mut Self>) -> Option<&mut BudSpan> {
        self.project().span.as_mut()
    }
}

impl<F, C> Future for InstrumentedFn<F, C>
where
    F: Future,
    C: Completion<F::Output>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _current = this.context.clone().attach();
        // Executors such as tokio catch a task's panic before dropping it, so the span must see the panic here.
        let guard = PanicGuard { span: this.span };
        let poll = this.future.poll(cx);
        if let Poll::Ready(output) = &poll
            && let Some(mut span) = guard.span.take()
        {
            if let Some(on_complete) = this.on_complete.take() {
                on_complete.complete(&mut span, output);
            }
            // The span ends when its future completes, not when the wrapper is dropped.
            drop(span);
        }
        poll
    }
}

impl<F, C> fmt::Debug for InstrumentedFn<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented").field("span", &self.span).finish_non_exhaustive()
    }
}

/// Records a panic that unwinds out of a poll on the span it guards.
struct PanicGuard<'a> {
    span: &'a mut Option<BudSpan>,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(span) = self.span.as_mut()
        {
            span.record_panic();
        }
    }
}
