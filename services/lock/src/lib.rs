//! Distributed locks with fencing tokens.
//!
//! [`Lock`] is the one trait: [`acquire`](Lock::acquire) waits for the lock,
//! [`try_acquire`](Lock::try_acquire) does not, [`acquire_timeout`](Lock::acquire_timeout)
//! waits at most so long. Each returns a [`LockGuard`] that carries a **fencing token**
//! (strictly increasing per key across holders), can [`extend`](LockGuard::extend) the lease
//! or keep it alive in the background ([`keep_alive`](LockGuard::keep_alive)), and releases
//! the lock explicitly ([`release`](LockGuard::release)) or on drop.
//!
//! Implementations: [`MemoryLock`] here (one process); `RedisLock` in `core-backend-redis`
//! (feature `lock`).
//!
//! ```
//! use std::time::Duration;
//! use core_backend_lock::{Lock, MemoryLock};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), core_backend_lock::LockError> {
//! let locks = MemoryLock::new();
//! let guard = locks.acquire("invoice:42", Duration::from_secs(30)).await?;
//! // pass guard.token() along with every write to the protected resource
//! assert!(locks.try_acquire("invoice:42", Duration::from_secs(30)).await?.is_none());
//! guard.release().await?;
//!
//! let guard = locks
//!     .acquire_timeout("invoice:42", Duration::from_secs(30), Duration::from_secs(5))
//!     .await?
//!     .keep_alive(); // extended every 10 s until released or dropped
//! assert!(!guard.is_lost());
//! # Ok(())
//! # }
//! ```
//!
//! # Why fencing tokens?
//!
//! A lease-based lock cannot stop a holder that paused (GC, swap, a stalled network) past its
//! TTL from carrying on while a new holder works: both then believe they hold the lock. The
//! token makes that harmless when the protected resource remembers the highest token it has
//! seen and rejects writes with a smaller one (e.g. `UPDATE … WHERE fence < $token`).
//!
//! # Why TTLs?
//!
//! A holder that crashes never releases. Every lock is a lease: it ends after its TTL unless
//! extended, so a crashed holder blocks others for at most one TTL. Pick the TTL longer than
//! the work, or use [`LockGuard::keep_alive`] and watch [`LockGuard::lost`].

mod config;
mod error;
mod guard;
mod memory;
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

pub use config::{ConfigError, LockConfig};
pub use error::{BoxError, LockError};
pub use guard::{BoxFuture, Lease, LockGuard};
pub use memory::MemoryLock;

/// A lock service: exclusive, TTL-bounded ownership of string keys.
///
/// Object safe (`Arc<dyn Lock>` works) and implemented for `Arc<L>` and `Box<L>`.
/// A `ttl` below one millisecond counts as one millisecond.
pub trait Lock: Send + Sync {
    /// Takes the lock if it is free now; `Ok(None)` if someone holds it (or, for queueing
    /// backends, waits for it).
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<LockGuard>, LockError>>;

    /// Waits until the lock is held. Dropping the future gives up waiting.
    fn acquire<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<LockGuard, LockError>>;

    /// Waits until the lock is held, at most `timeout` ([`LockError::Timeout`]).
    fn acquire_timeout<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<LockGuard, LockError>>;
}

macro_rules! forward {
    ($ty:ty) => {
        impl<L: Lock + ?Sized> Lock for $ty {
            fn try_acquire<'a>(
                &'a self,
                key: &'a str,
                ttl: Duration,
            ) -> BoxFuture<'a, Result<Option<LockGuard>, LockError>> {
                (**self).try_acquire(key, ttl)
            }

            fn acquire<'a>(
                &'a self,
                key: &'a str,
                ttl: Duration,
            ) -> BoxFuture<'a, Result<LockGuard, LockError>> {
                (**self).acquire(key, ttl)
            }

            fn acquire_timeout<'a>(
                &'a self,
                key: &'a str,
                ttl: Duration,
                timeout: Duration,
            ) -> BoxFuture<'a, Result<LockGuard, LockError>> {
                (**self).acquire_timeout(key, ttl, timeout)
            }
        }
    };
}

forward!(Arc<L>);
forward!(Box<L>);

const _: fn(&dyn Lock) = |_| {};

#[cfg(test)]
mod tests;
