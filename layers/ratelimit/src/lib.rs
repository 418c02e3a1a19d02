//! Rate limiting as a tower layer: GCRA, sliding and fixed windows; keyed limits with a
//! quota per key and bounded memory; several limits at once; an in-memory store and a
//! [`RateLimitStore`] trait for shared ones (Redis in `core-backend-redis`); the IETF
//! `RateLimit-Policy` / `RateLimit` fields, `429` + `Retry-After` + RFC 9457 problem+json,
//! gRPC `RESOURCE_EXHAUSTED`, and a typed [`RateLimited`] error for clients.
//!
//! ```
//! use axum::{Router, routing::get};
//! use core_backend_ratelimit::{ClientIp, Limit, Quota, RateLimitLayer};
//!
//! let per_client = ClientIp::new().trusted_proxies(["10.0.0.0/8".parse().unwrap()]);
//! let app: Router = Router::new()
//!     .route("/v1/notes", get(|| async { "[]" }))
//!     .route("/healthz", get(|| async { "ok" })) // exempt by default
//!     .layer(
//!         RateLimitLayer::builder()
//!             .limit(Limit::new("per-second", Quota::per_second(10).burst(20)).key(per_client.clone()))
//!             .limit(Limit::new("per-day", Quota::per_day(10_000)).key(per_client))
//!             .build(),
//!     );
//! # let _ = app;
//! ```
//!
//! # Pieces
//!
//! - [`Quota`] + [`Algorithm`]: how much, over what period, enforced how.
//! - [`Limit`]: a named quota, counted per key ([`KeyExtractor`]: [`ClientIp`],
//!   [`HeaderKey`], [`RouteKey`], [`GlobalKey`] or a closure), with an optional
//!   [`QuotaResolver`] for a different quota per key (per plan).
//! - [`RateLimitStore`]: where counters live. [`MemoryStore`] is the default: lock-free per
//!   key, 24 bytes per key entry, idle keys evicted, a cap on keys.
//! - [`RateLimitLayer`] (servers: HTTP and gRPC) and [`ClientRateLimitLayer`] (clients),
//!   built with [`RateLimitLayer::builder`] or from [`RateLimitConfig`].
//!
//! # Why the decision is made in `call`
//!
//! The key comes from the request, so admission cannot be decided in `poll_ready`; see
//! [`RateLimit`]'s module notes. `poll_ready` forwards the inner service's readiness unchanged.
//!
//! # Metrics
//!
//! - `core_backend.ratelimit.decisions{outcome}` counter: `allowed`, `denied`, `fail_open`,
//!   `fail_closed`.
//! - `core_backend.ratelimit.store_errors` counter.
//! - `core_backend.ratelimit.keys` gauge: keys held by the [`MemoryStore`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod algorithm;
mod body;
mod config;
mod error;
mod future;
mod headers;
mod key;
mod layer;
mod limit;
mod memory;
mod quota;
mod service;
mod store;

pub use body::RateLimitBody;
pub use config::{ConfigError, RateLimitConfig};
pub use error::{OnStoreError, RateLimited};
pub use future::{ClientResponseFuture, ResponseFuture};
pub use headers::{RATELIMIT, RATELIMIT_POLICY};
pub use key::{
    ClientIp, ForwardedHeader, GlobalKey, HeaderKey, KeyExtractor, RequestParts, RouteKey,
    parse_forwarded_for, parse_x_forwarded_for,
};
pub use layer::{
    ClientRateLimitLayer, DEFAULT_EXEMPT_PATHS, RateLimitLayer, RateLimitLayerBuilder,
};
pub use limit::{Limit, QuotaResolver};
pub use memory::{DEFAULT_MAX_KEYS, MemoryStore, MemoryStoreBuilder};
pub use quota::{Algorithm, MAX_SLIDING_WINDOW_LIMIT, Quota, QuotaError};
pub use service::{ClientRateLimit, RateLimit};
pub use store::{
    CheckFuture, Clock, Decision, MonotonicClock, RateLimitKey, RateLimitStore, StoreError,
    StoreKey,
};
