//! A production HTTP client as a [`tower::Service`]: hyper-util's pooled client (HTTP/1.1 and
//! HTTP/2, `TCP_NODELAY`, rustls + ring behind the `tls` feature) under one builder that stacks
//! timeouts per phase, a base URL, default headers, decompression, redirects and any tower layer
//! you add — retry, circuit breaker, rate limit, observability — with JSON helpers and typed
//! errors.
//!
//! ```
//! use std::time::Duration;
//! use core_backend_httpclient::{Error, HttpClient, TimeoutPhase};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let addr = listener.local_addr()?;
//! # let app = axum::Router::new().route("/v1/notes/{id}", axum::routing::get(|| async {
//! #     axum::Json(serde_json::json!({ "id": 7, "title": "hello" }))
//! # }));
//! # tokio::spawn(async move { axum::serve(listener, app).await });
//! #[derive(serde::Deserialize)]
//! struct Note {
//!     id: u64,
//!     title: String,
//! }
//!
//! let client = HttpClient::builder()
//!     .base_url(format!("http://{addr}/v1"))
//!     .timeout(Duration::from_secs(10))
//!     .connect_timeout(Duration::from_secs(2))
//!     .build()?;
//!
//! let note: Note = client.get_json("notes/7").await?;
//! assert_eq!((note.id, note.title.as_str()), (7, "hello"));
//!
//! match client.get_json::<Note>("notes/7/oops").await {
//!     Err(Error::Status { status, .. }) => assert_eq!(status, 404),
//!     Err(Error::Timeout { phase: TimeoutPhase::Connect }) => unreachable!("loopback"),
//!     other => panic!("{:?}", other.map(|n| n.id)),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Adding resilience and observability
//!
//! [`HttpClientBuilder::layer`] takes any tower layer over `Request<Body>`; the order of the
//! stack is documented on [`HttpClientBuilder`]. The facade crate builds its presets this way
//! (retry, per-host circuit breaker, rate limit and the observability crate's client layer are
//! separate packages, so this crate depends on none of them).
//!
//! # Metrics and traces
//!
//! Each call through the client increments `core_backend.httpclient.requests` with the label
//! `outcome` (`success`, `client_error`, `server_error`, or an error kind such as `timeout`,
//! `connect_error`) and runs in a `httpclient.request` debug span. Durations and OpenTelemetry
//! attributes come from the observability crate's `HttpClientLayer`, added with `.layer()`.

mod body;
mod client;
mod config;
mod connect;
mod defaults;
mod error;
mod redirect;
mod request;
mod response;
mod timeout;

pub use body::Body;
pub use client::{BoxHttpService, HttpClient, HttpClientBuilder, ResponseFuture};
pub use config::{HttpClientConfig, InvalidEnvVar};
pub use error::{Error, TimeoutPhase};
pub use request::RequestBuilder;
pub use response::Response;

/// The boxed error type used inside the stack.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
