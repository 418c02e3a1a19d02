use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tracing::Span;

use crate::TraceContext;
use crate::body::{self, Completion, ObservedBody};

pin_project! {
    /// Response future of [`HttpServer`](super::HttpServer).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        trace: TraceContext,
        completion: Option<Completion>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, span: Span, trace: TraceContext, completion: Completion) -> Self {
        Self {
            inner,
            span,
            trace,
            completion: Some(completion),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ObservedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Poll the handler inside the request's span and trace context, so its logs and
        // outgoing calls belong to this request.
        let _entered = this.span.enter();
        let mut inner = this.inner;
        let result = ready!(this.trace.scope(|| inner.as_mut().poll(cx)));
        // Hand the record over to the body, which completes it at end of stream.
        let completion = this
            .completion
            .take()
            .expect("ResponseFuture polled after completion");
        Poll::Ready(body::complete(completion, result))
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
