//! Logs, traces and metrics for core-backend services: one [`init`], a Prometheus `/metrics`
//! route, optional OTLP export, and four tower layers that record HTTP and gRPC traffic the
//! way the OpenTelemetry semantic conventions name it.
//!
//! ```
//! use axum::{Router, routing::get};
//! use core_backend_observability::{HttpServerLayer, metrics_router, prometheus_recorder};
//!
//! // In a program: `let telemetry = core_backend_observability::init(ObservabilityConfig::from_env()?)?;`
//! // and `telemetry.metrics_router()`. Here a local recorder keeps the example self-contained.
//! let recorder = prometheus_recorder();
//! let handle = recorder.handle();
//! let app: Router = Router::new()
//!     .route("/v1/notes/{id}", get(|| async { "a note" }))
//!     .layer(HttpServerLayer::new())
//!     .merge(metrics_router(handle));
//! # drop(recorder);
//! # drop(app);
//! ```
//!
//! # What is recorded
//!
//! | layer | span | metric (OTel name → Prometheus name) |
//! |---|---|---|
//! | [`HttpServerLayer`] | `GET /v1/notes/{id}`, kind server | `http.server.request.duration` → `http_server_request_duration_seconds`; `http.server.active_requests` → `http_server_active_requests` |
//! | [`GrpcServerLayer`] | `notes.v1.NotesService/GetNote`, kind server | `rpc.server.duration` → `rpc_server_duration_seconds` |
//! | [`HttpClientLayer`] | `GET`, kind client | `http.client.request.duration` → `http_client_request_duration_seconds` |
//! | [`GrpcClientLayer`] | `notes.v1.NotesService/GetNote`, kind client | `rpc.client.duration` → `rpc_client_duration_seconds` |
//!
//! Durations are in seconds with the bucket boundaries the conventions advise (5 ms … 10 s)
//! and end when the response body ends, so streamed responses and gRPC trailers count.
//!
//! # Trace context
//!
//! Server layers continue the caller's W3C `traceparent`; client layers send one naming their
//! own span. The ids are recorded as `trace_id` / `span_id` on the request span, so every log
//! line written while serving the request carries them (as fields in JSON output). Without the
//! `otlp` feature the ids are ours and nothing is exported; with it, spans go to an OTLP
//! collector and the same ids appear there.
//!
//! # Cargo features
//!
//! - `otlp` (off by default): OTLP/HTTP protobuf export of spans and metrics over a plain-HTTP
//!   hyper client.

mod body;
mod config;
mod error;
mod logging;
#[cfg(feature = "otlp")]
mod otel;
mod prometheus;
mod propagation;
#[cfg(test)]
mod spans_tests;
mod telemetry;
#[cfg(test)]
mod test_support;
mod trace_context;

pub mod grpc_client;
pub mod grpc_server;
pub mod http_client;
pub mod http_server;
pub mod semconv;

pub use self::body::ObservedBody;
pub use self::config::{LogFormat, ObservabilityConfig};
pub use self::error::{InitError, ShutdownError};
pub use self::grpc_client::GrpcClientLayer;
pub use self::grpc_server::GrpcServerLayer;
pub use self::http_client::HttpClientLayer;
pub use self::http_server::HttpServerLayer;
pub use self::prometheus::{PROMETHEUS_CONTENT_TYPE, metrics_router, prometheus_recorder};
pub use self::telemetry::{Telemetry, init};
pub use self::trace_context::{SpanId, TraceContext, TraceId, TraceParent, TraceParentError};
pub use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};
