//! Backoff schedules: exponential growth between a base and a cap, with optional jitter.

use std::time::Duration;

use serde::Deserialize;

/// How the exponential delay is randomised.
///
/// The names and formulas follow Marc Brooker's
/// [Exponential Backoff And Jitter](https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/),
/// where `exp(n) = min(cap, base * multiplier^n)` for the `n`-th retry (`n` starting at 0):
///
/// | jitter | delay before retry `n` |
/// |---|---|
/// | [`None`](Jitter::None) | `exp(n)` |
/// | [`Full`](Jitter::Full) | `random(0 ..= exp(n))` |
/// | [`Equal`](Jitter::Equal) | `exp(n) / 2 + random(0 ..= exp(n) / 2)` |
/// | [`Decorrelated`](Jitter::Decorrelated) | `min(cap, random(base ..= previous * 3))` |
///
/// # Why full jitter by default?
///
/// When many clients fail at the same moment, un-jittered backoff makes them all come back at
/// the same moment too. Full jitter spreads the retries over the whole window and, in Brooker's
/// simulations, does the least total work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: the plain exponential schedule.
    None,
    /// A uniformly random delay between zero and the exponential delay.
    #[default]
    Full,
    /// Half the exponential delay plus a random part of the other half.
    Equal,
    /// AWS "decorrelated jitter": random between `base` and three times the previous delay.
    Decorrelated,
}

/// An exponential backoff schedule: `base`, growth `multiplier`, `cap` and [`Jitter`].
///
/// ```
/// use std::time::Duration;
/// use core_backend_retry::{Backoff, Jitter};
///
/// let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2))
///     .jitter(Jitter::None);
/// let delays: Vec<_> = (0..6).map(|n| backoff.delay(n, Duration::ZERO, &mut fastrand::Rng::new())).collect();
/// assert_eq!(delays[0], Duration::from_millis(100));
/// assert_eq!(delays[3], Duration::from_millis(800));
/// assert_eq!(delays[5], Duration::from_secs(2)); // capped
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
    pub(crate) multiplier: f64,
    pub(crate) jitter: Jitter,
}

impl Default for Backoff {
    /// 100 ms base, ×2, 10 s cap, full jitter.
    fn default() -> Self {
        Self::exponential(Duration::from_millis(100), Duration::from_secs(10))
    }
}

impl Backoff {
    /// An exponential schedule from `base` doubling up to `cap`, with full jitter.
    ///
    /// A `cap` below `base` is raised to `base`.
    pub fn exponential(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            multiplier: 2.0,
            jitter: Jitter::Full,
        }
    }

    /// A constant delay (no growth, no jitter).
    pub fn constant(delay: Duration) -> Self {
        Self {
            base: delay,
            cap: delay,
            multiplier: 1.0,
            jitter: Jitter::None,
        }
    }

    /// Sets the jitter. Defaults to [`Jitter::Full`] for [`Backoff::exponential`].
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the growth factor between retries; values below 1 (or NaN) are treated as 1.
    /// Defaults to 2.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier >= 1.0 { multiplier } else { 1.0 };
        self
    }

    /// The first delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The largest delay.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The un-jittered delay before retry `n` (0-based): `min(cap, base * multiplier^n)`.
    pub fn exponential_delay(&self, n: u32) -> Duration {
        let factor = self.multiplier.powi(n.min(i32::MAX as u32) as i32);
        let secs = self.base.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.cap.as_secs_f64() {
            self.cap
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The delay before retry `n` (0-based), given the `previous` delay (used by
    /// [`Jitter::Decorrelated`]; pass [`Duration::ZERO`] before the first retry) and a random
    /// source (seed it for reproducible schedules).
    pub fn delay(&self, n: u32, previous: Duration, rng: &mut fastrand::Rng) -> Duration {
        match self.jitter {
            Jitter::None => self.exponential_delay(n),
            Jitter::Full => random_between(rng, Duration::ZERO, self.exponential_delay(n)),
            Jitter::Equal => {
                let exp = self.exponential_delay(n);
                let half = exp / 2;
                half + random_between(rng, Duration::ZERO, exp.saturating_sub(half))
            }
            Jitter::Decorrelated => {
                let previous = previous.max(self.base);
                let upper = previous.saturating_mul(3).min(self.cap);
                random_between(rng, self.base, upper)
            }
        }
    }
}

/// Uniform in `low ..= high` at nanosecond resolution (saturating at `u64::MAX` ns ≈ 584 years).
fn random_between(rng: &mut fastrand::Rng, low: Duration, high: Duration) -> Duration {
    let lo = u64::try_from(low.as_nanos()).unwrap_or(u64::MAX);
    let hi = u64::try_from(high.as_nanos()).unwrap_or(u64::MAX);
    if hi <= lo {
        return Duration::from_nanos(lo);
    }
    Duration::from_nanos(rng.u64(lo..=hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn none_is_exact_and_capped() {
        let b = Backoff::exponential(ms(100), ms(1000)).jitter(Jitter::None);
        let mut rng = fastrand::Rng::with_seed(1);
        let got: Vec<_> = (0..6)
            .map(|n| b.delay(n, Duration::ZERO, &mut rng))
            .collect();
        assert_eq!(
            got,
            vec![ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(b.exponential_delay(10_000), ms(1000));
        assert_eq!(b.exponential_delay(u32::MAX), ms(1000));
    }

    #[test]
    fn multiplier_and_constant() {
        let b = Backoff::exponential(ms(100), ms(10_000))
            .multiplier(3.0)
            .jitter(Jitter::None);
        assert_eq!(b.exponential_delay(2), ms(900));
        let b = Backoff::exponential(ms(100), ms(10_000)).multiplier(f64::NAN);
        assert_eq!(b.exponential_delay(5), ms(100));
        let c = Backoff::constant(ms(50));
        assert_eq!(c.delay(7, ms(50), &mut fastrand::Rng::new()), ms(50));
        assert_eq!(Backoff::exponential(ms(10), ms(1)).cap(), ms(10));
    }

    #[test]
    fn full_jitter_bounded_and_seeded() {
        let b = Backoff::exponential(ms(100), ms(1000));
        let mut a = fastrand::Rng::with_seed(7);
        let mut c = fastrand::Rng::with_seed(7);
        for n in 0..8 {
            let d = b.delay(n, Duration::ZERO, &mut a);
            assert!(d <= b.exponential_delay(n), "retry {n}: {d:?}");
            assert_eq!(
                d,
                b.delay(n, Duration::ZERO, &mut c),
                "same seed, same schedule"
            );
        }
    }

    #[test]
    fn equal_jitter_bounded() {
        let b = Backoff::exponential(ms(100), ms(1000)).jitter(Jitter::Equal);
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..200 {
            for n in 0..6 {
                let exp = b.exponential_delay(n);
                let d = b.delay(n, Duration::ZERO, &mut rng);
                assert!(d >= exp / 2 && d <= exp, "retry {n}: {d:?} vs {exp:?}");
            }
        }
    }

    proptest::proptest! {
        /// Every schedule stays within its documented bounds, for any base, cap and retry.
        #[test]
        fn schedules_stay_in_bounds(
            base_ms in 0u64..10_000,
            cap_ms in 0u64..100_000,
            n in 0u32..200,
            seed in proptest::prelude::any::<u64>(),
            prev_ms in 0u64..200_000,
        ) {
            let b = Backoff::exponential(ms(base_ms), ms(cap_ms));
            let cap = b.cap();
            let exp = b.exponential_delay(n);
            proptest::prop_assert!(exp <= cap && exp >= b.base().min(cap));
            let mut rng = fastrand::Rng::with_seed(seed);
            let prev = ms(prev_ms);
            proptest::prop_assert_eq!(b.jitter(Jitter::None).delay(n, prev, &mut rng), exp);
            proptest::prop_assert!(b.jitter(Jitter::Full).delay(n, prev, &mut rng) <= exp);
            let e = b.jitter(Jitter::Equal).delay(n, prev, &mut rng);
            proptest::prop_assert!(e >= exp / 2 && e <= exp);
            let d = b.jitter(Jitter::Decorrelated).delay(n, prev, &mut rng);
            proptest::prop_assert!(d >= b.base() && d <= cap);
        }
    }

    #[test]
    fn decorrelated_jitter_bounded() {
        let b = Backoff::exponential(ms(100), ms(1000)).jitter(Jitter::Decorrelated);
        let mut rng = fastrand::Rng::with_seed(11);
        let mut prev = Duration::ZERO;
        for n in 0..200 {
            let d = b.delay(n, prev, &mut rng);
            assert!(d >= ms(100) && d <= ms(1000), "{d:?}");
            assert!(d <= prev.max(ms(100)) * 3, "{d:?} vs previous {prev:?}");
            prev = d;
        }
    }
}
