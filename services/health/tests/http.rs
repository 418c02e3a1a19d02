//! The probe router served on a real socket, queried with a real client.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use core_backend_health::{CheckOptions, Criticality, Details, HealthRegistry};
use serde_json::Value;

async fn serve(registry: &HealthRegistry) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app: axum::Router = registry.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String, Value) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response.json::<Value>().await.unwrap();
    (status, content_type, body)
}

#[tokio::test]
async fn probes_follow_checks_criticality_and_shutdown() {
    let registry = HealthRegistry::builder().cache_ttl(Duration::ZERO).build();
    let db_up = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&db_up);
    registry.register_with(
        "db",
        CheckOptions::new(Criticality::Critical).component_type("datastore"),
        move || {
            let up = flag.load(Ordering::SeqCst);
            async move {
                if up {
                    Ok(Details::new().observed(2, "ms"))
                } else {
                    Err("connection refused")
                }
            }
        },
    );
    registry.register("search", Criticality::NonCritical, || async {
        Err::<(), _>("index missing")
    });
    let addr = serve(&registry).await;

    let (status, content_type, body) = get(addr, "/livez").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/health+json")
    );
    assert_eq!(body["status"], "pass");

    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pass");

    // A failing non-critical check: warn, still 200.
    let (status, content_type, body) = get(addr, "/healthz").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/health+json")
    );
    assert_eq!(body["status"], "warn");
    let db = &body["checks"]["db"][0];
    assert_eq!(db["status"], "pass");
    assert_eq!(db["componentType"], "datastore");
    assert_eq!(db["observedValue"], 2);
    assert!(db["time"].as_str().unwrap().contains('T'));
    assert!(db["duration_ms"].as_f64().unwrap() >= 0.0);
    let search = &body["checks"]["search"][0];
    assert_eq!(search["status"], "warn");
    assert_eq!(search["output"], "index missing");

    // The critical check fails: not ready, fail, 503.
    db_up.store(false, Ordering::SeqCst);
    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "fail");
    assert_eq!(body["output"], "db: connection refused");
    let (status, _, body) = get(addr, "/healthz").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "fail");
    assert_eq!(body["checks"]["db"][0]["output"], "connection refused");

    // Back up, then shutdown begins: readiness fails, liveness does not.
    db_up.store(true, Ordering::SeqCst);
    assert_eq!(get(addr, "/readyz").await.0, 200);
    registry.begin_shutdown();
    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!(
        (status, body["output"].as_str()),
        (503, Some("shutting down"))
    );
    let (status, _, body) = get(addr, "/healthz").await;
    assert_eq!((status, body["status"].as_str()), (503, Some("fail")));
    assert_eq!(get(addr, "/livez").await.0, 200);

    registry.set_alive(false);
    let (status, _, body) = get(addr, "/livez").await;
    assert_eq!((status, body["status"].as_str()), (503, Some("fail")));
}

#[tokio::test]
async fn empty_registry_is_healthy_and_unknown_routes_are_not_served() {
    let registry = HealthRegistry::default();
    let addr = serve(&registry).await;
    let (status, _, body) = get(addr, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "status": "pass", "checks": {} }));
    let response = reqwest::get(format!("http://{addr}/healthz/extra"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

#[tokio::test]
async fn a_slow_check_is_reported_as_timed_out() {
    let registry = HealthRegistry::builder()
        .default_timeout(Duration::from_millis(50))
        .build();
    registry.register("slow", Criticality::Critical, || async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<(), String>(())
    });
    let addr = serve(&registry).await;
    let started = std::time::Instant::now();
    let (status, _, body) = get(addr, "/healthz").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["slow"][0]["output"], "timed out after 50ms");
}
