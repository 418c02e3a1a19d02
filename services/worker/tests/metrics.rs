//! The instruments the crate promises, read back through `metrics-util`'s debugging recorder.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use core_backend_worker::adaptive::{AdaptiveConcurrencyLayer, Aimd};
use core_backend_worker::bulkhead::BulkheadLayer;
use core_backend_worker::{TaskError, WorkerPool};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower::{Layer, Service, ServiceExt, service_fn};

fn values(snapshotter: &Snapshotter) -> HashMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key.key().name().to_owned(), value))
        .collect()
}

fn counter(values: &HashMap<String, DebugValue>, name: &str) -> u64 {
    match values.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

fn gauge(values: &HashMap<String, DebugValue>, name: &str) -> f64 {
    match values.get(name) {
        Some(DebugValue::Gauge(g)) => g.into_inner(),
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn pool_counts_every_outcome_and_keeps_gauges_at_zero() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let pool = metrics::with_local_recorder(&recorder, || {
        WorkerPool::builder()
            .workers(1)
            .queue_capacity(1)
            .task_timeout(Duration::from_millis(50))
            .name("test")
            .build()
    });

    assert_eq!(pool.submit(async { 1 }).await.unwrap().await, Ok(1));
    let boom = pool.submit(async { panic!("boom") }).await.unwrap();
    assert!(matches!(boom.await, Err::<(), _>(TaskError::Panicked(_))));
    let slow = pool
        .submit(tokio::time::sleep(Duration::from_secs(5)))
        .await
        .unwrap();
    let queued = pool.try_submit(async { 2 }).unwrap();
    assert!(pool.try_submit(async { 3 }).is_err());
    assert_eq!(slow.await, Err(TaskError::TimedOut));
    assert_eq!(queued.await, Ok(2));
    let hung = pool
        .submit(tokio::time::sleep(Duration::from_secs(1)))
        .await
        .unwrap();
    hung.abort();
    assert_eq!(hung.await, Err(TaskError::Cancelled));
    pool.shutdown(Duration::from_secs(1)).await;

    let v = values(&snapshotter);
    assert_eq!(counter(&v, "core_backend.worker.completed"), 2);
    assert_eq!(counter(&v, "core_backend.worker.panicked"), 1);
    assert_eq!(counter(&v, "core_backend.worker.timed_out"), 1);
    assert_eq!(counter(&v, "core_backend.worker.rejected"), 1);
    // panicked + timed out + aborted
    assert_eq!(counter(&v, "core_backend.worker.failed"), 3);
    assert!(gauge(&v, "core_backend.worker.running").abs() < f64::EPSILON);
    assert!(gauge(&v, "core_backend.worker.queued").abs() < f64::EPSILON);
    match v.get("core_backend.worker.task.duration") {
        Some(DebugValue::Histogram(samples)) => assert_eq!(samples.len(), 4),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bulkhead_and_adaptive_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (bulkhead, adaptive) = metrics::with_local_recorder(&recorder, || {
        (
            BulkheadLayer::new(1, Duration::ZERO),
            AdaptiveConcurrencyLayer::builder()
                .algorithm(Aimd::builder().initial_limit(3).backoff_ratio(0.5).build())
                .build(),
        )
    });
    let svc = bulkhead.layer(service_fn(|()| async { Ok::<_, std::io::Error>(()) }));
    let mut holder = svc.clone();
    holder.ready().await.unwrap();
    assert!(svc.clone().oneshot(()).await.is_err());

    let mut failing = adaptive.layer(service_fn(|()| async {
        Err::<(), _>(std::io::Error::other("down"))
    }));
    assert!(failing.ready().await.unwrap().call(()).await.is_err());
    let v = values(&snapshotter);
    assert_eq!(counter(&v, "core_backend.worker.bulkhead.rejected"), 1);
    assert!((gauge(&v, "core_backend.worker.adaptive.limit") - 1.0).abs() < f64::EPSILON);
    assert!(gauge(&v, "core_backend.worker.adaptive.in_flight").abs() < f64::EPSILON);
}
