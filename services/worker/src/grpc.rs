//! gRPC client support (feature `tonic`, on by default): a rejection as
//! `tonic::Status::unavailable`.
//!
//! tonic's generated clients turn a `poll_ready` error into `Status::unknown("Service was not
//! ready: …")`, dropping its type, and turn a call error into a `Status` only if they find one
//! inside it. [`Bulkhead`](crate::bulkhead::Bulkhead) and
//! [`AdaptiveConcurrency`](crate::adaptive::AdaptiveConcurrency) reject in `poll_ready`, so
//! around a tonic client put [`OverloadedStatusLayer`] outside them: it moves the rejection
//! into the call and makes it a `Status` with code `UNAVAILABLE`, `grpc-retry-pushback-ms`
//! metadata and the [`Overloaded`] as its source.
//!
//! ```
//! use std::time::Duration;
//! use core_backend_worker::{bulkhead::BulkheadLayer, grpc::OverloadedStatusLayer};
//! use tower::ServiceBuilder;
//!
//! let stack = ServiceBuilder::new()
//!     .layer(OverloadedStatusLayer::new())
//!     .layer(BulkheadLayer::new(8, Duration::from_millis(20)));
//! // let client = NotesServiceClient::new(stack.service(channel));
//! # drop(stack);
//! ```
//!
//! On a tonic *server*, use [`OverloadedResponseLayer`](crate::http::OverloadedResponseLayer)
//! instead: it answers gRPC requests with a trailers-only `UNAVAILABLE` response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::BoxError;
use crate::error::Overloaded;

impl From<Overloaded> for tonic::Status {
    fn from(overloaded: Overloaded) -> Self {
        let mut status = tonic::Status::unavailable("service overloaded");
        let ms = u64::try_from(overloaded.retry_after().as_millis()).unwrap_or(u64::MAX);
        status
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", ms.into());
        status.set_source(Arc::new(overloaded));
        status
    }
}

/// Replaces an [`Overloaded`] error by a `tonic::Status` with code `UNAVAILABLE`; any other
/// error is returned unchanged.
pub fn overloaded_to_status(err: BoxError) -> BoxError {
    match err.downcast::<Overloaded>() {
        Ok(overloaded) => Box::new(tonic::Status::from(*overloaded)),
        Err(other) => other,
    }
}

/// Wraps services with [`OverloadedStatus`]; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct OverloadedStatusLayer {
    _priv: (),
}

impl OverloadedStatusLayer {
    /// A new layer.
    pub const fn new() -> Self {
        Self { _priv: () }
    }
}

impl<S> Layer<S> for OverloadedStatusLayer {
    type Service = OverloadedStatus<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OverloadedStatus::new(inner)
    }
}

/// Reports the inner service's readiness errors from `call` instead of `poll_ready`, with
/// [`Overloaded`] turned into `Status::unavailable`; see the [module docs](self).
#[derive(Debug)]
pub struct OverloadedStatus<S> {
    inner: S,
    // A readiness error of the inner service, returned by the next `call`.
    rejected: Option<BoxError>,
}

impl<S> OverloadedStatus<S> {
    /// Wraps `inner`.
    pub const fn new(inner: S) -> Self {
        Self {
            inner,
            rejected: None,
        }
    }

    /// A reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// A mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for OverloadedStatus<S> {
    fn clone(&self) -> Self {
        // A pending rejection belongs to the caller that polled this service ready.
        Self::new(self.inner.clone())
    }
}

impl<S, Req> Service<Req> for OverloadedStatus<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.rejected.is_none() {
            // Wait for the inner service; a rejection is kept and returned by `call`.
            if let Err(err) = ready!(self.inner.poll_ready(cx)) {
                self.rejected = Some(overloaded_to_status(err.into()));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.rejected.take() {
            Some(error) => ResponseFuture {
                kind: Kind::Rejected { error: Some(error) },
            },
            None => ResponseFuture {
                kind: Kind::Inner {
                    future: self.inner.call(req),
                },
            },
        }
    }
}

pin_project! {
    /// Response future of [`OverloadedStatus`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Rejected { error: Option<BoxError> },
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            // The inner call; an `Overloaded` from inside it becomes a status too.
            KindProj::Inner { future } => {
                Poll::Ready(ready!(future.poll(cx)).map_err(|e| overloaded_to_status(e.into())))
            }
            // Rejected in `poll_ready`.
            KindProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "response future polled after completion".into()))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::ignored_unit_patterns)]
mod tests {
    use super::*;
    use crate::bulkhead::BulkheadLayer;
    use std::time::Duration;
    use tower::ServiceExt;

    #[test]
    fn overloaded_maps_to_unavailable() {
        let err: BoxError = Box::new(Overloaded::new(Duration::from_millis(300)));
        let mapped = overloaded_to_status(err);
        let status = mapped.downcast_ref::<tonic::Status>().unwrap();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(
            status.metadata().get("grpc-retry-pushback-ms").unwrap(),
            "300"
        );
        let source = std::error::Error::source(status).unwrap();
        assert!(source.downcast_ref::<Overloaded>().is_some());
        let other = overloaded_to_status("nope".into());
        assert_eq!(other.to_string(), "nope");
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_rejection_moves_into_call() {
        let svc = tower::ServiceBuilder::new()
            .layer(OverloadedStatusLayer::new())
            .layer(BulkheadLayer::new(1, Duration::ZERO))
            .service(tower::service_fn(|x: u8| async move {
                if x == 0 {
                    Err::<u8, BoxError>("zero".into())
                } else {
                    Ok(x)
                }
            }));
        let mut holder = svc.clone();
        holder.ready().await.unwrap();
        let mut rejected = svc.clone();
        // Ready even though the bulkhead is full: the rejection comes from `call`.
        rejected.ready().await.unwrap();
        let clone = rejected.clone();
        assert!(
            clone.rejected.is_none(),
            "clones do not inherit a rejection"
        );
        let err = rejected.call(1).await.unwrap_err();
        let status = err.downcast_ref::<tonic::Status>().unwrap();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(holder.call(2).await.unwrap(), 2);
        let err = svc.clone().oneshot(0).await.unwrap_err();
        assert_eq!(err.to_string(), "zero");
        let mut s = svc;
        let _ = s.get_ref();
        let _ = s.get_mut();
        let _ = s.into_inner();
    }
}
