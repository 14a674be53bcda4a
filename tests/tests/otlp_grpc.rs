//! OTLP over gRPC end to end (feature `otlp-grpc`), against a real tonic receiver on loopback: spans, metrics and
//! logs with their headers, gzip, retries of unavailable servers — from a plain thread and from inside a tokio
//! runtime of the caller's.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use budobserve::{BatchOptions, BudObserve, ConfigBuilder, EnvSource, bud_span, bud_warn};
use common::grpc_receiver::GrpcReceiver;
use common::receiver::{attr, int, spans_of, string};
use tonic::Code;

fn base(endpoint: &str) -> ConfigBuilder {
    budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("grpc-test")
        .endpoint(endpoint)
        .protocol("grpc")
        .token("grpc-key")
        .header("x-tenant", "t-9")
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .export_timeout(Duration::from_secs(5))
        .metrics_interval(Duration::from_secs(3600))
}

fn send_everything(observe: &BudObserve) {
    budobserve::with_instance(observe, || {
        let user_id = 5;
        let _root = bud_span!("request {user_id}").entered();
        bud_warn!("slow {user_id}");
    });
    observe.counter("grpc.requests").build().add(2, &[]);
    let logger = observe.logger_provider().logger("grpc-test");
    let mut record = logger.create_log_record();
    record.set_body("over grpc".into());
    record.set_severity_number(Severity::Info);
    logger.emit(record);
    observe.force_flush().unwrap();
}

fn check(receiver: &GrpcReceiver) {
    let traces = receiver.traces();
    assert_eq!(traces.len(), 1);
    let (metadata, request) = &traces[0];
    assert_eq!(metadata.get("authorization").unwrap(), "Bearer grpc-key");
    assert_eq!(metadata.get("x-tenant").unwrap(), "t-9");
    let resource = request.resource_spans[0].resource.clone().unwrap();
    assert_eq!(attr(&resource.attributes, "service.name"), Some(&string("grpc-test")));
    let spans = spans_of(request.clone());
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["slow {user_id}", "request {user_id}"]);
    assert_eq!(attr(&spans[0].attributes, "budobserve_level_num"), Some(&int(13)));
    assert_eq!(attr(&spans[0].attributes, "budobserve_msg"), Some(&string("slow 5")));
    assert_eq!(spans[0].parent_span_id, spans[1].span_id);
    assert_eq!(attr(&spans[1].attributes, "code.filepath"), Some(&string("tests/tests/otlp_grpc.rs")));

    let metric_names: Vec<String> = receiver
        .metrics()
        .into_iter()
        .flat_map(|r| r.resource_metrics)
        .flat_map(|rm| rm.scope_metrics)
        .flat_map(|sm| sm.metrics)
        .map(|m| m.name)
        .collect();
    assert!(metric_names.contains(&"grpc.requests".to_owned()), "{metric_names:?}");
    let bodies: Vec<_> = receiver
        .logs()
        .into_iter()
        .flat_map(|r| r.resource_logs)
        .flat_map(|rl| rl.scope_logs)
        .flat_map(|sl| sl.log_records)
        .filter_map(|r| r.body.and_then(|b| b.value))
        .collect();
    assert_eq!(bodies, [string("over grpc")]);
}

#[test]
fn spans_metrics_and_logs_arrive_over_grpc() {
    let receiver = GrpcReceiver::start();
    let observe = BudObserve::new(base(&receiver.endpoint()).gzip(true).build().unwrap());
    send_everything(&observe);
    check(&receiver);
    assert_eq!(receiver.traces()[0].0.get("grpc-encoding").unwrap(), "gzip");
    let stats = observe.export_stats();
    assert_eq!((stats.spans_exported, stats.spans_failed), (2, 0));
    observe.shutdown().unwrap();
}

#[test]
fn configured_and_used_inside_a_tokio_runtime_of_the_callers() {
    let receiver = GrpcReceiver::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let observe = runtime.block_on(async { BudObserve::new(base(&receiver.endpoint()).build().unwrap()) });
    runtime.block_on(async { send_everything(&observe) });
    check(&receiver);
    assert!(receiver.traces()[0].0.get("grpc-encoding").is_none());
    // Dropping the instance inside the caller's runtime neither blocks nor panics.
    runtime.block_on(async move { drop(observe) });
}

#[test]
fn unavailable_servers_are_retried() {
    let receiver = GrpcReceiver::start();
    receiver.fail_next([Code::Unavailable, Code::Unavailable]);
    let observe = BudObserve::new(base(&receiver.endpoint()).build().unwrap());
    budobserve::with_instance(&observe, || drop(bud_span!("retried")));
    observe.force_flush().unwrap();
    assert_eq!(receiver.trace_attempts(), 3);
    assert_eq!(receiver.traces().len(), 1);
    assert_eq!(observe.export_stats().spans_exported, 1);
}

#[test]
fn a_down_grpc_collector_is_counted() {
    let addr = common::receiver::Receiver::free_address();
    let observe =
        BudObserve::new(base(&format!("http://{addr}")).export_timeout(Duration::from_millis(300)).build().unwrap());
    budobserve::with_instance(&observe, || drop(bud_span!("lost")));
    assert!(observe.force_flush().is_err());
    assert_eq!(observe.export_stats().spans_failed, 1);
}
