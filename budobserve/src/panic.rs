//! What a panic said, kept so that spans unwound by it can record it; and the panic report, when asked for.
//!
//! A `Drop` impl cannot see the panic that is unwinding through it, so BudObserve installs (once, chaining whatever
//! hook was there) a panic hook that keeps the message, location and backtrace of the last panic of each thread.
//! The same hook calls the reporter set with [`set_reporter`] (the fatal log and the flush of
//! `ConfigBuilder::panic_hook`), never from within itself and never on BudObserve's own threads.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::panic::PanicHookInfo;
use std::sync::{Once, OnceLock};

/// The last panic seen on a thread.
#[derive(Clone, Debug)]
pub(crate) struct PanicRecord {
    pub(crate) message: String,
    /// `file:line:column`.
    pub(crate) location: Option<String>,
    /// The file and line apart, for the report's code attributes.
    pub(crate) file_line: Option<(String, u32)>,
    pub(crate) backtrace: Option<String>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
    /// Set while this thread's reporter runs: a panic inside it is not reported again.
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

/// What reports a panic, once set.
static REPORTER: OnceLock<fn(&PanicRecord)> = OnceLock::new();

/// Sets the reporter of panics (the first one set stays: there is one).
pub(crate) fn set_reporter(reporter: fn(&PanicRecord)) {
    let _ = REPORTER.set(reporter);
}

static INSTALL: Once = Once::new();

/// Installs the hook, once per process; the hook that was set before keeps running after it.
pub(crate) fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(record) = remember(info) {
                report(&record);
            }
            previous(info);
        }));
    });
}

/// Calls the reporter, unless this thread is reporting already (a panic of the reporter's own) or is one of
/// BudObserve's threads (an export worker: the flush the reporter does would wait on the thread itself).
fn report(record: &PanicRecord) {
    let Some(reporter) = REPORTER.get() else { return };
    let own_thread = std::thread::current().name().is_some_and(|name| name.starts_with("budobserve-"));
    if own_thread || REPORTING.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    let _ = REPORTING.try_with(|reporting| reporting.set(true));
    reporter(record);
    let _ = REPORTING.try_with(|reporting| reporting.set(false));
}

fn remember(info: &PanicHookInfo<'_>) -> Option<PanicRecord> {
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
        file_line: info.location().map(|l| (l.file().to_owned(), l.line())),
        backtrace: (backtrace.status() == BacktraceStatus::Captured).then(|| backtrace.to_string()),
    };
    // `try_with`: a panic during thread teardown must not panic again here.
    let _ = LAST_PANIC.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(record.clone());
        }
    });
    Some(record)
}

/// The last panic of this thread, if the hook saw one.
pub(crate) fn last_panic() -> Option<PanicRecord> {
    LAST_PANIC.try_with(|last| last.try_borrow().ok().and_then(|last| last.clone())).ok().flatten()
}
