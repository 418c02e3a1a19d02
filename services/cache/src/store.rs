//! The [`Cache`] store trait over bytes, and its object-safe twin [`DynCache`].

use std::{future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::CacheError;

/// A value read from a [`Cache`], with the time it has left to live.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheEntry {
    /// The stored bytes.
    pub value: Bytes,
    /// Time left before the store drops the entry (`PTTL` in Redis terms).
    pub ttl: Duration,
}

impl CacheEntry {
    /// An entry holding `value` with `ttl` left to live.
    pub fn new(value: Bytes, ttl: Duration) -> Self {
        Self { value, ttl }
    }
}

/// A key-value store of bytes with a time to live per entry.
///
/// This is the seam between the cache logic of this crate (single-flight loading,
/// stale-while-revalidate, negative caching, codecs, tiering — see [`TypedCache`] and
/// [`TieredCache`]) and a place to keep bytes: [`MemoryCache`] on moka here, Redis in the
/// redis adapter. An implementation only stores, reads and deletes; it must report the
/// time left to live on read so that freshness survives a trip through L2.
///
/// The methods return `impl Future + Send` so a call on a concrete store is not boxed.
/// For a trait object use [`DynCache`] (every `Cache` is one), or [`SharedCache`], a
/// type-erased store that is itself a `Cache`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), core_backend_cache::CacheError> {
/// use std::time::Duration;
/// use core_backend_cache::{Cache, MemoryCache, SharedCache};
///
/// let store = SharedCache::new(MemoryCache::builder().max_entries(1_000).build());
/// store.set("k", "v".into(), Duration::from_secs(60)).await?;
/// assert_eq!(store.get("k").await?.map(|e| e.value), Some("v".into()));
/// # Ok(()) }
/// ```
///
/// [`TypedCache`]: crate::TypedCache
/// [`TieredCache`]: crate::TieredCache
/// [`MemoryCache`]: crate::MemoryCache
pub trait Cache: Send + Sync + 'static {
    /// Reads `key`; `Ok(None)` when absent or expired.
    fn get(&self, key: &str)
    -> impl Future<Output = Result<Option<CacheEntry>, CacheError>> + Send;

    /// Stores `value` under `key` for `ttl`, replacing any previous entry.
    fn set(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), CacheError>> + Send;

    /// Removes `key`; removing an absent key is not an error.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), CacheError>> + Send;
}

/// The object-safe form of [`Cache`]; implemented for every `Cache`.
pub trait DynCache: Send + Sync + 'static {
    /// See [`Cache::get`].
    fn get_dyn<'a>(&'a self, key: &'a str)
    -> BoxFuture<'a, Result<Option<CacheEntry>, CacheError>>;
    /// See [`Cache::set`].
    fn set_dyn<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>>;
    /// See [`Cache::delete`].
    fn delete_dyn<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), CacheError>>;
}

impl<C: Cache> DynCache for C {
    fn get_dyn<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>, CacheError>> {
        Box::pin(self.get(key))
    }

    fn set_dyn<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(self.set(key, value, ttl))
    }

    fn delete_dyn<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(self.delete(key))
    }
}

/// A type-erased [`Cache`]: any store behind one concrete type, e.g. chosen at start-up from
/// configuration (memory or Redis). Cheap to clone.
///
/// # Why a newtype and not `impl Cache for Arc<dyn DynCache>`?
///
/// Inside a spawned task rustc checks `Send` of the futures for every lifetime of the trait
/// object (`dyn DynCache + '_`), and an impl for `Arc<dyn DynCache + 'static>` does not satisfy
/// that ("implementation is not general enough"). A named type has no such lifetime.
#[derive(Clone)]
pub struct SharedCache(Arc<dyn DynCache>);

impl SharedCache {
    /// Erases the type of `store`.
    pub fn new(store: impl Cache) -> Self {
        Self(Arc::new(store))
    }
}

impl From<Arc<dyn DynCache>> for SharedCache {
    fn from(store: Arc<dyn DynCache>) -> Self {
        Self(store)
    }
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedCache").finish_non_exhaustive()
    }
}

impl Cache for SharedCache {
    async fn get(&self, key: &str) -> Result<Option<CacheEntry>, CacheError> {
        self.0.get_dyn(key).await
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        self.0.set_dyn(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.0.delete_dyn(key).await
    }
}

impl<C: Cache> Cache for Arc<C> {
    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<CacheEntry>, CacheError>> + Send {
        (**self).get(key)
    }

    fn set(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), CacheError>> + Send {
        (**self).set(key, value, ttl)
    }

    fn delete(&self, key: &str) -> impl Future<Output = Result<(), CacheError>> + Send {
        (**self).delete(key)
    }
}
