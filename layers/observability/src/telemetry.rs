//! [`init`] and the [`Telemetry`] guard it returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tracing_subscriber::layer::{Layered, SubscriberExt as _};
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, ObservabilityConfig};
use crate::error::{InitError, ShutdownError};
use crate::logging::{JsonFormat, TraceIdLayer};
use crate::prometheus::{metrics_router, prometheus_recorder};

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// How often histogram samples are folded into the exporter's buckets between scrapes, so
/// memory stays bounded when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) type Base = Layered<EnvFilter, Registry>;
pub(crate) type BoxedLayer = Box<dyn Layer<Base> + Send + Sync>;

/// Sets up logs, metrics and (with the `otlp` feature and an endpoint) trace and metric export
/// for the whole process:
///
/// - a global `tracing` subscriber writing [text or JSON](LogFormat) lines to stdout, filtered
///   by [`log_filter`](ObservabilityConfig::log_filter), else `RUST_LOG`, else `info`;
/// - a global `metrics` recorder keeping Prometheus state, read through
///   [`Telemetry::prometheus_handle`] / [`Telemetry::metrics_router`] (no listener of its own:
///   mount the router on your server);
/// - with the `otlp` feature and an [`otlp_endpoint`](ObservabilityConfig::otlp_endpoint):
///   spans exported over OTLP/HTTP (protobuf) with the sampler from `OTEL_TRACES_SAMPLER`, and
///   every `metrics` instrument exported over OTLP as well as to Prometheus.
///
/// It can succeed once per process; later calls return [`InitError::AlreadyInitialized`].
/// Keep the returned guard alive for the life of the program: dropping it (or calling
/// [`Telemetry::shutdown`]) flushes pending exports.
///
/// ```no_run
/// use core_backend_observability::{ObservabilityConfig, init};
///
/// let telemetry = init(ObservabilityConfig::from_env()?)?;
/// let app: axum::Router = axum::Router::new().merge(telemetry.metrics_router());
/// # Ok::<(), core_backend_observability::InitError>(())
/// ```
pub fn init(config: ObservabilityConfig) -> Result<Telemetry, InitError> {
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Err(InitError::AlreadyInitialized);
    }
    init_once(config).inspect_err(|error| {
        // Nothing global was installed for these, so a corrected retry may succeed.
        if matches!(
            error,
            InitError::InvalidConfig { .. }
                | InitError::InvalidLogFilter { .. }
                | InitError::Otlp(_)
        ) {
            INITIALIZED.store(false, Ordering::SeqCst);
        }
    })
}

fn init_once(config: ObservabilityConfig) -> Result<Telemetry, InitError> {
    let filter = log_filter(&config)?;
    let recorder = prometheus_recorder();
    let handle = recorder.handle();

    let mut layers: Vec<BoxedLayer> = Vec::with_capacity(3);
    match config.log_format {
        LogFormat::Text => layers.push(tracing_subscriber::fmt::layer().boxed()),
        LogFormat::Json => {
            layers.push(TraceIdLayer.boxed());
            layers.push(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonFormat)
                    .boxed(),
            );
        }
    }

    #[cfg(feature = "otlp")]
    let otel = match config.otlp_endpoint.as_deref() {
        Some(endpoint) => {
            let otel = crate::otel::Otel::start(&config, endpoint)?;
            layers.push(otel.tracing_layer());
            Some(otel)
        }
        None => None,
    };

    let subscriber = Registry::default().with(filter).with(layers);
    tracing::subscriber::set_global_default(subscriber).map_err(InitError::TracingAlreadySet)?;

    #[cfg(feature = "otlp")]
    let installed = match &otel {
        Some(otel) => metrics::set_global_recorder(otel.fanout(recorder)).map_err(drop),
        None => metrics::set_global_recorder(recorder).map_err(drop),
    };
    #[cfg(not(feature = "otlp"))]
    let installed = metrics::set_global_recorder(recorder).map_err(drop);
    installed.map_err(|()| InitError::MetricsAlreadySet)?;

    #[cfg(not(feature = "otlp"))]
    if config.otlp_endpoint.is_some() {
        tracing::warn!(
            "an OTLP endpoint is configured but core-backend-observability was built without the `otlp` feature; nothing is exported"
        );
    }

    tracing::debug!(
        service.name = %config.service_name,
        log.format = %config.log_format,
        "observability initialised"
    );
    Ok(Telemetry {
        upkeep: Some(Upkeep::start(handle.clone())),
        handle,
        #[cfg(feature = "otlp")]
        otel,
    })
}

fn log_filter(config: &ObservabilityConfig) -> Result<EnvFilter, InitError> {
    let directives = config
        .log_filter
        .clone()
        .or_else(|| {
            std::env::var("RUST_LOG")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "info".to_owned());
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|source| InitError::InvalidLogFilter {
            filter: directives,
            source,
        })
}

/// What [`init`] set up; flushes pending exports when dropped or [shut down](Self::shutdown).
#[must_use = "dropping the guard shuts telemetry export down"]
pub struct Telemetry {
    handle: PrometheusHandle,
    upkeep: Option<Upkeep>,
    #[cfg(feature = "otlp")]
    otel: Option<crate::otel::Otel>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("Telemetry");
        #[cfg(feature = "otlp")]
        s.field("otlp", &self.otel.is_some());
        s.finish_non_exhaustive()
    }
}

impl Telemetry {
    /// The handle of the global Prometheus recorder, to render the exposition yourself.
    pub fn prometheus_handle(&self) -> PrometheusHandle {
        self.handle.clone()
    }

    /// A [`Router`] serving `GET /metrics` from the global recorder; merge it into your app
    /// (or serve it on an admin port).
    pub fn metrics_router(&self) -> Router {
        metrics_router(self.handle.clone())
    }

    /// Whether spans and metrics are exported over OTLP.
    pub fn otlp_enabled(&self) -> bool {
        #[cfg(feature = "otlp")]
        return self.otel.is_some();
        #[cfg(not(feature = "otlp"))]
        false
    }

    /// Exports what is pending and stops the exporters. Spans and metrics recorded afterwards
    /// only reach Prometheus and the logs.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.shutdown_inner()
    }

    #[cfg_attr(not(feature = "otlp"), allow(clippy::unnecessary_wraps))]
    fn shutdown_inner(&mut self) -> Result<(), ShutdownError> {
        if let Some(upkeep) = self.upkeep.take() {
            upkeep.stop();
        }
        #[cfg(feature = "otlp")]
        if let Some(otel) = self.otel.take() {
            return otel.shutdown();
        }
        Ok(())
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown_inner() {
            tracing::warn!(%error, "telemetry shutdown failed");
        }
    }
}

/// Background thread running the exporter's upkeep (a thread, not a task, so `init` works
/// outside a runtime).
struct Upkeep {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Upkeep {
    fn start(handle: PrometheusHandle) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("prometheus-upkeep".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(UPKEEP_INTERVAL)
                {
                    handle.run_upkeep();
                }
            })
            .ok();
        Self { stop, thread }
    }

    fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
