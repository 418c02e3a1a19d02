//! Errors a client-mode rate limiter returns, and the policy for store failures.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// A request was refused by a rate limit (client mode). Find it with
/// `err.downcast_ref::<RateLimited>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimited {
    /// How long until a retry can be admitted.
    pub retry_after: Duration,
    /// The name of the limit that refused it.
    pub limit: Arc<str>,
}

impl RateLimited {
    pub(crate) fn new(retry_after: Duration, limit: Arc<str>) -> Self {
        Self { retry_after, limit }
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limited by \"{}\": retry after {:?}",
            self.limit, self.retry_after
        )
    }
}

impl std::error::Error for RateLimited {}

/// What to do with a request when the [`RateLimitStore`](crate::RateLimitStore) fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OnStoreError {
    /// Admit the request as if the failed limit were not there (availability first).
    #[default]
    FailOpen,
    /// Refuse the request: HTTP 503, gRPC `UNAVAILABLE`, or the
    /// [`StoreError`](crate::StoreError) in client mode (protection first).
    FailClosed,
}

impl OnStoreError {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "fail-open" | "open" => Some(Self::FailOpen),
            "fail-closed" | "closed" => Some(Self::FailClosed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse() {
        let e = RateLimited::new(Duration::from_millis(1500), "per-second".into());
        assert_eq!(
            e.to_string(),
            "rate limited by \"per-second\": retry after 1.5s"
        );
        assert_eq!(
            OnStoreError::parse("Closed"),
            Some(OnStoreError::FailClosed)
        );
        assert_eq!(
            OnStoreError::parse("fail_open"),
            Some(OnStoreError::FailOpen)
        );
        assert_eq!(OnStoreError::parse("maybe"), None);
    }
}
