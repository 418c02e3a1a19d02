//! Benchmarks: the worker pool against bare `tokio::spawn` + `Semaphore`, and the bulkhead
//! against tower's `ConcurrencyLimit`, each pair in one criterion group.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use core_backend_worker::WorkerPool;
use core_backend_worker::bulkhead::BulkheadLayer;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::sync::Semaphore;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

const TASKS: u64 = 10_000;
const WORKERS: usize = 64;

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn work(i: u64) -> u64 {
    // A task that yields once, so scheduling and wake-ups are part of the cost.
    tokio::task::yield_now().await;
    black_box(i).wrapping_mul(31)
}

fn pool_throughput(c: &mut Criterion) {
    pool_group(c, "pool_throughput", &multi_thread());
    pool_group(c, "pool_throughput_current_thread", &current_thread());
}

fn pool_group(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(TASKS))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30);

    group.bench_function(BenchmarkId::new("tokio_spawn_semaphore", TASKS), |b| {
        b.to_async(rt).iter(|| async {
            let semaphore = Arc::new(Semaphore::new(WORKERS));
            let mut handles = Vec::with_capacity(TASKS as usize);
            for i in 0..TASKS {
                let permit = Arc::clone(&semaphore).acquire_owned().await.unwrap();
                handles.push(tokio::spawn(async move {
                    let out = work(i).await;
                    drop(permit);
                    out
                }));
            }
            let mut sum = 0u64;
            for h in handles {
                sum = sum.wrapping_add(h.await.unwrap());
            }
            sum
        });
    });

    for queue in [0, 1024] {
        group.bench_function(
            BenchmarkId::new(format!("worker_pool_queue_{queue}"), TASKS),
            |b| {
                b.to_async(rt).iter(|| async {
                    let pool = WorkerPool::builder()
                        .workers(WORKERS)
                        .queue_capacity(queue)
                        .build();
                    let mut handles = Vec::with_capacity(TASKS as usize);
                    for i in 0..TASKS {
                        handles.push(pool.submit(work(i)).await.unwrap());
                    }
                    let mut sum = 0u64;
                    for h in handles {
                        sum = sum.wrapping_add(h.await.unwrap());
                    }
                    sum
                });
            },
        );
    }
    group.finish();
}

const CALLS: u64 = 1_000;

/// `CALLS` calls in a row through `svc`, summed.
async fn call_all<S>(mut svc: S) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let mut sum = 0;
    for i in 0..CALLS {
        sum += svc.ready().await.unwrap().call(i).await.unwrap();
    }
    sum
}

fn bulkhead_overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("bulkhead_overhead");
    group
        .throughput(Throughput::Elements(CALLS))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    let inner =
        service_fn(|x: u64| async move { Ok::<_, std::convert::Infallible>(black_box(x) + 1) });

    group.bench_function("tower_concurrency_limit", |b| {
        let svc = ConcurrencyLimitLayer::new(100).layer(inner);
        b.to_async(&rt).iter(|| call_all(svc.clone()));
    });

    group.bench_function("bulkhead", |b| {
        let svc = BulkheadLayer::new(100, Duration::from_millis(10)).layer(inner);
        b.to_async(&rt).iter(|| call_all(svc.clone()));
    });
    group.finish();
}

criterion_group!(benches, pool_throughput, bulkhead_overhead);
criterion_main!(benches);
