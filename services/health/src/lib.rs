//! Health checks for core-backend services: a registry of named async checks with
//! per-check timeouts, criticality and cached, single-flight results, served as
//! `/livez`, `/readyz`, `/healthz` (`application/health+json`) and as gRPC
//! `grpc.health.v1.Health` (`Check` and `Watch`).
//!
//! ```
//! use std::time::Duration;
//! use core_backend_health::{Criticality, HealthRegistry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let health = HealthRegistry::builder()
//!     .default_timeout(Duration::from_secs(2)) // a check slower than this fails
//!     .cache_ttl(Duration::from_secs(1))       // probes within 1 s share one result
//!     .build();
//!
//! health.register("db", Criticality::Critical, || async {
//!     // sqlx::query("SELECT 1").execute(&pool).await.map(|_| ())
//!     Ok::<_, std::io::Error>(())
//! });
//! health.register("search", Criticality::NonCritical, || async {
//!     Err::<(), _>("connection refused")
//! });
//! health.grpc_service("notes.v1.NotesService");           // follows overall readiness
//! // health.grpc_service_checks("notes.v1.NotesService", ["db"]); // or: follows `db` only
//!
//! // HTTP: merge the probes into the application's router.
//! let app: axum::Router = axum::Router::new().merge(health.router());
//! // gRPC: add the standard health service to the tonic server.
//! let grpc = health.grpc_server();
//! # let _ = (app, grpc);
//!
//! let report = health.check_all().await;
//! assert_eq!(report.status.as_str(), "warn"); // a non-critical check failed
//! assert!(health.readiness().await.ready);
//!
//! // On SIGTERM, before draining: readiness fails, gRPC turns NOT_SERVING.
//! health.begin_shutdown();
//! assert!(!health.readiness().await.ready);
//! # }
//! ```
//!
//! # Why a cache and single flight
//!
//! Kubernetes, a load balancer and a monitoring system may each probe every few seconds,
//! per replica. Without a cache every probe becomes a query on the database it is meant to
//! protect; without single flight a slow database receives a pile of concurrent checks
//! exactly when it is struggling. Each check therefore runs at most once per
//! [TTL](HealthRegistryBuilder::cache_ttl), concurrent probes wait for the same run, and
//! the run is bounded by a [timeout](HealthRegistryBuilder::default_timeout).
//!
//! # Statuses
//!
//! | check result | critical | non-critical |
//! |---|---|---|
//! | success | `pass` | `pass` |
//! | error, timeout or panic | `fail` → not ready, `/healthz` 503, gRPC `NOT_SERVING` | `warn` → still ready, `/healthz` 200 |
//!
//! # Metrics
//!
//! `core_backend.health.check_duration` (histogram, seconds, label `check`) per run and
//! `core_backend.health.status` (gauge, label `check`: 1 pass, 0.5 warn, 0 fail).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod check;
mod config;
mod grpc;
mod http;
mod registry;
mod time;

pub use check::{CheckFailure, CheckFuture, CheckResult, Criticality, Details, HealthCheck};
pub use config::{HealthConfig, InvalidEnvVar};
pub use grpc::{GrpcHealth, WatchStream};
pub use http::HEALTH_JSON;
pub use registry::{
    CheckOptions, CheckReport, HealthRegistry, HealthRegistryBuilder, HealthReport, Readiness,
    Status,
};

/// Re-exported `grpc.health.v1` types (`ServingStatus`, `HealthCheckRequest`, the client).
pub use tonic_health::pb;
