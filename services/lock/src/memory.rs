use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::guard::{BoxFuture, Lease};
use crate::{Lock, LockError, LockGuard};

const BACKEND: &str = "memory";

/// The in-process [`Lock`]: for one process (tests, single-instance services, or to
/// serialise work inside one replica before a distributed lock).
///
/// - **Waiting** costs nothing: waiters queue per key in FIFO order and the next one is woken
///   by the release (a tokio [`Notify`] per waiter); the first in line also sleeps until the
///   holder's expiry, so a crashed holder (a guard that was `std::mem::forget`-ed) is
///   replaced exactly when its TTL runs out. No polling.
/// - **Fairness**: a lock that is free goes to the longest waiter;
///   [`try_acquire`](Lock::try_acquire) never jumps the queue.
/// - **Fencing tokens** come from one counter for the whole `MemoryLock`, so they are
///   strictly increasing per key (and across keys) without keeping state for released keys.
/// - **Memory**: a key's state is removed when it is released with nobody waiting; a key whose
///   holder was forgotten stays until someone acquires it again.
///
/// Cheap to clone; clones share the locks.
#[derive(Debug, Clone, Default)]
pub struct MemoryLock {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) keys: HashMap<Arc<str>, Entry>,
    last_token: u64,
    last_waiter: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Entry {
    holder: Option<Holder>,
    queue: VecDeque<Waiter>,
}

#[derive(Debug, Clone, Copy)]
struct Holder {
    token: u64,
    expires: Instant,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    notify: Arc<Notify>,
}

impl Entry {
    fn is_free(&self, now: Instant) -> bool {
        self.holder.is_none_or(|h| h.expires <= now)
    }

    fn wake_first(&self) {
        if let Some(w) = self.queue.front() {
            w.notify.notify_one();
        }
    }
}

impl State {
    /// Drops the key's state when nothing refers to it any more.
    fn tidy(&mut self, key: &str) {
        if self
            .keys
            .get(key)
            .is_some_and(|e| e.holder.is_none() && e.queue.is_empty())
        {
            self.keys.remove(key);
        }
    }

    fn grant(&mut self, key: &str, ttl: Duration, now: Instant) -> u64 {
        self.last_token += 1;
        let token = self.last_token;
        if let Some(entry) = self.keys.get_mut(key) {
            entry.holder = Some(Holder {
                token,
                expires: now + ttl,
            });
        } else {
            self.keys.insert(
                key.into(),
                Entry {
                    holder: Some(Holder {
                        token,
                        expires: now + ttl,
                    }),
                    queue: VecDeque::new(),
                },
            );
        }
        token
    }
}

/// Removes a waiter from its queue when its acquire ends without the lock (timeout or
/// cancellation), handing the turn to the next one.
struct QueueSlot<'a> {
    shared: &'a Shared,
    key: &'a str,
    id: Option<u64>,
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let mut state = self.shared.state.lock();
        if let Some(entry) = state.keys.get_mut(self.key)
            && let Some(pos) = entry.queue.iter().position(|w| w.id == id)
        {
            entry.queue.remove(pos);
            if pos == 0 {
                entry.wake_first();
            }
        }
        state.tidy(self.key);
    }
}

/// Longest lease kept: longer TTLs are cut to it so `now + ttl` cannot overflow.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn clamp(ttl: Duration) -> Duration {
    ttl.clamp(Duration::from_millis(1), MAX_TTL)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl MemoryLock {
    /// An empty lock table.
    pub fn new() -> Self {
        Self::default()
    }

    fn guard(&self, key: &str, token: u64, ttl: Duration) -> LockGuard {
        let lease = MemoryLease {
            shared: Arc::clone(&self.shared),
            key: key.into(),
            token,
        };
        LockGuard::new(Arc::clone(&lease.key), token, ttl, BACKEND, Arc::new(lease))
    }

    async fn acquire_until(
        &self,
        key: &str,
        ttl: Duration,
        deadline: Option<Instant>,
    ) -> Result<LockGuard, LockError> {
        let ttl = clamp(ttl);
        let start = Instant::now();
        let notify = Arc::new(Notify::new());
        let mut slot = QueueSlot {
            shared: &self.shared,
            key,
            id: None,
        };
        loop {
            let wake_at = {
                let mut state = self.shared.state.lock();
                let now = Instant::now();
                let entry = state.keys.get(key);
                let free = entry.is_none_or(|e| e.is_free(now));
                let first = match (slot.id, entry) {
                    (_, None) => true,
                    (Some(id), Some(e)) => e.queue.front().is_some_and(|w| w.id == id),
                    (None, Some(e)) => e.queue.is_empty(),
                };
                if free && first {
                    if slot.id.take().is_some()
                        && let Some(entry) = state.keys.get_mut(key)
                    {
                        entry.queue.pop_front();
                    }
                    let token = state.grant(key, ttl, now);
                    // the next in line arms its timer on the new holder's expiry
                    if let Some(entry) = state.keys.get(key) {
                        entry.wake_first();
                    }
                    drop(state);
                    crate::metrics::acquired(BACKEND, start.elapsed());
                    tracing::debug!(key, token, "lock acquired");
                    return Ok(self.guard(key, token, ttl));
                }
                if slot.id.is_none() {
                    state.last_waiter += 1;
                    let id = state.last_waiter;
                    if let Some(entry) = state.keys.get_mut(key) {
                        entry.queue.push_back(Waiter {
                            id,
                            notify: Arc::clone(&notify),
                        });
                    }
                    slot.id = Some(id);
                    crate::metrics::contended(BACKEND);
                }
                state.keys.get(key).and_then(|e| {
                    let first = e.queue.front().is_some_and(|w| Some(w.id) == slot.id);
                    e.holder.filter(|_| first).map(|h| h.expires)
                })
            };
            // a notify_one sent since we unlocked is kept as a permit: no lost wake-up
            tokio::select! {
                () = notify.notified() => {}
                () = sleep_until(wake_at) => {}
                () = sleep_until(deadline) => {
                    crate::metrics::timeout(BACKEND);
                    return Err(LockError::Timeout);
                }
            }
        }
    }
}

impl Lock for MemoryLock {
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<LockGuard>, LockError>> {
        let ttl = clamp(ttl);
        let mut state = self.shared.state.lock();
        let now = Instant::now();
        let available = state
            .keys
            .get(key)
            .is_none_or(|e| e.is_free(now) && e.queue.is_empty());
        let res = if available {
            let token = state.grant(key, ttl, now);
            drop(state);
            crate::metrics::acquired(BACKEND, Duration::ZERO);
            Some(self.guard(key, token, ttl))
        } else {
            drop(state);
            crate::metrics::contended(BACKEND);
            None
        };
        Box::pin(std::future::ready(Ok(res)))
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

struct MemoryLease {
    shared: Arc<Shared>,
    key: Arc<str>,
    token: u64,
}

impl Lease for MemoryLease {
    fn extend(&self, ttl: Duration) -> BoxFuture<'static, Result<(), LockError>> {
        let mut state = self.shared.state.lock();
        let now = Instant::now();
        let res = match state
            .keys
            .get_mut(&*self.key)
            .and_then(|e| e.holder.as_mut())
        {
            Some(h) if h.token == self.token && h.expires > now => {
                h.expires = now + clamp(ttl);
                Ok(())
            }
            _ => Err(LockError::NotHeld),
        };
        Box::pin(std::future::ready(res))
    }

    fn release(&self) -> BoxFuture<'static, Result<(), LockError>> {
        let mut state = self.shared.state.lock();
        let now = Instant::now();
        let mut res = Err(LockError::NotHeld);
        if let Some(entry) = state.keys.get_mut(&*self.key)
            && let Some(h) = entry.holder.filter(|h| h.token == self.token)
        {
            entry.holder = None;
            entry.wake_first();
            if h.expires > now {
                res = Ok(());
            }
        }
        state.tidy(&self.key);
        Box::pin(std::future::ready(res))
    }
}
