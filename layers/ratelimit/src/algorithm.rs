//! The three algorithms as pure state transitions on one packed `u64`, shared by the in-memory
//! store and the unit tests (the Redis scripts mirror them).
//!
//! Times are nanoseconds since the Unix epoch. `state` is `None` when the key has no live state
//! (never seen, or its expiry has passed).

use std::time::Duration;

use crate::quota::MAX_SLIDING_WINDOW_LIMIT;
use crate::{Algorithm, Decision, Quota};

/// Window-index bits kept in the window states: only "this window", "the previous one" or
/// "older" must be told apart, and an expired state is already reported as `None`.
const IDX_SHIFT: u32 = 56;
const IDX_MASK: u64 = 0xFF;
const COUNT56: u64 = (1 << 56) - 1;
const COUNT28: u64 = (1 << 28) - 1;

/// The result of one step: the decision and, when allowed, the new state and its expiry
/// (the instant after which the state is equivalent to no state at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) decision: Decision,
    pub(crate) next: Option<(u64, u64)>,
}

fn d(nanos: u64) -> Duration {
    Duration::from_nanos(nanos)
}

#[inline]
pub(crate) fn step(quota: &Quota, state: Option<u64>, now: u64) -> Step {
    match quota.algorithm_kind() {
        Algorithm::Gcra => gcra(quota, state, now),
        Algorithm::FixedWindow => fixed_window(quota, state, now),
        Algorithm::SlidingWindow => sliding_window(quota, state, now),
    }
}

/// GCRA: the state is the theoretical arrival time (TAT). A request is allowed when, after
/// adding one emission interval, the TAT is at most `tolerance` ahead of now.
#[inline]
fn gcra(quota: &Quota, state: Option<u64>, now: u64) -> Step {
    let interval = quota.emission_interval_nanos();
    let tolerance = quota.tolerance_nanos();
    let tat = state.map_or(now, |tat| tat.max(now));
    let new_tat = tat.saturating_add(interval);
    let ahead = new_tat - now;
    if ahead > tolerance {
        return Step {
            decision: Decision::denied(d(ahead - tolerance), d(tat - now)),
            next: None,
        };
    }
    Step {
        decision: Decision::allowed_per(tolerance - ahead, interval, d(ahead)),
        next: Some((new_tat, new_tat)),
    }
}

fn fixed_window(quota: &Quota, state: Option<u64>, now: u64) -> Step {
    let period = quota.period_nanos();
    let window = now / period;
    let idx = window & IDX_MASK;
    let count = match state {
        Some(s) if s >> IDX_SHIFT == idx => s & COUNT56,
        _ => 0,
    };
    let window_end = window.saturating_add(1).saturating_mul(period);
    let reset = window_end.saturating_sub(now);
    let limit = u64::from(quota.limit());
    if count >= limit {
        return Step {
            decision: Decision::denied(d(reset), d(reset)),
            next: None,
        };
    }
    Step {
        decision: Decision::allowed(limit - count - 1, d(reset)),
        next: Some(((idx << IDX_SHIFT) | (count + 1), window_end)),
    }
}

fn sliding_window(quota: &Quota, state: Option<u64>, now: u64) -> Step {
    let period = quota.period_nanos();
    let window = now / period;
    let elapsed = now - window * period;
    let idx = window & IDX_MASK;
    let (cur, prev) = match state {
        Some(s) => {
            let (si, c, p) = (s >> IDX_SHIFT, (s >> 28) & COUNT28, s & COUNT28);
            if si == idx {
                (c, p)
            } else if si == window.wrapping_sub(1) & IDX_MASK {
                (0, c)
            } else {
                (0, 0)
            }
        }
        None => (0, 0),
    };
    let p = u128::from(period);
    // Counters are 28 bits wide: larger limits are enforced as MAX_SLIDING_WINDOW_LIMIT.
    let limit = u128::from(quota.limit().min(MAX_SLIDING_WINDOW_LIMIT));
    let (cur_w, prev_w) = (u128::from(cur), u128::from(prev));
    // estimate × period, kept integral: prev × (period − elapsed) + cur × period
    let estimate = prev_w * (p - u128::from(elapsed)) + cur_w * p;
    let until_next = period - elapsed;
    let reset_for = |cur: u64, prev: u64| {
        if cur > 0 {
            until_next.saturating_add(period)
        } else if prev > 0 {
            until_next
        } else {
            0
        }
    };
    if estimate + p <= limit * p {
        let next_cur = cur + 1;
        let remaining = ((limit * p - estimate - p) / p) as u64;
        let expiry = window.saturating_add(2).saturating_mul(period);
        return Step {
            decision: Decision::allowed(remaining, d(reset_for(next_cur, prev))),
            next: Some(((idx << IDX_SHIFT) | (next_cur << 28) | prev, expiry)),
        };
    }
    let retry = if cur_w < limit {
        // The previous window's weight is what is in the way: wait until it has decayed enough.
        let allowed_prev = (limit - cur_w - 1) * p / prev_w.max(1);
        let at = p.saturating_sub(allowed_prev).min(p) as u64;
        at.saturating_sub(elapsed).max(1)
    } else {
        // This window is full: in the next one it becomes the previous window.
        let allowed = (limit - 1) * p / cur_w.max(1);
        until_next + p.saturating_sub(allowed) as u64
    };
    Step {
        decision: Decision::denied(d(retry), d(reset_for(cur, prev))),
        next: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    /// Runs `step` with state threading, like a store would.
    struct Sim {
        quota: Quota,
        state: Option<(u64, u64)>,
    }

    impl Sim {
        fn new(quota: Quota) -> Self {
            Self { quota, state: None }
        }
        fn at(&mut self, now: u64) -> Decision {
            let live = self.state.filter(|&(_, exp)| exp > now).map(|(s, _)| s);
            let step = step(&self.quota, live, now);
            if let Some(next) = step.next {
                self.state = Some(next);
            }
            step.decision
        }
    }

    #[test]
    fn gcra_exact_sequence() {
        let mut sim = Sim::new(Quota::per_second(10).burst(3));
        let t0 = 1_000 * S;
        let a = sim.at(t0);
        assert!(a.is_allowed());
        assert_eq!(a.remaining(), 2);
        assert_eq!(a.reset(), Duration::from_millis(100));
        assert_eq!(sim.at(t0).remaining(), 1);
        let c = sim.at(t0);
        assert!(c.is_allowed());
        assert_eq!(c.remaining(), 0);
        assert_eq!(c.reset(), Duration::from_millis(300));
        let denied = sim.at(t0);
        assert!(!denied.is_allowed());
        assert_eq!(denied.retry_after(), Duration::from_millis(100));
        assert_eq!(denied.reset(), Duration::from_millis(300));
        // 99 ms later: still 1 ms to go
        let denied = sim.at(t0 + 99 * MS);
        assert_eq!(denied.retry_after(), Duration::from_millis(1));
        // exactly at the emission interval: allowed, bucket empty again
        let ok = sim.at(t0 + 100 * MS);
        assert!(ok.is_allowed());
        assert_eq!(ok.remaining(), 0);
        // after a long idle period the bucket is full again
        let ok = sim.at(t0 + 10 * S);
        assert_eq!(ok.remaining(), 2);
    }

    #[test]
    fn gcra_sustained_rate() {
        let mut sim = Sim::new(Quota::per_second(5).burst(1));
        let t0 = 7 * S;
        let mut allowed = 0;
        for i in 0..1_000 {
            if sim.at(t0 + i * 10 * MS).is_allowed() {
                allowed += 1;
            }
        }
        // 10 s at 5/s
        assert_eq!(allowed, 50);
    }

    #[test]
    fn fixed_window_edges() {
        let mut sim = Sim::new(Quota::per_second(2).algorithm(Algorithm::FixedWindow));
        let t0 = 100 * S + 900 * MS;
        assert_eq!(sim.at(t0).remaining(), 1);
        assert_eq!(sim.at(t0).remaining(), 0);
        let denied = sim.at(t0 + 50 * MS);
        assert!(!denied.is_allowed());
        assert_eq!(denied.retry_after(), Duration::from_millis(50));
        // one nanosecond before the edge: still denied
        assert!(!sim.at(101 * S - 1).is_allowed());
        // at the edge the counter resets: the fixed-window double burst
        let ok = sim.at(101 * S);
        assert!(ok.is_allowed());
        assert_eq!(ok.remaining(), 1);
        assert_eq!(ok.reset(), Duration::from_secs(1));
        assert!(sim.at(101 * S).is_allowed());
        assert!(!sim.at(101 * S).is_allowed());
    }

    #[test]
    fn sliding_window_weights_previous_window() {
        let mut sim = Sim::new(Quota::per_second(4).algorithm(Algorithm::SlidingWindow));
        let t0 = 50 * S;
        for expected in [3, 2, 1, 0] {
            let dcs = sim.at(t0);
            assert!(dcs.is_allowed());
            assert_eq!(dcs.remaining(), expected);
        }
        let denied = sim.at(t0 + 500 * MS);
        assert!(!denied.is_allowed());
        // window full: next window starts in 500 ms, then prev=4 weighs 4×(1−e): need e ≥ 250 ms
        assert_eq!(denied.retry_after(), Duration::from_millis(750));
        // at the next window's start the previous 4 still weigh fully
        assert!(!sim.at(51 * S).is_allowed());
        let denied = sim.at(51 * S + 100 * MS);
        assert_eq!(denied.retry_after(), Duration::from_millis(150));
        assert!(!sim.at(51 * S + 250 * MS - 1).is_allowed());
        let ok = sim.at(51 * S + 250 * MS);
        assert!(ok.is_allowed());
        assert_eq!(ok.remaining(), 0);
        // estimate 4 × 0.7 + 1 = 3.8 → next allowed once 4 × (1 − e) + 1 + 1 ≤ 4, e ≥ 0.5 s
        let denied = sim.at(51 * S + 300 * MS);
        assert_eq!(denied.retry_after(), Duration::from_millis(200));
        // two windows later everything is forgotten
        let ok = sim.at(53 * S);
        assert_eq!(ok.remaining(), 3);
    }

    proptest::proptest! {
        /// GCRA never admits more than `burst + floor(L / T)` requests in any interval of
        /// length L (T the emission interval), whatever the arrival pattern.
        #[test]
        fn gcra_never_exceeds_burst_plus_rate(
            limit in 1u32..50,
            period_ms in 1u64..2_000,
            burst in 1u32..20,
            gaps in proptest::collection::vec(0u64..50_000_000, 1..300),
        ) {
            let quota = Quota::new(limit, Duration::from_millis(period_ms)).burst(burst);
            let interval = quota.emission_interval_nanos();
            let mut sim = Sim::new(quota);
            let mut now = 1_000 * S;
            let mut admitted = Vec::new();
            for gap in gaps {
                now += gap;
                let d = sim.at(now);
                if d.is_allowed() {
                    admitted.push(now);
                } else {
                    proptest::prop_assert!(d.retry_after() > Duration::ZERO);
                }
            }
            for (i, &start) in admitted.iter().enumerate() {
                for (j, &end) in admitted.iter().enumerate().skip(i) {
                    let count = (j - i + 1) as u64;
                    let bound = u64::from(burst) + (end - start) / interval;
                    proptest::prop_assert!(count <= bound, "{count} admitted in {} ns, bound {bound}", end - start);
                }
            }
        }

        /// Waiting exactly `retry_after` after a denial always gets the request admitted.
        #[test]
        fn retry_after_is_exact_for_every_algorithm(
            limit in 1u32..20,
            period_ms in 1u64..5_000,
            algo in 0u8..3,
            gaps in proptest::collection::vec(0u64..5_000_000, 1..100),
        ) {
            let algorithm = [Algorithm::Gcra, Algorithm::FixedWindow, Algorithm::SlidingWindow][usize::from(algo)];
            let quota = Quota::new(limit, Duration::from_millis(period_ms)).algorithm(algorithm);
            let mut sim = Sim::new(quota);
            let mut now = 1_000 * S;
            for gap in gaps {
                now += gap;
                let d = sim.at(now);
                if !d.is_allowed() {
                    let retry = u64::try_from(d.retry_after().as_nanos()).unwrap();
                    let mut probe = Sim { quota, state: sim.state };
                    proptest::prop_assert!(probe.at(now + retry).is_allowed(), "{algorithm:?} denied after retry_after {retry}");
                }
            }
        }
    }

    #[test]
    fn sliding_window_reset_and_stale_index() {
        let q = Quota::per_second(10).algorithm(Algorithm::SlidingWindow);
        // a state whose index is neither this window nor the previous one counts as empty
        let stale = (3u64 << IDX_SHIFT) | (9 << 28) | 9;
        let s = step(&q, Some(stale), 10 * S);
        assert_eq!(s.decision.remaining(), 9);
        assert_eq!(s.decision.reset(), Duration::from_secs(2));
    }
}
