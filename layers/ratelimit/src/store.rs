//! The [`RateLimitStore`] trait, its [`Decision`], and the [`RateLimitKey`] it is asked about.

use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Quota;

/// The outcome of one check against one quota.
#[derive(Clone, Copy)]
pub struct Decision {
    allowed: bool,
    // `remaining()` is `slack / per`: GCRA hands over its slack and emission interval so the
    // division is only paid by callers that ask (the layer does; a bare check does not).
    slack: u64,
    per: u64,
    reset: Duration,
    retry_after: Duration,
}

impl PartialEq for Decision {
    fn eq(&self, other: &Self) -> bool {
        self.allowed == other.allowed
            && self.remaining() == other.remaining()
            && self.reset == other.reset
            && self.retry_after == other.retry_after
    }
}

impl Eq for Decision {}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decision")
            .field("allowed", &self.allowed)
            .field("remaining", &self.remaining())
            .field("reset", &self.reset)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl Decision {
    /// An admitted request: `remaining` further requests would be admitted right now, and the
    /// quota is whole again after `reset`.
    pub fn allowed(remaining: u64, reset: Duration) -> Self {
        Self {
            allowed: true,
            slack: remaining,
            per: 1,
            reset,
            retry_after: Duration::ZERO,
        }
    }

    /// An admitted request whose remaining count is `slack / per` (computed on demand).
    pub(crate) fn allowed_per(slack: u64, per: u64, reset: Duration) -> Self {
        Self {
            allowed: true,
            slack,
            per: per.max(1),
            reset,
            retry_after: Duration::ZERO,
        }
    }

    /// A refused request: retry after `retry_after`; the quota is whole again after `reset`.
    pub fn denied(retry_after: Duration, reset: Duration) -> Self {
        Self {
            allowed: false,
            slack: 0,
            per: 1,
            reset,
            retry_after,
        }
    }

    /// Whether the request is admitted.
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// How many more requests would be admitted now (0 when denied).
    pub fn remaining(&self) -> u64 {
        if self.per == 1 {
            self.slack
        } else {
            self.slack / self.per
        }
    }

    /// Time until the quota is entirely available again.
    pub fn reset(&self) -> Duration {
        self.reset
    }

    /// Time to wait before a retry can succeed (zero when allowed).
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

/// Who a limit is counted for: the value a [`KeyExtractor`](crate::KeyExtractor) returns.
///
/// `Debug` never prints a [`Text`](RateLimitKey::Text) key, which may be an API key.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitKey {
    /// One bucket for everybody.
    Global,
    /// A client IP address.
    Ip(IpAddr),
    /// Any other identity: a user id, an API key, a route template, a tenant.
    Text(Arc<str>),
}

impl RateLimitKey {
    /// A text key.
    pub fn text(value: impl Into<Arc<str>>) -> Self {
        Self::Text(value.into())
    }
}

impl fmt::Debug for RateLimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global => f.write_str("Global"),
            Self::Ip(ip) => f.debug_tuple("Ip").field(ip).finish(),
            Self::Text(t) => write!(f, "Text(<{} bytes>)", t.len()),
        }
    }
}

impl From<IpAddr> for RateLimitKey {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

impl From<&str> for RateLimitKey {
    fn from(s: &str) -> Self {
        Self::Text(s.into())
    }
}

impl From<String> for RateLimitKey {
    fn from(s: String) -> Self {
        Self::Text(s.into())
    }
}

/// The limit (policy name) and key a store is asked about.
#[derive(Debug, Clone, Copy)]
pub struct StoreKey<'a> {
    /// The limit's name (`RateLimit-Policy` identifier); keeps limits on one key apart.
    pub limit: &'a str,
    /// The extracted key.
    pub key: &'a RateLimitKey,
}

impl Hash for StoreKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.limit.hash(state);
        self.key.hash(state);
    }
}

/// A store failure (connection lost, timeout, script error).
#[derive(Debug, thiserror::Error)]
#[error("rate limit store failed: {source}")]
pub struct StoreError {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// Wraps the store's own error.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }

    /// The store's own error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }
}

type Boxed = Pin<Box<dyn Future<Output = Result<Decision, StoreError>> + Send + 'static>>;

/// The future a [`RateLimitStore`] returns: ready at once for in-process stores (no
/// allocation), boxed for remote ones.
#[must_use = "futures do nothing unless polled"]
pub struct CheckFuture {
    inner: CheckInner,
}

enum CheckInner {
    Ready(Option<Result<Decision, StoreError>>),
    Boxed(Boxed),
}

impl fmt::Debug for CheckFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            CheckInner::Ready(r) => f.debug_tuple("CheckFuture::Ready").field(r).finish(),
            CheckInner::Boxed(_) => f.write_str("CheckFuture::Boxed"),
        }
    }
}

impl CheckFuture {
    /// An already known result.
    pub fn ready(result: Result<Decision, StoreError>) -> Self {
        Self {
            inner: CheckInner::Ready(Some(result)),
        }
    }

    /// A result still to be computed (a network round trip).
    pub fn boxed(fut: impl Future<Output = Result<Decision, StoreError>> + Send + 'static) -> Self {
        Self {
            inner: CheckInner::Boxed(Box::pin(fut)),
        }
    }

    /// Takes the result if it is already known.
    pub(crate) fn try_take(&mut self) -> Option<Result<Decision, StoreError>> {
        match &mut self.inner {
            CheckInner::Ready(r) => r.take(),
            CheckInner::Boxed(_) => None,
        }
    }
}

impl Future for CheckFuture {
    type Output = Result<Decision, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            CheckInner::Ready(r) => {
                Poll::Ready(r.take().unwrap_or_else(|| {
                    Err(StoreError::new("check future polled after completion"))
                }))
            }
            CheckInner::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}

/// Where rate-limit state lives: in process ([`MemoryStore`](crate::MemoryStore)) or shared
/// between instances (the Redis store in `core-backend-redis`).
///
/// `check` charges one request to `key` under `quota` and returns the [`Decision`]. `now` is
/// the caller's clock (time since the Unix epoch, see [`Clock`]); a shared store may use its
/// own clock instead so that every instance agrees (the Redis store does).
///
/// ```
/// use core_backend_ratelimit::{CheckFuture, Decision, Quota, RateLimitStore, StoreKey};
/// use std::time::Duration;
///
/// /// A store that admits everything (e.g. for a dry run).
/// struct AllowAll;
///
/// impl RateLimitStore for AllowAll {
///     fn check(&self, _key: StoreKey<'_>, quota: &Quota, _now: Duration) -> CheckFuture {
///         CheckFuture::ready(Ok(Decision::allowed(u64::from(quota.limit()), Duration::ZERO)))
///     }
/// }
/// # let _: &dyn RateLimitStore = &AllowAll;
/// ```
pub trait RateLimitStore: Send + Sync + 'static {
    /// Charges one request to `key` under `quota` at `now`.
    fn check(&self, key: StoreKey<'_>, quota: &Quota, now: Duration) -> CheckFuture;
}

impl<T: RateLimitStore + ?Sized> RateLimitStore for Arc<T> {
    fn check(&self, key: StoreKey<'_>, quota: &Quota, now: Duration) -> CheckFuture {
        (**self).check(key, quota, now)
    }
}

/// A source of "now" as time since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// The current time since the Unix epoch.
    fn now(&self) -> Duration;
}

/// Wall-clock time read once, then advanced by the monotonic [`tokio::time::Instant`]: never
/// goes backwards, stays aligned with the Unix epoch (so windows match other instances and
/// Redis), and follows tokio's paused clock in tests.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    base_unix: Duration,
    base: tokio::time::Instant,
}

impl MonotonicClock {
    /// Anchors the clock at the current wall-clock time.
    pub fn new() -> Self {
        Self {
            base_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            base: tokio::time::Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.base_unix + self.base.elapsed()
    }
}

impl<F: Fn() -> Duration + Send + Sync + 'static> Clock for F {
    fn now(&self) -> Duration {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_debug_hides_text() {
        let k = RateLimitKey::text("secret-api-key");
        assert_eq!(format!("{k:?}"), "Text(<14 bytes>)");
        assert_eq!(format!("{:?}", RateLimitKey::Global), "Global");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(RateLimitKey::from(ip), RateLimitKey::Ip(ip));
        assert_eq!(
            RateLimitKey::from(String::from("a")),
            RateLimitKey::from("a")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn monotonic_clock_follows_paused_time() {
        let c = MonotonicClock::new();
        let a = c.now();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(c.now().checked_sub(a), Some(Duration::from_secs(5)));
    }

    #[tokio::test]
    async fn check_future_ready_and_boxed() {
        let d = Decision::allowed(1, Duration::ZERO);
        assert_eq!(CheckFuture::ready(Ok(d)).await.unwrap(), d);
        let f = CheckFuture::boxed(async move { Ok(d) });
        assert!(format!("{f:?}").contains("Boxed"));
        assert_eq!(f.await.unwrap(), d);
        let e = StoreError::new("down");
        assert_eq!(e.to_string(), "rate limit store failed: down");
        assert_eq!(e.inner().to_string(), "down");
    }
}
