//! The panic hook option: a panic is written as a fatal log of the current instance (message, location, thread,
//! `exception.*`) and telemetry is flushed before the panic goes on — checked in a process that exits right after
//! its worker panicked, through what an OTLP receiver decodes; instances that did not ask report nothing.

mod common;

use std::process::Command;

use budobserve::opentelemetry::Value;
use budobserve::testing::{self, attribute};
use budobserve::{KeyValue, Level, bud_span};
use common::receiver::{Receiver, attr, int, spans_of, string};
use opentelemetry_proto::tonic::common::v1::any_value;

#[test]
fn a_panic_is_a_fatal_log_of_the_current_instance() {
    let reporting = testing::capture_with(|builder| builder.panic_hook(true));
    let silent = testing::capture();
    let line = line!() + 4;
    let unwound = std::panic::catch_unwind(|| {
        reporting.run(|| {
            let _request = bud_span!("request").entered();
            panic!("no route for {}", "/v1/chat");
        })
    });
    assert!(unwound.is_err());
    let report = reporting.assert_span("panic").level(Level::Fatal).has_attributes(&[
        KeyValue::new(
            "budobserve_msg",
            format!("panicked at tests/tests/panic_hook.rs:{line}:13: no route for /v1/chat"),
        ),
        KeyValue::new("exception.type", "panic"),
        KeyValue::new("exception.message", "no route for /v1/chat"),
        KeyValue::new("exception.escaped", true),
        KeyValue::new("code.filepath", "tests/tests/panic_hook.rs"),
        KeyValue::new("code.lineno", i64::from(line)),
        KeyValue::new("budobserve_span_type", "log"),
    ]);
    let thread = attribute(report.span(), "thread.name").map(Value::as_str).map(|name| name.into_owned());
    assert_eq!(thread, std::thread::current().name().map(str::to_owned));
    // Written while the request span was current, before it unwound: its child.
    reporting.assert_span("panic").child_of(&reporting.span("request"));
    reporting.assert_span_status_error("request");

    let unwound = std::panic::catch_unwind(|| silent.run(|| panic!("not reported")));
    assert!(unwound.is_err());
    assert!(silent.spans_named("panic").is_empty());
}

fn run_service(mode: &str) -> (Receiver, std::process::Output) {
    let receiver = Receiver::start();
    let output =
        Command::new(env!("CARGO_BIN_EXE_panic_report")).args([receiver.endpoint().as_str(), mode]).output().unwrap();
    (receiver, output)
}

#[test]
fn a_worker_panic_is_exported_before_the_process_exits() {
    let (receiver, output) = run_service("on");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("thread 'worker'") && stderr.contains("job 42 failed"),
        "the hook before ours ran: {stderr}"
    );
    let spans: Vec<_> = receiver.trace_requests().into_iter().flat_map(spans_of).collect();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["before the panic", "panic"], "{:?}", receiver.summary());
    let report = &spans[1];
    assert_eq!(attr(&report.attributes, "budobserve_level_num"), Some(&int(21)));
    assert_eq!(attr(&report.attributes, "exception.message"), Some(&string("job 42 failed")));
    assert_eq!(attr(&report.attributes, "thread.name"), Some(&string("worker")));
    assert_eq!(attr(&report.attributes, "code.filepath"), Some(&string("tests/bin/panic_report.rs")));
    let message = match attr(&report.attributes, "budobserve_msg") {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        other => panic!("message: {other:?}"),
    };
    assert!(message.starts_with("panicked at tests/bin/panic_report.rs:") && message.ends_with(": job 42 failed"));
}

#[test]
fn without_the_option_nothing_is_flushed() {
    let (receiver, output) = run_service("off");
    assert_eq!(output.status.code(), Some(3));
    assert!(receiver.trace_requests().is_empty(), "{:?}", receiver.summary());
}
