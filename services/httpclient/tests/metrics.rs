//! The `core_backend.httpclient.requests` counter, read through a debugging recorder.

mod common;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use core_backend_httpclient::HttpClient;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test]
async fn requests_are_counted_by_outcome() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).expect("first recorder in this process");

    let router = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/broken", get(|| async { StatusCode::BAD_GATEWAY }));
    let addr = common::serve(router).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_addr = closed.local_addr().expect("addr");
    drop(closed);

    let client = HttpClient::new();
    for path in ["ok", "ok", "missing", "broken"] {
        client
            .get(format!("http://{addr}/{path}"))
            .send()
            .await
            .expect("send");
    }
    client
        .get(format!("http://{closed_addr}/"))
        .send()
        .await
        .expect_err("refused");

    let mut counts = std::collections::HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        if key.name() != "core_backend.httpclient.requests" {
            continue;
        }
        let outcome = key
            .labels()
            .find(|label| label.key() == "outcome")
            .map(|label| label.value().to_owned())
            .expect("outcome label");
        let DebugValue::Counter(n) = value else {
            panic!("not a counter")
        };
        counts.insert(outcome, n);
    }
    assert_eq!(counts.get("success"), Some(&2));
    assert_eq!(counts.get("client_error"), Some(&1));
    assert_eq!(counts.get("server_error"), Some(&1));
    assert_eq!(counts.get("connect_error"), Some(&1));
}
