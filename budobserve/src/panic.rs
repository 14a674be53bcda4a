//! What a panic said, kept so that spans unwound by it can record it.
//!
//! A `Drop` impl cannot see the panic that is unwinding through it, so BudObserve installs (once, chaining whatever
//! hook was there) a panic hook that keeps the message, location and backtrace of the last panic of each thread.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::RefCell;
use std::panic::PanicHookInfo;
use std::sync::Once;

/// The last panic seen on a thread.
#[derive(Clone, Debug)]
pub(crate) struct PanicRecord {
    pub(crate) message: String,
    pub(crate) location: Option<String>,
    pub(crate) backtrace: Option<String>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the hook, once per process; the hook that was set before keeps running after it.
pub(crate) fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            remember(info);
            previous(info);
        }));
    });
}

fn remember(info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("Box<dyn Any>")
    };
    let backtrace = Backtrace::capture();
    let record = PanicRecord {
        message,
        location: info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
        backtrace: (backtrace.status() == BacktraceStatus::Captured).then(|| backtrace.to_string()),
    };
    // `try_with`: a panic during thread teardown must not panic again here.
    let _ = LAST_PANIC.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(record);
        }
    });
}

/// The last panic of this thread, if the hook saw one.
pub(crate) fn last_panic() -> Option<PanicRecord> {
    LAST_PANIC.try_with(|last| last.try_borrow().ok().and_then(|last| last.clone())).ok().flatten()
}
