//! [`TieredCache`]: a fast L1 in front of a shared L2.

use std::time::Duration;

use bytes::Bytes;
use metrics::{Counter, counter};

use crate::{Cache, CacheEntry, CacheError};

/// Two [`Cache`] tiers: a local L1 (usually [`MemoryCache`](crate::MemoryCache)) in front of a
/// shared L2 (Redis through the redis adapter, or any `Cache`).
///
/// - **Read**: L1, then L2; an L2 hit is copied into L1 for the time it has left (capped by
///   [`TieredCacheBuilder::l1_ttl`]).
/// - **Write** (write-through): L2, then L1.
/// - **L2 failure never fails a read or a write**: it is logged, counted in
///   `core_backend.cache.l2_errors`, and the cache answers from L1 (a read becomes a miss, so a
///   [`TypedCache`](crate::TypedCache) on top runs its loader). When L2 is back, the next call
///   uses it again; there is no breaker state to reset.
/// - **Delete** removes from L1 and returns L2's error, if any: an invalidation that did not
///   reach the shared tier is something the caller must know about.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), core_backend_cache::CacheError> {
/// use std::time::Duration;
/// use core_backend_cache::{Cache, MemoryCache, TieredCache, TypedCache};
///
/// let l1 = MemoryCache::builder().name("l1").max_entries(1_000).build();
/// let l2 = MemoryCache::builder().name("l2").build(); // Redis in production
/// let cache = TypedCache::new(TieredCache::builder(l1, l2).l1_ttl(Duration::from_secs(5)).build());
/// let n: u64 = cache.get_or_insert_with("n", Duration::from_secs(60), || async { Ok::<_, std::io::Error>(1) }).await?;
/// assert_eq!(n, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TieredCache<L1, L2> {
    l1: L1,
    l2: L2,
    l1_ttl: Option<Duration>,
    l2_errors: Counter,
}

impl<L1: Cache, L2: Cache> TieredCache<L1, L2> {
    /// L1 in front of L2, L1 entries living as long as their L2 copy.
    pub fn new(l1: L1, l2: L2) -> Self {
        Self::builder(l1, l2).build()
    }

    /// A builder for L1 in front of L2.
    pub fn builder(l1: L1, l2: L2) -> TieredCacheBuilder<L1, L2> {
        TieredCacheBuilder {
            l1,
            l2,
            l1_ttl: None,
            name: "tiered".to_owned(),
        }
    }

    /// The local tier.
    pub fn l1(&self) -> &L1 {
        &self.l1
    }

    /// The shared tier.
    pub fn l2(&self) -> &L2 {
        &self.l2
    }

    fn l1_ttl(&self, ttl: Duration) -> Duration {
        self.l1_ttl.map_or(ttl, |cap| cap.min(ttl))
    }

    fn l2_failed(&self, op: &'static str, err: &CacheError) {
        self.l2_errors.increment(1);
        tracing::warn!(op, %err, "cache L2 failed; using L1");
    }
}

impl<L1: Cache, L2: Cache> Cache for TieredCache<L1, L2> {
    async fn get(&self, key: &str) -> Result<Option<CacheEntry>, CacheError> {
        if let Ok(Some(hit)) = self.l1.get(key).await {
            return Ok(Some(hit));
        }
        match self.l2.get(key).await {
            Ok(Some(hit)) => {
                // An L1 that cannot store is only a lost speed-up.
                let _ = self
                    .l1
                    .set(key, hit.value.clone(), self.l1_ttl(hit.ttl))
                    .await;
                Ok(Some(hit))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                self.l2_failed("get", &err);
                Ok(None)
            }
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        if let Err(err) = self.l2.set(key, value.clone(), ttl).await {
            self.l2_failed("set", &err);
        }
        self.l1.set(key, value, self.l1_ttl(ttl)).await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.l1.delete(key).await?;
        self.l2
            .delete(key)
            .await
            .inspect_err(|err| self.l2_failed("delete", err))
    }
}

/// Builds a [`TieredCache`].
#[derive(Debug)]
pub struct TieredCacheBuilder<L1, L2> {
    l1: L1,
    l2: L2,
    l1_ttl: Option<Duration>,
    name: String,
}

impl<L1: Cache, L2: Cache> TieredCacheBuilder<L1, L2> {
    /// Cap on how long an entry lives in L1, bounding how stale one instance can be after another
    /// instance wrote L2. Defaults to the entry's own TTL.
    pub fn l1_ttl(mut self, ttl: Duration) -> Self {
        self.l1_ttl = Some(ttl);
        self
    }

    /// Value of the `cache` label on `core_backend.cache.l2_errors`. Defaults to `"tiered"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Builds the cache.
    pub fn build(self) -> TieredCache<L1, L2> {
        TieredCache {
            l1: self.l1,
            l2: self.l2,
            l1_ttl: self.l1_ttl,
            l2_errors: counter!("core_backend.cache.l2_errors", "cache" => self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    };

    use super::*;
    use crate::{MemoryCache, TypedCache};

    /// A real in-memory L2 with a switch that makes every call fail, to inject outages.
    #[derive(Clone, Default)]
    struct FlakyL2 {
        store: MemoryCache,
        down: Arc<AtomicBool>,
        calls: Arc<AtomicUsize>,
    }

    impl FlakyL2 {
        fn check(&self) -> Result<(), CacheError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                Err(CacheError::backend(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "l2 down",
                )))
            } else {
                Ok(())
            }
        }
    }

    impl Cache for FlakyL2 {
        async fn get(&self, key: &str) -> Result<Option<CacheEntry>, CacheError> {
            self.check()?;
            self.store.get(key).await
        }

        async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
            self.check()?;
            self.store.set(key, value, ttl).await
        }

        async fn delete(&self, key: &str) -> Result<(), CacheError> {
            self.check()?;
            self.store.delete(key).await
        }
    }

    const MIN: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn l2_hit_populates_l1_with_remaining_ttl() {
        let l2 = MemoryCache::default();
        l2.set("k", "v".into(), Duration::from_secs(30))
            .await
            .expect("set");
        tokio::time::advance(Duration::from_secs(10)).await;
        let tiered = TieredCache::new(MemoryCache::default(), l2);
        let hit = tiered.get("k").await.expect("get").expect("hit");
        assert_eq!(hit.ttl, Duration::from_secs(20));
        let l1 = tiered.l1().get("k").await.expect("get").expect("copied");
        assert_eq!(l1.ttl, Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn write_through_and_l1_cap() {
        let tiered = TieredCache::builder(MemoryCache::default(), MemoryCache::default())
            .l1_ttl(Duration::from_secs(5))
            .build();
        tiered.set("k", "v".into(), MIN).await.expect("set");
        assert_eq!(
            tiered.l2().get("k").await.expect("l2").map(|e| e.ttl),
            Some(MIN)
        );
        assert_eq!(
            tiered.l1().get("k").await.expect("l1").map(|e| e.ttl),
            Some(Duration::from_secs(5))
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        // L1 copy gone, L2 still answers and refills L1.
        assert!(tiered.get("k").await.expect("get").is_some());
        tiered.delete("k").await.expect("delete");
        assert!(tiered.get("k").await.expect("get").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn l2_outage_falls_back_to_l1_and_loader_then_recovers() {
        let l2 = FlakyL2::default();
        let cache = TypedCache::new(TieredCache::new(MemoryCache::default(), l2.clone()));
        let runs = Arc::new(AtomicUsize::new(0));
        let load = |runs: &Arc<AtomicUsize>, v: u32| {
            let runs = Arc::clone(runs);
            move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<u32, std::io::Error>(v)
            }
        };

        cache
            .get_or_insert_with("a", MIN, load(&runs, 1))
            .await
            .expect("load");
        l2.down.store(true, Ordering::SeqCst);
        // L1 still answers.
        assert_eq!(
            cache
                .get_or_insert_with("a", MIN, load(&runs, 9))
                .await
                .expect("l1"),
            1
        );
        // A miss in L1 with L2 down: the loader answers, the write to L2 fails silently.
        assert_eq!(
            cache
                .get_or_insert_with("b", MIN, load(&runs, 2))
                .await
                .expect("loader"),
            2
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(
            cache.delete("b").await.is_err(),
            "an invalidation that missed L2 is reported"
        );

        l2.down.store(false, Ordering::SeqCst);
        let before = l2.calls.load(Ordering::SeqCst);
        assert_eq!(
            cache
                .get_or_insert_with("c", MIN, load(&runs, 3))
                .await
                .expect("load"),
            3
        );
        assert!(l2.calls.load(Ordering::SeqCst) > before, "L2 used again");
        assert!(
            l2.store.get("c").await.expect("get").is_some(),
            "written through once L2 is back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stampede_with_l2_down_still_runs_one_loader_and_l2_can_be_type_erased() {
        let l2 = FlakyL2::default();
        l2.down.store(true, Ordering::SeqCst);
        let cache = TypedCache::new(TieredCache::new(
            MemoryCache::default(),
            crate::SharedCache::new(l2.clone()),
        ));
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let cache = cache.clone();
            let runs = Arc::clone(&runs);
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_insert_with("k", MIN, move || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<u32, std::io::Error>(42)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("join").expect("value"), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(l2.calls.load(Ordering::SeqCst) > 0);
    }
}
