//! [`TypedCache`]: typed values, single-flight loading, stale-while-revalidate, negative caching.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::watch;

use crate::{
    Cache, CacheConfig, CacheError, Codec, JsonCodec, codec::encode_to_bytes, error::BoxError,
    metrics::LoadMetrics,
};

const TAG_VALUE: u8 = 0;
const TAG_NOT_FOUND: u8 = 1;
const HEADER_LEN: usize = 9;

/// What one load produced, as handed to every waiter: encoded value, not found, or the error.
type FlightResult = Result<Option<Bytes>, CacheError>;
type Flights = Mutex<HashMap<Box<str>, watch::Receiver<Option<FlightResult>>>>;

/// A stored record: a small header (kind + the grace window it was written with) and the payload.
///
/// The grace window travels with the value so that freshness is derived from the store's
/// remaining TTL alone (no wall clocks compared across machines): an entry written with TTL
/// `t` and grace `g` lives `t + g` in the store and is stale once its remaining TTL is `≤ g`.
enum Record {
    Value(Bytes),
    NotFound,
}

fn wrap(tag: u8, grace: Duration, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(HEADER_LEN + payload.len());
    b.put_u8(tag);
    b.put_u64_le(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX));
    b.put_slice(payload);
    b.freeze()
}

fn unwrap(bytes: &Bytes) -> Result<(Record, Duration), CacheError> {
    if bytes.len() < HEADER_LEN {
        return Err(CacheError::codec("cache record shorter than its header"));
    }
    let mut grace = [0u8; 8];
    grace.copy_from_slice(&bytes[1..HEADER_LEN]);
    let grace = Duration::from_millis(u64::from_le_bytes(grace));
    match bytes[0] {
        TAG_VALUE => Ok((Record::Value(bytes.slice(HEADER_LEN..)), grace)),
        TAG_NOT_FOUND => Ok((Record::NotFound, grace)),
        tag => Err(CacheError::codec(format!(
            "unknown cache record kind {tag}"
        ))),
    }
}

enum Lookup {
    Fresh(Record),
    Stale(Record),
    Miss,
}

struct Inner<C, K> {
    store: C,
    codec: K,
    stale_while_revalidate: Duration,
    negative_ttl: Option<Duration>,
    flights: Flights,
    metrics: LoadMetrics,
    name: String,
}

/// A typed cache over any [`Cache`] store: serde values through a [`Codec`], and
/// [`get_or_insert_with`](TypedCache::get_or_insert_with) with stampede protection.
///
/// # Loading
///
/// - **Single flight**: when many callers miss the same key at once, one runs the loader; the
///   others wait for its result (value or error). A loader error goes to every waiter and is
///   never cached. If the caller running the loader is cancelled, a waiter takes over.
/// - **Stale-while-revalidate**: with a grace window `g`, an entry written with TTL `t` stays in
///   the store for `t + g`; during the last `g` it is served as a *stale hit* while one
///   background task (tokio) runs the loader and replaces it. A failing refresh keeps the stale
///   value until the window ends.
/// - **Negative caching**: with a negative TTL, a loader's `Ok(None)` ("not found") from
///   [`get_or_insert_optional`](TypedCache::get_or_insert_optional) is cached for that
///   (shorter) time.
/// - A store that fails on read or write is logged and treated as a miss: the loader's value
///   is still returned.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), core_backend_cache::CacheError> {
/// use std::time::Duration;
/// use core_backend_cache::{MemoryCache, TypedCache};
///
/// let cache = TypedCache::builder(MemoryCache::default())
///     .stale_while_revalidate(Duration::from_secs(10))
///     .negative_ttl(Duration::from_secs(5))
///     .build();
/// let user: String = cache
///     .get_or_insert_with("user:1", Duration::from_secs(60), || async {
///         Ok::<_, std::io::Error>("ada".to_owned())
///     })
///     .await?;
/// assert_eq!(user, "ada");
/// assert_eq!(cache.get::<String>("user:1").await?, Some("ada".to_owned()));
/// # Ok(()) }
/// ```
pub struct TypedCache<C, K = JsonCodec> {
    inner: Arc<Inner<C, K>>,
}

impl<C, K> Clone for TypedCache<C, K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C, K> std::fmt::Debug for TypedCache<C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedCache")
            .field("name", &self.inner.name)
            .field("stale_while_revalidate", &self.inner.stale_while_revalidate)
            .field("negative_ttl", &self.inner.negative_ttl)
            .finish_non_exhaustive()
    }
}

impl<C: Cache> TypedCache<C, JsonCodec> {
    /// A JSON cache over `store` with no grace window and no negative caching.
    pub fn new(store: C) -> Self {
        Self::builder(store).build()
    }

    /// A builder over `store`.
    pub fn builder(store: C) -> TypedCacheBuilder<C, JsonCodec> {
        TypedCacheBuilder {
            store,
            codec: JsonCodec,
            name: "default".to_owned(),
            stale_while_revalidate: Duration::ZERO,
            negative_ttl: None,
        }
    }

    /// A JSON cache over `store` with the name, grace window and negative TTL of `config`.
    pub fn from_config(store: C, config: &CacheConfig) -> Self {
        let mut b = Self::builder(store)
            .name(config.name.clone())
            .stale_while_revalidate(config.stale_while_revalidate);
        b.negative_ttl = config.negative_ttl;
        b.build()
    }
}

/// Builds a [`TypedCache`].
#[derive(Debug)]
pub struct TypedCacheBuilder<C, K> {
    store: C,
    codec: K,
    name: String,
    stale_while_revalidate: Duration,
    negative_ttl: Option<Duration>,
}

impl<C: Cache, K: Codec> TypedCacheBuilder<C, K> {
    /// Value of the `cache` label on the load metrics. Defaults to `"default"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The codec for values. Defaults to [`JsonCodec`].
    pub fn codec<K2: Codec>(self, codec: K2) -> TypedCacheBuilder<C, K2> {
        TypedCacheBuilder {
            store: self.store,
            codec,
            name: self.name,
            stale_while_revalidate: self.stale_while_revalidate,
            negative_ttl: self.negative_ttl,
        }
    }

    /// Grace window in which an expired value is served while one refresh runs. Defaults to zero (off).
    pub fn stale_while_revalidate(mut self, grace: Duration) -> Self {
        self.stale_while_revalidate = grace;
        self
    }

    /// Cache a loader's "not found" for `ttl`. Defaults to off.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = Some(ttl);
        self
    }

    /// Builds the cache.
    pub fn build(self) -> TypedCache<C, K> {
        TypedCache {
            inner: Arc::new(Inner {
                store: self.store,
                codec: self.codec,
                stale_while_revalidate: self.stale_while_revalidate,
                negative_ttl: self.negative_ttl,
                flights: Mutex::new(HashMap::new()),
                metrics: LoadMetrics::new(&self.name),
                name: self.name,
            }),
        }
    }
}

/// Removes the flight of `key` when the loading caller finishes or is cancelled; dropping the
/// sender then tells waiters that no value will come, so one of them takes over.
struct FlightGuard<'a> {
    flights: &'a Flights,
    key: &'a str,
    tx: watch::Sender<Option<FlightResult>>,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.key);
    }
}

enum Role {
    Lead(watch::Sender<Option<FlightResult>>),
    Wait(watch::Receiver<Option<FlightResult>>),
}

impl<C: Cache, K: Codec> TypedCache<C, K> {
    /// The store underneath.
    pub fn store(&self) -> &C {
        &self.inner.store
    }

    /// Reads a fresh value; stale values (in the grace window) and cached "not found" read as `None`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        match self.inner.lookup(key).await? {
            Lookup::Fresh(Record::Value(b)) => self.inner.codec.decode(&b).map(Some),
            _ => Ok(None),
        }
    }

    /// Stores `value` under `key`, fresh for `ttl` (plus the grace window in the store).
    pub async fn set<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let payload = encode_to_bytes(&self.inner.codec, value)?;
        self.inner.store_value(key, &payload, ttl).await
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.inner.store.delete(key).await
    }

    /// Returns the cached value of `key`, or runs `loader` once (whatever the number of
    /// concurrent callers), caches its value for `ttl` and returns it.
    pub async fn get_or_insert_with<T, F, Fut, E>(
        &self,
        key: &str,
        ttl: Duration,
        loader: F,
    ) -> Result<T, CacheError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let loader = move || {
            let fut = loader();
            async move { fut.await.map(Some) }
        };
        match self.load(key, ttl, loader, false).await? {
            Some(v) => Ok(v),
            None => Err(CacheError::codec(
                "a \"not found\" record was read where a value was required",
            )),
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) for loaders that may find nothing:
    /// `Ok(None)` is cached for the negative TTL when one is configured.
    pub async fn get_or_insert_optional<T, F, Fut, E>(
        &self,
        key: &str,
        ttl: Duration,
        loader: F,
    ) -> Result<Option<T>, CacheError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<T>, E>> + Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        self.load(key, ttl, loader, true).await
    }

    async fn load<T, F, Fut, E>(
        &self,
        key: &str,
        ttl: Duration,
        loader: F,
        accept_not_found: bool,
    ) -> Result<Option<T>, CacheError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<T>, E>> + Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let inner = &self.inner;
        let mut loader = Some(loader);
        loop {
            // A store failure must not fail the read: treat it as a miss and load.
            let found = inner.lookup(key).await.unwrap_or_else(|err| {
                tracing::warn!(cache = %inner.name, %err, "cache read failed; loading");
                Lookup::Miss
            });
            match found {
                Lookup::Fresh(Record::Value(b)) => match inner.codec.decode(&b) {
                    Ok(v) => return Ok(Some(v)),
                    Err(err) => {
                        tracing::warn!(cache = %inner.name, %err, "undecodable entry; reloading");
                    }
                },
                Lookup::Fresh(Record::NotFound) if accept_not_found => return Ok(None),
                Lookup::Stale(Record::Value(b)) => {
                    if let Ok(v) = inner.codec.decode(&b) {
                        inner.metrics.stale_hits.increment(1);
                        if let Some(loader) = loader.take() {
                            Self::spawn_refresh(Arc::clone(inner), key, ttl, loader);
                        }
                        return Ok(Some(v));
                    }
                }
                Lookup::Stale(Record::NotFound) if accept_not_found => {
                    inner.metrics.stale_hits.increment(1);
                    if let Some(loader) = loader.take() {
                        Self::spawn_refresh(Arc::clone(inner), key, ttl, loader);
                    }
                    return Ok(None);
                }
                _ => {}
            }

            let role = {
                let mut flights = inner.flights.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(rx) = flights.get(key) {
                    Role::Wait(rx.clone())
                } else {
                    let (tx, rx) = watch::channel(None);
                    flights.insert(key.into(), rx);
                    Role::Lead(tx)
                }
            };
            match role {
                Role::Wait(mut rx) => {
                    let Ok(done) = rx.wait_for(Option::is_some).await else {
                        // The loading caller was cancelled; go round and take over.
                        continue;
                    };
                    match done.clone() {
                        Some(Ok(Some(b))) => return inner.codec.decode(&b).map(Some),
                        Some(Ok(None)) => return Ok(None),
                        Some(Err(err)) => return Err(err),
                        None => {}
                    }
                }
                Role::Lead(tx) => {
                    let guard = FlightGuard {
                        flights: &inner.flights,
                        key,
                        tx,
                    };
                    // Someone may have stored the value between our lookup and taking the flight.
                    if let Ok(Lookup::Fresh(Record::Value(b))) = inner.lookup(key).await
                        && let Ok(v) = inner.codec.decode(&b)
                    {
                        guard.tx.send_replace(Some(Ok(Some(b))));
                        return Ok(Some(v));
                    }
                    let Some(loader) = loader.take() else {
                        // Unreachable in practice: the loader is only given away on a stale hit,
                        // which returns. Answer as a miss rather than panic.
                        return Ok(None);
                    };
                    let result = inner.run_loader(key, ttl, loader).await;
                    let (shared, own) = match result {
                        Ok((bytes, value)) => (Ok(bytes), Ok(value)),
                        Err(err) => (Err(err.clone()), Err(err)),
                    };
                    guard.tx.send_replace(Some(shared));
                    return own;
                }
            }
        }
    }

    fn spawn_refresh<T, F, Fut, E>(inner: Arc<Inner<C, K>>, key: &str, ttl: Duration, loader: F)
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<T>, E>> + Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let tx = {
            let mut flights = inner.flights.lock().unwrap_or_else(PoisonError::into_inner);
            if flights.contains_key(key) {
                // A refresh (or a load) for this key is already running.
                return;
            }
            let (tx, rx) = watch::channel(None);
            flights.insert(key.into(), rx);
            tx
        };
        let key: Box<str> = key.into();
        handle.spawn(async move {
            let guard = FlightGuard {
                flights: &inner.flights,
                key: &key,
                tx,
            };
            let result = inner
                .run_loader(&key, ttl, loader)
                .await
                .map(|(bytes, _)| bytes);
            guard.tx.send_replace(Some(result));
        });
    }
}

impl<C: Cache, K: Codec> Inner<C, K> {
    async fn lookup(&self, key: &str) -> Result<Lookup, CacheError> {
        let Some(entry) = self.store.get(key).await? else {
            return Ok(Lookup::Miss);
        };
        let (record, grace) = unwrap(&entry.value)?;
        Ok(if entry.ttl > grace {
            Lookup::Fresh(record)
        } else {
            Lookup::Stale(record)
        })
    }

    async fn store_value(
        &self,
        key: &str,
        payload: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let grace = self.stale_while_revalidate;
        self.store
            .set(
                key,
                wrap(TAG_VALUE, grace, payload),
                ttl.saturating_add(grace),
            )
            .await
    }

    /// Runs the loader, stores what it produced, and returns the encoded value (for waiters)
    /// with the value itself (for the caller).
    async fn run_loader<T, F, Fut, E>(
        &self,
        key: &str,
        ttl: Duration,
        loader: F,
    ) -> Result<(Option<Bytes>, Option<T>), CacheError>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
        E: Into<BoxError>,
    {
        self.metrics.loads.increment(1);
        match loader().await {
            Ok(Some(value)) => {
                let payload = encode_to_bytes(&self.codec, &value)?;
                if let Err(err) = self.store_value(key, &payload, ttl).await {
                    tracing::warn!(cache = %self.name, %err, "cache write failed; value returned uncached");
                }
                Ok((Some(payload), Some(value)))
            }
            Ok(None) => {
                if let Some(neg) = self.negative_ttl {
                    let grace = self.stale_while_revalidate;
                    let rec = wrap(TAG_NOT_FOUND, grace, &[]);
                    if let Err(err) = self.store.set(key, rec, neg.saturating_add(grace)).await {
                        tracing::warn!(cache = %self.name, %err, "cache write of \"not found\" failed");
                    }
                }
                Ok((None, None))
            }
            Err(err) => {
                self.metrics.load_errors.increment(1);
                let err = CacheError::loader(err);
                tracing::debug!(cache = %self.name, %err, "cache loader failed");
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::MemoryCache;

    const MIN: Duration = Duration::from_secs(60);

    fn counted(
        runs: &Arc<AtomicUsize>,
        value: &'static str,
        delay: Duration,
    ) -> impl FnOnce() -> futures_util::future::BoxFuture<'static, Result<String, std::io::Error>>
    + Send
    + 'static {
        let runs = Arc::clone(runs);
        move || {
            Box::pin(async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                Ok(value.to_owned())
            })
        }
    }

    /// Loads key `k` through a counted loader that yields `value` at once.
    async fn load<C: Cache>(
        cache: &TypedCache<C>,
        ttl: Duration,
        runs: &Arc<AtomicUsize>,
        value: &'static str,
    ) -> String {
        cache
            .get_or_insert_with("k", ttl, counted(runs, value, Duration::ZERO))
            .await
            .expect("load")
    }

    #[tokio::test(start_paused = true)]
    async fn hundred_concurrent_callers_run_one_loader() {
        let cache = TypedCache::new(MemoryCache::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let cache = cache.clone();
            let loader = counted(&runs, "v", Duration::from_millis(100));
            tasks.push(tokio::spawn(async move {
                cache.get_or_insert_with("k", MIN, loader).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("join").expect("load"), "v");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(cache.inner.flights.lock().expect("lock").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn stampede_on_a_multi_thread_runtime_runs_one_loader() {
        let cache = TypedCache::new(MemoryCache::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(tokio::sync::Barrier::new(100));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (cache, start) = (cache.clone(), Arc::clone(&start));
            let loader = counted(&runs, "v", Duration::from_millis(50));
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                cache.get_or_insert_with("k", MIN, loader).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("join").expect("load"), "v");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn loader_error_reaches_every_waiter_and_is_not_cached() {
        #[derive(Debug, thiserror::Error)]
        #[error("db down")]
        struct DbDown;
        let cache = TypedCache::new(MemoryCache::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let runs = Arc::clone(&runs);
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_insert_with("k", MIN, move || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err::<String, _>(DbDown)
                    })
                    .await
            }));
        }
        for t in tasks {
            let err = t.await.expect("join").expect_err("loader failed");
            assert!(
                err.loader_error()
                    .and_then(|e| e.downcast_ref::<DbDown>())
                    .is_some(),
                "{err}"
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Not cached: the next call loads again and succeeds.
        let v = load(&cache, MIN, &runs, "ok").await;
        assert_eq!(v, "ok");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_loader_hands_over_to_a_waiter() {
        let cache = TypedCache::new(MemoryCache::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let slow = {
            let cache = cache.clone();
            let loader = counted(&runs, "first", Duration::from_secs(10));
            tokio::spawn(async move { cache.get_or_insert_with("k", MIN, loader).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        let waiter = {
            let cache = cache.clone();
            let loader = counted(&runs, "second", Duration::from_millis(10));
            tokio::spawn(async move { cache.get_or_insert_with("k", MIN, loader).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        slow.abort();
        assert_eq!(waiter.await.expect("join").expect("load"), "second");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn ttl_expiry_reloads() {
        let cache = TypedCache::new(MemoryCache::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let ttl = Duration::from_secs(10);
        assert_eq!(load(&cache, ttl, &runs, "a").await, "a");
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(load(&cache, ttl, &runs, "b").await, "a");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(load(&cache, ttl, &runs, "b").await, "b");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_value_served_within_grace_while_one_refresh_runs() {
        let cache = TypedCache::builder(MemoryCache::default())
            .stale_while_revalidate(Duration::from_secs(5))
            .build();
        let runs = Arc::new(AtomicUsize::new(0));
        let ttl = Duration::from_secs(10);
        load(&cache, ttl, &runs, "old").await;
        assert_eq!(
            cache.get::<String>("k").await.expect("get").as_deref(),
            Some("old")
        );

        tokio::time::advance(Duration::from_secs(11)).await;
        // Stale: plain get says nothing, the loading get serves the old value at once.
        assert_eq!(cache.get::<String>("k").await.expect("get"), None);
        for _ in 0..10 {
            let v = cache
                .get_or_insert_with("k", ttl, counted(&runs, "new", Duration::from_secs(1)))
                .await
                .expect("stale");
            assert_eq!(v, "old");
        }
        // Paused clock: sleeping lets the background refresh finish its load and write.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one background refresh");
        let v = load(&cache, ttl, &runs, "x").await;
        assert_eq!(v, "new");
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_grace_window_the_caller_waits_for_the_loader() {
        let cache = TypedCache::builder(MemoryCache::default())
            .stale_while_revalidate(Duration::from_secs(5))
            .build();
        let runs = Arc::new(AtomicUsize::new(0));
        let ttl = Duration::from_secs(10);
        load(&cache, ttl, &runs, "old").await;
        tokio::time::advance(Duration::from_secs(16)).await;
        let v = load(&cache, ttl, &runs, "new").await;
        assert_eq!(v, "new");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_refresh_keeps_serving_stale() {
        let cache = TypedCache::builder(MemoryCache::default())
            .stale_while_revalidate(Duration::from_secs(5))
            .build();
        let ttl = Duration::from_secs(10);
        cache.set("k", &"old", ttl).await.expect("set");
        tokio::time::advance(Duration::from_secs(11)).await;
        let v: String = cache
            .get_or_insert_with("k", ttl, || async {
                Err::<String, _>(std::io::Error::other("down"))
            })
            .await
            .expect("stale");
        assert_eq!(v, "old");
        tokio::task::yield_now().await;
        let v: String = cache
            .get_or_insert_with("k", ttl, || async {
                Err::<String, _>(std::io::Error::other("down"))
            })
            .await
            .expect("still stale");
        assert_eq!(v, "old");
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_is_cached_for_the_negative_ttl_only() {
        let cache = TypedCache::builder(MemoryCache::default())
            .negative_ttl(Duration::from_secs(5))
            .build();
        let runs = Arc::new(AtomicUsize::new(0));
        let missing = |runs: &Arc<AtomicUsize>| {
            let runs = Arc::clone(runs);
            move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<Option<String>, std::io::Error>(None)
            }
        };
        assert_eq!(
            cache
                .get_or_insert_optional("k", MIN, missing(&runs))
                .await
                .expect("load"),
            None
        );
        assert_eq!(
            cache
                .get_or_insert_optional("k", MIN, missing(&runs))
                .await
                .expect("load"),
            None
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "negative hit");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            cache
                .get_or_insert_optional("k", MIN, missing(&runs))
                .await
                .expect("load"),
            None
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2, "negative entry expired");
        // A required-value load does not take "not found" for an answer.
        let v = load(&cache, MIN, &runs, "found").await;
        assert_eq!(v, "found");
    }

    #[tokio::test(start_paused = true)]
    async fn without_negative_ttl_not_found_is_not_cached() {
        let cache = TypedCache::new(MemoryCache::default());
        let runs = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let runs = Arc::clone(&runs);
            let v = cache
                .get_or_insert_optional("k", MIN, move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<Option<u32>, std::io::Error>(None)
                })
                .await
                .expect("load");
            assert_eq!(v, None);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn corrupt_records_are_reported_by_get_and_reloaded_by_loaders() {
        let store = MemoryCache::default();
        store
            .set("short", Bytes::from_static(b"x"), MIN)
            .await
            .expect("set");
        store
            .set("tag", Bytes::from_static(&[9, 0, 0, 0, 0, 0, 0, 0, 0]), MIN)
            .await
            .expect("set");
        let cache = TypedCache::new(store);
        assert!(matches!(
            cache.get::<u32>("short").await,
            Err(CacheError::Codec(_))
        ));
        assert!(matches!(
            cache.get::<u32>("tag").await,
            Err(CacheError::Codec(_))
        ));
        cache.set("json", &"text", MIN).await.expect("set");
        assert!(matches!(
            cache.get::<u32>("json").await,
            Err(CacheError::Codec(_))
        ));
        let v = cache
            .get_or_insert_with("json", MIN, || async { Ok::<u32, std::io::Error>(7) })
            .await
            .expect("load");
        assert_eq!(v, 7);
        cache.delete("json").await.expect("delete");
        assert_eq!(cache.get::<u32>("json").await.expect("get"), None);
    }
}
