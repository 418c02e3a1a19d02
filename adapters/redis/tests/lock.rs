//! `RedisLock` on real Redis: mutual exclusion under contention, fencing tokens, expiry of a
//! forgotten guard, extension and compare-and-delete release. Each test uses its own key
//! prefix.
#![allow(clippy::unwrap_used)]

mod common;

use common::require;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use core_backend_lock::{Lock, LockConfig, LockError};
use core_backend_redis::lock::RedisLock;
use core_backend_redis::{Redis, RedisConfig};

/// A connection under a fresh key prefix, or `None` (skip) without `REDIS_URL`.
async fn redis() -> Option<Redis> {
    let Ok(url) = std::env::var("REDIS_URL") else {
        assert!(
            !require(),
            "REDIS_URL is not set and CORE_BACKEND_REQUIRE_BACKENDS=1"
        );
        eprintln!("skipping: REDIS_URL is not set");
        return None;
    };
    let mut c = RedisConfig::new(url);
    c.key_prefix = format!("cb-test-{:016x}", fastrand::u64(..));
    Some(Redis::connect(&c).await.unwrap())
}

/// Deletes every key of the test's prefix.
async fn cleanup(redis: &Redis) {
    let mut conn = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", redis.key_prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

fn fast_poll() -> LockConfig {
    LockConfig::from_lookup("", |k| match k {
        "POLL_MIN_MS" => Some("1".to_owned()),
        "POLL_MAX_MS" => Some("20".to_owned()),
        _ => None,
    })
    .unwrap()
}

const TTL: Duration = Duration::from_secs(10);

#[tokio::test]
async fn exclusion_release_and_growing_tokens() {
    let Some(redis) = redis().await else { return };
    let a = RedisLock::new(&redis);
    // a second instance with its own connection, as another process would have
    let mut config = RedisConfig::new(std::env::var("REDIS_URL").unwrap());
    redis.key_prefix().clone_into(&mut config.key_prefix);
    let b = RedisLock::new(&Redis::connect_lazy(&config).unwrap());
    let g = a.try_acquire("job", TTL).await.unwrap().unwrap();
    assert!(b.try_acquire("job", TTL).await.unwrap().is_none());
    let mut conn = redis.connection();
    let stored: Option<String> = redis::cmd("GET")
        .arg(a.redis_key("job"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored.unwrap().len(), 32);
    assert!(
        a.redis_key("job")
            .starts_with(&format!("{}:lock:", redis.key_prefix()))
    );
    let mut last = g.token();
    g.release().await.unwrap();
    for i in 0..20 {
        let lock = if i % 2 == 0 { &a } else { &b };
        let g = lock.acquire("job", TTL).await.unwrap();
        assert!(g.token() > last, "token {} after {last}", g.token());
        last = g.token();
        g.release().await.unwrap();
    }
    assert!(format!("{a:?}").contains("RedisLock"));
    cleanup(&redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_update_and_tokens_strictly_increase_under_contention() {
    const N: u64 = 8;
    const M: u64 = 25;
    let Some(redis) = redis().await else { return };
    let lock = RedisLock::with_config(&redis, &fast_poll());
    let counter = Arc::new(AtomicU64::new(0));
    let tokens = Arc::new(parking_lot_free::Tokens::default());
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (lock, counter, tokens) = (lock.clone(), counter.clone(), tokens.clone());
            tokio::spawn(async move {
                for _ in 0..M {
                    let g = lock.acquire("counter", TTL).await.unwrap();
                    // inside the lock: the token is greater than every earlier holder's
                    tokens.push(g.token());
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
    let seen = tokens.take();
    assert_eq!(seen.len() as u64, N * M);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    cleanup(&redis).await;
}

/// A tiny ordered log without pulling a mutex crate into the adapter's dev-dependencies.
mod parking_lot_free {
    #[derive(Default)]
    pub(crate) struct Tokens(std::sync::Mutex<Vec<u64>>);

    impl Tokens {
        pub(crate) fn push(&self, t: u64) {
            self.0.lock().unwrap().push(t);
        }

        pub(crate) fn take(&self) -> Vec<u64> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }
}

#[tokio::test]
async fn forgotten_guard_expires_after_its_ttl() {
    let Some(redis) = redis().await else { return };
    let lock = RedisLock::with_config(&redis, &fast_poll());
    let ttl = Duration::from_millis(400);
    let g = lock.acquire("crash", ttl).await.unwrap();
    let token = g.token();
    let start = Instant::now();
    std::mem::forget(g);
    assert!(lock.try_acquire("crash", TTL).await.unwrap().is_none());
    let g = lock
        .acquire_timeout("crash", TTL, Duration::from_secs(5))
        .await
        .unwrap();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert!(g.token() > token);
    g.release().await.unwrap();
    cleanup(&redis).await;
}

#[tokio::test]
async fn timeout_extend_and_compare_and_delete() {
    let Some(redis) = redis().await else { return };
    let lock = RedisLock::with_config(&redis, &fast_poll());
    let held = lock.acquire("k", TTL).await.unwrap();
    let start = Instant::now();
    let err = lock
        .acquire_timeout("k", TTL, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, LockError::Timeout));
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(start.elapsed() < Duration::from_secs(2));
    held.release().await.unwrap();

    // an expired guard can neither extend nor release its successor's lock
    let old = lock.acquire("k", Duration::from_millis(100)).await.unwrap();
    old.extend(Duration::from_millis(150)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let new = lock.acquire("k", TTL).await.unwrap();
    assert!(matches!(old.extend(TTL).await, Err(LockError::NotHeld)));
    assert!(old.is_lost());
    assert!(matches!(old.release().await, Err(LockError::NotHeld)));
    assert!(lock.try_acquire("k", TTL).await.unwrap().is_none());
    new.release().await.unwrap();
    cleanup(&redis).await;
}

#[tokio::test]
async fn keep_alive_holds_and_drop_releases() {
    let Some(redis) = redis().await else { return };
    let lock = RedisLock::with_config(&redis, &fast_poll());
    let g = lock
        .acquire("alive", Duration::from_millis(300))
        .await
        .unwrap()
        .keep_alive();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!g.is_lost());
    assert!(lock.try_acquire("alive", TTL).await.unwrap().is_none());
    drop(g);
    // the spawned release lands well before the 300 ms TTL would
    let g = lock
        .acquire_timeout(
            "alive",
            Duration::from_millis(300),
            Duration::from_millis(150),
        )
        .await
        .unwrap();
    // keep-alive notices when the key is taken from under it
    let g = g.keep_alive();
    let mut conn = redis.connection();
    let _: () = redis::cmd("SET")
        .arg(lock.redis_key("alive"))
        .arg("someone-else")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut lost = g.lost();
    tokio::time::timeout(Duration::from_secs(5), lost.changed())
        .await
        .unwrap()
        .unwrap();
    assert!(g.is_lost());
    drop(g);
    cleanup(&redis).await;
}

#[tokio::test]
async fn unreachable_redis_is_a_backend_error() {
    let mut config = RedisConfig::new("redis://127.0.0.1:1");
    config.connect_timeout_ms = 200;
    let lock = RedisLock::new(&Redis::connect_lazy(&config).unwrap());
    for res in [
        lock.try_acquire("k", TTL).await.map(|_| ()),
        lock.acquire_timeout("k", TTL, Duration::from_secs(1))
            .await
            .map(|_| ()),
    ] {
        let LockError::Backend(err) = res.unwrap_err() else {
            panic!("expected a backend error")
        };
        assert!(
            err.downcast_ref::<core_backend_redis::Error>().is_some(),
            "{err}"
        );
    }
}
