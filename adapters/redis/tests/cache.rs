//! `RedisCache` on real Redis: round trip with TTL, expiry, single-flight through `TypedCache`,
//! two tiered caches sharing one Redis, and an outage of a disposable `redis-server` (reads fall
//! back to L1 / the loader, then L2 is used again after a restart without recreating anything).
#![allow(clippy::unwrap_used)]

mod common;

use common::{config, free_port, redis_url, start_redis, unique_prefix};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use core_backend_cache::{Cache, MemoryCache, TieredCache, TypedCache};
use core_backend_redis::Redis;
use core_backend_redis::cache::RedisCache;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

async fn connect(url: &str, prefix: &str) -> Redis {
    Redis::connect(&config(url, prefix)).await.unwrap()
}

#[tokio::test]
async fn get_set_delete_round_trip_with_ttl() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let redis = connect(&url, &prefix).await;
    let cache = RedisCache::new(&redis, "rt");

    assert_eq!(cache.get("a").await.unwrap(), None);
    cache
        .set(
            "a",
            Bytes::from_static(b"\x00bytes\xff"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let hit = cache.get("a").await.unwrap().unwrap();
    assert_eq!(hit.value, Bytes::from_static(b"\x00bytes\xff"));
    assert!(
        hit.ttl <= Duration::from_secs(10) && hit.ttl > Duration::from_secs(9),
        "PTTL reported {:?}",
        hit.ttl
    );

    // the key layout is the documented one, readable by any Redis client
    let mut conn = redis.connection();
    let raw: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("{prefix}:cache:rt:a"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(raw.as_deref(), Some(&b"\x00bytes\xff"[..]));

    // overwrite replaces value and TTL; a zero TTL means no expiry
    cache
        .set("a", Bytes::from_static(b"v2"), Duration::ZERO)
        .await
        .unwrap();
    let hit = cache.get("a").await.unwrap().unwrap();
    assert_eq!(
        (hit.value, hit.ttl),
        (Bytes::from_static(b"v2"), Duration::MAX)
    );

    // caches with different names do not collide
    let other = RedisCache::new(&redis, "other");
    assert_eq!(other.get("a").await.unwrap(), None);

    cache.delete("a").await.unwrap();
    assert_eq!(cache.get("a").await.unwrap(), None);
    cache.delete("a").await.unwrap(); // deleting an absent key is fine
}

#[tokio::test]
async fn entries_expire_after_a_short_ttl() {
    let Some(url) = redis_url() else { return };
    let redis = connect(&url, &unique_prefix()).await;
    let cache = RedisCache::new(&redis, "exp");
    cache
        .set(
            "short",
            Bytes::from_static(b"x"),
            Duration::from_millis(150),
        )
        .await
        .unwrap();
    // sub-millisecond TTL: rounded up to 1 ms, so it expires instead of living forever
    cache
        .set("tiny", Bytes::from_static(b"x"), Duration::from_micros(1))
        .await
        .unwrap();
    let hit = cache.get("short").await.unwrap().unwrap();
    assert!(hit.ttl <= Duration::from_millis(150));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cache.get("short").await.unwrap(), None);
    assert_eq!(cache.get("tiny").await.unwrap(), None);
}

#[tokio::test]
async fn typed_cache_single_flight_over_redis() {
    let Some(url) = redis_url() else { return };
    let redis = connect(&url, &unique_prefix()).await;
    let cache = TypedCache::new(RedisCache::new(&redis, "sf"));
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let cache = cache.clone();
        let runs = runs.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_insert_with("hot", Duration::from_secs(30), move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, std::io::Error>(vec![1_u32, 2, 3])
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), vec![1, 2, 3]);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "loader ran more than once");
    // the value is in Redis for the other instances
    let stored = RedisCache::new(&redis, "sf").get("hot").await.unwrap();
    assert!(stored.is_some_and(|e| e.ttl > Duration::from_secs(25)));
}

#[tokio::test]
async fn two_tiered_caches_share_one_redis() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    // two instances: own L1, own connection, one Redis
    let instance = |redis: Redis| {
        TieredCache::builder(
            MemoryCache::builder().max_entries(100).build(),
            RedisCache::new(&redis, "shared"),
        )
        .l1_ttl(Duration::from_millis(200))
        .build()
    };
    let a = instance(connect(&url, &prefix).await);
    let b = instance(connect(&url, &prefix).await);

    a.set("k", Bytes::from_static(b"from-a"), Duration::from_secs(30))
        .await
        .unwrap();
    let hit = b.get("k").await.unwrap().unwrap();
    assert_eq!(hit.value, Bytes::from_static(b"from-a"));
    assert!(hit.ttl > Duration::from_secs(29)); // the L2 TTL, not the L1 cap
    // b copied it into its L1
    assert!(b.l1().get("k").await.unwrap().is_some());

    b.set("k", Bytes::from_static(b"from-b"), Duration::from_secs(30))
        .await
        .unwrap();
    // a's L1 copy may be stale for at most its l1_ttl
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        a.get("k").await.unwrap().unwrap().value,
        Bytes::from_static(b"from-b")
    );

    b.delete("k").await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(a.get("k").await.unwrap(), None);
}

fn l2_errors(snapshotter: &metrics_util::debugging::Snapshotter) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(k, _, _, _)| k.key().name() == "core_backend.cache.l2_errors")
        .map(|(_, _, _, v)| match v {
            DebugValue::Counter(n) => n,
            _ => 0,
        })
        .sum()
}

/// Longest a cache call may take while Redis is away (two L2 calls, each bounded by the
/// connection manager's connect timeout, retries and response timeout configured below).
const CALL_BOUND: Duration = Duration::from_secs(3);

type Tiered = TieredCache<MemoryCache, RedisCache>;

/// `rounds` × 8 concurrent `get_or_insert_with` over keys `<tag>-0..20`; every call must succeed
/// within [`CALL_BOUND`], Redis up or down.
async fn load(cache: &TypedCache<Tiered>, tag: &str, rounds: usize, runs: &Arc<AtomicUsize>) {
    for round in 0..rounds {
        let mut tasks = Vec::new();
        for t in 0..8 {
            let cache = cache.clone();
            let runs = runs.clone();
            let key = format!("{tag}-{}", (round * 8 + t) % 20);
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                let v: String = cache
                    .get_or_insert_with(&key, Duration::from_secs(60), {
                        let key = key.clone();
                        move || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, std::io::Error>(format!("value of {key}"))
                        }
                    })
                    .await
                    .unwrap_or_else(|e| panic!("{key}: {e}"));
                assert_eq!(v, format!("value of {key}"));
                assert!(
                    start.elapsed() < CALL_BOUND,
                    "{key} took {:?}",
                    start.elapsed()
                );
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
}

#[tokio::test]
async fn redis_killed_under_load_falls_back_then_recovers_without_recreating() {
    let port = free_port();
    let Some(mut server) = start_redis(port).await else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let mut cfg = config(&url, "fault");
    cfg.connect_timeout_ms = 200;
    cfg.response_timeout_ms = 200;
    cfg.reconnect_max_delay_ms = 200;
    let redis = Redis::connect(&cfg).await.unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let tiered = metrics::with_local_recorder(&recorder, || {
        TieredCache::builder(
            MemoryCache::builder().max_entries(1_000).build(),
            RedisCache::new(&redis, "fault"),
        )
        .name("fault")
        .build()
    });
    let cache = TypedCache::new(tiered.clone());
    let runs = Arc::new(AtomicUsize::new(0));

    // warm: 20 keys loaded once, written to both tiers
    load(&cache, "warm", 5, &runs).await;
    assert_eq!(runs.load(Ordering::SeqCst), 20);
    assert!(tiered.l2().get("warm-0").await.unwrap().is_some());
    assert_eq!(l2_errors(&snapshotter), 0);

    // kill Redis under load: L1 keeps answering warm keys, the loader answers new ones, no
    // caller sees an error
    let during = {
        let cache = cache.clone();
        let runs = runs.clone();
        tokio::spawn(async move {
            load(&cache, "warm", 10, &runs).await;
            load(&cache, "cold", 10, &runs).await;
        })
    };
    server.kill().await.unwrap();
    server.wait().await.unwrap();
    during.await.unwrap();
    let before = runs.load(Ordering::SeqCst);
    load(&cache, "warm", 5, &runs).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        before,
        "L1 served the warm keys"
    );
    load(&cache, "outage", 3, &runs).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        before + 20,
        "the loader ran for the new keys"
    );
    assert!(tiered.l2().get("warm-0").await.is_err());
    let errors_down = l2_errors(&snapshotter);
    assert!(errors_down >= 20, "L2 errors counted: {errors_down}");

    // restart on the same port (empty: no persistence): the same cache uses L2 again
    let Some(_server) = start_redis(port).await else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tiered
            .set(
                "after",
                Bytes::from_static(b"back"),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        if let Ok(Some(e)) = tiered.l2().get("after").await {
            assert_eq!(e.value, Bytes::from_static(b"back"));
            break;
        }
        assert!(Instant::now() < deadline, "L2 did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // a new key now goes through L2 again: written there by the loader path
    load(&cache, "recovered", 3, &runs).await;
    assert!(tiered.l2().get("recovered-3").await.unwrap().is_some());
    let errors_after = l2_errors(&snapshotter);
    load(&cache, "recovered", 3, &runs).await;
    assert_eq!(
        l2_errors(&snapshotter),
        errors_after,
        "no L2 errors once back"
    );
}
