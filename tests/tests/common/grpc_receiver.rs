//! A real OTLP/gRPC receiver on loopback (tonic, on its own tokio runtime), recording what it gets.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};

const GZIP: CompressionEncoding = CompressionEncoding::Gzip;

#[derive(Default)]
struct Shared {
    /// Codes answered to the next trace exports, in order (then OK).
    failures: VecDeque<Code>,
    traces: Vec<(MetadataMap, ExportTraceServiceRequest)>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    trace_attempts: usize,
}

#[derive(Clone, Default)]
struct Service(Arc<Mutex<Shared>>);

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut shared = self.0.lock().unwrap();
        shared.trace_attempts += 1;
        if let Some(code) = shared.failures.pop_front() {
            return Err(Status::new(code, "scripted failure"));
        }
        let metadata = request.metadata().clone();
        shared.traces.push((metadata, request.into_inner()));
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Service {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.0.lock().unwrap().metrics.push(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Service {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.0.lock().unwrap().logs.push(request.into_inner());
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// The receiver; stops when dropped.
pub struct GrpcReceiver {
    addr: SocketAddr,
    service: Service,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GrpcReceiver {
    pub fn start() -> GrpcReceiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let service = Service::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = service.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let incoming = tokio_stream_of(listener);
                tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(served.clone()).accept_compressed(GZIP))
                    .add_service(MetricsServiceServer::new(served.clone()).accept_compressed(GZIP))
                    .add_service(LogsServiceServer::new(served).accept_compressed(GZIP))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        GrpcReceiver { addr, service, stop: Some(stop), thread: Some(thread) }
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next trace exports with these codes, in order.
    pub fn fail_next(&self, codes: impl IntoIterator<Item = Code>) {
        self.service.0.lock().unwrap().failures.extend(codes);
    }

    pub fn traces(&self) -> Vec<(MetadataMap, ExportTraceServiceRequest)> {
        self.service.0.lock().unwrap().traces.clone()
    }

    pub fn trace_attempts(&self) -> usize {
        self.service.0.lock().unwrap().trace_attempts
    }

    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.service.0.lock().unwrap().metrics.clone()
    }

    pub fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        self.service.0.lock().unwrap().logs.clone()
    }
}

impl Drop for GrpcReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The listener's connections as the stream tonic serves.
fn tokio_stream_of(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener)
}
