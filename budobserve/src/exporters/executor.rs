//! Running an exporter's future to completion on the export worker's own thread (the exporters BudObserve runs
//! answer at once or block their thread; none needs a runtime, and a user's may wake from another thread).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Wakes the thread that polls.
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_runs_a_future_woken_from_another_thread() {
        let (sender, receiver) = std::sync::mpsc::channel::<Waker>();
        let mut polled = false;
        let future = std::future::poll_fn(move |cx| {
            if polled {
                return Poll::Ready(7);
            }
            polled = true;
            sender.send(cx.waker().clone()).unwrap_or_default();
            Poll::Pending
        });
        let waker = thread::spawn(move || receiver.recv().map(Waker::wake));
        assert_eq!(block_on(future), 7);
        assert!(waker.join().is_ok());
    }
}
