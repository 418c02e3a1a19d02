use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;

use crate::BoxError;

pin_project! {
    /// Response future of [`Bulkhead`](super::Bulkhead): holds the slot until the inner
    /// future completes or is dropped.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // Released when the future is dropped, whether it completed or not.
        _permit: OwnedSemaphorePermit,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, permit: OwnedSemaphorePermit) -> Self {
        Self {
            inner,
            _permit: permit,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Drive the inner call; the slot stays taken until this future is dropped.
        Poll::Ready(ready!(self.project().inner.poll(cx)).map_err(Into::into))
    }
}
