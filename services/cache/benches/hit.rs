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
}

criterion_group!(benches, hit);
criterion_main!(benches);
