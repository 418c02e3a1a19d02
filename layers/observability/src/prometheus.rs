//! The Prometheus recorder and the `/metrics` route.
//!
//! Metric names given to the `metrics` facade follow the OpenTelemetry conventions (dots,
//! `http.server.request.duration`). The exporter turns dots into underscores and, because the
//! recorder knows each instrument's unit, appends it (`_seconds`), as the OpenTelemetry →
//! Prometheus translation does; counters get `_total`. So `http.server.request.duration` is
//! exposed as `http_server_request_duration_seconds_bucket{http_request_method="GET",…}`.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use metrics::{KeyName, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::semconv;

/// The `Content-Type` of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A Prometheus recorder configured the way [`init`](crate::init) installs it, without
/// installing anything: duration histograms with the buckets the conventions advise
/// ([`DURATION_BUCKETS`](crate::semconv::DURATION_BUCKETS)), unit and `_total` suffixes, and
/// the instruments of this crate described.
///
/// Use it in tests with [`metrics::with_local_recorder`], and read it through
/// [`PrometheusRecorder::handle`].
pub fn prometheus_recorder() -> PrometheusRecorder {
    let recorder = PrometheusBuilder::new()
        .set_buckets(semconv::DURATION_BUCKETS)
        .expect("the bucket list is not empty")
        .with_recommended_naming(true)
        .build_recorder();
    describe(&recorder);
    recorder
}

fn describe(recorder: &PrometheusRecorder) {
    let histograms = [
        (
            semconv::HTTP_SERVER_REQUEST_DURATION,
            "Duration of HTTP server requests.",
        ),
        (
            semconv::HTTP_CLIENT_REQUEST_DURATION,
            "Duration of HTTP client requests.",
        ),
        (
            semconv::RPC_SERVER_DURATION,
            "Duration of inbound gRPC calls.",
        ),
        (
            semconv::RPC_CLIENT_DURATION,
            "Duration of outbound gRPC calls.",
        ),
    ];
    for (name, help) in histograms {
        recorder.describe_histogram(
            KeyName::from_const_str(name),
            Some(Unit::Seconds),
            SharedString::const_str(help),
        );
    }
    recorder.describe_gauge(
        KeyName::from_const_str(semconv::HTTP_SERVER_ACTIVE_REQUESTS),
        None,
        SharedString::const_str("Number of HTTP server requests in flight."),
    );
}

/// An axum [`Router`] serving `GET /metrics`: the text exposition of `handle`, with
/// `Content-Type: text/plain; version=0.0.4; charset=utf-8`.
///
/// ```
/// let recorder = core_backend_observability::prometheus_recorder();
/// let app: axum::Router = core_backend_observability::metrics_router(recorder.handle());
/// ```
pub fn metrics_router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let body = handle.render();
            async move { ([(CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], body) }
        }),
    )
}
