//! Lock-free sliding windows of call outcomes.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// One call's outcome as stored in a window slot.
pub(crate) const RECORDED: u8 = 1;
pub(crate) const FAILED: u8 = 2;
pub(crate) const SLOW: u8 = 4;

/// Aggregates of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn count(size: u32) -> Self {
        Self::Count(CountWindow::new(size))
    }

    pub(crate) fn time(seconds: u32) -> Self {
        Self::Time(TimeWindow::new(seconds))
    }

    /// Records `outcome` (a `FAILED | SLOW` mask) at `now_sec`; returns whether the aggregates
    /// may have moved towards a threshold (a failure or slow call was added).
    #[inline]
    pub(crate) fn record(&self, outcome: u8, now_sec: u64) -> bool {
        match self {
            Self::Count(w) => w.record(outcome),
            Self::Time(w) => w.record(outcome, now_sec),
        }
    }

    pub(crate) fn snapshot(&self, now_sec: u64) -> Snapshot {
        match self {
            Self::Count(w) => w.snapshot(),
            Self::Time(w) => w.snapshot(now_sec),
        }
    }

    pub(crate) fn reset(&self) {
        match self {
            Self::Count(w) => w.reset(),
            Self::Time(w) => w.reset(),
        }
    }
}

/// The last `size` calls, as a ring of outcome bytes.
///
/// A call claims a slot with one `fetch_add` and swaps its outcome in: in steady state that is
/// all a call writes. Totals are not kept as running counters (a reset racing with a writer
/// would leave them off for good); they are counted from the ring when needed, which is only
/// when a failure or slow call was just recorded, while the window fills, or for
/// [`metrics`](crate::CircuitBreaker::metrics).
#[derive(Debug)]
pub(crate) struct CountWindow {
    slots: Box<[AtomicU8]>,
    next: AtomicU64,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        Self {
            slots: (0..size.max(1)).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicU64::new(0),
        }
    }

    #[inline]
    fn record(&self, outcome: u8) -> bool {
        let new = outcome | RECORDED;
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = &self.slots[(i % self.slots.len() as u64) as usize];
        let old = slot.swap(new, Ordering::AcqRel);
        // Rates rise with a new failure / slow call, or while the window is still filling
        // (the minimum number of calls may just have been reached).
        outcome != 0 || old & RECORDED == 0
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for slot in &*self.slots {
            let v = slot.load(Ordering::Acquire);
            s.calls += u64::from(v & RECORDED != 0);
            s.failures += u64::from(v & FAILED != 0);
            s.slow += u64::from(v & SLOW != 0);
        }
        s
    }

    fn reset(&self) {
        for s in &*self.slots {
            s.store(0, Ordering::Release);
        }
        self.next.store(0, Ordering::Release);
    }
}

/// The calls of the last `seconds` seconds, in one bucket per second.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    /// The last second a failure or slow call was recorded (`EMPTY` = none): while one is in
    /// the window, a success may complete the minimum number of calls and must be checked.
    last_bad: AtomicU64,
}

#[derive(Debug)]
struct Bucket {
    /// The second this bucket holds (`u64::MAX` = empty).
    second: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

const EMPTY: u64 = u64::MAX;

impl TimeWindow {
    fn new(seconds: u32) -> Self {
        Self {
            buckets: (0..seconds.max(1))
                .map(|_| Bucket {
                    second: AtomicU64::new(EMPTY),
                    calls: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    slow: AtomicU64::new(0),
                })
                .collect(),
            last_bad: AtomicU64::new(EMPTY),
        }
    }

    #[inline]
    fn record(&self, outcome: u8, now_sec: u64) -> bool {
        let b = &self.buckets[(now_sec % self.buckets.len() as u64) as usize];
        let held = b.second.load(Ordering::Acquire);
        if held != now_sec
            && b.second
                .compare_exchange(held, now_sec, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // This writer moved the bucket to a new second: clear the old counts.
            b.calls.store(0, Ordering::Release);
            b.failures.store(0, Ordering::Release);
            b.slow.store(0, Ordering::Release);
        }
        b.calls.fetch_add(1, Ordering::AcqRel);
        if outcome & FAILED != 0 {
            b.failures.fetch_add(1, Ordering::AcqRel);
        }
        if outcome & SLOW != 0 {
            b.slow.fetch_add(1, Ordering::AcqRel);
        }
        if outcome != 0 {
            self.last_bad.store(now_sec, Ordering::Release);
            return true;
        }
        let last_bad = self.last_bad.load(Ordering::Acquire);
        last_bad != EMPTY && now_sec.saturating_sub(last_bad) < self.buckets.len() as u64
    }

    fn snapshot(&self, now_sec: u64) -> Snapshot {
        let n = self.buckets.len() as u64;
        let mut s = Snapshot::default();
        for b in &*self.buckets {
            let second = b.second.load(Ordering::Acquire);
            if second != EMPTY && second <= now_sec && now_sec - second < n {
                s.calls += b.calls.load(Ordering::Acquire);
                s.failures += b.failures.load(Ordering::Acquire);
                s.slow += b.slow.load(Ordering::Acquire);
            }
        }
        s
    }

    fn reset(&self) {
        self.last_bad.store(EMPTY, Ordering::Release);
        for b in &*self.buckets {
            b.second.store(EMPTY, Ordering::Release);
            b.calls.store(0, Ordering::Release);
            b.failures.store(0, Ordering::Release);
            b.slow.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_window_slides() {
        let w = Window::count(4);
        assert!(w.record(FAILED, 0));
        assert!(w.record(0, 0), "still filling");
        w.record(SLOW, 0);
        w.record(FAILED | SLOW, 0);
        assert_eq!(
            w.snapshot(0),
            Snapshot {
                calls: 4,
                failures: 2,
                slow: 2
            }
        );
        // Four successes push everything out.
        for _ in 0..4 {
            w.record(0, 0);
        }
        assert_eq!(
            w.snapshot(0),
            Snapshot {
                calls: 4,
                failures: 0,
                slow: 0
            }
        );
        assert!(!w.record(0, 0), "success over success: nothing to check");
        w.reset();
        assert_eq!(w.snapshot(0), Snapshot::default());
    }

    #[test]
    fn time_window_expires_buckets() {
        let w = Window::time(3);
        w.record(FAILED, 10);
        w.record(0, 11);
        w.record(SLOW, 12);
        assert_eq!(
            w.snapshot(12),
            Snapshot {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        assert_eq!(
            w.snapshot(13),
            Snapshot {
                calls: 2,
                failures: 0,
                slow: 1
            }
        );
        w.record(0, 13); // reuses bucket of second 10
        assert_eq!(
            w.snapshot(13),
            Snapshot {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
        assert_eq!(w.snapshot(100), Snapshot::default());
        w.reset();
        assert_eq!(w.snapshot(13), Snapshot::default());
    }

    proptest::proptest! {
        /// The count window agrees with a plain "last n outcomes" model.
        #[test]
        fn count_window_matches_model(
            size in 1u32..16,
            outcomes in proptest::collection::vec(0u8..4, 0..64),
        ) {
            let w = Window::count(size);
            let mut model = std::collections::VecDeque::new();
            for o in outcomes {
                let mask = ((o & 1) * FAILED) | (((o >> 1) & 1) * SLOW);
                w.record(mask, 0);
                model.push_back(mask);
                if model.len() > size as usize {
                    model.pop_front();
                }
                let expected = Snapshot {
                    calls: model.len() as u64,
                    failures: model.iter().filter(|m| *m & FAILED != 0).count() as u64,
                    slow: model.iter().filter(|m| *m & SLOW != 0).count() as u64,
                };
                proptest::prop_assert_eq!(w.snapshot(0), expected);
            }
        }

        /// The time window agrees with a model keeping (second, outcome) pairs.
        #[test]
        fn time_window_matches_model(
            size in 1u32..8,
            steps in proptest::collection::vec((0u64..3, 0u8..4), 0..64),
        ) {
            let w = Window::time(size);
            let mut now = 0u64;
            let mut model: Vec<(u64, u8)> = Vec::new();
            for (dt, o) in steps {
                now += dt;
                let mask = ((o & 1) * FAILED) | (((o >> 1) & 1) * SLOW);
                w.record(mask, now);
                model.push((now, mask));
                let live: Vec<u8> = model
                    .iter()
                    .filter(|(t, _)| now - t < u64::from(size))
                    .map(|(_, m)| *m)
                    .collect();
                let expected = Snapshot {
                    calls: live.len() as u64,
                    failures: live.iter().filter(|m| *m & FAILED != 0).count() as u64,
                    slow: live.iter().filter(|m| *m & SLOW != 0).count() as u64,
                };
                proptest::prop_assert_eq!(w.snapshot(now), expected);
            }
        }
    }

    #[test]
    fn count_window_concurrent_totals_match_the_ring() {
        let w = std::sync::Arc::new(Window::count(64));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u32 {
                        w.record(if (i + t) % 4 == 0 { FAILED } else { 0 }, 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = w.snapshot(0);
        let Window::Count(c) = &*w else {
            unreachable!()
        };
        let failed_slots = c
            .slots
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) & FAILED != 0)
            .count();
        assert_eq!(s.calls, 64);
        assert_eq!(s.failures, failed_slots as u64);
    }
}
