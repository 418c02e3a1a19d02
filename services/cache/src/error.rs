//! Errors of the cache store and of loaders.

use std::sync::Arc;

/// A boxed error, as tower uses it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from a cache store, a codec or a loader.
///
/// Cheap to clone (the sources sit behind `Arc`) so that one loader error can be handed to
/// every caller that waited on the same key. Use [`CacheError::loader_error`] to get at the
/// loader's own error and `downcast_ref` it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The backing store (for example Redis) failed.
    #[error("cache backend error: {0}")]
    Backend(Arc<BoxError>),
    /// A value could not be encoded or decoded.
    #[error("cache codec error: {0}")]
    Codec(Arc<BoxError>),
    /// The loader given to `get_or_insert_with` failed; every waiter on the key gets this.
    #[error("cache loader failed: {0}")]
    Loader(Arc<BoxError>),
}

impl CacheError {
    /// A backend error from any error value.
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(Arc::new(err.into()))
    }

    /// A codec error from any error value.
    pub fn codec(err: impl Into<BoxError>) -> Self {
        Self::Codec(Arc::new(err.into()))
    }

    pub(crate) fn loader(err: impl Into<BoxError>) -> Self {
        Self::Loader(Arc::new(err.into()))
    }

    /// The loader's error, when this is [`CacheError::Loader`]; `downcast_ref` it to your type.
    pub fn loader_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Self::Loader(e) => Some(&***e),
            _ => None,
        }
    }
}
