//! Wall clocks the generators read, and a manual clock for tests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// The generators take a `Clock` so that tests (theirs and yours) can move time by hand:
/// see [`ManualClock`]. Production code uses [`SystemClock`], the default.
pub trait Clock: Send + Sync {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_millis(&self) -> u64;

    /// Blocks the calling thread for about `duration`.
    ///
    /// Called by [`Snowflake`](crate::Snowflake) while it waits for a clock that moved backwards
    /// to catch up, and while it waits for the next millisecond after a long spin.
    /// Defaults to [`std::thread::sleep`].
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now_millis(&self) -> u64 {
        (**self).now_millis()
    }

    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration);
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_millis(&self) -> u64 {
        (**self).now_millis()
    }

    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration);
    }
}

/// The operating system's wall clock ([`SystemTime::now`]).
///
/// A clock set before 1970 reads as 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now_millis(&self) -> u64 {
        system_now_millis()
    }
}

#[inline]
pub(crate) fn system_now_millis() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as u64,
        Err(_) => 0,
    }
}

/// A clock that moves only when told to: for tests.
///
/// Cloning shares the time, so a test keeps one handle and gives the other to a generator.
/// [`Clock::sleep`] on a `ManualClock` does not block: it advances the clock by the duration
/// (rounded up to a whole millisecond), as if the time had passed, so a generator that waits
/// never hangs a test.
///
/// ```
/// use core_backend_idgen::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_000);
/// clock.advance(5);
/// assert_eq!(clock.now_millis(), 1_005);
/// clock.set(900); // the clock moved backwards
/// assert_eq!(clock.now_millis(), 900);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `millis` milliseconds since the Unix epoch.
    pub fn new(millis: u64) -> Self {
        Self {
            millis: Arc::new(AtomicU64::new(millis)),
        }
    }

    /// Sets the time, forwards or backwards.
    pub fn set(&self, millis: u64) {
        self.millis.store(millis, Ordering::SeqCst);
    }

    /// Moves the time forwards by `millis`.
    pub fn advance(&self, millis: u64) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("millis", &self.millis.load(Ordering::SeqCst))
            .finish()
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.millis.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) {
        let ms = duration.as_nanos().div_ceil(1_000_000).max(1);
        self.advance(u64::try_from(ms).unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_millis() > 1_577_836_800_000);
    }

    #[test]
    fn manual_clock_sleep_advances_without_blocking() {
        let clock = ManualClock::new(10);
        clock.sleep(Duration::from_micros(10));
        assert_eq!(clock.now_millis(), 11);
        clock.sleep(Duration::from_millis(7));
        assert_eq!(clock.now_millis(), 18);
        clock.sleep(Duration::from_micros(1_500));
        assert_eq!(clock.now_millis(), 20);
        let shared = Arc::new(clock.clone());
        assert_eq!(shared.now_millis(), 20);
        assert!(format!("{clock:?}").contains("20"));
    }
}
