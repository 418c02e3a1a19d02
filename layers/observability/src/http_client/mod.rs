//! [`HttpClientLayer`]: spans, metrics and trace-context injection for HTTP clients.
//!
//! Wrap any `Service<http::Request<B>, Response = http::Response<B2>>` — a hyper-util client, a
//! tower stack around one, the workspace's HTTP client. For each request it opens an `INFO`
//! span (`GET`, kind client), writes `traceparent` (and the served request's `tracestate`) so the
//! callee continues the trace, and records `http.client.request.duration` with
//! `http.request.method`, `server.address`, `server.port`, `http.response.status_code` and, for
//! failures, `error.type` when the response body ends.
//!
//! ```
//! use core_backend_observability::HttpClientLayer;
//! use tower::ServiceBuilder;
//!
//! # let client = tower::service_fn(|_req: http::Request<String>| async {
//! #     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//! # });
//! let client = ServiceBuilder::new().layer(HttpClientLayer::new()).service(client);
//! # drop(client);
//! ```
//!
//! # Errors
//!
//! The layer adds no error of its own; an error from the inner service is recorded with
//! `error.type = _OTHER` and returned unchanged.

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::HttpClientLayer;
pub use self::service::HttpClient;

#[cfg(test)]
mod tests;
