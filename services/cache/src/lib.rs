//! Caching for core-backend: a byte store trait with a typed, stampede-proof loading cache on
//! top, a moka memory store, a tiered L1 + L2 cache, and an HTTP response-cache tower layer.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), core_backend_cache::CacheError> {
//! use std::time::Duration;
//! use core_backend_cache::{CacheConfig, MemoryCache, TypedCache};
//!
//! let config = CacheConfig::default(); // or CacheConfig::from_env()
//! let cache = TypedCache::from_config(MemoryCache::from_config(&config), &config);
//!
//! // However many requests miss "user:7" at once, the loader runs once.
//! let name: String = cache
//!     .get_or_insert_with("user:7", Duration::from_secs(60), || async {
//!         Ok::<_, std::io::Error>("grace".to_owned()) // e.g. a database query
//!     })
//!     .await?;
//! assert_eq!(name, "grace");
//! # Ok(()) }
//! ```
//!
//! # Pieces
//!
//! - [`Cache`]: get / set with TTL / delete over bytes, with the TTL left reported on read.
//!   Implemented by [`MemoryCache`] (moka), [`TieredCache`], [`SharedCache`] (type-erased), and by the
//!   Redis store of the redis adapter.
//! - [`TypedCache`]: serde values through a [`Codec`] ([`JsonCodec`] by default);
//!   [`get_or_insert_with`](TypedCache::get_or_insert_with) with single-flight loading,
//!   stale-while-revalidate and negative caching.
//! - [`ResponseCacheLayer`]: a shared HTTP cache for GET/HEAD with `Cache-Control`, `Vary`,
//!   `Age`, strong `ETag`s and `304 Not Modified`.
//!
//! # Why a byte store under a typed cache?
//!
//! The logic that is easy to get wrong (stampedes, stale serving, negative entries, tier
//! fallback) is written once, over bytes; a backend only has to store bytes with a TTL and
//! report the TTL left. Freshness travels in the record as "the grace window it was written
//! with", compared to the remaining TTL, so no clocks are compared across machines.

mod codec;
mod config;
mod error;
pub mod http;
mod memory;
mod metrics;
mod store;
mod tiered;
mod typed;

pub use crate::{
    codec::{Codec, JsonCodec},
    config::{CacheConfig, ConfigError},
    error::{BoxError, CacheError},
    http::{ResponseCache, ResponseCacheConfig, ResponseCacheLayer},
    memory::{MemoryCache, MemoryCacheBuilder},
    store::{Cache, CacheEntry, DynCache, SharedCache},
    tiered::{TieredCache, TieredCacheBuilder},
    typed::{TypedCache, TypedCacheBuilder},
};
