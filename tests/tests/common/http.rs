//! What the HTTP integration tests share: a loopback axum server, a one-thread runtime with the capture current
//! and the `tracing` bridge installed, attribute readers, a streaming body.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use axum::Router;
use axum::body::Bytes;
use budobserve::bud_info;
use budobserve::opentelemetry::Value;
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{Capture, attribute};
use tracing_subscriber::layer::SubscriberExt as _;

/// Serves `app` on a loopback port (with the peer address as `ConnectInfo`); returns its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    address
}

/// Runs `f` on a one-thread runtime with `capture`'s instance current and the `tracing` bridge as subscriber.
pub fn run<F: Future>(capture: &Capture, f: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let subscriber = tracing_subscriber::registry().with(budobserve::integrations::tracing::layer());
    tracing::subscriber::with_default(subscriber, || capture.run(|| runtime.block_on(f)))
}

/// A string attribute (any value, as text).
pub fn text(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|value| value.as_str().into_owned())
}

/// An integer attribute.
pub fn int(span: &SpanData, key: &str) -> Option<i64> {
    match attribute(span, key) {
        Some(Value::I64(n)) => Some(*n),
        _ => None,
    }
}

/// A body of three chunks, `chunk-1;chunk-2;chunk-3;`, each logged (`chunk {n}`) when produced.
pub struct Chunks(pub u32);

impl tokio_stream::Stream for Chunks {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        if self.0 == 3 {
            return Poll::Ready(None);
        }
        self.0 += 1;
        let n = self.0;
        bud_info!("chunk {n}");
        Poll::Ready(Some(Ok(Bytes::from(format!("chunk-{n};")))))
    }
}

/// The data points of histogram `name` after a flush: each point's attributes (as text, sorted) and count, sorted.
pub fn histogram_points(
    capture: &Capture,
    exporter: &opentelemetry_sdk::metrics::InMemoryMetricExporter,
    name: &str,
) -> Vec<(Vec<(String, String)>, u64)> {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};

    capture.observe().force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    let metric = metrics
        .iter()
        .flat_map(|m| m.scope_metrics())
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no histogram {name}"));
    assert_eq!(metric.unit(), "s");
    let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() else { panic!("{metric:?}") };
    let mut points: Vec<(Vec<(String, String)>, u64)> = histogram
        .data_points()
        .map(|point| {
            let mut attributes: Vec<(String, String)> =
                point.attributes().map(|kv| (kv.key.to_string(), kv.value.as_str().into_owned())).collect();
            attributes.sort();
            (attributes, point.count())
        })
        .collect();
    points.sort();
    points
}

/// Attributes as `histogram_points` shows them.
pub fn point_attributes(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut attributes: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    attributes.sort();
    attributes
}
