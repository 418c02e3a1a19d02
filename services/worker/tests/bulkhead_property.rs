//! Property: under random arrivals and service times, the bulkhead never has more than
//! `max_concurrent_calls` calls inside the inner service, every caller is either served or
//! rejected with `Overloaded`, and no caller is rejected before its maximum wait.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use core_backend_worker::Overloaded;
use core_backend_worker::bulkhead::BulkheadLayer;
use proptest::prelude::*;
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

fn run(max: usize, max_wait_ms: u64, arrivals: Vec<(u64, u64)>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let svc = {
            let (inside, peak) = (Arc::clone(&inside), Arc::clone(&peak));
            BulkheadLayer::new(max, Duration::from_millis(max_wait_ms)).layer(service_fn(
                move |work_ms: u64| {
                    let (inside, peak) = (Arc::clone(&inside), Arc::clone(&peak));
                    async move {
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(work_ms)).await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, std::convert::Infallible>(())
                    }
                },
            ))
        };
        let start = Instant::now();
        let tasks: Vec<_> = arrivals
            .into_iter()
            .map(|(at_ms, work_ms)| {
                let svc = svc.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(start + Duration::from_millis(at_ms)).await;
                    let arrived = Instant::now();
                    match svc.oneshot(work_ms).await {
                        Ok(()) => None,
                        Err(err) => {
                            assert!(err.is::<Overloaded>());
                            Some(arrived.elapsed())
                        }
                    }
                })
            })
            .collect();
        let mut rejected_after = Vec::new();
        for t in tasks {
            if let Some(waited) = t.await.unwrap() {
                rejected_after.push(waited);
            }
        }
        prop_assert!(
            peak.load(Ordering::SeqCst) <= max,
            "peak {} > {max}",
            peak.load(Ordering::SeqCst)
        );
        for waited in rejected_after {
            prop_assert!(
                waited >= Duration::from_millis(max_wait_ms),
                "rejected after {waited:?}"
            );
        }
        prop_assert_eq!(inside.load(Ordering::SeqCst), 0);
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bulkhead_never_admits_more_than_max(
        max in 1usize..6,
        max_wait_ms in 0u64..50,
        arrivals in prop::collection::vec((0u64..200, 1u64..80), 1..60),
    ) {
        run(max, max_wait_ms, arrivals)?;
    }
}
