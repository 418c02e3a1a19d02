use std::fmt;

/// A boxed error from a lock backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a lock operation failed.
///
/// Match on the variant, or `downcast_ref::<LockError>()` a boxed error.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock was not acquired before the timeout.
    #[error("timed out waiting for the lock")]
    Timeout,
    /// The guard no longer holds the lock: its TTL ran out and (possibly) another holder took
    /// it, or it was already released. Work protected by the lock must stop.
    #[error("the lock is no longer held")]
    NotHeld,
    /// The backend failed (network, server error, …).
    #[error("lock backend failed: {0}")]
    Backend(#[source] BoxError),
}

impl LockError {
    /// Wraps a backend failure.
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }
}

impl fmt::Debug for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("Timeout"),
            Self::NotHeld => f.write_str("NotHeld"),
            Self::Backend(e) => f.debug_tuple("Backend").field(e).finish(),
        }
    }
}
