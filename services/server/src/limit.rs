//! The concurrency limit: a load-shedding semaphore shared by HTTP and gRPC.
//!
//! # Why shed instead of queue
//!
//! [`tower::limit::ConcurrencyLimit`] makes callers wait in `poll_ready` until a permit frees up.
//! Behind hyper, every request waits that way, so under overload the queue grows without bound
//! and every request gets slow. This service answers at once instead (`503` problem+json on HTTP,
//! `UNAVAILABLE` on gRPC), which keeps latency of admitted requests flat and tells clients and load
//! balancers to go elsewhere. It is [`tower::load_shed::LoadShed`] around a
//! [`tower::limit::GlobalConcurrencyLimit`] in one step, with protocol-aware answers.
//!
//! The permit is held until the response **body** ends, not just until its head is ready, so a
//! streaming RPC or a large download counts for as long as it runs.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_layer::Layer;
use tower_service::Service;

use crate::protocol::{Protocol, Rejection};

/// Applies [`ConcurrencyLimit`]; all services it makes share one semaphore.
#[derive(Debug, Clone)]
pub(crate) struct ConcurrencyLimitLayer {
    semaphore: Arc<Semaphore>,
}

impl ConcurrencyLimitLayer {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit {
            inner,
            semaphore: self.semaphore.clone(),
            permit: None,
        }
    }
}

/// Admits a request when a permit is free, answers "overloaded" otherwise.
#[derive(Debug)]
pub(crate) struct ConcurrencyLimit<S> {
    inner: S,
    semaphore: Arc<Semaphore>,
    /// Taken in `poll_ready`, consumed by `call`.
    permit: Option<OwnedSemaphorePermit>,
}

impl<S: Clone> Clone for ConcurrencyLimit<S> {
    fn clone(&self) -> Self {
        // A clone has not been polled ready, so it must not share (or duplicate) our permit.
        Self {
            inner: self.inner.clone(),
            semaphore: self.semaphore.clone(),
            permit: None,
        }
    }
}

impl<S, ReqBody> Service<Request<ReqBody>> for ConcurrencyLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.inner.poll_ready(cx))?;
        if self.permit.is_none() {
            // No waiting: without a permit, `call` sheds the request.
            self.permit = self.semaphore.clone().try_acquire_owned().ok();
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if let Some(permit) = self.permit.take() {
            ResponseFuture {
                state: State::Admitted {
                    inner: self.inner.call(req),
                    permit: Some(permit),
                },
            }
        } else {
            let protocol = Protocol::of(&req);
            tracing::debug!(?protocol, "concurrency limit reached, request shed");
            ResponseFuture {
                state: State::Shed {
                    response: Some(Rejection::Overloaded.respond(protocol)),
                },
            }
        }
    }
}

pin_project! {
    /// Response future of [`ConcurrencyLimit`].
    pub(crate) struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Admitted { #[pin] inner: F, permit: Option<OwnedSemaphorePermit> },
        Shed { response: Option<Response<Body>> },
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Admitted { inner, permit } => {
                // Wait for the response head, then move the permit into the body.
                let res = ready!(inner.poll(cx))?;
                let permit = permit.take();
                Poll::Ready(Ok(res.map(|body| {
                    Body::new(PermitBody {
                        body,
                        _permit: permit,
                    })
                })))
            }
            // Shed: the rejection was rendered in `call`.
            StateProj::Shed { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| Rejection::Overloaded.respond(Protocol::Http)))),
        }
    }
}

pin_project! {
    /// A response body that releases its concurrency permit when dropped.
    struct PermitBody {
        #[pin]
        body: Body,
        _permit: Option<OwnedSemaphorePermit>,
    }
}

impl http_body::Body for PermitBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use http_body_util::BodyExt;
    use tower::{ServiceExt, service_fn};

    use super::*;

    fn ok_service() -> impl Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
    > + Clone {
        service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::from("ok")))
        })
    }

    #[tokio::test]
    async fn sheds_when_full_and_frees_on_body_drop() {
        let layer = ConcurrencyLimitLayer::new(1);
        let svc = layer.layer(ok_service());

        // First request admitted; its body still holds the permit.
        let first = svc
            .clone()
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(first.status(), StatusCode::OK);

        // Second HTTP request is shed with 503 problem+json.
        let shed = svc
            .clone()
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()["content-type"], "application/problem+json");

        // A gRPC request is shed with UNAVAILABLE.
        let grpc = Request::builder()
            .header("content-type", "application/grpc")
            .body(Body::empty())
            .unwrap();
        let shed = svc.clone().oneshot(grpc).await.unwrap();
        assert_eq!(shed.headers()["grpc-status"], "14");

        // Reading the first body to the end and dropping it frees the permit.
        let bytes = first.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"ok");
        let again = svc.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn clone_does_not_carry_the_permit() {
        let layer = ConcurrencyLimitLayer::new(1);
        let mut svc = layer.layer(ok_service());
        // Ready (takes the only permit), then clone: the clone has none and sheds.
        ServiceExt::<Request<Body>>::ready(&mut svc).await.unwrap();
        let clone = svc.clone();
        let res = clone.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        // Dropping the ready service returns its unused permit.
        drop(svc);
        let res = layer
            .layer(ok_service())
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}
