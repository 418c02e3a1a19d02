//! Reload counters, with a global debugging recorder (its own test binary).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use core_backend_config::ConfigLoader;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
struct Config {
    port: u16,
}

/// Running totals: the debugging recorder resets counters on every snapshot.
#[derive(Default)]
struct Totals {
    reloads: u64,
    failures: u64,
}

impl Totals {
    fn update(&mut self, snapshotter: &Snapshotter) -> &Self {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            if let DebugValue::Counter(n) = value {
                match key.key().name() {
                    "core_backend.config.reloads" => self.reloads += n,
                    "core_backend.config.reload_failures" => self.failures += n,
                    _ => {}
                }
            }
        }
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_and_failures_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(&path, "port = 1\n").unwrap();
    let watcher = ConfigLoader::<Config>::new()
        .file(&path)
        .poll_interval(Duration::from_millis(20))
        .watch()
        .unwrap();
    let mut rx = watcher.subscribe();

    std::fs::write(&path, "port = \"x\"\n").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut totals = Totals::default();
    while totals.update(&snapshotter).failures == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "failure not counted within 10s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(watcher.borrow().port, 1);

    std::fs::write(&path, "port = 2\n").unwrap();
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .unwrap()
        .unwrap();
    totals.update(&snapshotter);
    assert_eq!((totals.reloads, totals.failures), (1, 1));
}
