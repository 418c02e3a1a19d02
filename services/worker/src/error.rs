//! Error types shared by the pool and the layers.

use std::fmt;
use std::time::Duration;

/// The error a generic [`tower::Layer`] of this crate returns when it turns a request away
/// because the protected service is at capacity.
///
/// It is returned (boxed in a [`BoxError`](crate::BoxError)) by
/// [`Bulkhead`](crate::bulkhead::Bulkhead) when no permit became free within the
/// configured maximum wait, and by
/// [`AdaptiveConcurrency`](crate::adaptive::AdaptiveConcurrency) when the current limit is
/// reached. Callers find it with `downcast_ref`:
///
/// ```
/// use core_backend_worker::{BoxError, Overloaded};
///
/// fn is_overloaded(err: &BoxError) -> bool {
///     err.downcast_ref::<Overloaded>().is_some()
/// }
/// ```
///
/// On an HTTP server, [`OverloadedResponseLayer`](crate::http::OverloadedResponseLayer) turns
/// it into `503 Service Unavailable` with `Retry-After` and an RFC 9457 problem body (or a gRPC
/// `UNAVAILABLE` status for gRPC requests).
///
/// [`tower::Layer`]: tower_layer::Layer
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overloaded {
    retry_after: Duration,
}

impl Overloaded {
    pub(crate) const fn new(retry_after: Duration) -> Self {
        Self { retry_after }
    }

    /// How long the caller should wait before trying again: a hint, sent as `Retry-After`
    /// (HTTP) or `grpc-retry-pushback-ms` (gRPC).
    pub const fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

impl fmt::Display for Overloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("service overloaded")
    }
}

impl std::error::Error for Overloaded {}

/// Why a task submitted to a [`WorkerPool`](crate::WorkerPool) did not produce its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked; the payload's message (or `"non-string panic payload"`). The pool
    /// and its other tasks are unaffected.
    #[error("task panicked: {0}")]
    Panicked(String),
    /// The task ran longer than the pool's task timeout and was dropped.
    #[error("task timed out")]
    TimedOut,
    /// The task was aborted: through [`TaskHandle::abort`](crate::TaskHandle::abort), or by
    /// [`WorkerPool::shutdown`](crate::WorkerPool::shutdown) when the drain deadline passed.
    #[error("task cancelled")]
    Cancelled,
}

/// Why [`WorkerPool::submit`](crate::WorkerPool::submit) or
/// [`WorkerPool::try_submit`](crate::WorkerPool::try_submit) did not accept a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// Every worker is busy and the queue is full (only from `try_submit`; `submit` waits).
    #[error("worker pool is full")]
    Full,
    /// The pool is shutting down and accepts no new task.
    #[error("worker pool is shut down")]
    Closed,
}

/// An error of a configuration read with `from_env`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {key}: expected {expected}")]
pub struct ConfigError {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) expected: &'static str,
}

impl ConfigError {
    /// The environment variable that held the bad value.
    pub fn key(&self) -> &str {
        &self.key
    }
}
