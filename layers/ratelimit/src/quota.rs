//! [`Quota`]: how many requests, over which period, with which algorithm.

use std::time::Duration;

use serde::Deserialize;

/// The algorithm a [`Quota`] is enforced with.
///
/// # Which one?
///
/// - [`Gcra`](Algorithm::Gcra) (the default) is a token bucket expressed as one timestamp per key
///   (the *theoretical arrival time*): smooth refill, a configurable burst, exact
///   `retry_after`, one atomic word of state.
/// - [`SlidingWindow`](Algorithm::SlidingWindow) weights the previous window's count by how much
///   of it still overlaps the sliding window (the Cloudflare / NGINX approximation): no
///   burst at window edges, no refill granularity.
/// - [`FixedWindow`](Algorithm::FixedWindow) counts per calendar window (aligned to the Unix
///   epoch): simplest to explain ("1000 per day, reset at 00:00 UTC"), but allows up to twice the
///   limit across a window edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Algorithm {
    /// Generic cell rate algorithm (token bucket equivalent).
    #[default]
    Gcra,
    /// Weighted two-window counter.
    SlidingWindow,
    /// Counter per fixed window aligned to the Unix epoch.
    FixedWindow,
}

impl Algorithm {
    /// A short lowercase name (`gcra`, `sliding_window`, `fixed_window`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gcra => "gcra",
            Self::SlidingWindow => "sliding_window",
            Self::FixedWindow => "fixed_window",
        }
    }
}

/// Largest limit per window the in-memory sliding window can count (28 bits per counter).
pub const MAX_SLIDING_WINDOW_LIMIT: u32 = (1 << 28) - 1;

/// A rate: `limit` requests per `period`, a `burst`, and the [`Algorithm`] that enforces it.
///
/// ```
/// use core_backend_ratelimit::{Algorithm, Quota};
/// use std::time::Duration;
///
/// // 10 requests per second on average, up to 20 at once.
/// let q = Quota::per_second(10).burst(20);
/// assert_eq!(q.emission_interval(), Duration::from_millis(100));
///
/// // 1000 per day, counted in a sliding window.
/// let daily = Quota::per_day(1000).algorithm(Algorithm::SlidingWindow);
/// assert_eq!(daily.period(), Duration::from_secs(86_400));
/// ```
///
/// Constructors never panic: a zero limit is raised to 1 and a zero period to 1 ns; use
/// [`Quota::try_new`] to reject them instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    limit: u32,
    period: Duration,
    burst: u32,
    algorithm: Algorithm,
    // Derived once here so a check does no division.
    period_ns: u64,
    interval_ns: u64,
    tolerance_ns: u64,
}

/// Why [`Quota::try_new`] refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// The limit was zero.
    #[error("rate limit quota must allow at least one request")]
    ZeroLimit,
    /// The period was zero.
    #[error("rate limit period must be longer than zero")]
    ZeroPeriod,
    /// A sliding-window limit was above [`MAX_SLIDING_WINDOW_LIMIT`].
    #[error("sliding window limit {0} is above the maximum of {MAX_SLIDING_WINDOW_LIMIT}")]
    SlidingWindowTooLarge(u32),
}

impl Quota {
    /// `limit` requests per `period`, burst equal to `limit`, [`Algorithm::Gcra`].
    pub fn new(limit: u32, period: Duration) -> Self {
        let limit = limit.max(1);
        let period = if period.is_zero() {
            Duration::from_nanos(1)
        } else {
            period
        };
        Self {
            limit,
            period,
            burst: limit,
            algorithm: Algorithm::Gcra,
            period_ns: 0,
            interval_ns: 0,
            tolerance_ns: 0,
        }
        .derive()
    }

    fn derive(mut self) -> Self {
        self.period_ns = u64::try_from(self.period.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        self.interval_ns = (self.period_ns / u64::from(self.limit)).max(1);
        self.tolerance_ns = self.interval_ns.saturating_mul(u64::from(self.burst));
        self
    }

    /// Like [`Quota::new`] but rejects a zero limit or period.
    pub fn try_new(limit: u32, period: Duration) -> Result<Self, QuotaError> {
        if limit == 0 {
            return Err(QuotaError::ZeroLimit);
        }
        if period.is_zero() {
            return Err(QuotaError::ZeroPeriod);
        }
        Ok(Self::new(limit, period))
    }

    /// `limit` requests per second.
    pub fn per_second(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(1))
    }

    /// `limit` requests per minute.
    pub fn per_minute(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    /// `limit` requests per hour.
    pub fn per_hour(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(3_600))
    }

    /// `limit` requests per day.
    pub fn per_day(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(86_400))
    }

    /// How many requests may arrive at once (the bucket size) for [`Algorithm::Gcra`].
    /// The window algorithms admit `limit` per window and ignore it. Zero is raised to 1.
    ///
    /// Defaults to the limit.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self.derive()
    }

    /// The algorithm that enforces this quota.
    ///
    /// Defaults to [`Algorithm::Gcra`].
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Checks the limits an algorithm imposes (see [`MAX_SLIDING_WINDOW_LIMIT`]).
    pub fn validate(&self) -> Result<(), QuotaError> {
        if self.algorithm == Algorithm::SlidingWindow && self.limit > MAX_SLIDING_WINDOW_LIMIT {
            return Err(QuotaError::SlidingWindowTooLarge(self.limit));
        }
        Ok(())
    }

    /// Requests per period.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The period the limit is counted over.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The burst size (GCRA bucket capacity).
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    /// The enforcing algorithm.
    pub fn algorithm_kind(&self) -> Algorithm {
        self.algorithm
    }

    /// Time between two requests at the sustained rate (`period / limit`), at least 1 ns.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.emission_interval_nanos())
    }

    pub(crate) fn period_nanos(&self) -> u64 {
        self.period_ns
    }

    pub(crate) fn emission_interval_nanos(&self) -> u64 {
        self.interval_ns
    }

    /// GCRA tolerance: how far the theoretical arrival time may run ahead of now.
    pub(crate) fn tolerance_nanos(&self) -> u64 {
        self.tolerance_ns
    }

    /// The quota advertised in the `RateLimit-Policy` field: `(q, w in seconds)`.
    ///
    /// For GCRA that is the burst over the time a full bucket takes to refill; for the window
    /// algorithms the limit over the window.
    pub fn policy(&self) -> (u32, u64) {
        match self.algorithm {
            Algorithm::Gcra => (self.burst, ceil_secs(self.tolerance_nanos())),
            Algorithm::SlidingWindow | Algorithm::FixedWindow => {
                (self.limit, ceil_secs(self.period_nanos()))
            }
        }
    }
}

pub(crate) fn ceil_secs(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_clamp_and_try_new_rejects() {
        assert_eq!(Quota::per_second(0).limit(), 1);
        assert_eq!(
            Quota::new(5, Duration::ZERO).period(),
            Duration::from_nanos(1)
        );
        assert_eq!(
            Quota::try_new(0, Duration::from_secs(1)),
            Err(QuotaError::ZeroLimit)
        );
        assert_eq!(
            Quota::try_new(1, Duration::ZERO),
            Err(QuotaError::ZeroPeriod)
        );
        assert!(Quota::try_new(1, Duration::from_secs(1)).is_ok());
        assert_eq!(Quota::per_second(3).burst(0).burst_size(), 1);
    }

    #[test]
    fn policy_values() {
        assert_eq!(Quota::per_second(10).burst(20).policy(), (20, 2));
        assert_eq!(Quota::per_second(10).policy(), (10, 1));
        assert_eq!(Quota::per_day(1000).policy(), (1000, 86_400));
        assert_eq!(
            Quota::per_minute(100)
                .algorithm(Algorithm::FixedWindow)
                .policy(),
            (100, 60)
        );
        assert_eq!(Quota::per_hour(7).period(), Duration::from_secs(3600));
    }

    #[test]
    fn sliding_limit_validated() {
        let q = Quota::per_second(u32::MAX).algorithm(Algorithm::SlidingWindow);
        assert!(matches!(
            q.validate(),
            Err(QuotaError::SlidingWindowTooLarge(_))
        ));
        assert!(Quota::per_second(u32::MAX).validate().is_ok());
        assert_eq!(Algorithm::SlidingWindow.as_str(), "sliding_window");
    }
}
