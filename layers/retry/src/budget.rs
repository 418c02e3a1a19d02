//! A retry budget shared by every clone of a service.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
};

use tokio::time::Instant;

const MILLI: i64 = 1000;

/// A token bucket limiting retries to a fraction of requests, plus a small steady allowance.
///
/// Every original request deposits `retry_ratio` tokens; every retry withdraws one token.
/// The bucket also refills at `min_per_sec` tokens per second, so a client with little traffic
/// can still retry, and it never holds more than `max_tokens`, so a long quiet spell can't
/// build up a retry storm. Clones share the bucket (`Arc`), so one budget can cover every clone
/// of a service, or several services.
///
/// # Why budgets and not only max attempts?
///
/// With `max_attempts = 3`, a dependency that is down receives three times its normal load
/// from every caller, exactly when it can least take it. A budget caps the *extra* load at a
/// fraction (20 % by default) of the real traffic, whatever the attempts setting.
///
/// # Differences from tower's `TpsBudget`
///
/// `TpsBudget` keeps a sliding window of deposits and takes a mutex on every deposit and
/// withdrawal. This budget is a single atomic balance: a deposit into a full bucket is one
/// relaxed load, so the no-retry hot path does not write shared memory in steady state.
/// Both implement [`tower::retry::budget::Budget`].
///
/// ```
/// use core_backend_retry::RetryBudget;
///
/// let budget = RetryBudget::new(0.5, 0, 10);
/// budget.deposit();
/// budget.deposit();
/// assert!(budget.withdraw()); // 2 × 0.5 = 1 token
/// assert!(!budget.withdraw());
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    balance: AtomicI64,
    max: i64,
    deposit: i64,
    refill_per_sec: i64,
    last_refill_nanos: AtomicU64,
    origin: Instant,
}

impl Default for RetryBudget {
    /// 20 % of requests, 10 retries per second, at most 100 tokens.
    fn default() -> Self {
        Self::new(0.2, 10, 100)
    }
}

impl RetryBudget {
    /// A budget allowing `retry_ratio` retries per request (clamped to `0.0..=1000.0`), plus
    /// `min_per_sec` retries per second, holding at most `max_tokens` (at least 1). The bucket
    /// starts with `min(min_per_sec, max_tokens)` tokens.
    pub fn new(retry_ratio: f32, min_per_sec: u32, max_tokens: u32) -> Self {
        let ratio = if retry_ratio.is_finite() {
            retry_ratio.clamp(0.0, 1000.0)
        } else {
            0.0
        };
        let max = i64::from(max_tokens.max(1)) * MILLI;
        let refill = i64::from(min_per_sec) * MILLI;
        Self {
            inner: Arc::new(Inner {
                balance: AtomicI64::new(refill.min(max)),
                max,
                deposit: (f64::from(ratio) * MILLI as f64).round() as i64,
                refill_per_sec: refill,
                last_refill_nanos: AtomicU64::new(0),
                origin: Instant::now(),
            }),
        }
    }

    /// Credits one original request.
    #[inline]
    pub fn deposit(&self) {
        self.inner.add(self.inner.deposit);
    }

    /// Takes one token for a retry; `false` when the budget is exhausted.
    pub fn withdraw(&self) -> bool {
        self.inner.refill();
        self.inner
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b >= MILLI).then_some(b - MILLI)
            })
            .is_ok()
    }

    /// Tokens currently available (fractional).
    pub fn available(&self) -> f64 {
        self.inner.refill();
        self.inner.balance.load(Ordering::Acquire) as f64 / MILLI as f64
    }
}

impl Inner {
    #[inline]
    fn add(&self, amount: i64) {
        if amount <= 0 || self.balance.load(Ordering::Relaxed) >= self.max {
            return;
        }
        let _ = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |b| {
                (b < self.max).then(|| b.saturating_add(amount).min(self.max))
            });
    }

    fn refill(&self) {
        if self.refill_per_sec == 0 {
            return;
        }
        let now = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let last = self.last_refill_nanos.load(Ordering::Acquire);
        // Whole milli-tokens only, so rounding never loses time.
        let nanos_per_milli = 1_000_000_000 / self.refill_per_sec.max(1) as u64;
        let elapsed = now.saturating_sub(last);
        let millis = elapsed / nanos_per_milli.max(1);
        if millis == 0 {
            return;
        }
        let advanced = last + millis * nanos_per_milli;
        if self
            .last_refill_nanos
            .compare_exchange(last, advanced, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.add(i64::try_from(millis).unwrap_or(i64::MAX));
        }
    }
}

impl tower::retry::budget::Budget for RetryBudget {
    fn deposit(&self) {
        RetryBudget::deposit(self);
    }

    fn withdraw(&self) -> bool {
        RetryBudget::withdraw(self)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("available", &self.available())
            .field("max", &(self.inner.max / MILLI))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn ratio_and_cap() {
        let b = RetryBudget::new(0.2, 0, 2);
        assert!(!b.withdraw());
        for _ in 0..5 {
            b.deposit();
        }
        assert!(b.withdraw());
        assert!(!b.withdraw());
        for _ in 0..1000 {
            b.deposit();
        }
        assert!((b.available() - 2.0).abs() < 1e-9, "capped at max_tokens");
        let clone = b.clone();
        assert!(clone.withdraw() && b.withdraw());
        assert!(!clone.withdraw(), "clones share one bucket");
    }

    #[tokio::test(start_paused = true)]
    async fn refills_over_time() {
        let b = RetryBudget::new(0.0, 4, 4);
        for _ in 0..4 {
            assert!(b.withdraw());
        }
        assert!(!b.withdraw());
        tokio::time::advance(Duration::from_millis(250)).await;
        assert!(b.withdraw(), "one token per 250 ms");
        assert!(!b.withdraw());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!((b.available() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn odd_inputs() {
        let b = RetryBudget::new(f32::NAN, 0, 0);
        b.deposit();
        assert!(!b.withdraw());
        let b = RetryBudget::new(-1.0, 0, 1);
        b.deposit();
        assert!(!b.withdraw());
        assert!(format!("{b:?}").contains("RetryBudget"));
    }
}
