use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::classify::ClassifyDrop;
use super::service::Permit;
use crate::BoxError;

pin_project! {
    /// Response future of [`AdaptiveConcurrency`](super::AdaptiveConcurrency): reports the
    /// call's latency and outcome to the limit algorithm when it completes.
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: F,
        permit: Option<Permit<C>>,
        started: Instant,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn new(inner: F, permit: Permit<C>, started: Instant) -> Self {
        Self {
            inner,
            permit: Some(permit),
            started,
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl<F, T, E, C> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: ClassifyDrop<T, E>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Wait for the inner call.
        let result = ready!(this.inner.poll(cx));
        // Classify it and feed the sample; the permit is released as it drops.
        if let Some(permit) = this.permit.take() {
            let dropped = permit.classifier().is_drop(result.as_ref());
            permit.record(this.started.elapsed(), dropped);
        }
        Poll::Ready(result.map_err(Into::into))
    }
}
