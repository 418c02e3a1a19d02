//! Check metrics, with a global debugging recorder (its own test binary).

#![allow(clippy::unwrap_used)]

use core_backend_health::{Criticality, HealthRegistry};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test]
async fn duration_histogram_and_status_gauge_per_check() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let registry = HealthRegistry::default();
    registry.register("db", Criticality::Critical, || async {
        Ok::<(), String>(())
    });
    registry.register("search", Criticality::NonCritical, || async {
        Err::<(), _>("down")
    });
    registry.check_all().await;
    registry.check_all().await; // cached: no second run

    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, check: &str| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                key.key().name() == name
                    && key
                        .key()
                        .labels()
                        .any(|l| l.key() == "check" && l.value() == check)
            })
            .map(|(_, _, _, value)| value)
    };
    match find("core_backend.health.check_duration", "db") {
        Some(DebugValue::Histogram(values)) => assert_eq!(values.len(), 1),
        other => panic!("no duration histogram: {other:?}"),
    }
    assert_eq!(
        find("core_backend.health.status", "db"),
        Some(&DebugValue::Gauge(1.0.into()))
    );
    assert_eq!(
        find("core_backend.health.status", "search"),
        Some(&DebugValue::Gauge(0.5.into()))
    );
}
