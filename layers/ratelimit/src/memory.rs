//! [`MemoryStore`]: the in-process default store.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

use crate::algorithm;
use crate::{Algorithm, CheckFuture, Decision, Quota, RateLimitStore, StoreKey};

/// Marks a cell whose state word is a GCRA theoretical arrival time, which is its own expiry.
const GCRA_MARK: u64 = u64::MAX;
/// Below this many keys a shard never sweeps.
const MIN_SWEEP: usize = 64;

/// Default cap on the number of keys.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// The in-process [`RateLimitStore`]: a sharded hash map from a 64-bit keyed hash of
/// (limit, key) to two atomic words, updated lock-free with compare-and-swap.
///
/// # Memory
///
/// An entry is 24 bytes (hash, state, expiry) plus hashbrown's control byte and free slots:
/// 30–57 bytes per key, whatever the key type (the key itself is never stored, so a
/// 100-byte API key costs the same as an IP address). Idle keys (whose state is
/// indistinguishable from no state: the GCRA bucket is full again, the window has passed) are
/// swept whenever a shard has doubled since its last sweep, so memory stays within about twice
/// the peak number of *active* keys. If a shard still reaches its share of
/// [`max_keys`](MemoryStoreBuilder::max_keys) with active keys, the half of its keys that are
/// closest to idle are dropped: those clients get a fresh quota early, memory stays bounded.
///
/// # Why a hash and not the key?
///
/// Storing the SipHash-1-3 (random per-process key) of the key instead of the key makes every
/// entry the same small size and the hot path allocation-free. Two keys share state only if
/// their 64-bit hashes collide: about n²/2⁶⁵ for n live keys (3·10⁻⁸ at a million keys), and
/// not steerable by clients since the hash key is secret.
///
/// ```
/// use core_backend_ratelimit::{MemoryStore, Quota};
///
/// let store = MemoryStore::new();
/// let quota = Quota::per_second(1).burst(2);
/// assert!(store.check_key(&"alice", &quota).is_allowed());
/// assert!(store.check_key(&"alice", &quota).is_allowed());
/// assert!(!store.check_key(&"alice", &quota).is_allowed());
/// assert!(store.check_key(&"bob", &quota).is_allowed());
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Shard]>,
    mask: usize,
    hasher: RandomState,
    max_keys_per_shard: usize,
    clock: FastClock,
    len: AtomicUsize,
}

/// The clock of [`MemoryStore::check_key`]: wall-clock time read once, advanced by quanta's
/// TSC-based monotonic clock (a few ns per read, where `Instant::now` costs a system call on
/// some hosts).
struct FastClock {
    base_unix: u64,
    clock: quanta::Clock,
    start: u64,
}

impl FastClock {
    fn new() -> Self {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        let base_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self {
            base_unix,
            clock,
            start,
        }
    }

    fn now(&self) -> u64 {
        // raw counter + one scaling, as governor's QuantaClock reads it
        let elapsed = self.clock.delta_as_nanos(self.start, self.clock.raw());
        self.base_unix.saturating_add(elapsed)
    }
}

#[repr(align(128))]
struct Shard {
    map: RwLock<ShardMap>,
}

struct ShardMap {
    cells: HashMap<u64, Cell, BuildHasherDefault<PreHashed>>,
    next_sweep: usize,
}

struct Cell {
    state: AtomicU64,
    expiry: AtomicU64,
}

/// The map keys already are keyed hashes: pass them through.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.inner.shards.len())
            .field("keys", &self.len())
            .field(
                "max_keys",
                &(self.inner.max_keys_per_shard * self.inner.shards.len()),
            )
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    max_keys: usize,
    shards: usize,
}

impl MemoryStoreBuilder {
    /// The most keys kept at once (rounded up to a multiple of the shard count).
    ///
    /// Defaults to [`DEFAULT_MAX_KEYS`] (1 000 000, ≈ 60 MB at the worst table load).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// The number of shards (rounded up to a power of two, at most 1024).
    ///
    /// Defaults to four per available CPU.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.clamp(1, 1024);
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let n = self.shards.next_power_of_two();
        let shards = (0..n)
            .map(|_| Shard {
                map: RwLock::new(ShardMap {
                    cells: HashMap::default(),
                    next_sweep: MIN_SWEEP,
                }),
            })
            .collect();
        MemoryStore {
            inner: Arc::new(Inner {
                shards,
                mask: n - 1,
                hasher: RandomState::new(),
                max_keys_per_shard: self.max_keys.div_ceil(n).max(1),
                clock: FastClock::new(),
                len: AtomicUsize::new(0),
            }),
        }
    }
}

impl MemoryStore {
    /// A store with the default settings.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for the shard count and key cap.
    pub fn builder() -> MemoryStoreBuilder {
        let cpus = std::thread::available_parallelism().map_or(4, std::num::NonZero::get);
        MemoryStoreBuilder {
            max_keys: DEFAULT_MAX_KEYS,
            shards: cpus * 4,
        }
    }

    /// Charges one request to any hashable key, now (the wall clock, advanced monotonically).
    #[inline]
    pub fn check_key<K: Hash + ?Sized>(&self, key: &K, quota: &Quota) -> Decision {
        let hash = self.inner.hasher.hash_one(key);
        self.check_hashed(hash, quota, self.inner.clock.now())
    }

    /// Charges one request to any hashable key at `now` (time since the Unix epoch).
    pub fn check_key_at<K: Hash + ?Sized>(
        &self,
        key: &K,
        quota: &Quota,
        now: Duration,
    ) -> Decision {
        let hash = self.inner.hasher.hash_one(key);
        self.check_hashed(
            hash,
            quota,
            u64::try_from(now.as_nanos()).unwrap_or(u64::MAX),
        )
    }

    /// The number of keys held (live and not yet swept).
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every idle key now (the amortized sweep does this as shards grow; call this from a
    /// timer to also shrink after a spike).
    pub fn retain_recent(&self) {
        self.retain_recent_at(Duration::from_nanos(self.inner.clock.now()));
    }

    /// [`retain_recent`](Self::retain_recent) judged at `now` (time since the Unix epoch; use
    /// the clock you pass to [`RateLimitStore::check`]).
    pub fn retain_recent_at(&self, now: Duration) {
        let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        for shard in &*self.inner.shards {
            let mut map = shard.map.write();
            self.sweep(&mut map, now);
            map.cells.shrink_to_fit();
        }
        self.report_len();
    }

    #[inline]
    fn check_hashed(&self, hash: u64, quota: &Quota, now: u64) -> Decision {
        let shard = &self.inner.shards[(hash >> 32) as usize & self.inner.mask];
        if let Some(cell) = shard.map.read().cells.get(&hash) {
            return cell.apply(quota, now);
        }
        let mut map = shard.map.write();
        if !map.cells.contains_key(&hash) {
            if map.cells.len() >= map.next_sweep {
                self.sweep(&mut map, now);
            }
            let n = self.inner.len.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(256) {
                metrics::gauge!("core_backend.ratelimit.keys").set(n as f64);
            }
        }
        let cell = map.cells.entry(hash).or_insert_with(|| Cell {
            state: AtomicU64::new(0),
            expiry: AtomicU64::new(0),
        });
        cell.apply(quota, now)
    }

    /// Removes idle cells; if the shard is still at its cap, removes the half closest to idle.
    fn sweep(&self, map: &mut ShardMap, now: u64) {
        let before = map.cells.len();
        map.cells.retain(|_, cell| cell.idle_at() > now);
        let cap = self.inner.max_keys_per_shard;
        if map.cells.len() >= cap {
            let mut idle_at: Vec<u64> = map.cells.values().map(Cell::idle_at).collect();
            let mid = idle_at.len() / 2;
            let (_, &mut median, _) = idle_at.select_nth_unstable(mid);
            map.cells.retain(|_, cell| cell.idle_at() > median);
            tracing::warn!(
                cap,
                kept = map.cells.len(),
                "rate limit store full of active keys: evicted the half closest to idle"
            );
        }
        let removed = before - map.cells.len();
        self.inner.len.fetch_sub(removed, Ordering::Relaxed);
        map.next_sweep = (map.cells.len() * 2).max(MIN_SWEEP).min(cap);
        if removed > 0 {
            self.report_len();
        }
    }

    fn report_len(&self) {
        metrics::gauge!("core_backend.ratelimit.keys").set(self.len() as f64);
    }
}

impl Cell {
    /// The instant after which this cell's state equals no state.
    fn idle_at(&self) -> u64 {
        let expiry = self.expiry.load(Ordering::Relaxed);
        if expiry == GCRA_MARK {
            self.state.load(Ordering::Relaxed)
        } else {
            expiry
        }
    }

    #[inline]
    fn apply(&self, quota: &Quota, now: u64) -> Decision {
        let gcra = quota.algorithm_kind() == Algorithm::Gcra;
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            // The expiry is raised before the state is published (Release below), so a state
            // read with Acquire is never judged by an older expiry.
            let expiry = self.expiry.load(Ordering::Relaxed);
            let live = match (gcra, expiry == GCRA_MARK) {
                (true, true) => Some(current),
                (false, false) if expiry > now => Some(current),
                _ => None,
            };
            let step = algorithm::step(quota, live, now);
            let Some((next, next_expiry)) = step.next else {
                return step.decision;
            };
            if gcra {
                if expiry != GCRA_MARK {
                    self.expiry.store(GCRA_MARK, Ordering::Relaxed);
                }
            } else if expiry == GCRA_MARK {
                let _ = self.expiry.compare_exchange(
                    GCRA_MARK,
                    next_expiry,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            } else {
                self.expiry.fetch_max(next_expiry, Ordering::Relaxed);
            }
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return step.decision,
                Err(actual) => current = actual,
            }
        }
    }
}

impl RateLimitStore for MemoryStore {
    fn check(&self, key: StoreKey<'_>, quota: &Quota, now: Duration) -> CheckFuture {
        CheckFuture::ready(Ok(self.check_key_at(&key, quota, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RateLimitKey;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn keys_and_limits_are_independent() {
        let store = MemoryStore::new();
        let q = Quota::per_second(1);
        let now = 1_000 * S;
        let a = RateLimitKey::from("a");
        let b = RateLimitKey::from("b");
        let check = |limit, key| {
            store
                .check(StoreKey { limit, key }, &q, now)
                .try_take()
                .unwrap()
                .unwrap()
        };
        assert!(check("x", &a).is_allowed());
        assert!(!check("x", &a).is_allowed());
        assert!(check("y", &a).is_allowed());
        assert!(check("x", &b).is_allowed());
        assert_eq!(store.len(), 3);
        assert!(!store.is_empty());
        assert!(format!("{store:?}").contains("keys: 3"));
    }

    #[test]
    fn idle_keys_are_swept_on_growth() {
        let store = MemoryStore::builder().shards(1).max_keys(10_000).build();
        let q = Quota::per_second(10);
        let t0 = 1_000 * S;
        for i in 0..MIN_SWEEP as u64 {
            store.check_key_at(&i, &q, t0);
        }
        assert_eq!(store.len(), MIN_SWEEP);
        // 1 s later every bucket is full again: the next insert sweeps them all
        store.check_key_at(&u64::MAX, &q, t0 + S);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn cap_bounds_active_keys() {
        let store = MemoryStore::builder().shards(1).max_keys(100).build();
        let q = Quota::per_hour(1);
        let t0 = 1_000 * S;
        for i in 0..10_000u64 {
            store.check_key_at(&i, &q, t0 + Duration::from_millis(i));
            assert!(store.len() <= 100, "{} keys", store.len());
        }
        // the most recently charged key is kept
        assert!(!store.check_key_at(&9_999u64, &q, t0 + 10 * S).is_allowed());
    }

    #[test]
    fn retain_recent_drops_idle_window_keys() {
        let store = MemoryStore::builder().shards(2).build();
        let fixed = Quota::per_second(5).algorithm(Algorithm::FixedWindow);
        let sliding = Quota::per_second(5).algorithm(Algorithm::SlidingWindow);
        store.check_key(&1u8, &fixed);
        store.check_key(&2u8, &sliding);
        store.check_key(&3u8, &Quota::per_day(1));
        assert_eq!(store.len(), 3);
        store.retain_recent();
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn retain_recent_after_idle() {
        let store = MemoryStore::new();
        let t0 = 1_000 * S;
        let sliding = Quota::per_second(5).algorithm(Algorithm::SlidingWindow);
        store.check_key_at(&1u8, &sliding, t0);
        store.check_key_at(&2u8, &Quota::per_second(5), t0);
        store.retain_recent_at(t0 + S);
        assert_eq!(
            store.len(),
            1,
            "the sliding window still weighs its previous window"
        );
        store.retain_recent_at(t0 + 3 * S);
        assert!(store.is_empty());
    }

    #[test]
    fn algorithm_change_on_a_key_starts_fresh() {
        let store = MemoryStore::new();
        let gcra = Quota::per_minute(1);
        let fixed = Quota::per_minute(1).algorithm(Algorithm::FixedWindow);
        let now = 1_000 * S;
        assert!(store.check_key_at(&7u8, &gcra, now).is_allowed());
        assert!(store.check_key_at(&7u8, &fixed, now).is_allowed());
        assert!(!store.check_key_at(&7u8, &fixed, now).is_allowed());
        assert!(store.check_key_at(&7u8, &gcra, now).is_allowed());
        assert!(!store.check_key_at(&7u8, &gcra, now).is_allowed());
    }

    #[test]
    fn concurrent_checks_admit_exactly_the_burst() {
        let store = MemoryStore::new();
        let q = Quota::per_hour(1).burst(1000);
        let now = 5_000 * S;
        let allowed = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        if store.check_key_at("k", &q, now).is_allowed() {
                            allowed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.load(Ordering::Relaxed), 1000);
    }

    #[test]
    fn prehashed_hasher_write_bytes() {
        let mut h = PreHashed::default();
        h.write(&[1, 2]);
        assert_eq!(h.finish(), 0x0102);
    }
}
