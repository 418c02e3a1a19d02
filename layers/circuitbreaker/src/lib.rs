//! A circuit breaker for tower, on resilience4j's model: count- or time-based sliding
//! windows, failure-rate and slow-call-rate thresholds, a minimum number of calls, an open
//! wait that may grow, a fixed number of half-open probes, the manual states `DISABLED`,
//! `FORCED_OPEN` and `METRICS_ONLY`, events and metrics — and per-key breakers.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use core_backend_circuitbreaker::{CircuitBreaker, CircuitBreakerLayer, CircuitOpen, State};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! let breaker = CircuitBreaker::builder()
//!     .name("upstream")
//!     .count_based_window(10)
//!     .minimum_number_of_calls(4)
//!     .failure_rate_threshold(50.0)
//!     .build();
//! let svc = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(breaker.clone()))
//!     .service(service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::io::Error>(http::Response::builder().status(500).body(()).unwrap())
//!     }));
//!
//! for _ in 0..4 {
//!     let res = svc.clone().oneshot(http::Request::new(())).await.unwrap();
//!     assert_eq!(res.status(), 500);
//! }
//! assert_eq!(breaker.state(), State::Open);
//! let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
//! let open = err.downcast_ref::<CircuitOpen>().unwrap();
//! assert!(open.retry_after <= std::time::Duration::from_secs(60));
//! assert_eq!(open.retry_after_secs(), 60); // rounded up, as in `Retry-After`
//! # }
//! ```
//!
//! # Where admission happens
//!
//! `poll_ready` is the inner service's own: an open breaker does not make the service
//! pending, because callers (and `tower::balance`) would then wait out the whole open period
//! instead of failing fast. Admission is decided in `call`; a refused call never reaches the
//! inner service and its future resolves at once to:
//!
//! - an `Err` holding a [`CircuitOpen`] `{ retry_after, .. }` (default, for clients:
//!   `err.downcast_ref::<CircuitOpen>()`);
//! - with [`http_responses`](CircuitBreakerLayer::http_responses), a `503` with
//!   `Retry-After` and an RFC 9457 `application/problem+json` body (HTTP servers; the
//!   service's error type is unchanged, so an axum `Router` stays `Infallible`);
//! - with [`grpc_responses`](CircuitBreakerLayer::grpc_responses), a gRPC `UNAVAILABLE`
//!   trailers-only response with `grpc-retry-pushback-ms` (tonic servers and clients).
//!
//! A half-open probe slot is taken in `call` too, by a call that is really made; if its
//! future is dropped before completing, the slot is given back. At most
//! `permitted_calls_in_half_open` probes are ever in flight, under any contention (a
//! compare-and-swap on the state word; property-tested).
//!
//! # Hot path
//!
//! In `CLOSED` a call costs one atomic load of the state word, two clock reads (for slow-call
//! detection) and, on completion, one `fetch_add` plus one `swap` into the count window.
//! Rates are computed (by counting the window) only after a failure or slow call. A mutex is
//! taken only to change state.
//!
//! # Metrics
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `core_backend.circuitbreaker.state` | gauge: 0 closed, 1 open, 2 half-open, 3 disabled, 4 forced open, 5 metrics only | `name` |
//! | `core_backend.circuitbreaker.calls` | counter | `name`, `outcome` = `success` / `failure` / `slow_success` / `slow_failure` / `ignored` / `rejected` |
//! | `core_backend.circuitbreaker.transitions` | counter | `name`, `from`, `to` |
//!
//! Counters are registered when the breaker is built: install the metrics recorder first.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod breaker;
mod builder;
mod classify;
mod config;
mod error;
mod event;
mod future;
mod keyed;
mod layer;
mod response;
mod service;
mod window;

pub use breaker::{CircuitBreaker, Metrics, Outcome, Permit, State};
pub use builder::CircuitBreakerBuilder;
pub use classify::{ClassifyFailure, DefaultHttpClassifier, ErrorClassifier, GrpcClassifier};
pub use config::{CircuitBreakerConfig, SlidingWindowType};
pub use error::{CircuitOpen, ConfigError};
pub use event::{StateTransition, TransitionListener};
pub use future::ResponseFuture;
pub use keyed::{
    HostKey, KeyExtractor, KeyedCircuitBreakerLayer, KeyedCircuitBreakerService,
    KeyedCircuitBreakers, RouteKey,
};
pub use layer::CircuitBreakerLayer;
pub use response::{BoxError, ErrorOnOpen, GrpcOnOpen, HttpOnOpen, OnOpen};
pub use service::CircuitBreakerService;
