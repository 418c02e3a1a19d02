//! Monotonic "timestamp + random" state shared by ULID and UUID v7.

use std::cell::Cell;
use std::sync::{Mutex, PoisonError};

use crate::clock::Clock;
use crate::rng::random_u128;

/// The last `(millisecond, random part)` issued.
///
/// Within one millisecond the random part is incremented by one, so ids from one state are
/// strictly increasing; a new millisecond draws fresh random bits. When the random part would
/// overflow (the odds are about `n / 2^bits` for `n` ids in a millisecond), the state moves on
/// to the next millisecond instead of waiting or failing, so generation never blocks; the id's
/// timestamp then runs ahead of the wall clock by one millisecond. A clock that moves backwards
/// is treated like a repeated millisecond: ids keep increasing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Monotonic {
    // Three plain words (no flag, no padding) so the per-thread copy in and out stays cheap.
    last_ms: u64,
    rand_hi: u64,
    rand_lo: u64,
}

/// `last_ms` before the first id: no real millisecond clock reaches it.
const UNSTARTED: u64 = u64::MAX;

impl Monotonic {
    pub(crate) const fn new() -> Self {
        Self {
            last_ms: UNSTARTED,
            rand_hi: 0,
            rand_lo: 0,
        }
    }

    /// Next `(ms, rand)` where `rand < 2^bits` and `ms < 2^ms_bits` (wrapping, as the formats do).
    #[inline]
    pub(crate) fn next(
        &mut self,
        now_ms: u64,
        bits: u32,
        fresh: impl FnOnce() -> u128,
    ) -> (u64, u128) {
        let mask = (1u128 << bits) - 1;
        let last_rand = (u128::from(self.rand_hi) << 64) | u128::from(self.rand_lo);
        let rand = if self.last_ms == UNSTARTED || now_ms > self.last_ms {
            self.last_ms = now_ms;
            fresh() & mask
        } else if last_rand >= mask {
            self.last_ms += 1;
            fresh() & mask
        } else {
            last_rand + 1
        };
        self.rand_hi = (rand >> 64) as u64;
        self.rand_lo = rand as u64;
        (self.last_ms, rand)
    }
}

/// Next `(ms, rand)` from a per-thread state, with fresh bits from the thread's CSPRNG.
#[inline]
pub(crate) fn next_in_cell(state: &Cell<Monotonic>, now_ms: u64, bits: u32) -> (u64, u128) {
    let mut m = state.get();
    let next = m.next(now_ms, bits, random_u128);
    state.set(m);
    next
}

/// A clock and one locked [`Monotonic`]: one strictly increasing sequence across threads.
#[derive(Debug)]
pub(crate) struct LockedMonotonic<C> {
    clock: C,
    state: Mutex<Monotonic>,
}

impl<C: Clock> LockedMonotonic<C> {
    pub(crate) const fn new(clock: C) -> Self {
        Self {
            clock,
            state: Mutex::new(Monotonic::new()),
        }
    }

    /// Next `(ms, rand)` with `rand < 2^bits`, reading the clock and drawing fresh bits from the
    /// thread's CSPRNG.
    pub(crate) fn next(&self, bits: u32) -> (u64, u128) {
        let now = self.clock.now_millis();
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next(now, bits, random_u128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_within_a_millisecond_and_draws_fresh_on_the_next() {
        let mut m = Monotonic::new();
        assert_eq!(m.next(5, 80, || 100), (5, 100));
        assert_eq!(m.next(5, 80, || 7), (5, 101));
        assert_eq!(m.next(6, 80, || 7), (6, 7));
    }

    #[test]
    fn clock_backwards_keeps_increasing() {
        let mut m = Monotonic::new();
        assert_eq!(m.next(10, 80, || 3), (10, 3));
        assert_eq!(m.next(4, 80, || 0), (10, 4));
    }

    #[test]
    fn overflow_moves_to_next_millisecond() {
        let mut m = Monotonic::new();
        let max = (1u128 << 80) - 1;
        assert_eq!(m.next(10, 80, || max - 1), (10, max - 1));
        assert_eq!(m.next(10, 80, || 0), (10, max));
        assert_eq!(m.next(10, 80, || 9), (11, 9));
        // the real clock reaching 11 continues from the logical state
        assert_eq!(m.next(11, 80, || 0), (11, 10));
    }

    #[test]
    fn fresh_bits_are_masked() {
        let mut m = Monotonic::new();
        assert_eq!(m.next(1, 74, || u128::MAX), (1, (1u128 << 74) - 1));
    }
}
