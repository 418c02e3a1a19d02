//! Metric handles, registered once per cache so the hot path does no registry lookup.

use metrics::{Counter, counter};

#[derive(Clone)]
pub(crate) struct StoreMetrics {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) evictions: Counter,
}

impl StoreMetrics {
    pub(crate) fn new(name: &str) -> Self {
        let name = name.to_owned();
        Self {
            hits: counter!("core_backend.cache.hits", "cache" => name.clone()),
            misses: counter!("core_backend.cache.misses", "cache" => name.clone()),
            evictions: counter!("core_backend.cache.evictions", "cache" => name),
        }
    }
}

#[derive(Clone)]
pub(crate) struct LoadMetrics {
    pub(crate) stale_hits: Counter,
    pub(crate) loads: Counter,
    pub(crate) load_errors: Counter,
}

impl LoadMetrics {
    pub(crate) fn new(name: &str) -> Self {
        let name = name.to_owned();
        Self {
            stale_hits: counter!("core_backend.cache.stale_hits", "cache" => name.clone()),
            loads: counter!("core_backend.cache.loads", "cache" => name.clone()),
            load_errors: counter!("core_backend.cache.load_errors", "cache" => name),
        }
    }
}
