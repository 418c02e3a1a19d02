//! The server's own metrics through the `metrics` facade. One test per process (the recorder
//! is global).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::{Router, routing::get};
use common::{TestServer, fetch};
use core_backend_server::{Server, ServerConfig, metrics as names};
use http::StatusCode;
use metrics_util::{
    CompositeKey,
    debugging::{DebugValue, DebuggingRecorder},
};

/// A snapshot; taking one resets the recorder's values, so each is read as a delta.
type Snap = Vec<(
    CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

fn counter(snap: &Snap, name: &str, reason: Option<&str>) -> u64 {
    snap.iter()
        .filter(|(key, _, _, _)| key.key().name() == name)
        .filter(|(key, _, _, _)| {
            reason.is_none_or(|r| {
                key.key()
                    .labels()
                    .any(|l| l.key() == "reason" && l.value() == r)
            })
        })
        .map(|(_, _, _, value)| match value {
            DebugValue::Counter(n) => *n,
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

fn gauge(snap: &Snap, name: &str) -> f64 {
    snap.iter()
        .find(|(key, _, _, _)| key.key().name() == name)
        .map_or(0.0, |(_, _, _, value)| match value {
            DebugValue::Gauge(g) => g.into_inner(),
            other => panic!("{name} is not a gauge: {other:?}"),
        })
}

#[tokio::test]
async fn connections_rejections_and_shutdowns_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let mut cfg = ServerConfig::default();
    cfg.request_timeout = Duration::from_millis(100);
    cfg.body_limit = 4;
    let router = Router::new()
        .route(
            "/",
            get(|| async { "ok" }).post(|b: bytes::Bytes| async move { b }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let server = TestServer::start(Server::builder().config(cfg).router(router)).await;

    assert_eq!(fetch(server.addr, "/").await.status, StatusCode::OK);
    fetch(server.addr, "/slow")
        .await
        .problem(StatusCode::REQUEST_TIMEOUT);
    let big = common::req("POST", "/")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"too large",
        )))
        .unwrap();
    common::send(server.addr, big)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);

    // Keep one connection open to see the gauge.
    let _open = common::h1(server.addr).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let snap = snapshotter.snapshot().into_vec();
    let open = gauge(&snap, names::CONNECTIONS_ACTIVE);
    assert!(open >= 1.0, "{open}");
    assert!(counter(&snap, names::CONNECTIONS_ACCEPTED, None) >= 4);
    assert_eq!(counter(&snap, names::REJECTIONS, Some("timeout")), 1);
    assert_eq!(counter(&snap, names::REJECTIONS, Some("body_limit")), 1);

    server.stop().await.unwrap();
    let snap = snapshotter.snapshot().into_vec();
    assert_eq!(counter(&snap, names::SHUTDOWNS, None), 1);
    let closed = gauge(&snap, names::CONNECTIONS_ACTIVE);
    assert!(
        (open + closed).abs() < f64::EPSILON,
        "all connections closed: {open} + {closed}"
    );
}
