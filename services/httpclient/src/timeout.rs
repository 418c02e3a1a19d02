//! The attempt and total time limits.
//!
//! Unlike [`tower::timeout::Timeout`], the error names the phase, and the total limit keeps
//! running while the response body is read.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use crate::{Body, BoxError, Error, TimeoutPhase};

/// Fails a call with [`Error::Timeout`] when `duration` has passed; `None` only converts the
/// response body into a [`Body`].
#[derive(Debug, Clone)]
pub(crate) struct Timeout<S> {
    inner: S,
    duration: Option<Duration>,
    phase: TimeoutPhase,
}

impl<S> Timeout<S> {
    pub(crate) fn new(inner: S, duration: Option<Duration>, phase: TimeoutPhase) -> Self {
        Self {
            inner,
            duration,
            phase,
        }
    }
}

impl<S, B> Service<Request<Body>> for Timeout<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(request),
            sleep: self.duration.map(|d| Box::pin(tokio::time::sleep(d))),
            phase: self.phase,
        }
    }
}

pin_project! {
    /// Future of [`Timeout`].
    pub(crate) struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // Boxed so that the total deadline can move on into the response body.
        sleep: Option<Pin<Box<Sleep>>>,
        phase: TimeoutPhase,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The response head first: a ready response wins over a deadline reached at the same time.
        if let Poll::Ready(result) = this.inner.poll(cx) {
            let response = result.map_err(Into::into)?;
            return Poll::Ready(Ok(match (*this.phase, this.sleep.take()) {
                (TimeoutPhase::Total, Some(sleep)) if !body_is_done(&response) => {
                    response.map(|body| Body::new(DeadlineBody { inner: body, sleep }))
                }
                _ => response.map(Body::new),
            }));
        }
        // Then the deadline, if there is one.
        match this.sleep.as_mut() {
            Some(sleep) => {
                ready!(sleep.as_mut().poll(cx));
                this.sleep.take();
                Poll::Ready(Err(Box::new(Error::Timeout { phase: *this.phase })))
            }
            None => Poll::Pending,
        }
    }
}

fn body_is_done<B: http_body::Body>(response: &Response<B>) -> bool {
    response.body().is_end_stream()
}

pin_project! {
    /// A body that fails with the total timeout once the deadline passes.
    struct DeadlineBody<B> {
        #[pin]
        inner: B,
        sleep: Pin<Box<Sleep>>,
    }
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        // Data that is ready is delivered even when the deadline has also passed.
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        // Otherwise the deadline decides.
        ready!(this.sleep.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(Error::Timeout {
            phase: TimeoutPhase::Total,
        }))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn slow(
        delay: Duration,
    ) -> impl Service<
        Request<Body>,
        Response = Response<Body>,
        Error = BoxError,
        Future = impl Future<Output = Result<Response<Body>, BoxError>>,
    > + Clone {
        tower::service_fn(move |_req: Request<Body>| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, BoxError>(Response::new(Body::from("done")))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn names_the_phase() {
        let svc = Timeout::new(
            slow(Duration::from_secs(2)),
            Some(Duration::from_secs(1)),
            TimeoutPhase::Attempt,
        );
        let error = svc
            .oneshot(Request::new(Body::empty()))
            .await
            .expect_err("times out");
        assert!(matches!(
            Error::from_boxed(error),
            Error::Timeout {
                phase: TimeoutPhase::Attempt
            }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn no_limit_waits() {
        let svc = Timeout::new(slow(Duration::from_secs(3600)), None, TimeoutPhase::Attempt);
        let response = svc
            .oneshot(Request::new(Body::empty()))
            .await
            .expect("no limit");
        assert_eq!(response.into_body().as_bytes(), Some(&b"done"[..]));
    }

    #[tokio::test(start_paused = true)]
    async fn passes_fast_responses() {
        let svc = Timeout::new(
            slow(Duration::from_millis(10)),
            Some(Duration::from_secs(1)),
            TimeoutPhase::Total,
        );
        let response = svc
            .oneshot(Request::new(Body::empty()))
            .await
            .expect("in time");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(body, "done");
    }

    #[tokio::test(start_paused = true)]
    async fn total_deadline_covers_the_body() {
        let svc = tower::service_fn(|_req: Request<Body>| async {
            let stream = futures_util::stream::unfold(0u8, |n| async move {
                tokio::time::sleep(Duration::from_millis(400)).await;
                Some((Ok::<_, BoxError>(Frame::data(Bytes::from(vec![n]))), n + 1))
            });
            Ok::<_, BoxError>(Response::new(Body::new(http_body_util::StreamBody::new(
                stream,
            ))))
        });
        let svc = Timeout::new(svc, Some(Duration::from_secs(1)), TimeoutPhase::Total);
        let response = svc
            .oneshot(Request::new(Body::empty()))
            .await
            .expect("head in time");
        let error = response
            .into_body()
            .collect()
            .await
            .expect_err("body too slow");
        assert!(matches!(
            Error::from_boxed(error),
            Error::Timeout {
                phase: TimeoutPhase::Total
            }
        ));
    }
}
