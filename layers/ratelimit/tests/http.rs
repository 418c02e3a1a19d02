//! The layer on an axum `Router` served on 127.0.0.1:0, exercised with reqwest.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{Router, routing::get};
use core_backend_ratelimit::{
    CheckFuture, ClientIp, GlobalKey, HeaderKey, Limit, MemoryStore, OnStoreError, Quota,
    RateLimitKey, RateLimitLayer, RateLimitStore, RequestParts, StoreError, StoreKey,
};
use http::HeaderName;

async fn serve(layer: RateLimitLayer) -> String {
    let app = Router::new()
        .route("/v1/notes", get(|| async { "[]" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(|| async { "# metrics" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The status of a GET of `url`.
async fn status(http: &reqwest::Client, url: String) -> reqwest::StatusCode {
    http.get(url).send().await.unwrap().status()
}

#[tokio::test]
async fn per_client_ip_through_trusted_proxy_429_headers_problem_json_exemptions() {
    let key = ClientIp::new().trusted_proxies(["127.0.0.1/32".parse().unwrap()]);
    let base = serve(RateLimitLayer::new(
        Limit::new("per-minute", Quota::per_minute(2)).key(key),
    ))
    .await;
    let http = client();
    let get = |ip: &'static str| {
        http.get(format!("{base}/v1/notes"))
            .header("x-forwarded-for", format!("{ip}, 127.0.0.1"))
            .send()
    };

    let first = get("198.51.100.1").await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers()["ratelimit-policy"],
        r#""per-minute";q=2;w=60"#
    );
    assert_eq!(first.headers()["ratelimit"], r#""per-minute";r=1;t=30"#);
    let second = get("198.51.100.1").await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["ratelimit"], r#""per-minute";r=0;t=60"#);

    let denied = get("198.51.100.1").await.unwrap();
    assert_eq!(denied.status(), 429);
    assert_eq!(denied.headers()["retry-after"], "30");
    assert_eq!(denied.headers()["content-type"], "application/problem+json");
    assert_eq!(denied.headers()["ratelimit"], r#""per-minute";r=0;t=60"#);
    assert_eq!(
        denied.headers()["ratelimit-policy"],
        r#""per-minute";q=2;w=60"#
    );
    let body: serde_json::Value = denied.json().await.unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["title"], "Too Many Requests");
    assert_eq!(body["retry_after"], 30);
    assert_eq!(body["limit"], "per-minute");

    // another client behind the same proxy has its own bucket
    assert_eq!(get("198.51.100.2").await.unwrap().status(), 200);
    // a spoofed header from an untrusted hop is not believed: the hop that reached the proxy is the key
    let spoof = http
        .get(format!("{base}/v1/notes"))
        .header("x-forwarded-for", "198.51.100.2, 203.0.113.50")
        .send()
        .await
        .unwrap();
    assert_eq!(spoof.status(), 200);
    assert_eq!(spoof.headers()["ratelimit"], r#""per-minute";r=1;t=30"#);

    // health and metrics are never limited and carry no RateLimit fields
    for _ in 0..5 {
        for path in ["/healthz", "/metrics"] {
            let res = http
                .get(format!("{base}{path}"))
                .header("x-forwarded-for", "198.51.100.1")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            assert!(res.headers().get("ratelimit").is_none());
        }
    }
}

#[tokio::test]
async fn several_limits_report_the_most_restrictive_and_quota_per_key() {
    let plan_quota = |_: &RateLimitKey, req: &RequestParts<'_>| match req
        .headers
        .get("x-plan")?
        .to_str()
        .ok()?
    {
        "pro" => Some(Quota::per_minute(4)),
        _ => None,
    };
    let api_key = HeaderName::from_static("x-api-key");
    let layer = RateLimitLayer::builder()
        .limit(
            Limit::new("burst", Quota::per_minute(100))
                .key(HeaderKey::new(api_key.clone()))
                .quota_for(plan_quota),
        )
        .limit(Limit::new("daily", Quota::per_day(3)).key(HeaderKey::new(api_key)))
        .build();
    let base = serve(layer).await;
    let http = client();
    let get = |key: &'static str, plan: &'static str| {
        http.get(format!("{base}/v1/notes"))
            .header("x-api-key", key)
            .header("x-plan", plan)
            .send()
    };
    let res = get("k1", "free").await.unwrap();
    assert_eq!(
        res.headers()["ratelimit-policy"],
        r#""burst";q=100;w=60, "daily";q=3;w=86400"#
    );
    assert_eq!(res.headers()["ratelimit"], r#""daily";r=2;t=28800"#);
    assert_eq!(get("k1", "free").await.unwrap().status(), 200);
    assert_eq!(get("k1", "free").await.unwrap().status(), 200);
    let denied = get("k1", "free").await.unwrap();
    assert_eq!(denied.status(), 429);
    assert_eq!(denied.headers()["retry-after"], "28800");

    // the pro plan's own per-key quota is the tighter one for k2: 4 per minute → q=4
    let res = get("k2", "pro").await.unwrap();
    assert_eq!(
        res.headers()["ratelimit-policy"],
        r#""burst";q=4;w=60, "daily";q=3;w=86400"#
    );

    // without an API key neither limit applies
    let res = http.get(format!("{base}/v1/notes")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("ratelimit").is_none());
}

/// A store whose backend is down.
struct Down;

impl RateLimitStore for Down {
    fn check(&self, _key: StoreKey<'_>, _quota: &Quota, _now: Duration) -> CheckFuture {
        CheckFuture::boxed(async { Err(StoreError::new("connection refused")) })
    }
}

#[tokio::test]
async fn store_failure_policy() {
    let open = serve(
        RateLimitLayer::builder()
            .limit(Limit::new("g", Quota::per_minute(1)).key(GlobalKey))
            .store(Down)
            .build(),
    )
    .await;
    let closed = serve(
        RateLimitLayer::builder()
            .limit(Limit::new("g", Quota::per_minute(1)).key(GlobalKey))
            .store(Down)
            .on_store_error(OnStoreError::FailClosed)
            .build(),
    )
    .await;
    let http = client();
    for _ in 0..3 {
        assert_eq!(status(&http, format!("{open}/v1/notes")).await, 200);
        let res = http.get(format!("{closed}/v1/notes")).send().await.unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["retry-after"], "1");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    // exempt paths do not even ask the store
    assert_eq!(status(&http, format!("{closed}/healthz")).await, 200);
}

/// An asynchronous store (like a remote one): exercises the path where the ready inner
/// service waits inside the response future.
struct Remote(Arc<MemoryStore>);

impl RateLimitStore for Remote {
    fn check(&self, key: StoreKey<'_>, quota: &Quota, now: Duration) -> CheckFuture {
        let decision = self.0.check(key, quota, now);
        CheckFuture::boxed(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            decision.await
        })
    }
}

#[tokio::test]
async fn asynchronous_store() {
    let store = Remote(Arc::new(MemoryStore::new()));
    let layer = RateLimitLayer::builder()
        .limit(Limit::new("g", Quota::per_minute(2)).key(GlobalKey))
        .store(store)
        .exempt(|req: &RequestParts<'_>| req.headers.contains_key("x-internal"))
        .build();
    let base = serve(layer).await;
    let http = client();
    assert_eq!(status(&http, format!("{base}/v1/notes")).await, 200);
    let res = http.get(format!("{base}/v1/notes")).send().await.unwrap();
    assert_eq!(res.headers()["ratelimit"], r#""g";r=0;t=60"#);
    assert_eq!(res.text().await.unwrap(), "[]");
    assert_eq!(status(&http, format!("{base}/v1/notes")).await, 429);
    let res = http
        .get(format!("{base}/v1/notes"))
        .header("x-internal", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn per_route_template_via_matched_path() {
    use core_backend_ratelimit::RouteKey;
    let app = Router::new()
        .route("/v1/notes/{id}", get(|| async { "note" }))
        .route("/v1/tags/{id}", get(|| async { "tag" }))
        .route_layer(RateLimitLayer::new(
            Limit::new("per-route", Quota::per_minute(1)).key(RouteKey),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = client();
    let status = |path: &'static str| {
        let req = http.get(format!("http://{addr}{path}")).send();
        async move { req.await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/v1/notes/1").await, 200);
    // another id, same template: same bucket
    assert_eq!(status("/v1/notes/2").await, 429);
    assert_eq!(status("/v1/tags/1").await, 200);
}
