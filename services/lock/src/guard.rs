use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::LockError;

/// A boxed, sendable future, as returned by [`Lock`](crate::Lock) and [`Lease`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A held lock as seen by its backend: what a [`LockGuard`] calls to extend or release it.
///
/// Implemented by each backend (the owner value / holder id lives in the implementation);
/// users only meet it through [`LockGuard`]. The futures are `'static` so a guard can spawn a
/// release from `Drop` and extend from a background task.
pub trait Lease: Send + Sync + 'static {
    /// Sets the remaining lifetime to `ttl` if this lease still holds the lock, else fails
    /// with [`LockError::NotHeld`].
    fn extend(&self, ttl: Duration) -> BoxFuture<'static, Result<(), LockError>>;
    /// Releases the lock if this lease still holds it, else fails with
    /// [`LockError::NotHeld`]. A guard's `Drop` calls this synchronously and spawns the
    /// returned future, so an implementation that can release without I/O should do it
    /// before returning.
    fn release(&self) -> BoxFuture<'static, Result<(), LockError>>;
}

/// A held lock.
///
/// # Release
///
/// Call [`release`](Self::release) to release and learn whether the lock was still held.
/// Dropping the guard also releases it, best effort: `Drop` cannot await, so the release is
/// spawned on the current tokio runtime (outside a runtime only backends that release without
/// I/O, like [`MemoryLock`](crate::MemoryLock), release; the others expire after their TTL). A guard that is never dropped (`std::mem::forget`, a crashed
/// process) blocks others for at most its TTL.
///
/// # Fencing
///
/// [`token`](Self::token) is strictly greater than the token of every earlier holder of the
/// same key. Pass it to the resource you protect and have it reject writes carrying a
/// smaller token than one it has seen: this makes a holder that paused past its TTL harmless.
///
/// # Keep-alive
///
/// [`keep_alive`](Self::keep_alive) starts a task that extends the lease every `ttl / 3`. If
/// an extension finds the lock taken (or the backend fails for a whole TTL), the guard is
/// marked lost: [`is_lost`](Self::is_lost) returns `true` and [`lost`](Self::lost) receivers
/// see `true`.
pub struct LockGuard {
    key: Arc<str>,
    token: u64,
    ttl: Duration,
    backend: &'static str,
    lease: Option<Arc<dyn Lease>>,
    lost_tx: Arc<watch::Sender<bool>>,
    keep_alive: Option<AbortHandle>,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.key)
            .field("token", &self.token)
            .field("ttl", &self.ttl)
            .field("backend", &self.backend)
            .field("lost", &self.is_lost())
            .field("keep_alive", &self.keep_alive.is_some())
            .finish()
    }
}

impl LockGuard {
    /// A guard for a lock just acquired; for [`Lock`](crate::Lock) implementations.
    /// `backend` is the `backend` label of the metrics (`"memory"`, `"redis"`, …).
    pub fn new(
        key: impl Into<Arc<str>>,
        token: u64,
        ttl: Duration,
        backend: &'static str,
        lease: Arc<dyn Lease>,
    ) -> Self {
        Self {
            key: key.into(),
            token,
            ttl,
            backend,
            lease: Some(lease),
            lost_tx: Arc::new(watch::channel(false).0),
            keep_alive: None,
        }
    }

    /// The locked key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fencing token: strictly increasing per key across holders.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The TTL the lock was acquired with (also the one [`keep_alive`](Self::keep_alive)
    /// renews).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// `true` once the guard knows it lost the lock (a failed extension).
    pub fn is_lost(&self) -> bool {
        *self.lost_tx.borrow()
    }

    /// A channel that turns `true` when the lock is lost; `changed().await` on it to stop
    /// work as soon as that happens.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.lost_tx.subscribe()
    }

    fn mark_lost(&self) {
        if !self.lost_tx.send_replace(true) {
            crate::metrics::lost(self.backend);
            tracing::warn!(key = %self.key, token = self.token, "lock lost");
        }
    }

    /// Sets the remaining lifetime to `ttl`. Fails with [`LockError::NotHeld`] (and marks the
    /// guard lost) if another holder took the lock or it expired.
    pub async fn extend(&self, ttl: Duration) -> Result<(), LockError> {
        let Some(lease) = &self.lease else {
            return Err(LockError::NotHeld);
        };
        let res = lease.extend(ttl).await;
        if matches!(res, Err(LockError::NotHeld)) {
            self.mark_lost();
        }
        res
    }

    /// Starts extending the lease every `ttl / 3` in a background task (on the current tokio
    /// runtime) until the guard is released or dropped. Calling it again does nothing.
    ///
    /// A backend error is retried at the same pace; once no extension has succeeded for a
    /// whole TTL, or an extension answers [`LockError::NotHeld`], the guard is marked lost and
    /// the task ends.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like [`tokio::spawn`].
    pub fn keep_alive(mut self) -> Self {
        if self.keep_alive.is_some() {
            return self;
        }
        let Some(lease) = self.lease.clone() else {
            return self;
        };
        let ttl = self.ttl;
        let period = (ttl / 3).max(Duration::from_millis(1));
        let lost_tx = Arc::clone(&self.lost_tx);
        let key = Arc::clone(&self.key);
        let backend = self.backend;
        let task = tokio::spawn(async move {
            let mut last_ok = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(period).await;
                match lease.extend(ttl).await {
                    Ok(()) => last_ok = tokio::time::Instant::now(),
                    Err(LockError::NotHeld) => break,
                    Err(err) => {
                        tracing::warn!(key = %key, error = %err, "lock extension failed");
                        if last_ok.elapsed() >= ttl {
                            break;
                        }
                    }
                }
            }
            if !lost_tx.send_replace(true) {
                crate::metrics::lost(backend);
                tracing::warn!(key = %key, "lock lost");
            }
        });
        self.keep_alive = Some(task.abort_handle());
        self
    }

    /// Releases the lock. Fails with [`LockError::NotHeld`] if it had expired (and maybe
    /// been taken by another holder) in the meantime.
    pub async fn release(mut self) -> Result<(), LockError> {
        if let Some(task) = self.keep_alive.take() {
            task.abort();
        }
        match self.lease.take() {
            Some(lease) => lease.release().await,
            None => Err(LockError::NotHeld),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(task) = self.keep_alive.take() {
            task.abort();
        }
        if let Some(lease) = self.lease.take() {
            // Creating the future runs the backend's synchronous part (all of it for the
            // in-memory lock), so only network backends depend on the spawn below.
            let release = lease.release();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let key = Arc::clone(&self.key);
                rt.spawn(async move {
                    if let Err(err) = release.await {
                        tracing::debug!(key = %key, error = %err, "release on drop failed");
                    }
                });
            }
        }
    }
}
