//! A real OTLP/HTTP receiver on loopback (axum on its own tokio runtime) that decodes what it gets with
//! `opentelemetry-proto`, and can be told to fail, throttle, stall, stop and come back.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio::sync::oneshot;

/// How the receiver answers the next requests.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with an empty export response.
    Ok,
    /// This status, with `Retry-After` seconds when given.
    Status(u16, Option<u64>),
    /// Waits, then answers 200.
    Stall(Duration),
    /// This status with an OTLP error body: a `google.rpc.Status` carrying `message`, as protobuf.
    Reject(u16, &'static str),
}

/// A `google.rpc.Status { code: 13, message }`, encoded as protobuf (field 1 varint, field 2 bytes).
pub fn rpc_status(message: &str) -> Vec<u8> {
    let mut body = vec![0x08, 13, 0x12];
    let mut len = message.len();
    while len >= 0x80 {
        body.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    body.push(len as u8);
    body.extend_from_slice(message.as_bytes());
    body
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Whether the body came gzip-compressed.
    pub gzip: bool,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    /// Every request waits this long first, while set.
    stall: Option<Duration>,
    received: Vec<Received>,
}

/// The receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Starts on a free loopback port.
    pub fn start() -> Receiver {
        Receiver::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// A loopback address nobody listens on (yet): for a collector that is down.
    pub fn free_address() -> SocketAddr {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    /// Starts on `addr` (e.g. the address of one that was stopped).
    pub fn start_on(addr: SocketAddr) -> Receiver {
        Receiver::start_with(addr, Arc::new(Mutex::new(Shared::default())))
    }

    fn start_with(addr: SocketAddr, shared: Arc<Mutex<Shared>>) -> Receiver {
        let listener = StdListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let state = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = Router::new()
                    .route("/v1/traces", post(receive))
                    .route("/v1/metrics", post(receive))
                    .route("/v1/logs", post(receive))
                    .with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Receiver { addr, shared, stop: Some(stop), thread: Some(thread) }
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the next requests with `replies`, in order (then 200).
    /// Replies to the next requests to `/v1/traces`, in order (then 200 again).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().unwrap().script.extend(replies);
    }

    /// Makes every request wait `delay` before it is answered (`None`: answer at once).
    pub fn stall(&self, delay: Option<Duration>) {
        self.shared.lock().unwrap().stall = delay;
    }

    /// Stops listening; the address can be started again with [`Receiver::restart`].
    pub fn stop(mut self) -> (SocketAddr, Vec<Received>) {
        self.shutdown();
        let received = self.shared.lock().unwrap().received.clone();
        (self.addr, received)
    }

    /// Starts again on the same address, keeping what was received.
    pub fn restart(addr: SocketAddr) -> Receiver {
        Receiver::start_on(addr)
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// The spans of every request to `/v1/traces` answered 200, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        self.trace_requests().into_iter().flat_map(spans_of).collect()
    }

    /// The decoded trace requests answered 200.
    pub fn trace_requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.accepted("/v1/traces")
            .iter()
            .map(|r| ExportTraceServiceRequest::decode(r.body.as_slice()).unwrap())
            .collect()
    }

    pub fn metric_requests(&self) -> Vec<ExportMetricsServiceRequest> {
        self.accepted("/v1/metrics")
            .iter()
            .map(|r| ExportMetricsServiceRequest::decode(r.body.as_slice()).unwrap())
            .collect()
    }

    /// The metrics of every request to `/v1/metrics` answered 200, in arrival order.
    pub fn metrics(&self) -> Vec<Metric> {
        self.metric_requests()
            .into_iter()
            .flat_map(|r| r.resource_metrics)
            .flat_map(|rm| rm.scope_metrics)
            .flat_map(|sm| sm.metrics)
            .collect()
    }

    /// The log records of every request to `/v1/logs` answered 200, in arrival order.
    pub fn log_records(&self) -> Vec<LogRecord> {
        self.log_requests()
            .into_iter()
            .flat_map(|r| r.resource_logs)
            .flat_map(|rl| rl.scope_logs)
            .flat_map(|sl| sl.log_records)
            .collect()
    }

    pub fn log_requests(&self) -> Vec<ExportLogsServiceRequest> {
        self.accepted("/v1/logs").iter().map(|r| ExportLogsServiceRequest::decode(r.body.as_slice()).unwrap()).collect()
    }

    fn accepted(&self, path: &str) -> Vec<Received> {
        self.requests().into_iter().filter(|r| r.path == path && r.status == 200).collect()
    }

    /// Waits until `done` holds of what was received (at most 10 s).
    pub fn wait_for(&self, what: &str, mut done: impl FnMut(&Receiver) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}; received {:?}", self.summary());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Path and status of each request.
    pub fn summary(&self) -> Vec<(String, u16)> {
        self.requests().into_iter().map(|r| (r.path, r.status)).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn spans_of(request: ExportTraceServiceRequest) -> Vec<Span> {
    request.resource_spans.into_iter().flat_map(|rs| rs.scope_spans).flat_map(|ss| ss.spans).collect()
}

async fn receive(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (reply, stall) = {
        let mut shared = shared.lock().unwrap();
        // Scripted replies answer span exports only: metrics and logs flush at the same time.
        let scripted = if uri.path() == "/v1/traces" { shared.script.pop_front() } else { None };
        (scripted.unwrap_or(Reply::Ok), shared.stall)
    };
    if let Some(delay) = stall {
        tokio::time::sleep(delay).await;
    }
    if let Reply::Stall(delay) = &reply {
        tokio::time::sleep(*delay).await;
    }
    let gzip = headers.get(header::CONTENT_ENCODING).is_some_and(|v| v == "gzip");
    let body = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body.as_ref()).read_to_end(&mut out).unwrap();
        out
    } else {
        body.to_vec()
    };
    let status = match reply {
        Reply::Status(status, _) | Reply::Reject(status, _) => status,
        _ => 200,
    };
    shared.lock().unwrap().received.push(Received { path: uri.path().to_owned(), headers, body, gzip, status });
    match reply {
        Reply::Status(status, retry_after) => {
            let status = StatusCode::from_u16(status).unwrap();
            match retry_after {
                Some(seconds) => (status, [(header::RETRY_AFTER, seconds.to_string())]).into_response(),
                None => status.into_response(),
            }
        }
        Reply::Reject(status, message) => {
            let status = StatusCode::from_u16(status).unwrap();
            (status, [(header::CONTENT_TYPE, "application/x-protobuf")], rpc_status(message)).into_response()
        }
        _ => {
            ([(header::CONTENT_TYPE, "application/x-protobuf")], ExportTraceServiceResponse::default().encode_to_vec())
                .into_response()
        }
    }
}

/// The value of attribute `key`.
pub fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

pub fn string(value: &str) -> any_value::Value {
    any_value::Value::StringValue(value.to_owned())
}

pub fn int(value: i64) -> any_value::Value {
    any_value::Value::IntValue(value)
}

pub fn any(value: any_value::Value) -> AnyValue {
    AnyValue { value: Some(value) }
}
