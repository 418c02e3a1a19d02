//! Cache hit: `MemoryCache::get` (through the `Cache` trait) vs bare `moka::future::Cache::get`.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use core_backend_cache::{Cache, MemoryCache, TypedCache};
use criterion::{Criterion, criterion_group, criterion_main};

const KEYS: usize = 1_000;

fn hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let keys: Vec<String> = (0..KEYS).map(|i| format!("user:{i}")).collect();
    let value = Bytes::from(vec![b'x'; 128]);

    let ours = MemoryCache::builder().max_entries(10_000).build();
    let typed = TypedCache::new(ours.clone());
    let peer: moka::future::Cache<Arc<str>, Bytes> =
        moka::future::Cache::builder().max_capacity(10_000).build();
    // moka with the same policy as MemoryCache (size bound + per-entry TTL through `Expiry`):
    // the difference to this one is the cost of our wrapper alone.
    let peer_ttl: moka::future::Cache<Arc<str>, (Bytes, Duration)> = moka::future::Cache::builder()
        .max_capacity(10_000)
        .expire_after(PerEntry)
        .build();
    rt.block_on(async {
        for k in &keys {
            ours.set(k, value.clone(), Duration::from_secs(3600))
                .await
                .expect("set");
            typed
                .set(
                    &format!("t:{k}"),
                    &"a typed value of moderate length",
                    Duration::from_secs(3600),
                )
                .await
                .expect("set");
            peer.insert(Arc::from(k.as_str()), value.clone()).await;
            peer_ttl
                .insert(
                    Arc::from(k.as_str()),
                    (value.clone(), Duration::from_secs(3600)),
                )
                .await;
        }
    });

    let mut group = c.benchmark_group("cache_hit");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    let mut i = 0usize;
    group.bench_function("moka_future_get", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let k = keys[i].as_str();
            let peer = &peer;
            async move { std::hint::black_box(peer.get(k).await) }
        });
    });
    group.bench_function("moka_future_get_per_entry_ttl", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let k = keys[i].as_str();
            let peer = &peer_ttl;
            async move { std::hint::black_box(peer.get(k).await) }
        });
    });
    group.bench_function("memory_cache_get", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let k = keys[i].as_str();
            let ours = &ours;
            async move { std::hint::black_box(ours.get(k).await.expect("get")) }
        });
    });
    let typed_keys: Vec<String> = keys.iter().map(|k| format!("t:{k}")).collect();
    group.bench_function("typed_cache_get_json", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % KEYS;
            let k = typed_keys[i].as_str();
            let typed = &typed;
            async move { std::hint::black_box(typed.get::<String>(k).await.expect("get")) }
        });
    });
    group.finish();

    // The machine is shared and its load drifts between criterion's sequential runs, so also
    // measure both sides interleaved in small alternating blocks and report the median ratio.
    let (bare, same_policy) = rt.block_on(async {
        let mut bare = Vec::with_capacity(ROUNDS);
        let mut same_policy = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = std::time::Instant::now();
            for k in &keys {
                std::hint::black_box(peer.get(k.as_str()).await);
            }
            let peer_time = start.elapsed();
            let start = std::time::Instant::now();
            for k in &keys {
                std::hint::black_box(peer_ttl.get(k.as_str()).await);
            }
            let peer_ttl_time = start.elapsed();
            let start = std::time::Instant::now();
            for k in &keys {
                std::hint::black_box(ours.get(k).await.expect("get"));
            }
            let ours_time = start.elapsed().as_secs_f64();
            bare.push(ours_time / peer_time.as_secs_f64());
            same_policy.push(ours_time / peer_ttl_time.as_secs_f64());
        }
        bare.sort_by(f64::total_cmp);
        same_policy.sort_by(f64::total_cmp);
        (bare[ROUNDS / 2], same_policy[ROUNDS / 2])
    });
    println!(
        "cache_hit interleaved median ratios ({ROUNDS} rounds x {KEYS} gets): \
         memory_cache_get / moka_future_get = {bare:.3}; \
         memory_cache_get / moka_future_get_per_entry_ttl = {same_policy:.3}"
    );
}

const ROUNDS: usize = 301;

struct PerEntry;

impl moka::Expiry<Arc<str>, (Bytes, Duration)> for PerEntry {
    fn expire_after_create(
        &self,
        _: &Arc<str>,
        v: &(Bytes, Duration),
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.1)
    }
}

criterion_group!(benches, hit);
criterion_main!(benches);
