#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::{BoxFuture, Lease, Lock, LockError, LockGuard, MemoryLock};

const TTL: Duration = Duration::from_secs(10);

#[tokio::test(start_paused = true)]
async fn try_acquire_excludes_and_tokens_grow() {
    let locks = MemoryLock::new();
    let g1 = locks.try_acquire("k", TTL).await.unwrap().unwrap();
    assert_eq!(g1.key(), "k");
    assert_eq!(g1.ttl(), TTL);
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_none());
    // another key is independent
    let other = locks.try_acquire("other", TTL).await.unwrap().unwrap();
    let t1 = g1.token();
    g1.release().await.unwrap();
    let g2 = locks.try_acquire("k", TTL).await.unwrap().unwrap();
    assert!(g2.token() > t1);
    assert!(other.token() > t1 && g2.token() > other.token());
    assert!(format!("{g2:?}").contains("token"));
    drop(g2);
    // dropped guard released synchronously for the memory lock
    let mut last = 0;
    for _ in 0..20 {
        let g = locks.try_acquire("k", TTL).await.unwrap().unwrap();
        assert!(g.token() > last);
        last = g.token();
    }
    assert!(locks.shared.state.lock().keys.len() <= 1);
}

#[tokio::test(start_paused = true)]
async fn forgotten_guard_expires_after_ttl() {
    let locks = MemoryLock::new();
    let g = locks.acquire("k", TTL).await.unwrap();
    let token = g.token();
    std::mem::forget(g);
    tokio::time::sleep(Duration::from_millis(9_999)).await;
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(1)).await;
    let g = locks.try_acquire("k", TTL).await.unwrap().unwrap();
    assert!(g.token() > token);
}

#[tokio::test(start_paused = true)]
async fn waiter_takes_over_exactly_at_expiry() {
    let locks = MemoryLock::new();
    std::mem::forget(locks.acquire("k", TTL).await.unwrap());
    let start = Instant::now();
    let g = locks.acquire("k", Duration::from_secs(1)).await.unwrap();
    assert_eq!(start.elapsed(), TTL);
    // an extension pushes the expiry: the next waiter waits for the extended lease
    std::mem::forget({
        g.extend(Duration::from_secs(3)).await.unwrap();
        g
    });
    let start = Instant::now();
    let _g = locks.acquire("k", TTL).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn acquire_timeout_gives_up_and_leaves_the_queue() {
    let locks = MemoryLock::new();
    let g = locks.acquire("k", TTL).await.unwrap();
    let start = Instant::now();
    let err = locks
        .acquire_timeout("k", TTL, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, LockError::Timeout));
    assert_eq!(err.to_string(), "timed out waiting for the lock");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    g.release().await.unwrap();
    // the timed-out waiter does not block try_acquire
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_some());
    // a free lock is taken at once even with a zero timeout
    let locks = MemoryLock::new();
    assert!(
        locks
            .acquire_timeout("z", TTL, Duration::ZERO)
            .await
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order_when_woken() {
    let locks = MemoryLock::new();
    let g = locks.acquire("k", TTL).await.unwrap();
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (locks, order) = (locks.clone(), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let g = locks.acquire("k", TTL).await.unwrap();
            order.lock().push((i, g.token()));
            tokio::time::sleep(Duration::from_millis(10)).await;
            g.release().await.unwrap();
        }));
        // let the task queue up before the next one starts
        tokio::task::yield_now().await;
    }
    // no one gets in while the holder works, and nobody is spinning
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(order.lock().is_empty());
    // the queue does not let try_acquire jump ahead even when the lock becomes free
    let start = Instant::now();
    g.release().await.unwrap();
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_none());
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    let order = order.lock().clone();
    assert_eq!(
        order.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert!(order.windows(2).all(|w| w[0].1 < w[1].1));
}

#[tokio::test(start_paused = true)]
async fn cancelled_first_waiter_hands_the_turn_on() {
    let locks = MemoryLock::new();
    std::mem::forget(locks.acquire("k", TTL).await.unwrap());
    let first = {
        let locks = locks.clone();
        tokio::spawn(async move { locks.acquire("k", TTL).await.map(|g| g.token()) })
    };
    tokio::task::yield_now().await;
    let second = {
        let locks = locks.clone();
        tokio::spawn(async move { locks.acquire("k", TTL).await.map(|g| g.token()) })
    };
    tokio::task::yield_now().await;
    first.abort();
    let start = Instant::now();
    // the second waiter is now first in line and arms the expiry timer itself
    second.await.unwrap().unwrap();
    assert_eq!(start.elapsed(), TTL);
}

#[tokio::test(start_paused = true)]
async fn extend_and_release_after_expiry_report_not_held() {
    let locks = MemoryLock::new();
    let g = locks.acquire("k", Duration::from_secs(1)).await.unwrap();
    g.extend(Duration::from_secs(2)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lost = g.lost();
    assert!(matches!(
        g.extend(TTL).await.unwrap_err(),
        LockError::NotHeld
    ));
    assert!(g.is_lost());
    assert!(lost.has_changed().unwrap() && *lost.borrow_and_update());
    assert!(matches!(g.release().await, Err(LockError::NotHeld)));

    // a newer holder is not released by the old guard
    let old = locks.acquire("k", Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let new = locks.acquire("k", TTL).await.unwrap();
    assert!(old.release().await.is_err());
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_none());
    new.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn keep_alive_holds_past_the_ttl_and_stops_on_drop() {
    let locks = MemoryLock::new();
    let g = locks
        .acquire("k", Duration::from_secs(3))
        .await
        .unwrap()
        .keep_alive()
        .keep_alive();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!g.is_lost());
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_none());
    drop(g);
    tokio::task::yield_now().await;
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_some());
}

/// A lease whose extensions fail after `ok` successes with `err`.
struct FlakyLease {
    ok: u32,
    calls: AtomicU32,
    not_held: bool,
    released: AtomicU64,
}

impl Lease for FlakyLease {
    fn extend(&self, _ttl: Duration) -> BoxFuture<'static, Result<(), LockError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let res = if n < self.ok {
            Ok(())
        } else if self.not_held {
            Err(LockError::NotHeld)
        } else {
            Err(LockError::backend("connection reset"))
        };
        Box::pin(std::future::ready(res))
    }

    fn release(&self) -> BoxFuture<'static, Result<(), LockError>> {
        self.released.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(())))
    }
}

fn flaky(ok: u32, not_held: bool) -> Arc<FlakyLease> {
    Arc::new(FlakyLease {
        ok,
        calls: AtomicU32::new(0),
        not_held,
        released: AtomicU64::new(0),
    })
}

#[tokio::test(start_paused = true)]
async fn keep_alive_reports_a_taken_lock_as_lost() {
    let lease = flaky(2, true);
    let g = LockGuard::new("k", 1, Duration::from_secs(3), "test", lease.clone()).keep_alive();
    let mut lost = g.lost();
    let start = Instant::now();
    lost.changed().await.unwrap();
    assert!(g.is_lost());
    // two good extensions at 1 s and 2 s, the third at 3 s finds the lock taken
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    g.release().await.unwrap();
    assert_eq!(lease.released.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn keep_alive_tolerates_backend_errors_for_one_ttl() {
    let lease = flaky(1, false);
    let g = LockGuard::new("k", 1, Duration::from_secs(3), "test", lease.clone()).keep_alive();
    let mut lost = g.lost();
    let start = Instant::now();
    lost.changed().await.unwrap();
    // last success at 1 s; failures at 2, 3 s; at 4 s a whole TTL has passed
    assert_eq!(start.elapsed(), Duration::from_secs(4));
    drop(g);
    assert_eq!(lease.released.load(Ordering::SeqCst), 1);
    let e = LockError::backend("boom");
    assert!(format!("{e:?}").contains("boom"));
    assert!(std::error::Error::source(&e).is_some());
}

#[tokio::test(start_paused = true)]
async fn dyn_and_arc_locks_forward() {
    let locks: Arc<dyn Lock> = Arc::new(MemoryLock::new());
    let boxed: Box<dyn Lock> = Box::new(locks.clone());
    let g = boxed.acquire("k", TTL).await.unwrap();
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_none());
    assert!(matches!(
        boxed
            .acquire_timeout("k", TTL, Duration::from_millis(5))
            .await,
        Err(LockError::Timeout)
    ));
    g.release().await.unwrap();
}

/// N tasks × M increments of a counter updated by a non-atomic read-modify-write (load,
/// yield, store) on a multi-threaded runtime: without the lock updates are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_update_under_contention() {
    const N: u64 = 16;
    const M: u64 = 50;
    let locks = MemoryLock::new();
    let counter = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (locks, counter) = (locks.clone(), Arc::clone(&counter));
            tokio::spawn(async move {
                for _ in 0..M {
                    let g = locks.acquire("counter", TTL).await.unwrap();
                    let v = counter.load(Ordering::Relaxed);
                    tokio::task::yield_now().await;
                    counter.store(v + 1, Ordering::Relaxed);
                    g.release().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(counter.load(Ordering::Relaxed), N * M);
}

#[test]
fn metrics_count_acquired_contended_timeouts_and_lost() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let locks = MemoryLock::new();
            let g = locks.acquire("k", TTL).await.unwrap();
            assert!(locks.try_acquire("k", TTL).await.unwrap().is_none());
            let _ = locks
                .acquire_timeout("k", TTL, Duration::from_secs(1))
                .await
                .unwrap_err();
            g.release().await.unwrap();
            let g = locks.acquire("k", Duration::from_secs(1)).await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert!(g.extend(TTL).await.is_err());
            // reported once even if noticed twice
            assert!(g.extend(TTL).await.is_err());
        });
    });
    let mut seen = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        assert!(
            key.labels()
                .any(|l| l.key() == "backend" && l.value() == "memory")
        );
        let n = match value {
            DebugValue::Counter(n) => n,
            DebugValue::Histogram(v) => v.len() as u64,
            DebugValue::Gauge(_) => 0,
        };
        seen.insert(key.name().to_owned(), n);
    }
    assert_eq!(seen.get(crate::metrics::ACQUIRED), Some(&2));
    assert_eq!(seen.get(crate::metrics::ACQUIRE_WAIT), Some(&2));
    assert_eq!(seen.get(crate::metrics::CONTENDED), Some(&2));
    assert_eq!(seen.get(crate::metrics::TIMEOUTS), Some(&1));
    assert_eq!(seen.get(crate::metrics::LOST), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn extreme_ttls_and_timeouts_do_not_panic() {
    let locks = MemoryLock::new();
    let g = locks.acquire("k", Duration::MAX).await.unwrap();
    g.extend(Duration::MAX).await.unwrap();
    assert!(matches!(
        locks
            .acquire_timeout("k", Duration::ZERO, Duration::from_millis(1))
            .await,
        Err(LockError::Timeout)
    ));
    g.release().await.unwrap();
    // a zero TTL is one millisecond
    let g = locks
        .acquire_timeout("k", Duration::ZERO, Duration::MAX)
        .await
        .unwrap();
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(locks.try_acquire("k", TTL).await.unwrap().is_some());
    assert!(matches!(g.release().await, Err(LockError::NotHeld)));
}
