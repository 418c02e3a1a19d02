//! Hot reload on real files, with bounded waits.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use core_backend_config::ConfigLoader;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
struct Config {
    port: u16,
    name: String,
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_reload_is_published_and_bad_one_keeps_the_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(&path, "port = 1\nname = \"one\"\n").unwrap();
    let watcher = ConfigLoader::<Config>::new()
        .file(&path)
        .poll_interval(Duration::from_millis(20))
        .validate(|c: &Config| {
            let mut e = core_backend_config::ValidationErrors::new();
            if c.name.is_empty() {
                e.add("name", "a non-empty name");
            }
            e.into_result()
        })
        .watch()
        .unwrap();
    let mut rx = watcher.subscribe();
    assert_eq!(watcher.current().port, 1);

    std::fs::write(&path, "port = 2\nname = \"two\"\n").unwrap();
    tokio::time::timeout(WAIT, rx.changed())
        .await
        .expect("reload within 10s")
        .unwrap();
    assert_eq!(
        *rx.borrow_and_update(),
        Config {
            port: 2,
            name: "two".into()
        }
    );

    // A syntax error, a bad value and a failed validation: none is published.
    for bad in ["port = \n", "port = \"many\"\n", "port = 3\nname = \"\"\n"] {
        std::fs::write(&path, bad).unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(300), rx.changed()).await;
        assert!(waited.is_err(), "a bad reload ({bad:?}) must not publish");
        assert_eq!(watcher.borrow().port, 2);
    }

    // The next good version is picked up again.
    std::fs::write(&path, "port = 4\nname = \"four\"\n").unwrap();
    tokio::time::timeout(WAIT, rx.changed())
        .await
        .expect("reload within 10s")
        .unwrap();
    assert_eq!(rx.borrow_and_update().port, 4);

    // Removing the optional file falls back to the defaults, whose empty name fails
    // validation: the last good value stays.
    std::fs::remove_file(&path).unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), rx.changed()).await;
    assert!(waited.is_err());
    assert_eq!(watcher.borrow().port, 4);
    drop(watcher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_fails_when_the_first_load_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.json");
    std::fs::write(&path, "{").unwrap();
    let err = ConfigLoader::<Config>::new()
        .file(&path)
        .watch()
        .unwrap_err();
    assert_eq!(err.kind, core_backend_config::ErrorKind::Syntax);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_appearing_later_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.yaml");
    let watcher = ConfigLoader::<Config>::new()
        .file(&path)
        .poll_interval(Duration::from_millis(20))
        .watch()
        .unwrap();
    let mut rx = watcher.into_receiver();
    std::fs::write(&path, "port: 9\n").unwrap();
    tokio::time::timeout(WAIT, rx.changed())
        .await
        .expect("reload within 10s")
        .unwrap();
    assert_eq!(rx.borrow_and_update().port, 9);

    // Removing the optional file falls back to the defaults.
    std::fs::remove_file(&path).unwrap();
    tokio::time::timeout(WAIT, rx.changed())
        .await
        .expect("reload within 10s")
        .unwrap();
    assert_eq!(*rx.borrow_and_update(), Config::default());
}

#[test]
fn watch_outside_a_runtime_is_an_error_not_a_panic() {
    let err = ConfigLoader::<Config>::new().watch().unwrap_err();
    assert_eq!(err.kind, core_backend_config::ErrorKind::Other);
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}
