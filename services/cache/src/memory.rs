//! [`MemoryCache`]: the in-process store on moka.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use moka::{Expiry, future::Cache as Moka, notification::RemovalCause};
use tokio::time::Instant;

use crate::{Cache, CacheConfig, CacheEntry, CacheError, metrics::StoreMetrics};

#[derive(Clone)]
struct Stored {
    value: Bytes,
    expires_at: Instant,
    ttl: Duration,
}

struct PerEntryTtl {
    has_tti: bool,
}

impl Expiry<Arc<str>, Stored> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _: &Arc<str>,
        v: &Stored,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.ttl)
    }

    fn expire_after_update(
        &self,
        _: &Arc<str>,
        v: &Stored,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.ttl)
    }

    // moka hands a read the time left under *all* policies (per-entry and TTI) and the default
    // keeps that as the new per-entry deadline, which with TTI would freeze the idle deadline at
    // the first read. With TTI, re-state the entry's own deadline (TTI is checked separately);
    // without, keep moka's value so a read does not reschedule the entry's timer.
    fn expire_after_read(
        &self,
        _: &Arc<str>,
        v: &Stored,
        read_at: std::time::Instant,
        duration_until_expiry: Option<Duration>,
        last_modified_at: std::time::Instant,
    ) -> Option<Duration> {
        if self.has_tti {
            Some(
                v.ttl
                    .saturating_sub(read_at.saturating_duration_since(last_modified_at)),
            )
        } else {
            duration_until_expiry
        }
    }
}

/// An in-process, size-bounded [`Cache`] on [`moka`], with a TTL per entry and optional
/// idle expiry.
///
/// Each entry keeps the TTL it was written with (moka's `Expiry`), capped by
/// [`MemoryCacheBuilder::ttl`]. Freshness is also checked against tokio's clock on read, so
/// entries expire on time under `tokio::time::pause()`; moka's own eviction (size, idle time,
/// reclaiming memory of expired entries) runs on the wall clock.
///
/// Cloning is cheap and shares the store.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), core_backend_cache::CacheError> {
/// use std::time::Duration;
/// use core_backend_cache::{Cache, MemoryCache};
///
/// let cache = MemoryCache::builder().name("sessions").max_bytes(64 << 20).build();
/// cache.set("a", "1".into(), Duration::from_secs(30)).await?;
/// assert!(cache.get("a").await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryCache {
    inner: Moka<Arc<str>, Stored>,
    metrics: StoreMetrics,
    max_ttl: Duration,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.inner.entry_count())
            .field("max_ttl", &self.max_ttl)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl MemoryCache {
    /// A builder with the [`CacheConfig`] defaults.
    pub fn builder() -> MemoryCacheBuilder {
        MemoryCacheBuilder {
            config: CacheConfig::default(),
        }
    }

    /// A store built from `config`.
    pub fn from_config(config: &CacheConfig) -> Self {
        MemoryCacheBuilder {
            config: config.clone(),
        }
        .build()
    }

    /// Approximate number of entries (moka counts lazily; see [`MemoryCache::run_pending_tasks`]).
    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }

    /// Runs moka's pending maintenance (evictions, expirations) now.
    pub async fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks().await;
    }

    /// Removes every entry.
    pub fn clear(&self) {
        self.inner.invalidate_all();
    }
}

impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<CacheEntry>, CacheError> {
        if let Some(stored) = self.inner.get(key).await {
            let now = Instant::now();
            if stored.expires_at > now {
                self.metrics.hits.increment(1);
                return Ok(Some(CacheEntry {
                    value: stored.value,
                    ttl: stored.expires_at - now,
                }));
            }
        }
        self.metrics.misses.increment(1);
        Ok(None)
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        let ttl = ttl.min(self.max_ttl);
        if ttl.is_zero() {
            self.inner.invalidate(key).await;
            return Ok(());
        }
        let expires_at = Instant::now() + ttl;
        self.inner
            .insert(
                Arc::from(key),
                Stored {
                    value,
                    expires_at,
                    ttl,
                },
            )
            .await;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.inner.invalidate(key).await;
        Ok(())
    }
}

/// Builds a [`MemoryCache`]; see [`CacheConfig`] for the same settings from a file or env.
#[derive(Debug, Clone)]
pub struct MemoryCacheBuilder {
    config: CacheConfig,
}

impl MemoryCacheBuilder {
    /// Value of the `cache` metric label. Defaults to `"default"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Upper bound on the number of entries. Defaults to `10_000`.
    pub fn max_entries(mut self, n: u64) -> Self {
        self.config.max_entries = n;
        self.config.max_bytes = None;
        self
    }

    /// Bound by weighted size (key + value bytes) instead of entry count. Defaults to off.
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.config.max_bytes = Some(n);
        self
    }

    /// Upper bound on any entry's lifetime. Defaults to 1 hour.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.config.ttl = ttl;
        self
    }

    /// Drop entries not read for `tti`. Defaults to off.
    pub fn tti(mut self, tti: Duration) -> Self {
        self.config.tti = Some(tti);
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryCache {
        let c = self.config;
        let metrics = StoreMetrics::new(&c.name);
        let evictions = metrics.evictions.clone();
        let mut b = Moka::builder()
            .name(&c.name)
            // Every entry's TTL is capped at `c.ttl` in `set`, so no global TTL is needed.
            .expire_after(PerEntryTtl {
                has_tti: c.tti.is_some(),
            })
            .eviction_listener(move |_k, _v, cause: RemovalCause| {
                if cause.was_evicted() {
                    evictions.increment(1);
                }
            });
        b = match c.max_bytes {
            Some(bytes) => b.max_capacity(bytes).weigher(|k: &Arc<str>, v: &Stored| {
                u32::try_from(k.len() + v.value.len()).unwrap_or(u32::MAX)
            }),
            None => b.max_capacity(c.max_entries),
        };
        if let Some(tti) = c.tti {
            b = b.time_to_idle(tti);
        }
        MemoryCache {
            inner: b.build(),
            metrics,
            max_ttl: c.ttl,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_on_tokio_time() {
        let cache = MemoryCache::default();
        cache
            .set("k", "v".into(), Duration::from_secs(10))
            .await
            .expect("set");
        let e = cache.get("k").await.expect("get").expect("present");
        assert_eq!(e.ttl, Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(
            cache.get("k").await.expect("get").map(|e| e.ttl),
            Some(Duration::from_secs(1))
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cache.get("k").await.expect("get").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn ttl_is_capped_and_zero_deletes() {
        let cache = MemoryCache::builder().ttl(Duration::from_secs(5)).build();
        cache
            .set("k", "v".into(), Duration::from_secs(60))
            .await
            .expect("set");
        assert_eq!(
            cache.get("k").await.expect("get").map(|e| e.ttl),
            Some(Duration::from_secs(5))
        );
        cache
            .set("k", "v".into(), Duration::ZERO)
            .await
            .expect("set");
        assert!(cache.get("k").await.expect("get").is_none());
        cache
            .set("k", "v".into(), Duration::from_secs(1))
            .await
            .expect("set");
        cache.delete("k").await.expect("delete");
        assert!(cache.get("k").await.expect("get").is_none());
    }

    // moka's idle and per-entry expiry run on its own wall clock, which paused tokio time does
    // not drive, so these use short real durations.
    #[tokio::test]
    async fn moka_evicts_idle_entries_on_real_time() {
        let cache = MemoryCache::builder()
            .tti(Duration::from_millis(500))
            .build();
        cache
            .set("idle", "v".into(), Duration::from_secs(60))
            .await
            .expect("set");
        cache
            .set("busy", "v".into(), Duration::from_secs(60))
            .await
            .expect("set");
        // Wide margins: the busy key is read every 100 ms, well inside its 500 ms idle limit.
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(cache.get("busy").await.expect("get").is_some());
        }
        assert!(cache.get("idle").await.expect("get").is_none());
    }

    #[tokio::test]
    async fn moka_drops_entries_after_their_own_ttl_on_real_time() {
        let cache = MemoryCache::default();
        cache
            .set("short", "v".into(), Duration::from_millis(50))
            .await
            .expect("set");
        cache
            .set("long", "v".into(), Duration::from_secs(60))
            .await
            .expect("set");
        tokio::time::sleep(Duration::from_millis(120)).await;
        // Ask moka itself, not our tokio-clock check on top.
        assert!(!cache.inner.contains_key("short"));
        assert!(cache.inner.contains_key("long"));
    }

    #[tokio::test]
    async fn size_bound_by_entries_and_by_bytes() {
        let cache = MemoryCache::builder().max_entries(10).build();
        for i in 0..100 {
            cache
                .set(&format!("k{i}"), "v".into(), Duration::from_secs(60))
                .await
                .expect("set");
        }
        cache.run_pending_tasks().await;
        assert!(cache.entry_count() <= 10, "{}", cache.entry_count());

        let cache = MemoryCache::builder().max_bytes(10_000).build();
        for i in 0..100 {
            cache
                .set(
                    &format!("k{i}"),
                    Bytes::from(vec![0u8; 1_000]),
                    Duration::from_secs(60),
                )
                .await
                .expect("set");
        }
        cache.run_pending_tasks().await;
        assert!(cache.entry_count() <= 10, "{}", cache.entry_count());
    }
}
