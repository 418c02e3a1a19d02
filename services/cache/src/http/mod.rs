//! The HTTP response-cache layer: [`ResponseCacheLayer`] / [`ResponseCache`].
//!
//! A shared cache (RFC 9111) in front of any `tower::Service<http::Request<_>>`, e.g. an axum
//! `Router`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{Router, routing::get};
//! use core_backend_cache::ResponseCacheLayer;
//! use tower::ServiceExt;
//!
//! let app = Router::new()
//!     .route("/v1/notes/{id}", get(|| async { ([("cache-control", "max-age=30")], "a note") }))
//!     .layer(ResponseCacheLayer::new());
//! let res = app.oneshot(http::Request::get("/v1/notes/1").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert!(res.headers().contains_key("etag"));
//! # }
//! ```
//!
//! # What it does
//!
//! - **Stores** `200` answers to `GET` for `s-maxage`, else `max-age`, else the configured
//!   default TTL; not when the response says `no-store`, `private` or `no-cache` (it would
//!   have to be revalidated every time), has `Vary: *` or `Set-Cookie`, when the request says
//!   `no-store`, or when the request carried `Authorization` and the response is neither
//!   `public` nor `s-maxage`.
//! - **Keys** by authority + path and query; per key, up to `max_variants` variants selected by
//!   the request headers named in the response's `Vary`.
//! - **Serves** a fresh stored variant with `Age`; `HEAD` is answered from the stored `GET`
//!   without a body. A request with `Cache-Control: no-cache`, `no-store` or `max-age=0` goes
//!   to the inner service.
//! - **ETag / 304**: a `200` GET response without an `ETag` gets a strong one (first 128 bits of
//!   the SHA-256 of its body, quoted); `If-None-Match` (`*`, lists, weak comparison) that
//!   matches is answered `304 Not Modified` with `ETag`, `Cache-Control`, `Vary` (and `Age` on
//!   a hit) — from the cache or for a fresh response alike.
//! - **Bounded**: bodies over `max_body_bytes` (by `Content-Length`, or while reading) stream
//!   through untouched and unstored; the store is bounded by total bytes.
//! - **Invalidates**: a successful (2xx/3xx) `POST`, `PUT`, `PATCH` or `DELETE` drops every
//!   stored variant of its URI.
//!
//! # Differences from a full RFC 9111 cache
//!
//! No conditional revalidation of stale entries with the origin (a stale entry is a miss), no
//! `Expires`/heuristic freshness (use `default_ttl`), `HEAD` responses are not stored
//! themselves, and `no-cache` / `private` with field names are treated as the unqualified forms.

mod body;
mod config;
mod future;
pub mod headers;
mod layer;
mod service;
mod store;

pub use self::{
    body::ResponseBody,
    config::ResponseCacheConfig,
    future::ResponseFuture,
    layer::{ResponseCacheLayer, ResponseCacheLayerBuilder},
    service::ResponseCache,
};
