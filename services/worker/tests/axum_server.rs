//! The bulkhead and the adaptive limit on an axum `Router` served on 127.0.0.1:0, hit by
//! concurrent real HTTP clients: over capacity → 503 + `Retry-After` + problem+json.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use core_backend_worker::adaptive::{AdaptiveConcurrencyLayer, Aimd, HttpClassifier};
use core_backend_worker::bulkhead::BulkheadLayer;
use core_backend_worker::http::OverloadedResponseLayer;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::ServiceBuilder;

#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

fn slow_router(gauge: Gauge) -> Router {
    Router::new()
        .route(
            "/slow",
            get(move || {
                let gauge = gauge.clone();
                async move {
                    let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
                    gauge.max.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    gauge.now.fetch_sub(1, Ordering::SeqCst);
                    "done"
                }
            }),
        )
        .route("/fast", get(|| async { "fast" }))
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Reply {
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

async fn hammer(addr: SocketAddr, path: &str, n: usize) -> Vec<Reply> {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let calls = (0..n).map(|_| {
        let client = client.clone();
        let uri: http::Uri = format!("http://{addr}{path}").parse().unwrap();
        tokio::spawn(async move {
            let resp = client.get(uri).await.unwrap();
            let header = |name| {
                resp.headers()
                    .get(name)
                    .map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned())
            };
            let status = resp.status().as_u16();
            let retry_after = header(http::header::RETRY_AFTER);
            let content_type = header(http::header::CONTENT_TYPE);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            Reply {
                status,
                retry_after,
                content_type,
                body,
            }
        })
    });
    let mut replies = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        replies.push(call.await.unwrap());
    }
    replies
}

fn assert_problem_503(reply: &Reply, retry_after: &str) {
    assert_eq!(reply.status, 503);
    assert_eq!(reply.retry_after.as_deref(), Some(retry_after));
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/problem+json")
    );
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["status"], 503);
    assert_eq!(body["type"], "about:blank");
}

#[tokio::test]
async fn bulkhead_on_router_sheds_with_503_problem_json() {
    let gauge = Gauge::default();
    let app = slow_router(gauge.clone()).layer(
        ServiceBuilder::new()
            .layer(OverloadedResponseLayer::new())
            .layer(
                BulkheadLayer::builder()
                    .max_concurrent_calls(3)
                    .max_wait(Duration::from_millis(50))
                    .retry_after(Duration::from_secs(2))
                    .build(),
            ),
    );
    let addr = serve(app).await;

    let replies = hammer(addr, "/slow", 10).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let shed: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(ok + shed.len(), 10);
    assert_eq!(ok, 3, "exactly the bulkhead's capacity is served");
    for reply in shed {
        assert_problem_503(reply, "2");
    }
    assert_eq!(gauge.max.load(Ordering::SeqCst), 3);

    // Once the load is gone, everything passes again.
    let replies = hammer(addr, "/fast", 3).await;
    assert!(replies.iter().all(|r| r.status == 200 && r.body == "fast"));
}

#[tokio::test]
async fn waiting_callers_are_served_when_a_slot_frees_in_time() {
    let gauge = Gauge::default();
    let app = slow_router(gauge.clone()).layer(
        ServiceBuilder::new()
            .layer(OverloadedResponseLayer::new())
            .layer(BulkheadLayer::new(2, Duration::from_secs(5))),
    );
    let addr = serve(app).await;
    let replies = hammer(addr, "/slow", 6).await;
    assert!(replies.iter().all(|r| r.status == 200), "all wait and pass");
    assert_eq!(gauge.max.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn adaptive_limit_on_router_sheds_over_limit() {
    let gauge = Gauge::default();
    let adaptive = AdaptiveConcurrencyLayer::builder()
        .algorithm(
            Aimd::builder()
                .initial_limit(4)
                .min_limit(2)
                .max_limit(4)
                .build(),
        )
        .classifier(HttpClassifier)
        .build();
    let app = slow_router(gauge.clone()).layer(
        ServiceBuilder::new()
            .layer(OverloadedResponseLayer::new())
            .layer(adaptive.clone()),
    );
    let addr = serve(app).await;
    let replies = hammer(addr, "/slow", 10).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 4);
    for reply in replies.iter().filter(|r| r.status != 200) {
        assert_problem_503(reply, "1");
    }
    assert!(gauge.max.load(Ordering::SeqCst) <= 4);
    assert_eq!(adaptive.in_flight(), 0);
    assert_eq!(
        adaptive.limit(),
        4,
        "successes at full use keep the limit at its max"
    );
}
