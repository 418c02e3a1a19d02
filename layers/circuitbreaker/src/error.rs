//! Errors.

use std::time::Duration;

/// The breaker refused the call.
///
/// Returned (boxed) as the error of [`CircuitBreakerService`](crate::CircuitBreakerService) in
/// its default mode; callers can `downcast_ref::<CircuitOpen>()` it. In HTTP and gRPC modes it
/// becomes a response instead (see [`CircuitOpen::to_http_response`] and
/// [`CircuitOpen::to_grpc_response`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker {name:?} is {state}; retry after {retry_after:?}")]
#[non_exhaustive]
pub struct CircuitOpen {
    /// The breaker's name.
    pub name: std::sync::Arc<str>,
    /// The state that refused the call (`OPEN`, `FORCED_OPEN`, or `HALF_OPEN` with every probe
    /// permit taken).
    pub state: crate::State,
    /// When a call may be admitted again: the rest of the open wait; the whole configured wait
    /// when forced open; one second in a busy half-open state (probes decide soon).
    pub retry_after: Duration,
}

impl CircuitOpen {
    /// `Retry-After` in whole seconds, rounded up (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }

    /// An HTTP `503 Service Unavailable` with `Retry-After` and an RFC 9457
    /// `application/problem+json` body.
    pub fn to_http_response<B: From<String>>(&self) -> http::Response<B> {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": format!("circuit breaker {} is {}", self.name, self.state),
            "retry_after": self.retry_after_secs(),
        })
        .to_string();
        let mut res = http::Response::new(B::from(body));
        *res.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        let h = res.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/problem+json"),
        );
        h.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(self.retry_after_secs()),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        res
    }

    /// A gRPC "trailers-only" response with status `UNAVAILABLE` (14) and
    /// `grpc-retry-pushback-ms`, which tonic clients read as `Status::unavailable`.
    pub fn to_grpc_response<B: Default>(&self) -> http::Response<B> {
        let mut res = http::Response::new(B::default());
        let h = res.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/grpc"),
        );
        h.insert("grpc-status", http::HeaderValue::from_static("14"));
        h.insert(
            "grpc-message",
            http::HeaderValue::from_static("circuit%20open"),
        );
        let ms = u64::try_from(self.retry_after.as_millis()).unwrap_or(u64::MAX);
        h.insert("grpc-retry-pushback-ms", http::HeaderValue::from(ms));
        res
    }
}

/// A configuration value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {key}: expected {expected}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The variable or key.
    pub key: String,
    /// The value found.
    pub value: String,
    /// What was expected.
    pub expected: &'static str,
}
