//! One uncontended acquire + release through `RedisLock` vs the raw redis-rs round trips a
//! hand-written lock needs (`SET key value NX PX ttl`, then `DEL key`), in the same group and
//! run. Needs `REDIS_URL`.

use std::hint::black_box;
use std::time::Duration;

use core_backend_lock::Lock;
use core_backend_redis::lock::RedisLock;
use core_backend_redis::{Redis, RedisConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn redis_lock(c: &mut Criterion) {
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
    let mut config = RedisConfig::new(url);
    config.key_prefix = format!("cb-bench-{:016x}", fastrand::u64(..));
    let Ok(redis) = rt.block_on(Redis::connect(&config)) else {
        eprintln!("skipping redis benchmark: Redis unreachable");
        return;
    };
    let lock = RedisLock::new(&redis);
    let ttl = Duration::from_secs(10);
    let mut g = c.benchmark_group("redis_lock_acquire_release");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    g.bench_function("core_backend_redis_lock", |b| {
        b.to_async(&rt).iter(|| async {
            let guard = lock.try_acquire("bench", ttl).await;
            let ok = match guard {
                Ok(Some(g)) => g.release().await.is_ok(),
                _ => false,
            };
            black_box(ok)
        });
    });
    let conn = redis.connection();
    let raw_key = format!("{}:raw-lock", redis.key_prefix());
    g.bench_function("raw_redis_rs_set_nx_del", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = conn.clone();
            let key = raw_key.clone();
            async move {
                let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
                    .arg(&key)
                    .arg("owner")
                    .arg("NX")
                    .arg("PX")
                    .arg(10_000)
                    .query_async(&mut conn)
                    .await;
                let del: redis::RedisResult<i64> =
                    redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
                black_box(set.is_ok() && del.is_ok())
            }
        });
    });
    g.finish();
    let mut conn = redis.connection();
    let _: redis::RedisResult<i64> = rt.block_on(
        redis::cmd("DEL")
            .arg(lock.redis_key("bench"))
            .arg(format!("{}:fence", lock.redis_key("bench")))
            .query_async(&mut conn),
    );
}

criterion_group!(benches, redis_lock);
criterion_main!(benches);
