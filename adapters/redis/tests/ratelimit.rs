//! The Redis rate-limit store on real Redis: two service instances sharing one limit, each
//! algorithm's script, and an outage of a disposable `redis-server` (policy, then recovery
//! without restarting the service).
#![allow(clippy::unwrap_used)]

mod common;

use common::{config, free_port, redis_url, start_redis, unique_prefix};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::{Router, routing::get};
use core_backend_ratelimit::{
    Algorithm, ClientIp, GlobalKey, Limit, OnStoreError, Quota, RateLimitKey, RateLimitLayer,
    StoreKey,
};
use core_backend_redis::Redis;
use core_backend_redis::ratelimit::RedisRateLimitStore;

async fn serve(layer: RateLimitLayer) -> String {
    let app = Router::new()
        .route("/v1/notes", get(|| async { "[]" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}/v1/notes")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn two_instances_share_one_limit() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let instance = |redis: Redis| {
        RateLimitLayer::builder()
            .limit(Limit::new("per-client", Quota::per_minute(3)).key(ClientIp::new()))
            .store(RedisRateLimitStore::new(&redis))
            .on_store_error(OnStoreError::FailClosed)
            .build()
    };
    // two instances, two connections, one Redis
    let a = serve(instance(
        Redis::connect(&config(&url, &prefix)).await.unwrap(),
    ))
    .await;
    let b = serve(instance(
        Redis::connect(&config(&url, &prefix)).await.unwrap(),
    ))
    .await;
    let http = http();
    let mut statuses = Vec::new();
    for target in [&a, &b, &a, &b, &a] {
        let res = http.get(target.as_str()).send().await.unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            assert_eq!(res.headers()["retry-after"], "20");
            assert_eq!(res.headers()["ratelimit"], r#""per-client";r=0;t=60"#);
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn scripts_for_each_algorithm() {
    let Some(url) = redis_url() else { return };
    let redis = Redis::connect(&config(&url, &unique_prefix()))
        .await
        .unwrap();
    assert!(redis.health_check().await.unwrap() < Duration::from_secs(1));
    let store = RedisRateLimitStore::new(&redis);
    let key = RateLimitKey::text("api-key-that-must-not-reach-redis");
    let skey = |limit| StoreKey { limit, key: &key };
    assert!(!store.redis_key(skey("x")).contains("api-key"));

    let gcra = Quota::per_second(10).burst(3);
    let mut seq = Vec::new();
    for _ in 0..4 {
        let d = store.check_async(skey("gcra"), &gcra).await.unwrap();
        seq.push((d.is_allowed(), d.remaining()));
    }
    assert_eq!(seq[..3], [(true, 2), (true, 1), (true, 0)]);
    assert!(!seq[3].0);
    let denied = store.check_async(skey("gcra"), &gcra).await.unwrap();
    assert!(
        denied.retry_after() > Duration::ZERO && denied.retry_after() <= Duration::from_millis(100)
    );

    for algorithm in [Algorithm::FixedWindow, Algorithm::SlidingWindow] {
        let q = Quota::per_hour(2).algorithm(algorithm);
        let name = algorithm.as_str();
        let first = store.check_async(skey(name), &q).await.unwrap();
        assert!(first.is_allowed());
        assert_eq!(first.remaining(), 1);
        assert!(
            store
                .check_async(skey(name), &q)
                .await
                .unwrap()
                .is_allowed()
        );
        let denied = store.check_async(skey(name), &q).await.unwrap();
        assert!(!denied.is_allowed(), "{name}");
        assert!(
            denied.retry_after() > Duration::ZERO
                && denied.retry_after() <= Duration::from_secs(7200),
            "{name}: {denied:?}"
        );
    }

    // keys expire when their state is worthless: a full GCRA bucket leaves nothing behind
    let q = Quota::new(1, Duration::from_millis(50));
    store
        .check_async(
            StoreKey {
                limit: "ttl",
                key: &RateLimitKey::Global,
            },
            &q,
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let mut conn = redis.connection();
    let k = store.redis_key(StoreKey {
        limit: "ttl",
        key: &RateLimitKey::Global,
    });
    let exists: bool = redis::cmd("EXISTS")
        .arg(&k)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn outage_applies_the_policy_then_recovers_without_restart() {
    let port = free_port();
    let Some(mut server) = start_redis(port).await else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let redis = Redis::connect(&config(&url, "outage")).await.unwrap();
    let layer = |name: &'static str, policy| {
        RateLimitLayer::builder()
            .limit(Limit::new(name, Quota::per_minute(2)).key(GlobalKey))
            .store(RedisRateLimitStore::new(&redis))
            .on_store_error(policy)
            .build()
    };
    let open = serve(layer("open", OnStoreError::FailOpen)).await;
    let closed = serve(layer("closed", OnStoreError::FailClosed)).await;
    let http = http();
    let status = |url: &str| {
        let req = http.get(url).send();
        async move { req.await.unwrap().status().as_u16() }
    };
    assert_eq!(status(&open).await, 200);
    assert_eq!(status(&closed).await, 200);

    server.kill().await.unwrap();
    server.wait().await.unwrap();
    // Redis is gone: fail-open admits beyond the quota (2/min), fail-closed refuses.
    for _ in 0..4 {
        assert_eq!(status(&open).await, 200);
        assert_eq!(status(&closed).await, 503);
    }
    assert!(redis.ping().await.is_err());

    // Same port, empty Redis: the same services recover by themselves.
    let _server = start_redis(port).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut recovered = status(&closed).await;
    while recovered == 503 {
        assert!(
            Instant::now() < deadline,
            "no recovery within 20 s after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        recovered = status(&closed).await;
    }
    assert_eq!(recovered, 200);
    // and the limit is enforced again (the script was reloaded after NOSCRIPT)
    assert_eq!(status(&closed).await, 200);
    assert_eq!(status(&closed).await, 429);
    assert_eq!(status(&open).await, 200);
    assert_eq!(status(&open).await, 200);
    assert_eq!(status(&open).await, 429);
}
