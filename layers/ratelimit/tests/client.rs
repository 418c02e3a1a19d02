//! The client layer around a hyper-util client: a typed `RateLimited` error, nothing sent.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::{Router, routing::get};
use bytes::Bytes;
use core_backend_ratelimit::{GlobalKey, Limit, Quota, RateLimitLayer, RateLimited, RouteKey};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceExt};

#[tokio::test]
async fn hyper_util_client_gets_rate_limited_error() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "hi" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let layer = RateLimitLayer::builder()
        .limit(Limit::new("per-host", Quota::per_minute(2)).key(GlobalKey))
        .limit(Limit::new("per-path", Quota::per_minute(100)).key(RouteKey))
        .build_client();
    let mut svc = tower::ServiceBuilder::new().layer(layer).service(hyper);
    let request = || {
        http::Request::get(format!("http://{addr}/"))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };

    for _ in 0..2 {
        let res = svc.ready().await.unwrap().call(request()).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hi");
    }
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap_err();
    let limited = err
        .downcast_ref::<RateLimited>()
        .expect("a RateLimited error");
    assert!(
        limited.retry_after > Duration::from_secs(29)
            && limited.retry_after <= Duration::from_secs(30)
    );
    assert_eq!(&*limited.limit, "per-host");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "the refused request never left the client"
    );
    let _hyper_client: &Client<_, Empty<Bytes>> = svc.get_ref();
}
