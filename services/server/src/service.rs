//! [`InnerService`], the service user layers wrap, and the adapter that turns their errors into
//! responses.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use futures_util::future::BoxFuture;
use http::Request;
use pin_project_lite::pin_project;
use tower::{BoxError, util::BoxCloneService};
use tower_service::Service;

use crate::{
    problem::Problem,
    protocol::{Protocol, Rejection, grpc_response},
};

/// The service a layer given to [`ServerBuilder::layer`] wraps: HTTP and gRPC together, with the
/// built-in layers inside the user layers' position (concurrency limit, timeout, body limit,
/// compression, catch-panic) already applied.
///
/// Cheap to clone, always ready, never fails: every outcome is a response.
///
/// [`ServerBuilder::layer`]: crate::ServerBuilder::layer
#[derive(Clone)]
pub struct InnerService(BoxCloneService<Request<Body>, Response, Infallible>);

impl InnerService {
    pub(crate) fn new<S>(svc: S) -> Self
    where
        S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send + 'static,
    {
        Self(BoxCloneService::new(svc))
    }

    /// Wraps a user's service; its errors become responses (see [`ErrorToResponse`]).
    pub(crate) fn from_user<S>(svc: S) -> Self
    where
        S: Service<Request<Body>> + Clone + Send + 'static,
        S::Response: IntoResponse + 'static,
        S::Error: Into<BoxError> + 'static,
        S::Future: Send + 'static,
    {
        Self::new(ErrorToResponse {
            inner: svc,
            ready_error: None,
        })
    }
}

impl fmt::Debug for InnerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InnerService").finish_non_exhaustive()
    }
}

impl Service<Request<Body>> for InnerService {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        self.0.call(req)
    }
}

/// Turns a user layer's errors into responses in the request's protocol:
/// [`tower::timeout::error::Elapsed`] → 408 / `DEADLINE_EXCEEDED`,
/// [`tower::load_shed::error::Overloaded`] → 503 / `UNAVAILABLE`, a [`Problem`] on HTTP or a
/// [`tonic::Status`] on gRPC → itself, anything else → 500 / `INTERNAL` (logged).
pub(crate) struct ErrorToResponse<S> {
    inner: S,
    /// An error from `poll_ready`, answered by the next `call`.
    ready_error: Option<BoxError>,
}

impl<S: Clone> Clone for ErrorToResponse<S> {
    fn clone(&self) -> Self {
        // The error belongs to the readiness of this instance, not to its clones.
        Self {
            inner: self.inner.clone(),
            ready_error: None,
        }
    }
}

impl<S> Service<Request<Body>> for ErrorToResponse<S>
where
    S: Service<Request<Body>>,
    S::Response: IntoResponse,
    S::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ErrorToResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.ready_error.is_none()
            && let Err(e) = ready!(self.inner.poll_ready(cx))
        {
            self.ready_error = Some(e.into());
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let protocol = Protocol::of(&req);
        match self.ready_error.take() {
            Some(err) => ErrorToResponseFuture {
                state: ErrState::Failed {
                    response: Some(error_response(protocol, err)),
                },
            },
            None => ErrorToResponseFuture {
                state: ErrState::Called {
                    inner: self.inner.call(req),
                    protocol,
                },
            },
        }
    }
}

pin_project! {
    /// Response future of [`ErrorToResponse`].
    pub(crate) struct ErrorToResponseFuture<F> {
        #[pin]
        state: ErrState<F>,
    }
}

pin_project! {
    #[project = ErrStateProj]
    enum ErrState<F> {
        Called { #[pin] inner: F, protocol: Protocol },
        Failed { response: Option<Response> },
    }
}

impl<F, R, E> Future for ErrorToResponseFuture<F>
where
    F: Future<Output = Result<R, E>>,
    R: IntoResponse,
    E: Into<BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            // Wait for the user's service and map its outcome.
            ErrStateProj::Called { inner, protocol } => {
                Poll::Ready(Ok(match ready!(inner.poll(cx)) {
                    Ok(res) => res.into_response(),
                    Err(err) => error_response(*protocol, err.into()),
                }))
            }
            // `poll_ready` failed: the response was rendered in `call`.
            ErrStateProj::Failed { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| Rejection::Internal.respond(Protocol::Http)))),
        }
    }
}

fn error_response(protocol: Protocol, err: BoxError) -> Response {
    if err.is::<tower::timeout::error::Elapsed>() {
        return Rejection::Timeout.respond(protocol);
    }
    if err.is::<tower::load_shed::error::Overloaded>() {
        return Rejection::Overloaded.respond(protocol);
    }
    if protocol == Protocol::Http {
        if let Some(problem) = err.downcast_ref::<Problem>() {
            return problem.clone().into_response();
        }
    } else if let Some(status) = err.downcast_ref::<tonic::Status>() {
        return grpc_response(protocol, status.clone());
    }
    tracing::error!(error = %err, "layer failed; answering with an internal error");
    Rejection::Internal.respond(protocol)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::StatusCode;
    use tower::{ServiceExt, service_fn};

    use super::*;

    fn failing(err: fn() -> BoxError) -> InnerService {
        InnerService::from_user(service_fn(move |_req: Request<Body>| async move {
            Err::<Response, BoxError>(err())
        }))
    }

    fn grpc_req() -> Request<Body> {
        Request::builder()
            .header("content-type", "application/grpc")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn maps_errors_by_kind_and_protocol() {
        let res = failing(|| tower::timeout::error::Elapsed::new().into())
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);

        let res = failing(|| tower::load_shed::error::Overloaded::new().into())
            .oneshot(grpc_req())
            .await
            .unwrap();
        assert_eq!(res.headers()["grpc-status"], "14");

        let res = failing(|| Problem::new(StatusCode::TOO_MANY_REQUESTS).into())
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

        let res = failing(|| tonic::Status::permission_denied("no").into())
            .oneshot(grpc_req())
            .await
            .unwrap();
        assert_eq!(res.headers()["grpc-status"], "7");

        let res = failing(|| "boom".into())
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let res = failing(|| "boom".into()).oneshot(grpc_req()).await.unwrap();
        assert_eq!(res.headers()["grpc-status"], "13");
    }

    #[tokio::test(start_paused = true)]
    async fn tower_timeout_layer_becomes_408() {
        let slow = service_fn(|_req: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
        let svc =
            InnerService::from_user(tower::timeout::Timeout::new(slow, Duration::from_secs(1)));
        let res = svc.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[derive(Clone)]
    struct NeverReady;

    impl Service<Request<Body>> for NeverReady {
        type Response = Response;
        type Error = BoxError;
        type Future = std::future::Ready<Result<Response, BoxError>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Err(tower::load_shed::error::Overloaded::new().into()))
        }

        fn call(&mut self, _req: Request<Body>) -> Self::Future {
            unreachable!("poll_ready failed, so call is never made")
        }
    }

    #[tokio::test]
    async fn poll_ready_errors_are_answered() {
        let res = InnerService::from_user(NeverReady)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
