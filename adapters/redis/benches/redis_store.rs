//! One rate-limit check through `RedisRateLimitStore` vs a raw redis-rs `EVALSHA` of the same
//! script (same group, same run). Needs `REDIS_URL`.

use std::hint::black_box;
use std::time::Duration;

use core_backend_ratelimit::{Quota, RateLimitKey, StoreKey};
use core_backend_redis::ratelimit::{RedisRateLimitStore, SCRIPT};
use core_backend_redis::{Redis, RedisConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn redis_check(c: &mut Criterion) {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("skipping redis benchmark: REDIS_URL is not set");
        return;
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let Ok(redis) = rt.block_on(Redis::connect(&RedisConfig::new(url))) else {
        eprintln!("skipping redis benchmark: Redis unreachable");
        return;
    };
    let store = RedisRateLimitStore::new(&redis);
    let quota = Quota::per_second(1_000_000_000);
    let key = RateLimitKey::Ip(
        "203.0.113.7"
            .parse()
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
    );
    let mut g = c.benchmark_group("redis_check");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    g.bench_function("core_backend_redis_store", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                store
                    .check_async(
                        StoreKey {
                            limit: "bench",
                            key: &key,
                        },
                        &quota,
                    )
                    .await
                    .is_ok(),
            )
        });
    });
    let script = redis::Script::new(SCRIPT);
    let conn = redis.connection();
    g.bench_function("raw_redis_rs_evalsha", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = conn.clone();
            let script = script.clone();
            async move {
                let r: redis::RedisResult<(i64, i64, i64, i64)> = script
                    .key("core-backend:rl:{raw}:ip:203.0.113.7")
                    .arg(0)
                    .arg(1)
                    .arg(1_000_000)
                    .invoke_async(&mut conn)
                    .await;
                black_box(r.is_ok())
            }
        });
    });
    g.finish();
}

criterion_group!(benches, redis_check);
criterion_main!(benches);
