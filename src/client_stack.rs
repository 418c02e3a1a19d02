//! A ready HTTP client: [`core_backend_httpclient`] with the observability, retry and circuit
//! breaker layers in the order that makes each of them count what it should.
//!
//! ```no_run
//! # async fn run() -> Result<(), core_backend::BoxError> {
//! use core_backend::client_stack::{ClientStackConfig, http_client};
//!
//! let (client, breaker) = http_client("billing", &ClientStackConfig::default())?;
//! let invoice: serde_json::Value = client.get_json("http://127.0.0.1:9000/v1/invoices/7").await?;
//! println!("{invoice} (breaker {:?})", breaker.state());
//! # Ok(())
//! # }
//! ```
//!
//! # The order, outermost first
//!
//! 1. the client's total timeout, base URL, default headers and redirects;
//! 2. [`HttpClientLayer`](core_backend_observability::HttpClientLayer): one client span and one
//!    `http.client.request.duration` sample per logical request, `traceparent` injected;
//! 3. [`RetryLayer`](core_backend_retry::RetryLayer): jittered backoff, budget, `Retry-After`;
//!    only idempotent requests (by method, the `Idempotent` extension or an `Idempotency-Key`
//!    header) whose body is in memory are sent again;
//! 4. [`CircuitBreakerLayer`](core_backend_circuitbreaker::CircuitBreakerLayer): every attempt
//!    counts, and an open breaker fails the attempt at once with a typed
//!    [`CircuitOpen`](core_backend_circuitbreaker::CircuitOpen) (reachable with
//!    `err.downcast_ref::<CircuitOpen>()` on the client's error) that the retry layer does not retry;
//! 5. decompression, the per-attempt timeout and the pooled connection.

use core_backend_circuitbreaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerLayer};
use core_backend_httpclient::{Body, HttpClient, HttpClientConfig};
use core_backend_observability::HttpClientLayer;
use core_backend_retry::{RetryConfig, RetryLayerBuilder, is_idempotent};
use serde::Deserialize;

use crate::BoxError;

/// Settings of [`http_client`]: one section per package, each with its own defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientStackConfig {
    /// Pool, timeouts, base URL, headers, redirects.
    pub http: HttpClientConfig,
    /// Attempts, backoff, budget, `Retry-After`.
    pub retry: RetryConfig,
    /// Windows, thresholds, open wait, half-open probes.
    pub circuit_breaker: CircuitBreakerConfig,
}

/// A copy of `request` for another attempt: only for idempotent requests whose body is in
/// memory; anything else is sent once.
fn replay(request: &http::Request<Body>) -> Option<http::Request<Body>> {
    if !is_idempotent(request) {
        return None;
    }
    let mut copy = http::Request::new(request.body().try_clone()?);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

/// Builds the client stack named `name` (the breaker's name and metrics label) and returns the
/// client with its breaker handle (for state, events and manual transitions).
pub fn http_client(
    name: &str,
    config: &ClientStackConfig,
) -> Result<(HttpClient, CircuitBreaker), BoxError> {
    let mut breaker_config = config.circuit_breaker.clone();
    name.clone_into(&mut breaker_config.name);
    let breaker = CircuitBreaker::from_config(&breaker_config);
    let client = config
        .http
        .builder()
        .layer(HttpClientLayer::new())
        .layer(
            RetryLayerBuilder::from_config(&config.retry)
                .replay(replay)
                .build(),
        )
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .build()?;
    Ok((client, breaker))
}
