//! `core_backend.gateway.*` metrics: requests by method and outcome, and a duration histogram.

mod common;

use axum::body::Body;
use core_backend_gateway::Gateway;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::ServiceExt;

#[test]
fn requests_are_counted_by_method_and_outcome() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let pool = common::kitchen_pool();
    let router: axum::Router = Gateway::builder(common::kitchen_descriptor_set())
        .build(common::KitchenService::new(pool))
        .expect("builds")
        .into_router();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            for (method, uri, body) in [
                ("GET", "/v1/echo", ""),
                ("GET", "/v1/echo", ""),
                ("GET", "/v1/fail/5", ""),
                ("POST", "/v1/echo", "{oops"),
            ] {
                let request = http::Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .expect("request");
                router.clone().oneshot(request).await.expect("infallible");
            }
        });
    });
    let mut counts = Vec::new();
    let mut histograms = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
                .unwrap_or_default()
        };
        match (key.name(), value) {
            ("core_backend.gateway.requests", DebugValue::Counter(n)) => {
                counts.push((label("rpc_method"), label("outcome"), n));
            }
            ("core_backend.gateway.request.duration", DebugValue::Histogram(v)) => {
                histograms += v.len();
            }
            _ => {}
        }
    }
    counts.sort();
    assert_eq!(
        counts,
        vec![
            (
                "gwtest.v1.KitchenService/Echo".to_owned(),
                "ok".to_owned(),
                2
            ),
            (
                "gwtest.v1.KitchenService/EchoBody".to_owned(),
                "malformed_json".to_owned(),
                1
            ),
            (
                "gwtest.v1.KitchenService/Fail".to_owned(),
                "not_found".to_owned(),
                1
            ),
        ]
    );
    assert_eq!(histograms, 4);
}
