//! OTLP export (the `otlp` feature): tracer and meter providers, the `tracing` bridge, and a
//! `metrics` recorder that forwards every instrument to OpenTelemetry beside Prometheus.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use metrics_exporter_prometheus::PrometheusRecorder;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError, hyper::HyperClient};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::config::ObservabilityConfig;
use crate::error::{InitError, ShutdownError};
use crate::telemetry::BoxedLayer;

const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
const INSTRUMENTATION_SCOPE: &str = "core-backend-observability";

/// The running OTLP pipeline. Exports run on a small runtime of their own, so they work (and
/// shutdown can wait for them) whatever runtime, if any, the application uses.
pub(crate) struct Otel {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Otel {
    pub(crate) fn start(config: &ObservabilityConfig, endpoint: &str) -> Result<Self, InitError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .map_err(|e| InitError::Otlp(format!("cannot start the export runtime: {e}")))?;
        let client = RuntimeClient {
            inner: HyperClient::with_default_connector(EXPORT_TIMEOUT, None),
            runtime: runtime.handle().clone(),
        };
        let resource = resource(config);
        let base = endpoint.trim_end_matches('/');

        let mut spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_http_client(client.clone());
        if std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none() {
            spans = spans.with_endpoint(format!("{base}/v1/traces"));
        }
        let spans = spans
            .build()
            .map_err(|e| InitError::Otlp(format!("span exporter: {e}")))?;
        let tracer_provider = SdkTracerProvider::builder()
            .with_batch_exporter(spans)
            .with_resource(resource.clone())
            .build();

        let mut metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_http_client(client);
        if std::env::var_os("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").is_none() {
            metrics = metrics.with_endpoint(format!("{base}/v1/metrics"));
        }
        let metrics = metrics
            .build()
            .map_err(|e| InitError::Otlp(format!("metric exporter: {e}")))?;
        let meter_provider = SdkMeterProvider::builder()
            .with_periodic_exporter(metrics)
            .with_resource(resource)
            .build();

        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        opentelemetry::global::set_tracer_provider(tracer_provider.clone());
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        Ok(Self {
            tracer_provider,
            meter_provider,
            runtime: Some(runtime),
        })
    }

    pub(crate) fn tracing_layer(&self) -> BoxedLayer {
        let tracer = self.tracer_provider.tracer(INSTRUMENTATION_SCOPE);
        Box::new(tracing_opentelemetry::layer().with_tracer(tracer))
    }

    /// A recorder sending every instrument to `prometheus` and to OpenTelemetry.
    pub(crate) fn fanout(&self, prometheus: PrometheusRecorder) -> Fanout {
        Fanout {
            prometheus,
            otel: OtelRecorder::new(self.meter_provider.meter(INSTRUMENTATION_SCOPE)),
        }
    }

    pub(crate) fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), ShutdownError> {
        let Some(runtime) = self.runtime.take() else {
            return Ok(());
        };
        let traces = self.tracer_provider.shutdown();
        let metrics = self.meter_provider.shutdown();
        // Exports are finished (or timed out) now; don't wait for idle connections.
        runtime.shutdown_background();
        let errors: Vec<String> = [("traces", traces), ("metrics", metrics)]
            .into_iter()
            .filter_map(|(what, result)| result.err().map(|e| format!("{what}: {e}")))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError {
                message: errors.join("; "),
            })
        }
    }
}

impl Drop for Otel {
    fn drop(&mut self) {
        let _ = self.shutdown_inner();
    }
}

fn resource(config: &ObservabilityConfig) -> Resource {
    let mut attributes = Vec::new();
    if let Some(version) = &config.service_version {
        attributes.push(KeyValue::new("service.version", version.clone()));
    }
    if let Some(environment) = &config.environment {
        attributes.push(KeyValue::new(
            "deployment.environment.name",
            environment.clone(),
        ));
    }
    Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attributes(attributes)
        .build()
}

/// The OTLP HTTP client: hyper on the export runtime. The SDK's batch processors run exports
/// on threads of their own, outside any runtime, where hyper cannot run directly.
#[derive(Debug, Clone)]
struct RuntimeClient {
    inner: HyperClient,
    runtime: tokio::runtime::Handle,
}

impl HttpClient for RuntimeClient {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let inner = self.inner.clone();
        let task = self
            .runtime
            .spawn(async move { inner.send_bytes(request).await });
        Box::pin(async move { task.await.map_err(|e| Box::new(e) as HttpError)? })
    }
}

/// Sends each `metrics` call to both recorders.
pub(crate) struct Fanout {
    prometheus: PrometheusRecorder,
    otel: OtelRecorder,
}

impl Recorder for Fanout {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Both(
            self.prometheus.register_counter(key, metadata),
            self.otel.counter(key),
        )))
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Both(
            self.prometheus.register_gauge(key, metadata),
            self.otel.gauge(key),
        )))
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Both(
            self.prometheus.register_histogram(key, metadata),
            self.otel.histogram(key),
        )))
    }
}

struct Both<A, B>(A, B);

impl CounterFn for Both<Counter, Counter> {
    fn increment(&self, value: u64) {
        self.0.increment(value);
        self.1.increment(value);
    }

    fn absolute(&self, value: u64) {
        self.0.absolute(value);
        self.1.absolute(value);
    }
}

impl GaugeFn for Both<Gauge, Gauge> {
    fn increment(&self, value: f64) {
        self.0.increment(value);
        self.1.increment(value);
    }

    fn decrement(&self, value: f64) {
        self.0.decrement(value);
        self.1.decrement(value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
        self.1.set(value);
    }
}

impl HistogramFn for Both<Histogram, Histogram> {
    fn record(&self, value: f64) {
        self.0.record(value);
        self.1.record(value);
    }
}

/// Maps `metrics` instruments onto OpenTelemetry ones: counters → `Counter<u64>`, gauges →
/// `Gauge<f64>` (the series' value is kept here, so increments and sets both work), histograms
/// → `Histogram<f64>` (unit `s` for names ending in `duration`, with the conventions' buckets).
struct OtelRecorder {
    meter: Meter,
    counters: Mutex<HashMap<String, opentelemetry::metrics::Counter<u64>>>,
    histograms: Mutex<HashMap<String, opentelemetry::metrics::Histogram<f64>>>,
    gauges: Mutex<HashMap<Key, Arc<OtelGauge>>>,
}

impl OtelRecorder {
    fn new(meter: Meter) -> Self {
        Self {
            meter,
            counters: Mutex::default(),
            histograms: Mutex::default(),
            gauges: Mutex::default(),
        }
    }

    fn counter(&self, key: &Key) -> Counter {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let instrument = counters
            .entry(key.name().to_owned())
            .or_insert_with(|| self.meter.u64_counter(key.name().to_owned()).build())
            .clone();
        Counter::from_arc(Arc::new(OtelCounter {
            instrument,
            attributes: attributes(key),
        }))
    }

    fn histogram(&self, key: &Key) -> Histogram {
        let mut histograms = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let instrument = histograms
            .entry(key.name().to_owned())
            .or_insert_with(|| {
                let builder = self.meter.f64_histogram(key.name().to_owned());
                if key.name().ends_with("duration") {
                    builder
                        .with_unit("s")
                        .with_boundaries(crate::semconv::DURATION_BUCKETS.to_vec())
                        .build()
                } else {
                    builder.build()
                }
            })
            .clone();
        Histogram::from_arc(Arc::new(OtelHistogram {
            instrument,
            attributes: attributes(key),
        }))
    }

    fn gauge(&self, key: &Key) -> Gauge {
        let mut gauges = self.gauges.lock().unwrap_or_else(PoisonError::into_inner);
        let gauge = gauges
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(OtelGauge {
                    instrument: self.meter.f64_gauge(key.name().to_owned()).build(),
                    attributes: attributes(key),
                    value: Mutex::new(0.0),
                })
            })
            .clone();
        Gauge::from_arc(gauge)
    }
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels()
        .map(|label| KeyValue::new(label.key().to_owned(), label.value().to_owned()))
        .collect()
}

struct OtelCounter {
    instrument: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
}

impl CounterFn for OtelCounter {
    fn increment(&self, value: u64) {
        self.instrument.add(value, &self.attributes);
    }

    fn absolute(&self, _value: u64) {
        // OpenTelemetry counters only accept increments; an absolute value has no mapping.
    }
}

struct OtelHistogram {
    instrument: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
}

impl HistogramFn for OtelHistogram {
    fn record(&self, value: f64) {
        self.instrument.record(value, &self.attributes);
    }
}

struct OtelGauge {
    instrument: opentelemetry::metrics::Gauge<f64>,
    attributes: Vec<KeyValue>,
    value: Mutex<f64>,
}

impl OtelGauge {
    fn update(&self, f: impl FnOnce(f64) -> f64) {
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        *value = f(*value);
        self.instrument.record(*value, &self.attributes);
    }
}

impl GaugeFn for OtelGauge {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.update(|_| value);
    }
}
