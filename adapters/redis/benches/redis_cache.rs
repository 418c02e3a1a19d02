//! One cache hit through `RedisCache::get` (pipelined `GET` + `PTTL`, key building, entry
//! decoding) vs a raw redis-rs `GET` of the same key on the same connection (same group, same
//! run). Needs `REDIS_URL`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use core_backend_cache::Cache;
use core_backend_redis::cache::RedisCache;
use core_backend_redis::{Redis, RedisConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn redis_cache_get(c: &mut Criterion) {
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
    let cache = RedisCache::new(&redis, "bench");
    let value = Bytes::from(vec![b'x'; 256]);
    if rt
        .block_on(cache.set("hot", value, Duration::from_secs(600)))
        .is_err()
    {
        eprintln!("skipping redis benchmark: SET failed");
        return;
    }
    let raw_key = cache.redis_key("hot");
    let conn = redis.connection();

    let mut g = c.benchmark_group("redis_cache_get");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    g.bench_function("core_backend_redis_cache_get", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cache.get("hot").await.is_ok_and(|e| e.is_some())) });
    });
    g.bench_function("raw_redis_rs_get", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = conn.clone();
            let key = raw_key.as_str();
            async move {
                let r: redis::RedisResult<Option<Vec<u8>>> =
                    redis::cmd("GET").arg(key).query_async(&mut conn).await;
                black_box(r.is_ok_and(|v| v.is_some()))
            }
        });
    });
    g.bench_function("raw_redis_rs_get_pttl_pipeline", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = conn.clone();
            let key = raw_key.as_str();
            async move {
                let r: redis::RedisResult<(Option<Vec<u8>>, i64)> = redis::pipe()
                    .get(key)
                    .pttl(key)
                    .query_async(&mut conn)
                    .await;
                black_box(r.is_ok_and(|(v, _)| v.is_some()))
            }
        });
    });
    g.finish();
}

criterion_group!(benches, redis_cache_get);
criterion_main!(benches);
