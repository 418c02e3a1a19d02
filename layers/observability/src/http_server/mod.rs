//! [`HttpServerLayer`]: spans, metrics and trace-context extraction for HTTP servers.
//!
//! For each request it opens an `INFO` span named after the OpenTelemetry conventions
//! (`GET /v1/notes/{id}`), continues the caller's W3C trace, counts the request in
//! `http.server.active_requests` and, when the response body ends, records
//! `http.server.request.duration` with `http.request.method`, `http.route`,
//! `http.response.status_code` and `url.scheme`.
//!
//! # Route templates, never raw paths
//!
//! `http.route` is taken from axum's [`MatchedPath`](axum::extract::MatchedPath) in the request
//! extensions. axum inserts it before the layers added with `Router::layer` /
//! `Router::route_layer` run, so add the layer there:
//!
//! ```
//! use axum::{Router, routing::get};
//! use core_backend_observability::HttpServerLayer;
//!
//! let app: Router = Router::new()
//!     .route("/v1/notes/{id}", get(|| async { "note" }))
//!     .layer(HttpServerLayer::new());
//! ```
//!
//! When there is no matched path (an unknown route answered by the fallback, or the layer wraps
//! the whole router from outside) the request is recorded **without** an `http.route` label,
//! as the conventions say; the raw path never becomes a label, because anybody can send any
//! number of distinct paths. Unregistered methods are recorded as `_OTHER` for the same reason.
//!
//! # Errors
//!
//! The layer adds no error of its own: the inner service's response and error pass through
//! unchanged (the body is wrapped in [`ObservedBody`](crate::ObservedBody)).

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::HttpServerLayer;
pub use self::service::HttpServer;

#[cfg(test)]
mod tests;
