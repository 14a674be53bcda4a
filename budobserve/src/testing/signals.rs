//! What a capture collects besides spans: metric points (read on demand: the capture's reader collects when asked)
//! and OpenTelemetry log records.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

use crate::providers::lock;

/// The value of one metric point.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PointValue {
    /// A counter's or up-down counter's total (cumulative since the capture started).
    Sum(f64),
    /// A gauge's last value.
    Gauge(f64),
    /// A histogram's count, sum and bucket counts (explicit bounds).
    Histogram {
        /// How many values were recorded.
        count: u64,
        /// Their sum.
        sum: f64,
        /// The bucket bounds.
        bounds: Vec<f64>,
        /// The count of each bucket (one more than the bounds).
        bucket_counts: Vec<u64>,
    },
    /// An exponential histogram's count.
    ExponentialHistogram {
        /// How many values were recorded.
        count: u64,
    },
}

/// One point of a metric, as the capture's reader collected it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MetricPoint {
    /// The instrument's name.
    pub name: String,
    /// Its unit (`""` when none).
    pub unit: String,
    /// The instrumentation scope's name (`budobserve` for the instance's own meter).
    pub scope: String,
    /// The point's attributes, sorted by key.
    pub attributes: Vec<KeyValue>,
    /// Its value; integers are given as `f64`.
    pub value: PointValue,
}

impl MetricPoint {
    /// The sum or gauge value (`None` for a histogram).
    pub fn number(&self) -> Option<f64> {
        match self.value {
            PointValue::Sum(value) | PointValue::Gauge(value) => Some(value),
            _ => None,
        }
    }
}

/// The metric exporter of a capture: keeps the points of the last collection.
#[derive(Clone, Debug, Default)]
pub(super) struct MetricStore {
    points: Arc<Mutex<Vec<MetricPoint>>>,
}

impl MetricStore {
    pub(super) fn points(&self) -> Vec<MetricPoint> {
        lock(&self.points).clone()
    }
}

impl PushMetricExporter for MetricStore {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        *lock(&self.points) = points_of(metrics);
        std::future::ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn sorted(attributes: impl Iterator<Item = KeyValue>) -> Vec<KeyValue> {
    let mut attributes: Vec<KeyValue> = attributes.collect();
    attributes.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    attributes
}

/// Every point of a collection.
fn points_of(metrics: &ResourceMetrics) -> Vec<MetricPoint> {
    let mut points = Vec::new();
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            let mut push = |attributes: Vec<KeyValue>, value: PointValue| {
                points.push(MetricPoint {
                    name: metric.name().to_owned(),
                    unit: metric.unit().to_owned(),
                    scope: scope.scope().name().to_owned(),
                    attributes,
                    value,
                });
            };
            match metric.data() {
                AggregatedMetrics::F64(data) => each_point(data, |v| v, &mut push),
                AggregatedMetrics::U64(data) => each_point(data, |v| v as f64, &mut push),
                AggregatedMetrics::I64(data) => each_point(data, |v| v as f64, &mut push),
            }
        }
    }
    points
}

fn each_point<T: Copy>(
    data: &MetricData<T>,
    float: impl Fn(T) -> f64,
    push: &mut impl FnMut(Vec<KeyValue>, PointValue),
) {
    match data {
        MetricData::Sum(sum) => {
            for point in sum.data_points() {
                push(sorted(point.attributes().cloned()), PointValue::Sum(float(point.value())));
            }
        }
        MetricData::Gauge(gauge) => {
            for point in gauge.data_points() {
                push(sorted(point.attributes().cloned()), PointValue::Gauge(float(point.value())));
            }
        }
        MetricData::Histogram(histogram) => {
            for point in histogram.data_points() {
                let value = PointValue::Histogram {
                    count: point.count(),
                    sum: float(point.sum()),
                    bounds: point.bounds().collect(),
                    bucket_counts: point.bucket_counts().collect(),
                };
                push(sorted(point.attributes().cloned()), value);
            }
        }
        MetricData::ExponentialHistogram(histogram) => {
            for point in histogram.data_points() {
                let count = u64::try_from(point.count()).unwrap_or(u64::MAX);
                push(sorted(point.attributes().cloned()), PointValue::ExponentialHistogram { count });
            }
        }
    }
}

/// The log processor of a capture: keeps every OpenTelemetry log record emitted.
#[derive(Clone, Debug, Default)]
pub(super) struct LogStore {
    records: Arc<Mutex<Vec<(SdkLogRecord, InstrumentationScope)>>>,
}

impl LogStore {
    pub(super) fn records(&self) -> Vec<SdkLogRecord> {
        lock(&self.records).iter().map(|(record, _)| record.clone()).collect()
    }

    pub(super) fn clear(&self) {
        lock(&self.records).clear();
    }
}

impl LogProcessor for LogStore {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        lock(&self.records).push((record.clone(), scope.clone()));
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}
