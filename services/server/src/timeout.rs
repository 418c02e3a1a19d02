//! The request timeout: 408 problem+json on HTTP, `DEADLINE_EXCEEDED` on gRPC.
//!
//! # Differences from [`tower_http::timeout::Timeout`]
//!
//! tower-http answers every timeout with one HTTP status. A gRPC client needs a gRPC status
//! instead, and it sends its own deadline in the `grpc-timeout` header, which must shorten the
//! server's timeout (never lengthen it). This service does both, picking the answer by the request's
//! protocol, and counts each timeout in `core_backend.server.rejections{reason="timeout"}`.
//!
//! As with tower-http, the timeout covers the time until the response head is ready; a streaming
//! body (server-streaming RPC, large download) is not cut off.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::body::Body;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use crate::protocol::{Protocol, Rejection, grpc_timeout};

/// Applies [`RequestTimeout`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestTimeoutLayer {
    timeout: Option<Duration>,
}

impl RequestTimeoutLayer {
    /// `None` disables the server's timeout; a gRPC client's `grpc-timeout` still applies.
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout::new(inner, self.timeout)
    }
}

/// Answers requests whose response takes longer than the timeout with a protocol-specific
/// rejection.
#[derive(Debug, Clone)]
pub(crate) struct RequestTimeout<S> {
    inner: S,
    timeout: Option<Duration>,
}

impl<S> RequestTimeout<S> {
    pub(crate) fn new(inner: S, timeout: Option<Duration>) -> Self {
        Self { inner, timeout }
    }
}

impl<S, ReqBody> Service<Request<ReqBody>> for RequestTimeout<S>
where
    S: Service<Request<ReqBody>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let protocol = Protocol::of(&req);
        let client_deadline = if protocol.is_grpc() {
            grpc_timeout(req.headers())
        } else {
            None
        };
        let timeout = match (self.timeout, client_deadline) {
            (Some(ours), Some(theirs)) => Some(ours.min(theirs)),
            (ours, theirs) => ours.or(theirs),
        };
        ResponseFuture {
            inner: self.inner.call(req),
            sleep: timeout.map(tokio::time::sleep),
            protocol,
        }
    }
}

pin_project! {
    /// Response future of [`RequestTimeout`].
    pub(crate) struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
        protocol: Protocol,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The response wins a tie with the timer: work that finished is not thrown away.
        if let Poll::Ready(res) = this.inner.poll(cx) {
            return Poll::Ready(res);
        }
        // No timer: wait for the response alone.
        let Some(sleep) = this.sleep.as_pin_mut() else {
            return Poll::Pending;
        };
        // Timer fired: drop the inner future and answer in the request's protocol.
        ready!(sleep.poll(cx));
        tracing::debug!(protocol = ?this.protocol, "request timed out");
        Poll::Ready(Ok(Rejection::Timeout.respond(*this.protocol)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::StatusCode;
    use tower::{ServiceExt, service_fn};

    use super::*;

    fn slow(
        delay: Duration,
    ) -> impl Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<Body>, Infallible>>,
    > + Clone {
        service_fn(move |_req: Request<Body>| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, Infallible>(Response::new(Body::from("done")))
        })
    }

    fn grpc(timeout: Option<&str>) -> Request<Body> {
        let mut b = Request::builder().header("content-type", "application/grpc");
        if let Some(t) = timeout {
            b = b.header("grpc-timeout", t);
        }
        b.body(Body::empty()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn fast_responses_pass() {
        let svc = RequestTimeoutLayer::new(Some(Duration::from_secs(1)))
            .layer(slow(Duration::from_millis(10)));
        let res = svc.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn http_gets_408() {
        let svc = RequestTimeoutLayer::new(Some(Duration::from_secs(1)))
            .layer(slow(Duration::from_secs(5)));
        let res = svc.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }

    #[tokio::test(start_paused = true)]
    async fn grpc_gets_deadline_exceeded_and_client_deadline_shortens() {
        let svc = RequestTimeoutLayer::new(Some(Duration::from_secs(10)))
            .layer(slow(Duration::from_secs(1)));
        let started = tokio::time::Instant::now();
        let res = svc.clone().oneshot(grpc(Some("100m"))).await.unwrap();
        assert_eq!(res.headers()["grpc-status"], "4");
        assert_eq!(started.elapsed(), Duration::from_millis(100));

        // A longer client deadline does not extend the server's timeout.
        let svc = RequestTimeoutLayer::new(Some(Duration::from_millis(200)))
            .layer(slow(Duration::from_secs(1)));
        let started = tokio::time::Instant::now();
        let res = svc.oneshot(grpc(Some("5S"))).await.unwrap();
        assert_eq!(res.headers()["grpc-status"], "4");
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn disabled_timeout_still_honours_grpc_timeout() {
        let svc = RequestTimeoutLayer::new(None).layer(slow(Duration::from_secs(100)));
        let res = svc.clone().oneshot(grpc(Some("1S"))).await.unwrap();
        assert_eq!(res.headers()["grpc-status"], "4");
        let res = svc.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}
