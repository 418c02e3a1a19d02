//! core-backend: production building blocks for Rust backends, shaped the tower way.
//!
//! Every package is its own crate (`core-backend-<pkg>`) and is re-exported here behind a
//! cargo feature of the same name, so `features = ["retry"]` gives `core_backend::retry`.
//! The facade is also where packages meet: [`app`] assembles the server, REST gateway, health
//! and observability packages into a ready server stack.
//!
//! ```no_run
//! # #[cfg(feature = "app")]
//! # #[tokio::main]
//! # async fn main() -> Result<(), core_backend::BoxError> {
//! use core_backend::{app::App, server::ServerConfig};
//!
//! let telemetry = core_backend::observability::init(Default::default())?;
//! let app = App::builder(ServerConfig::default())
//!     .metrics(telemetry.prometheus_handle())
//!     .router(axum::Router::new().route("/hello", axum::routing::get(|| async { "hello" })))
//!     .bind()
//!     .await?;
//! println!("listening on http://{}", app.local_addr());
//! app.serve().await
//! # }
//! # #[cfg(not(feature = "app"))]
//! # fn main() {}
//! ```

// The README's examples are compiled and run as doc tests.
#[cfg(all(
    doctest,
    feature = "app",
    feature = "cache",
    feature = "worker",
    feature = "retry",
    feature = "circuitbreaker"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Boxed error used across the toolkit (the same as tower's).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[cfg(feature = "app")]
pub mod app;

#[cfg(all(
    feature = "httpclient",
    feature = "retry",
    feature = "circuitbreaker",
    feature = "observability"
))]
pub mod client_stack;

/// Unified HTTP + gRPC server ([`core_backend_server`]).
#[cfg(feature = "server")]
pub use core_backend_server as server;

/// REST/JSON gateway to gRPC methods ([`core_backend_gateway`]).
#[cfg(feature = "gateway")]
pub use core_backend_gateway as gateway;

/// Layered typed settings ([`core_backend_config`]).
#[cfg(feature = "config")]
pub use core_backend_config as config;

/// Health checks and probes ([`core_backend_health`]).
#[cfg(feature = "health")]
pub use core_backend_health as health;

/// Logs, traces, metrics and their layers ([`core_backend_observability`]).
#[cfg(feature = "observability")]
pub use core_backend_observability as observability;

/// UUID v4/v7, ULID and Snowflake ids: generation, parsing, serde, axum paths ([`core_backend_idgen`]).
#[cfg(feature = "idgen")]
pub use core_backend_idgen as idgen;

/// Keyed rate limits (GCRA, sliding and fixed window) with IETF `RateLimit` headers
/// ([`core_backend_ratelimit`]).
#[cfg(feature = "ratelimit")]
pub use core_backend_ratelimit as ratelimit;

/// Redis adapter: connection set-up and the Redis stores of the enabled packages
/// ([`core_backend_redis`]).
#[cfg(feature = "redis")]
pub use core_backend_redis as redis;

/// Caches with single-flight loading, stale-while-revalidate and negative caching; the HTTP
/// response-cache layer with `ETag` / 304 ([`core_backend_cache`]).
#[cfg(feature = "cache")]
pub use core_backend_cache as cache;

/// Retry policies and layer: backoff with jitter, budgets, `Retry-After`, idempotency
/// ([`core_backend_retry`]).
#[cfg(feature = "retry")]
pub use core_backend_retry as retry;

/// Circuit breakers: count/time windows, slow calls, half-open probes, per-key
/// ([`core_backend_circuitbreaker`]).
#[cfg(feature = "circuitbreaker")]
pub use core_backend_circuitbreaker as circuitbreaker;

/// Bounded worker pool, bulkhead and adaptive concurrency limit layers ([`core_backend_worker`]).
#[cfg(feature = "worker")]
pub use core_backend_worker as worker;

/// Production HTTP client as a tower `Service`: pooling, timeouts per phase, redirects,
/// decompression, JSON helpers, typed errors ([`core_backend_httpclient`]). See
/// [`client_stack`] for the preset with retry, circuit breaker and observability.
#[cfg(feature = "httpclient")]
pub use core_backend_httpclient as httpclient;

/// Distributed locks with fencing tokens: the `Lock` trait, the in-process default, automatic
/// extension ([`core_backend_lock`]); the Redis lock is in [`redis`](crate::redis) with this feature.
#[cfg(feature = "lock")]
pub use core_backend_lock as lock;
