//! [`RedisCache`]: `core_backend_cache::Cache` on Redis, the shared L2 of a
//! [`TieredCache`](core_backend_cache::TieredCache).
//!
//! | operation | Redis commands |
//! |---|---|
//! | `get` | `GET` + `PTTL`, pipelined (one round trip) |
//! | `set` | `SET key value PX ttl` (`SET key value` for a zero TTL, see [`RedisCache`]) |
//! | `delete` | `DEL` |
//!
//! Keys are `<prefix>:cache:<name>:<key>` (`<prefix>` from [`RedisConfig::key_prefix`](crate::RedisConfig::key_prefix)).
//! Every Redis failure (refused connection, response timeout, error reply) is a
//! [`CacheError::backend`] whose source is the [`redis::RedisError`], so a tiered cache falls
//! back to its L1 and a [`TypedCache`](core_backend_cache::TypedCache) to its loader.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use core_backend_cache::{Cache, CacheEntry, CacheError};
use redis::aio::ConnectionManager;

use crate::Redis;

/// TTLs at or above this many milliseconds (about 2,230 years) are stored without expiry: Redis
/// rejects deadlines that overflow its clock, and [`Duration::MAX`] is what
/// [`RedisCache::get`](Cache::get) reports for a key without expiry.
const MAX_PX_MS: u128 = 1 << 46;

/// A [`Cache`] on Redis. Cheap to clone (clones share the connection).
///
/// - **TTL**: `set` rounds the TTL up to whole milliseconds (at least 1 ms, so a sub-millisecond
///   TTL still expires instead of living forever). A **zero TTL stores the value without
///   expiry**, as does a TTL beyond about 2,000 years (e.g. [`Duration::MAX`]).
/// - **Reading back the TTL**: `get` reports the time the key has left (`PTTL`); a key without
///   expiry (written with a zero TTL, or by another program) reports [`Duration::MAX`], which a
///   [`MemoryCache`](core_backend_cache::MemoryCache) L1 caps at its own maximum TTL.
/// - `GET` and `PTTL` are pipelined, not wrapped in `MULTI`: a key that expires or is deleted
///   between the two reads as a miss.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use core_backend_cache::{MemoryCache, TieredCache, TypedCache};
/// use core_backend_redis::{Redis, RedisConfig, cache::RedisCache};
///
/// let redis = Redis::connect_lazy(&RedisConfig::from_env()?)?;
/// let l1 = MemoryCache::builder().name("notes-l1").max_entries(10_000).build();
/// let cache = TypedCache::new(TieredCache::new(l1, RedisCache::new(&redis, "notes")));
/// let n: u64 = cache
///     .get_or_insert_with("answer", Duration::from_secs(60), || async { Ok::<_, std::io::Error>(42) })
///     .await?;
/// # let _ = n;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    /// `<prefix>:cache:<name>:`
    key_prefix: Arc<str>,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache named `name` on `redis`'s connection; its keys are
    /// `<prefix>:cache:<name>:<key>`, so caches with different names never collide.
    pub fn new(redis: &Redis, name: &str) -> Self {
        Self {
            conn: redis.connection(),
            key_prefix: format!("{}:cache:{name}:", redis.key_prefix()).into(),
        }
    }

    /// The Redis key holding the cache key `key`.
    pub fn redis_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.key_prefix.len() + key.len());
        k.push_str(&self.key_prefix);
        k.push_str(key);
        k
    }
}

/// Maps a Redis failure of `op` to [`CacheError::backend`], with a debug event (the key is
/// not logged: it may carry user data).
fn backend(op: &'static str) -> impl FnOnce(redis::RedisError) -> CacheError {
    move |err| {
        tracing::debug!(db.system = "redis", op, error = %err, "redis cache command failed");
        CacheError::backend(err)
    }
}

/// The `PX` argument for `ttl`: whole milliseconds rounded up, at least 1; `None` for no expiry.
fn px_millis(ttl: Duration) -> Option<u64> {
    if ttl.is_zero() {
        return None;
    }
    let ms = ttl.as_nanos().div_ceil(1_000_000).max(1);
    if ms >= MAX_PX_MS {
        None
    } else {
        u64::try_from(ms).ok()
    }
}

/// The entry for a `GET` + `PTTL` reply (`PTTL`: -2 no key, -1 no expiry).
fn entry(value: Option<Vec<u8>>, pttl: i64) -> Option<CacheEntry> {
    let value = Bytes::from(value?);
    let ttl = match pttl {
        -1 => Duration::MAX,
        ms => Duration::from_millis(u64::try_from(ms).ok()?),
    };
    Some(CacheEntry::new(value, ttl))
}

impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<CacheEntry>, CacheError> {
        let key = self.redis_key(key);
        let mut conn = self.conn.clone();
        let (value, pttl): (Option<Vec<u8>>, i64) = redis::pipe()
            .get(&key)
            .pttl(&key)
            .query_async(&mut conn)
            .await
            .map_err(backend("get"))?;
        Ok(entry(value, pttl))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key)).arg(&value[..]);
        if let Some(ms) = px_millis(ttl) {
            cmd.arg("PX").arg(ms);
        }
        let mut conn = self.conn.clone();
        cmd.query_async::<()>(&mut conn)
            .await
            .map_err(backend("set"))
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.redis_key(key))
            .query_async::<()>(&mut conn)
            .await
            .map_err(backend("delete"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::RedisConfig;

    #[test]
    fn px_rounds_up_and_maps_no_expiry() {
        assert_eq!(px_millis(Duration::ZERO), None);
        assert_eq!(px_millis(Duration::from_nanos(1)), Some(1));
        assert_eq!(px_millis(Duration::from_micros(1_001)), Some(2));
        assert_eq!(px_millis(Duration::from_millis(1_500)), Some(1_500));
        assert_eq!(px_millis(Duration::MAX), None);
        assert_eq!(
            px_millis(Duration::from_secs(100 * 365 * 86_400)),
            Some(3_153_600_000_000)
        );
    }

    #[test]
    fn reply_to_entry() {
        assert_eq!(entry(None, -2), None);
        // deleted or expired between GET and PTTL: a miss
        assert_eq!(entry(Some(b"v".to_vec()), -2), None);
        let e = entry(Some(b"v".to_vec()), -1).unwrap();
        assert_eq!((e.value, e.ttl), (Bytes::from_static(b"v"), Duration::MAX));
        let e = entry(Some(b"v".to_vec()), 1_234).unwrap();
        assert_eq!(e.ttl, Duration::from_millis(1_234));
    }

    #[tokio::test]
    async fn keys_are_namespaced_and_unreachable_redis_is_a_backend_error() {
        let redis = Redis::connect_lazy(&RedisConfig {
            connect_timeout_ms: 200,
            key_prefix: "app".to_owned(),
            ..RedisConfig::new("redis://127.0.0.1:1")
        })
        .unwrap();
        let cache = RedisCache::new(&redis, "notes");
        assert_eq!(cache.redis_key("42"), "app:cache:notes:42");
        assert!(format!("{cache:?}").contains("app:cache:notes:"));
        let err = cache.get("42").await.unwrap_err();
        match &err {
            CacheError::Backend(e) => assert!(e.downcast_ref::<redis::RedisError>().is_some()),
            other => panic!("not a backend error: {other:?}"),
        }
        assert!(
            cache
                .set("42", Bytes::new(), Duration::from_secs(1))
                .await
                .is_err()
        );
        assert!(cache.delete("42").await.is_err());
    }
}
