//! Rate-limit check cost, ours vs governor (same group, same run), and memory per idle key.
//!
//! Run: `cargo bench -p core-backend-ratelimit --no-run`, then the printed binary with `--bench`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use core_backend_ratelimit::{MemoryStore, Quota};
use criterion::{Criterion, criterion_group};

const KEYS: u32 = 1_000_000;

fn gov_quota() -> governor::Quota {
    let rate = NonZeroU32::new(1_000_000_000).unwrap_or(NonZeroU32::MIN);
    governor::Quota::per_second(rate)
}

fn our_quota() -> Quota {
    Quota::per_second(1_000_000_000)
}

/// A cheap scramble so consecutive checks hit unrelated keys.
fn key_at(i: u32) -> u32 {
    i.wrapping_mul(2_654_435_761) % KEYS
}

fn single_key(c: &mut Criterion) {
    let mut g = c.benchmark_group("check_single_key");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    let ours = MemoryStore::new();
    let q = our_quota();
    g.bench_function("core_backend_memory_store", |b| {
        b.iter(|| black_box(ours.check_key(black_box(&42u32), &q)));
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    g.bench_function("core_backend_memory_store_caller_clock", |b| {
        b.iter(|| black_box(ours.check_key_at(black_box(&42u32), &q, now)));
    });
    let keyed = governor::RateLimiter::keyed(gov_quota());
    g.bench_function("governor_keyed_dashmap", |b| {
        b.iter(|| black_box(keyed.check_key(black_box(&42u32)).is_ok()));
    });
    let direct = governor::RateLimiter::direct(gov_quota());
    g.bench_function("governor_direct_unkeyed", |b| {
        b.iter(|| black_box(direct.check().is_ok()));
    });
    g.finish();
}

fn million_keys(c: &mut Criterion) {
    let mut g = c.benchmark_group("check_1m_keys");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    let ours = MemoryStore::builder().max_keys(2 * KEYS as usize).build();
    let q = our_quota();
    let keyed = governor::RateLimiter::keyed(gov_quota());
    for i in 0..KEYS {
        ours.check_key(&i, &q);
        let _ = keyed.check_key(&i);
    }
    let mut i = 0u32;
    g.bench_function("core_backend_memory_store", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(ours.check_key(&key_at(i), &q))
        });
    });
    let mut i = 0u32;
    g.bench_function("governor_keyed_dashmap", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(keyed.check_key(&key_at(i)).is_ok())
        });
    });
    g.finish();
}

/// Resident set size from /proc/self/statm (Linux), in bytes.
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn per_key(only: &str, label: &str, fill: impl FnOnce() -> Box<dyn std::any::Any>) {
    if only != "all" && only != label {
        return;
    }
    let Some(before) = rss() else {
        println!("memory/{label}: /proc/self/statm unavailable");
        return;
    };
    let kept = fill();
    let after = rss().unwrap_or(before);
    println!(
        "memory/{label}: {:.1} bytes per key held ({} keys, RSS growth)",
        after.saturating_sub(before) as f64 / f64::from(KEYS),
        KEYS
    );
    drop(kept);
}

fn ip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | i))
}

fn api_key(i: u32) -> String {
    format!("sk_live_{i:024}")
}

/// Memory per idle key: a million clients, each seen once, measured as RSS growth.
fn memory_report(only: &str) {
    // one request per hour: every key stays tracked for the whole measurement (a store
    // that has swept its idle keys holds nothing, which would measure nothing)
    let q = Quota::per_hour(1);
    let gq = governor::Quota::per_hour(NonZeroU32::MIN);
    per_key(only, "core_backend_memory_store/ip", || {
        let s = MemoryStore::builder().max_keys(2 * KEYS as usize).build();
        for i in 0..KEYS {
            s.check_key(&ip(i), &q);
        }
        Box::new(s)
    });
    per_key(only, "governor_keyed_dashmap/ip", || {
        let s = governor::RateLimiter::keyed(gq);
        for i in 0..KEYS {
            let _ = s.check_key(&ip(i));
        }
        Box::new(s)
    });
    per_key(only, "core_backend_memory_store/api_key_32B", || {
        let s = MemoryStore::builder().max_keys(2 * KEYS as usize).build();
        for i in 0..KEYS {
            s.check_key(api_key(i).as_str(), &q);
        }
        Box::new(s)
    });
    per_key(only, "governor_keyed_dashmap/api_key_32B", || {
        let s = governor::RateLimiter::keyed(gq);
        for i in 0..KEYS {
            let _ = s.check_key(&api_key(i));
        }
        Box::new(s)
    });
}

criterion_group!(benches, single_key, million_keys);

fn main() {
    // `RL_MEMORY=<label>` measures one store per process, so no allocator state carries over.
    if let Ok(label) = std::env::var("RL_MEMORY") {
        memory_report(&label);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
