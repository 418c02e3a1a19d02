//! Bounded concurrency for backends: a [`WorkerPool`] for background tasks, a
//! [`BulkheadLayer`](bulkhead::BulkheadLayer) that caps calls into a dependency, and an
//! [`AdaptiveConcurrencyLayer`](adaptive::AdaptiveConcurrencyLayer) whose cap follows the
//! dependency's latency (Netflix concurrency-limits as a tower layer).
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use core_backend_worker::{
//!     WorkerPool,
//!     adaptive::{AdaptiveConcurrencyLayer, Gradient2, HttpClassifier},
//!     bulkhead::BulkheadLayer,
//!     http::OverloadedResponseLayer,
//! };
//! use tower::ServiceBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Background work: 8 at a time, 1000 queued, `submit` waits when full.
//! let pool = WorkerPool::builder().workers(8).queue_capacity(1000).build();
//! let sum = pool.submit(async { 1 + 1 }).await.unwrap().await.unwrap();
//! assert_eq!(sum, 2);
//!
//! // An HTTP server shedding load: 503 + Retry-After + problem+json when over.
//! let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(
//!     ServiceBuilder::new()
//!         .layer(OverloadedResponseLayer::new())
//!         .layer(BulkheadLayer::new(200, Duration::from_millis(100)))
//!         .layer(
//!             AdaptiveConcurrencyLayer::builder()
//!                 .algorithm(Gradient2::builder().initial_limit(50).max_limit(200).build())
//!                 .classifier(HttpClassifier)
//!                 .build(),
//!         ),
//! );
//! # drop(app);
//! pool.shutdown(Duration::from_secs(10)).await;
//! # }
//! ```
//!
//! # Pieces
//!
//! - [`WorkerPool`]: `submit` (backpressure) / `try_submit` ([`SubmitError::Full`]), a
//!   [`TaskHandle`] per task resolving to the value or a [`TaskError`] (`Panicked`,
//!   `TimedOut`, `Cancelled`), per-task timeout, panic isolation, graceful
//!   [`shutdown`](WorkerPool::shutdown) with a deadline.
//! - [`bulkhead`]: at most N calls at once, wait for a slot at most a bounded time, then
//!   [`Overloaded`].
//! - [`adaptive`]: a limit that follows latency and drops ([`adaptive::Aimd`],
//!   [`adaptive::Gradient2`], or your [`adaptive::LimitAlgorithm`]); over it, [`Overloaded`].
//! - [`http`]: [`Overloaded`] as `503` problem+json with `Retry-After`, or gRPC
//!   `UNAVAILABLE`, on a server. With the `tonic` feature, [`grpc`] maps it to a
//!   `tonic::Status` for tonic clients.
//! - [`WorkerConfig`], [`BulkheadConfig`], [`AdaptiveConfig`]: serde + `from_env()`.
//!
//! # Metrics
//!
//! `core_backend.worker.{queued,running}` (gauges), `core_backend.worker.{completed,failed,
//! panicked,timed_out,rejected}` (counters), `core_backend.worker.task.duration` (histogram,
//! seconds), `core_backend.worker.bulkhead.rejected`, `core_backend.worker.adaptive.limit`,
//! `core_backend.worker.adaptive.in_flight` (gauges) and `core_backend.worker.adaptive.rejected`.

pub mod adaptive;
pub mod bulkhead;
mod config;
mod error;
#[cfg(feature = "tonic")]
pub mod grpc;
pub mod http;
mod pool;

pub use self::config::{AdaptiveConfig, AlgorithmKind, BulkheadConfig, WorkerConfig};
pub use self::error::{ConfigError, Overloaded, SubmitError, TaskError};
pub use self::pool::{ShutdownReport, TaskHandle, WorkerPool, WorkerPoolBuilder};

/// Alias for a type-erased error type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
