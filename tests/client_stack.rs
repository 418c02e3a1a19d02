//! The facade's HTTP client preset against a real flaky upstream on loopback.

#![allow(clippy::unwrap_used)]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, http::StatusCode, routing::any};
use core_backend::{
    circuitbreaker::{CircuitOpen, State},
    client_stack::{ClientStackConfig, http_client},
};

/// An upstream that answers 503 to the first `failures` requests, then 200.
async fn upstream(failures: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/flaky",
        any(move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) < failures {
                    (StatusCode::SERVICE_UNAVAILABLE, "busy")
                } else {
                    (StatusCode::OK, "ok")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

fn config(addr: SocketAddr) -> ClientStackConfig {
    let mut config = ClientStackConfig::default();
    config.http.base_url = Some(format!("http://{addr}"));
    config.retry.base_delay = Duration::from_millis(5);
    config.retry.max_delay = Duration::from_millis(20);
    config
}

#[tokio::test]
async fn idempotent_requests_are_retried_until_success() {
    let (addr, hits) = upstream(2).await;
    let (client, breaker) = http_client("flaky", &config(addr)).unwrap();
    let response = client.get("/flaky").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 3, "two 503s retried");
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn non_idempotent_requests_are_sent_once() {
    let (addr, hits) = upstream(2).await;
    let (client, _) = http_client("flaky-post", &config(addr)).unwrap();
    let response = client.post("/flaky").body("order").send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a POST must not be replayed"
    );
}

#[tokio::test]
async fn an_open_breaker_fails_fast_with_a_typed_error() {
    let (addr, hits) = upstream(usize::MAX).await;
    let mut config = config(addr);
    config.retry.max_attempts = 1;
    config.circuit_breaker.minimum_number_of_calls = 4;
    config.circuit_breaker.sliding_window_size = 4;
    config.circuit_breaker.wait_duration_in_open = Duration::from_secs(60);
    let (client, breaker) = http_client("down", &config).unwrap();
    for _ in 0..4 {
        let response = client.get("/flaky").send().await.unwrap();
        assert_eq!(response.status(), 503);
    }
    assert_eq!(breaker.state(), State::Open);
    let err = client.get("/flaky").send().await.unwrap_err();
    let open = err
        .downcast_ref::<CircuitOpen>()
        .unwrap_or_else(|| panic!("not a CircuitOpen: {err:?}"));
    assert!(open.retry_after <= Duration::from_secs(60));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        4,
        "the open breaker sent nothing"
    );
}
