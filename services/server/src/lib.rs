//! One listener for HTTP/1.1, HTTP/2 (cleartext h2c or TLS) and gRPC (+ gRPC-Web), with the
//! production plumbing built in: request and header-read timeouts, body and concurrency limits,
//! request ids, catch-panic, CORS, compression, RFC 9457 problem+json errors, gRPC reflection and
//! graceful shutdown.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use core_backend_server::{Server, ServerConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new().route("/hello", get(|| async { "hello" }));
//! let (_reporter, health) = tonic_health::server::health_reporter();
//!
//! let server = Server::builder()
//!     .config(ServerConfig::from_env()?)   // SERVER_ADDR, SERVER_REQUEST_TIMEOUT, …
//!     .router(app)                         // HTTP routes
//!     .grpc_service(health)                // gRPC services, same port
//!     .on_shutdown(|| println!("readiness now fails"))
//!     .bind()
//!     .await?;
//! println!("listening on http://{}", server.local_addr());
//! server.serve().await?; // until SIGTERM / Ctrl-C, then drains
//! # Ok(())
//! # }
//! ```
//!
//! A runnable version that stops by itself:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), core_backend_server::Error> {
//! use axum::{Router, routing::get};
//! use core_backend_server::Server;
//!
//! let server = Server::builder()
//!     .addr("127.0.0.1:0".parse().unwrap())
//!     .router(Router::new().route("/", get(|| async { "ok" })))
//!     .bind()
//!     .await?;
//! assert_ne!(server.local_addr().port(), 0);
//! server.serve_with_shutdown(async {}).await?; // shuts down at once
//! # Ok(())
//! # }
//! ```
//!
//! # How a request flows
//!
//! Outermost first; each step can answer on its own.
//!
//! 1. **Request id** (tower-http): keeps the client's `x-request-id` or sets a new UUID, and
//!    copies it to the response, so every later step (and every rejection) carries it.
//! 2. **CORS** (tower-http, when `cors` is set): answers preflights before anything else, so
//!    authentication layers never see them, and adds CORS headers to every response, rejections
//!    included.
//! 3. **Your layers** ([`ServerBuilder::layer`]; the last added is outermost): observability,
//!    rate limits, authentication. They see every response below, including the rejections.
//! 4. **Concurrency limit** (when `concurrency_limit` is set): sheds at once with `503`
//!    problem+json / `UNAVAILABLE` instead of queueing.
//! 5. **Request timeout**: `408` problem+json / `DEADLINE_EXCEEDED`; a client's shorter
//!    `grpc-timeout` wins.
//! 6. **Dispatch by `content-type`**: `application/grpc*` to tonic, `application/grpc-web*` to
//!    tonic through tonic-web (when `grpc_web` is on), everything else to axum.
//!    - HTTP: gzip compression → problem+json for body-less errors (404, 405) and the 413 →
//!      body limit (tower-http, plus axum's `DefaultBodyLimit` set to the same value) →
//!      catch-panic (`500` problem+json) → your [`Router`](axum::Router).
//!    - gRPC: catch-panic (`INTERNAL`) → your services, reflection; unknown services get
//!      `UNIMPLEMENTED`.
//!
//! Below the HTTP layer, each connection has a header-read timeout (slow-loris clients are
//! disconnected), an optional connection cap, HTTP/1 keep-alive and HTTP/2 settings from
//! [`ServerConfig`].
//!
//! # Shutdown
//!
//! [`BoundServer::serve`] waits for `SIGTERM`/`SIGINT`; [`BoundServer::serve_with_shutdown`]
//! for any future. Then: `on_shutdown` hooks run (readiness fails), the server keeps serving for
//! `shutdown_grace`, closes the listener, lets in-flight requests finish for up to
//! `shutdown_timeout`, and closes what is left.
//!
//! # Metrics
//!
//! Through the `metrics` facade, names in [`metrics`]: connections (active, accepted,
//! throttled, force-closed), rejections by reason, shutdowns. HTTP request metrics are the
//! observability layer's job.

// Tests may unwrap: a panic is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::field_reassign_with_default))]

mod config;
mod conn;
mod duration;
mod error;
mod limit;
pub mod metrics;
mod problem;
mod problem_layer;
mod protocol;
mod server;
mod service;
mod shutdown;
mod stack;
mod timeout;
#[cfg(feature = "tls")]
mod tls;

pub use config::{ConfigError, ServerConfig, TlsConfig};
pub use error::Error;
pub use problem::{PROBLEM_JSON, Problem, problem};
pub use server::{BoundServer, Server, ServerBuilder};
pub use service::InnerService;
pub use shutdown::shutdown_signal;
