//! [`RedisLock`]: `core_backend_lock::Lock` on Redis, for locks shared by every instance
//! using the same Redis.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use core_backend_lock::{Lock, LockConfig};
//! use core_backend_redis::{Redis, RedisConfig, lock::RedisLock};
//!
//! let config = LockConfig::from_env()?;
//! let redis = Redis::connect(&RedisConfig::from_env()?).await?;
//! let locks = RedisLock::with_config(&redis, &config);
//! let guard = locks
//!     .acquire_timeout("report:daily", config.ttl(), config.acquire_timeout())
//!     .await?
//!     .keep_alive();
//! // … write with guard.token() as the fence …
//! guard.release().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Protocol
//!
//! - **Acquire**: one Lua script runs `SET <key> <owner> NX PX <ttl>` and, only if that
//!   succeeded, `INCR <key>:fence`; the new counter value is the fencing token. Both happen in
//!   one atomic step, so tokens strictly increase across holders. `<owner>` is a random
//!   128-bit value of this acquisition.
//! - **Release**: a script deletes the key only if it still holds this `<owner>`
//!   (compare-and-delete), so a holder whose lease expired cannot delete its successor's lock.
//! - **Extend**: a script runs `PEXPIRE` only if the key still holds this `<owner>`.
//!
//! # Waiting
//!
//! [`Lock::acquire`] polls: after a failed attempt it sleeps a random time between the
//! configured minimum and a bound that doubles from it up to the maximum (full jitter, so
//! waiters spread out instead of retrying in lock-step), never longer than the remaining TTL
//! of the holder nor past the timeout. There is no pub/sub notification: it would need a
//! dedicated connection per waiter and still need polling for expiries. The cost is up to one
//! poll interval of latency between a release and the next holder, and no FIFO fairness.
//!
//! Dropping an `acquire` future while its script is in flight can leave a lock that nobody
//! holds until its TTL ends (the script may have run); bound waiting with
//! [`Lock::acquire_timeout`] rather than by dropping the future.
//!
//! # Keys
//!
//! `<prefix>:lock:{<key>}` holds the owner value with the TTL, `<prefix>:lock:{<key>}:fence`
//! the token counter. The counter never expires: it must outlive every holder to keep tokens
//! growing (one small integer per key ever locked). The `{…}` hash tag keeps both keys in one
//! slot for Redis Cluster.

use std::sync::Arc;
use std::time::Duration;

use core_backend_lock::{BoxFuture, Lease, Lock, LockConfig, LockError, LockGuard, metrics};
use redis::Script;
use redis::aio::ConnectionManager;
use tokio::time::Instant;

use crate::{Error, Redis};

const BACKEND: &str = "redis";

/// Takes the lock and the next fencing token, or reports the holder's remaining TTL.
/// KEYS: lock key, fence key. ARGV: owner, ttl (ms). Returns {1, token} or {0, pttl}.
pub const ACQUIRE_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
";

/// Deletes the lock if it holds the owner. KEYS: lock key. ARGV: owner. Returns 1 or 0.
pub const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Sets the lock's TTL if it holds the owner. KEYS: lock key. ARGV: owner, ttl (ms).
/// Returns 1 or 0.
pub const EXTEND_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

#[derive(Clone)]
struct Scripts {
    acquire: Script,
    release: Script,
    extend: Script,
}

/// The Redis [`Lock`]; see the [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct RedisLock {
    conn: ConnectionManager,
    prefix: Arc<str>,
    scripts: Arc<Scripts>,
    poll_min: Duration,
    poll_max: Duration,
}

impl std::fmt::Debug for RedisLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLock")
            .field("prefix", &self.prefix)
            .field("poll_min", &self.poll_min)
            .field("poll_max", &self.poll_max)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn backend(err: redis::RedisError) -> LockError {
    LockError::backend(Error::Redis(err))
}

enum Attempt {
    Acquired(u64),
    Held(Option<Duration>),
}

impl RedisLock {
    /// A lock on `redis`'s connection and key prefix, polling with the default bounds of
    /// [`LockConfig`].
    pub fn new(redis: &Redis) -> Self {
        Self::with_config(redis, &LockConfig::default())
    }

    /// A lock polling with `config`'s `poll_min_ms` / `poll_max_ms`.
    pub fn with_config(redis: &Redis, config: &LockConfig) -> Self {
        let (poll_min, poll_max) = config.poll_bounds();
        Self {
            conn: redis.connection(),
            prefix: format!("{}:lock:", redis.key_prefix()).into(),
            scripts: Arc::new(Scripts {
                acquire: Script::new(ACQUIRE_SCRIPT),
                release: Script::new(RELEASE_SCRIPT),
                extend: Script::new(EXTEND_SCRIPT),
            }),
            poll_min: poll_min.max(Duration::from_millis(1)),
            poll_max: poll_max.max(Duration::from_millis(1)),
        }
    }

    /// The Redis key holding the lock `key` (the token counter is this plus `:fence`).
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{{{key}}}", self.prefix)
    }

    async fn attempt(&self, key: &str, owner: &str, ttl: Duration) -> Result<Attempt, LockError> {
        let lock_key = self.redis_key(key);
        let fence_key = format!("{lock_key}:fence");
        let (ok, n): (i64, i64) = self
            .scripts
            .acquire
            .key(lock_key)
            .key(fence_key)
            .arg(owner)
            .arg(millis(ttl))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(backend)?;
        Ok(if ok == 1 {
            Attempt::Acquired(u64::try_from(n).unwrap_or(0))
        } else {
            Attempt::Held(u64::try_from(n).ok().map(Duration::from_millis))
        })
    }

    fn guard(&self, key: &str, owner: String, token: u64, ttl: Duration) -> LockGuard {
        let lease = RedisLease {
            conn: self.conn.clone(),
            scripts: Arc::clone(&self.scripts),
            key: self.redis_key(key),
            owner,
        };
        LockGuard::new(key, token, ttl, BACKEND, Arc::new(lease))
    }

    async fn try_once(&self, key: &str, ttl: Duration) -> Result<Option<LockGuard>, LockError> {
        let owner = owner();
        Ok(match self.attempt(key, &owner, ttl).await? {
            Attempt::Acquired(token) => {
                metrics::acquired(BACKEND, Duration::ZERO);
                Some(self.guard(key, owner, token, ttl))
            }
            Attempt::Held(_) => {
                metrics::contended(BACKEND);
                None
            }
        })
    }

    async fn acquire_until(
        &self,
        key: &str,
        ttl: Duration,
        deadline: Option<Instant>,
    ) -> Result<LockGuard, LockError> {
        let start = Instant::now();
        let owner = owner();
        let mut bound = self.poll_min;
        let mut contended = false;
        loop {
            let remaining = match self.attempt(key, &owner, ttl).await? {
                Attempt::Acquired(token) => {
                    metrics::acquired(BACKEND, start.elapsed());
                    tracing::debug!(key, token, "lock acquired");
                    return Ok(self.guard(key, owner, token, ttl));
                }
                Attempt::Held(remaining) => remaining,
            };
            if !contended {
                contended = true;
                metrics::contended(BACKEND);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                metrics::timeout(BACKEND);
                return Err(LockError::Timeout);
            }
            let jitter = fastrand::u64(millis(self.poll_min)..=millis(bound));
            let mut pause = Duration::from_millis(jitter);
            if let Some(remaining) = remaining {
                pause = pause.min(remaining.max(Duration::from_millis(1)));
            }
            if let Some(d) = deadline {
                pause = pause.min(d - now);
            }
            tokio::time::sleep(pause).await;
            bound = bound.saturating_mul(2).min(self.poll_max);
        }
    }
}

fn owner() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

impl Lock for RedisLock {
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<LockGuard>, LockError>> {
        Box::pin(self.try_once(key, ttl))
    }

    fn acquire<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<LockGuard, LockError>> {
        Box::pin(self.acquire_until(key, ttl, None))
    }

    fn acquire_timeout<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<LockGuard, LockError>> {
        let deadline = Instant::now().checked_add(timeout);
        Box::pin(self.acquire_until(key, ttl, deadline))
    }
}

struct RedisLease {
    conn: ConnectionManager,
    scripts: Arc<Scripts>,
    key: String,
    owner: String,
}

impl Lease for RedisLease {
    fn extend(&self, ttl: Duration) -> BoxFuture<'static, Result<(), LockError>> {
        let (mut conn, scripts) = (self.conn.clone(), Arc::clone(&self.scripts));
        let (key, owner) = (self.key.clone(), self.owner.clone());
        Box::pin(async move {
            let n: i64 = scripts
                .extend
                .key(key)
                .arg(owner)
                .arg(millis(ttl))
                .invoke_async(&mut conn)
                .await
                .map_err(backend)?;
            if n == 1 {
                Ok(())
            } else {
                Err(LockError::NotHeld)
            }
        })
    }

    fn release(&self) -> BoxFuture<'static, Result<(), LockError>> {
        let (mut conn, scripts) = (self.conn.clone(), Arc::clone(&self.scripts));
        let (key, owner) = (self.key.clone(), self.owner.clone());
        Box::pin(async move {
            let n: i64 = scripts
                .release
                .key(key)
                .arg(owner)
                .invoke_async(&mut conn)
                .await
                .map_err(backend)?;
            if n == 1 {
                Ok(())
            } else {
                Err(LockError::NotHeld)
            }
        })
    }
}
