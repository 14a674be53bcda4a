//! A service stopped by `SIGTERM`, in a process of its own, checked through what an OTLP receiver decodes: with
//! `flush_on_signals` its span and counter are exported and the signal still ends it; with `shutdown_signal` the
//! application's graceful shutdown runs and exports them; with neither, nothing leaves the process.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};

use common::receiver::{Receiver, attr, int, spans_of};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};

/// Runs the service, sends it `SIGTERM` once it is ready, and returns how it ended and what it printed after.
fn stop_with_sigterm(mode: &str) -> (Receiver, ExitStatus, String) {
    let receiver = Receiver::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_signal_flush"))
        .args([receiver.endpoint().as_str(), mode])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    for line in stdout.lines() {
        rest.push_str(&line.unwrap());
        rest.push('\n');
    }
    (receiver, status, rest)
}

/// The span names and the `jobs.done` total the receiver decoded.
fn exported(receiver: &Receiver) -> (Vec<String>, Option<i64>) {
    let spans: Vec<_> = receiver.trace_requests().into_iter().flat_map(spans_of).collect();
    for span in &spans {
        assert_eq!(attr(&span.attributes, "id"), Some(&int(7)));
    }
    let total = receiver.metrics().into_iter().find(|m| m.name == "jobs.done").map(|m| match m.data {
        Some(metric::Data::Sum(sum)) => sum
            .data_points
            .iter()
            .map(|p| match p.value {
                Some(number_data_point::Value::AsInt(v)) => v,
                other => panic!("value {other:?}"),
            })
            .sum::<i64>(),
        other => panic!("jobs.done as {other:?}"),
    });
    (spans.into_iter().map(|s| s.name).collect(), total)
}

#[test]
fn flush_on_signals_exports_and_lets_the_signal_end_the_process() {
    let (receiver, status, rest) = stop_with_sigterm("flush");
    assert_eq!(status.signal(), Some(15), "ended by SIGTERM as without the option: {status:?}");
    assert_eq!(rest, "");
    assert_eq!(exported(&receiver), (vec!["job {id}".to_owned()], Some(3)), "{:?}", receiver.summary());
}

#[test]
fn shutdown_signal_lets_the_application_shut_down_and_its_guard_flush() {
    let (receiver, status, rest) = stop_with_sigterm("graceful");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(rest, "graceful after signal 15\n");
    assert_eq!(exported(&receiver), (vec!["job {id}".to_owned()], Some(3)), "{:?}", receiver.summary());
}

#[test]
fn without_either_the_signal_loses_what_was_not_exported() {
    let (receiver, status, _) = stop_with_sigterm("off");
    assert_eq!(status.signal(), Some(15));
    assert!(receiver.requests().is_empty(), "{:?}", receiver.summary());
}
