//! Retries for tower services: exponential backoff with jitter, retry budgets, `Retry-After`,
//! idempotency rules and gRPC-aware classification — plus [`retry()`] for plain async code.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use core_backend_retry::RetryLayer;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//!
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = calls.clone();
//! let flaky = service_fn(move |_req: http::Request<String>| {
//!     let n = counter.fetch_add(1, Ordering::Relaxed);
//!     async move {
//!         let status = if n == 0 { 503 } else { 200 };
//!         Ok::<_, std::convert::Infallible>(http::Response::builder().status(status).body(()).unwrap())
//!     }
//! });
//!
//! let svc = ServiceBuilder::new()
//!     .layer(RetryLayer::builder().max_attempts(3).build())
//!     .service(flaky);
//! let res = svc.oneshot(http::Request::get("http://upstream/").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert_eq!(calls.load(Ordering::Relaxed), 2);
//! # }
//! ```
//!
//! # What is retried
//!
//! Three pluggable pieces decide:
//!
//! - a [`Replay`] copies the request for another attempt — or refuses, and then the request is
//!   sent **exactly once**. [`HttpReplay`] (the default) copies only idempotent requests
//!   (`GET HEAD OPTIONS PUT DELETE TRACE`, or marked with [`Idempotent`] / an
//!   `Idempotency-Key` header) whose body is [`ReplayableBody`]. Streaming bodies (hyper's
//!   `Incoming`, axum's `Body`, tonic's `Body`) are not copyable: put
//!   [`BufferRequestBodyLayer`] above the retry layer to buffer bodies up to a limit; bigger
//!   ones are streamed and sent once. No body is ever dropped or truncated silently.
//! - a [`Classify`] looks at each result: [`DefaultHttpClassifier`] (errors, 408, 429, 502,
//!   503, 504), [`GrpcClassifier`] (`UNAVAILABLE`; `RESOURCE_EXHAUSTED` only with pushback;
//!   `DEADLINE_EXCEEDED` if asked; never `INVALID_ARGUMENT` & co.), [`ErrorPredicate`] for any
//!   `Result<T, E>`, or a closure.
//! - the [`RetryPolicy`] then applies `max_attempts`, `max_elapsed`, the [`RetryBudget`] and
//!   the [`Backoff`] (or the server's `Retry-After`, honoured up to `max_retry_after`: a longer
//!   one stops retrying, or is cut to the max with `clamp_retry_after`).
//!
//! When retrying stops the caller receives the **last result** as it was (tower's `Retry`
//! contract): a final `503` stays a `503` response with its headers, a final error stays that
//! error. There is deliberately no "retries exhausted" wrapper error that would hide the cause;
//! the `core_backend.retry.exhausted` metric and a `tracing` event say why retrying stopped.
//!
//! # gRPC
//!
//! Wrap the tonic `Channel` (it speaks `http::Request<tonic::body::Body>`):
//!
//! ```
//! # fn wire(channel: tonic::transport::Channel) {
//! use core_backend_retry::{BufferRequestBodyLayer, ReplayBody, RetryLayer};
//! use tower::ServiceBuilder;
//!
//! let svc = ServiceBuilder::new()
//!     .layer(BufferRequestBodyLayer::new(64 * 1024))
//!     .layer(RetryLayer::builder().grpc().build())
//!     .map_request(|req: http::Request<ReplayBody<tonic::body::Body>>| req.map(tonic::body::Body::new))
//!     .service(channel);
//! // let client = NotesServiceClient::new(svc);
//! # let _ = svc;
//! # }
//! ```
//!
//! # Metrics
//!
//! | name | kind | when |
//! |---|---|---|
//! | `core_backend.retry.attempts` | counter | each retry (not the first attempt) |
//! | `core_backend.retry.exhausted` | counter, `reason` = `max_attempts` / `max_elapsed` / `retry_after_too_long` | retrying stopped on a retryable failure |
//! | `core_backend.retry.budget_exhausted` | counter | a retry was refused by the budget |

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backoff;
mod body;
mod budget;
mod classify;
mod config;
mod error;
mod layer;
mod policy;
mod replay;
mod retrier;
mod retry_after;
mod service;

pub use backoff::{Backoff, Jitter};
pub use body::{BufferFuture, BufferRequestBody, BufferRequestBodyLayer, ReplayBody};
pub use budget::RetryBudget;
pub use classify::{
    Classify, DefaultHttpClassifier, ErrorPredicate, GrpcClassifier, RetryDecision,
};
pub use config::RetryConfig;
pub use error::ConfigError;
pub use layer::{RetryLayer, RetryLayerBuilder};
pub use policy::RetryPolicy;
pub use replay::{CloneReplay, HttpReplay, Idempotent, Replay, ReplayableBody, is_idempotent};
pub use retrier::{AnyError, Retrier, retry};
pub use retry_after::{grpc_pushback, parse_retry_after, retry_after};
pub use service::{ResponseFuture, Retry};
