//! The retrying service.

use crate::{DefaultHttpClassifier, HttpReplay, RetryPolicy};

/// The service [`RetryLayer`](crate::RetryLayer) produces: tower's own
/// [`tower::retry::Retry`] driven by a [`RetryPolicy`].
///
/// Reusing tower's service keeps its exact semantics (readiness is the inner service's; the
/// inner service is cloned into each response future and polled ready again before a retry;
/// the last result is returned when retrying stops) and its `new` / `get_ref` / `get_mut` /
/// `into_inner`.
pub type Retry<S, C = DefaultHttpClassifier, R = HttpReplay> =
    tower::retry::Retry<RetryPolicy<C, R>, S>;

/// The response future of [`Retry`].
pub type ResponseFuture<S, Req, C = DefaultHttpClassifier, R = HttpReplay> =
    tower::retry::future::ResponseFuture<RetryPolicy<C, R>, S, Req>;
