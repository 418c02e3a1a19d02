//! The lock metrics, recorded through the `metrics` facade; public so implementations in other
//! crates (Redis, PostgreSQL, …) report under the same names.
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `core_backend.lock.acquired` | counter | `backend` | locks acquired |
//! | `core_backend.lock.contended` | counter | `backend` | attempts that found the lock held |
//! | `core_backend.lock.timeouts` | counter | `backend` | acquires that gave up at their timeout |
//! | `core_backend.lock.lost` | counter | `backend` | held locks lost (a failed extension) |
//! | `core_backend.lock.acquire_wait_seconds` | histogram | `backend` | time from the acquire call to holding the lock |

use std::time::Duration;

/// Name of the acquired counter.
pub const ACQUIRED: &str = "core_backend.lock.acquired";
/// Name of the contended counter.
pub const CONTENDED: &str = "core_backend.lock.contended";
/// Name of the timeouts counter.
pub const TIMEOUTS: &str = "core_backend.lock.timeouts";
/// Name of the lost counter.
pub const LOST: &str = "core_backend.lock.lost";
/// Name of the acquire-wait histogram (seconds).
pub const ACQUIRE_WAIT: &str = "core_backend.lock.acquire_wait_seconds";

/// Records an acquisition after `waited`.
pub fn acquired(backend: &'static str, waited: Duration) {
    metrics::counter!(ACQUIRED, "backend" => backend).increment(1);
    metrics::histogram!(ACQUIRE_WAIT, "backend" => backend).record(waited.as_secs_f64());
}

/// Records an attempt that found the lock held.
pub fn contended(backend: &'static str) {
    metrics::counter!(CONTENDED, "backend" => backend).increment(1);
}

/// Records an acquire that timed out.
pub fn timeout(backend: &'static str) {
    metrics::counter!(TIMEOUTS, "backend" => backend).increment(1);
}

/// Records a lost lock.
pub fn lost(backend: &'static str) {
    metrics::counter!(LOST, "backend" => backend).increment(1);
}
