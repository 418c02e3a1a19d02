//! [`ResponseFuture`].

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use http::Response;
use pin_project_lite::pin_project;

use super::ResponseBody;

pin_project! {
    /// Response future of [`ResponseCache`](super::ResponseCache).
    ///
    /// The work (store lookup, calling the inner service, buffering the body up to the limit,
    /// storing) is a sequence of awaits on a moka store, so it is one boxed future inside.
    pub struct ResponseFuture<B, E> {
        #[pin]
        inner: BoxFuture<'static, Result<Response<ResponseBody<B>>, E>>,
    }
}

impl<B, E> ResponseFuture<B, E> {
    pub(crate) fn new(inner: BoxFuture<'static, Result<Response<ResponseBody<B>>, E>>) -> Self {
        Self { inner }
    }
}

impl<B, E> std::fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Drive the lookup / inner call / buffering sequence.
        self.project().inner.poll(cx)
    }
}
