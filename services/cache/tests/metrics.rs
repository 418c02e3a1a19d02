//! The metric names and labels the crate promises, read back through a debugging recorder.

use std::time::Duration;

use core_backend_cache::{Cache, MemoryCache, TypedCache};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// (metric name, labels, value)
type Row = (String, Vec<(String, String)>, u64);

fn counter(snapshot: &[Row], name: &str, cache: &str) -> u64 {
    snapshot
        .iter()
        .filter(|(n, labels, _)| {
            n == name && labels.iter().any(|(k, v)| k == "cache" && v == cache)
        })
        .map(|(_, _, v)| *v)
        .sum()
}

#[tokio::test(start_paused = true)]
async fn store_and_load_counters_carry_the_cache_label() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).expect("recorder");

    let store = MemoryCache::builder().name("users").build();
    let cache = TypedCache::builder(store.clone())
        .name("users")
        .stale_while_revalidate(Duration::from_secs(5))
        .build();
    cache
        .get_or_insert_with("a", Duration::from_secs(10), || async {
            Ok::<_, std::io::Error>(1u8)
        })
        .await
        .expect("load");
    cache
        .get_or_insert_with("a", Duration::from_secs(10), || async {
            Ok::<_, std::io::Error>(2u8)
        })
        .await
        .expect("hit");
    let _ = cache
        .get_or_insert_with("b", Duration::from_secs(10), || async {
            Err::<u8, _>(std::io::Error::other("x"))
        })
        .await;
    tokio::time::advance(Duration::from_secs(11)).await;
    cache
        .get_or_insert_with("a", Duration::from_secs(10), || async {
            Ok::<_, std::io::Error>(3u8)
        })
        .await
        .expect("stale");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(store.get("a").await.expect("get").is_some());

    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(v) => {
                let (name, labels) = key.key().clone().into_parts();
                let labels = labels
                    .into_iter()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                Some((name.as_str().to_owned(), labels, v))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        counter(&snapshot, "core_backend.cache.loads", "users"),
        3,
        "a, b, background refresh of a"
    );
    assert_eq!(
        counter(&snapshot, "core_backend.cache.load_errors", "users"),
        1
    );
    assert_eq!(
        counter(&snapshot, "core_backend.cache.stale_hits", "users"),
        1
    );
    assert!(counter(&snapshot, "core_backend.cache.hits", "users") >= 2);
    assert!(counter(&snapshot, "core_backend.cache.misses", "users") >= 2);
}
