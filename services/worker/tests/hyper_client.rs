//! The bulkhead and the adaptive limit around a hyper-util HTTP client: over capacity the
//! caller gets a typed `Overloaded` error; the adaptive limit shrinks on 503s from upstream.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use core_backend_worker::adaptive::{AdaptiveConcurrencyLayer, Aimd, HttpClassifier};
use core_backend_worker::bulkhead::BulkheadLayer;
use core_backend_worker::{BoxError, Overloaded};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};

async fn upstream() -> SocketAddr {
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        )
        .route(
            "/unavailable",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn get_req(addr: SocketAddr, path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn bulkhead_around_client_returns_typed_overloaded() {
    let addr = upstream().await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let svc = ServiceBuilder::new()
        .layer(
            BulkheadLayer::builder()
                .max_concurrent_calls(2)
                .max_wait(Duration::from_millis(30))
                .retry_after(Duration::from_millis(500))
                .build(),
        )
        .service(client);

    let calls: Vec<_> = (0..5)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move { svc.oneshot(get_req(addr, "/slow")).await })
        })
        .collect();
    let mut ok = 0;
    let mut overloaded = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(resp) => {
                assert_eq!(resp.status(), 200);
                ok += 1;
            }
            Err(err) => {
                let o = err
                    .downcast_ref::<Overloaded>()
                    .expect("rejection is a typed Overloaded");
                assert_eq!(o.retry_after(), Duration::from_millis(500));
                overloaded += 1;
            }
        }
    }
    assert_eq!((ok, overloaded), (2, 3));

    // Transport errors pass through untouched (nothing listens on port 9 of loopback... we
    // use a closed ephemeral port instead).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err: BoxError = svc.oneshot(get_req(closed, "/")).await.unwrap_err();
    assert!(err.downcast_ref::<Overloaded>().is_none());
    assert!(
        err.downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some()
    );
}

#[tokio::test]
async fn adaptive_around_client_backs_off_on_503_and_rejects() {
    let addr = upstream().await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let adaptive = AdaptiveConcurrencyLayer::builder()
        .algorithm(
            Aimd::builder()
                .initial_limit(8)
                .min_limit(1)
                .backoff_ratio(0.5)
                .build(),
        )
        .classifier(HttpClassifier)
        .build();
    let mut svc = ServiceBuilder::new()
        .layer(adaptive.clone())
        .service(client);

    for expected in [4, 2, 1, 1] {
        let resp = svc
            .ready()
            .await
            .unwrap()
            .call(get_req(addr, "/unavailable"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 503);
        assert_eq!(adaptive.limit(), expected);
    }

    // Limit 1: one slow call in flight, the next is rejected at once with Overloaded.
    let first = tokio::spawn(svc.clone().oneshot(get_req(addr, "/slow")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = svc
        .clone()
        .oneshot(get_req(addr, "/slow"))
        .await
        .unwrap_err();
    assert!(err.is::<Overloaded>());
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}
