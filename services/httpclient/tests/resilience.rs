//! The facade's preset shape: the workspace's retry, circuit breaker and observability layers
//! added with `.layer()` in front of a real flaky upstream on loopback.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use core_backend_circuitbreaker::{CircuitBreaker, CircuitBreakerLayer, CircuitOpen, State};
use core_backend_httpclient::{Body, Error, HttpClient};
use core_backend_retry::{Backoff, RetryLayer};

/// A copy of a request whose body is in memory (what `HttpReplay` does for its own body types).
fn replay(request: &http::Request<Body>) -> Option<http::Request<Body>> {
    let mut copy = http::Request::new(request.body().try_clone()?);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

fn upstream(hits: Arc<AtomicUsize>, failures: usize) -> Router {
    Router::new().route(
        "/flaky",
        get(move || {
            let hits = hits.clone();
            async move {
                if hits.fetch_add(1, Ordering::SeqCst) < failures {
                    (StatusCode::SERVICE_UNAVAILABLE, "busy")
                } else {
                    (StatusCode::OK, "ok")
                }
            }
        }),
    )
}

#[tokio::test]
async fn retry_breaker_and_observability_in_the_stack() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = common::serve(upstream(hits.clone(), 2)).await;
    let breaker = CircuitBreaker::builder()
        .name("upstream")
        .count_based_window(10)
        .minimum_number_of_calls(10)
        .build();
    let client = HttpClient::builder()
        .base_url(format!("http://{addr}"))
        .layer(core_backend_observability::HttpClientLayer::new())
        .layer(
            RetryLayer::builder()
                .max_attempts(3)
                .backoff(Backoff::constant(Duration::from_millis(10)))
                .replay(replay)
                .build(),
        )
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .build()
        .expect("client");
    let text = client
        .get("flaky")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert_eq!(text, "ok");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "two 503s retried, then success"
    );
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn open_breaker_is_a_typed_client_error() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = common::serve(upstream(hits.clone(), usize::MAX)).await;
    let breaker = CircuitBreaker::builder()
        .name("down")
        .count_based_window(4)
        .minimum_number_of_calls(4)
        .failure_rate_threshold(50.0)
        .build();
    let client = HttpClient::builder()
        .base_url(format!("http://{addr}"))
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .build()
        .expect("client");
    for _ in 0..4 {
        let response = client.get("flaky").send().await.expect("answered");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(breaker.state(), State::Open);
    let error = client.get("flaky").send().await.expect_err("open");
    assert!(matches!(error, Error::Other(_)), "{error:?}");
    let open = error.downcast_ref::<CircuitOpen>().expect("CircuitOpen");
    assert!(open.retry_after > Duration::ZERO);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        4,
        "the open breaker sent nothing"
    );
}
