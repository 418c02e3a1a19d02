//! Turning [`Overloaded`] rejections into HTTP and gRPC responses on a server.
//!
//! [`Bulkhead`](crate::bulkhead::Bulkhead) and
//! [`AdaptiveConcurrency`](crate::adaptive::AdaptiveConcurrency) reject in `poll_ready` with an
//! error, which is right around a client but not on a server, where the caller needs a
//! response. [`OverloadedResponseLayer`], placed outside them, answers:
//!
//! - HTTP: `503 Service Unavailable`, `Retry-After` (whole seconds, rounded up) and an
//!   RFC 9457 `application/problem+json` body;
//! - gRPC (request `content-type: application/grpc…`): a trailers-only response with
//!   `grpc-status: 14` (`UNAVAILABLE`) and `grpc-retry-pushback-ms`.
//!
//! Its error type is [`Infallible`], so the stack fits `axum::Router::layer`. Errors other
//! than [`Overloaded`] (none, with an infallible inner service such as an axum router) become
//! `500`/`INTERNAL` and are logged.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use core_backend_worker::{bulkhead::BulkheadLayer, http::OverloadedResponseLayer};
//! use tower::ServiceBuilder;
//!
//! let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(
//!     ServiceBuilder::new()
//!         .layer(OverloadedResponseLayer::new())
//!         .layer(BulkheadLayer::new(100, Duration::from_millis(50))),
//! );
//! # drop(app);
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::BoxError;
use crate::error::Overloaded;

/// The body of responses of [`OverloadedResponse`]: the inner service's, or ours.
pub type ResponseBody<B> = Either<B, Full<Bytes>>;

/// Wraps services with [`OverloadedResponse`]; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct OverloadedResponseLayer {
    _priv: (),
}

impl OverloadedResponseLayer {
    /// A new layer.
    pub const fn new() -> Self {
        Self { _priv: () }
    }
}

impl<S> Layer<S> for OverloadedResponseLayer {
    type Service = OverloadedResponse<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OverloadedResponse::new(inner)
    }
}

/// Answers rejections of the inner service with `503` problem+json or gRPC `UNAVAILABLE`;
/// see the [module docs](self).
#[derive(Debug)]
pub struct OverloadedResponse<S> {
    inner: S,
    // A readiness error of the inner service, answered by the next `call`.
    rejected: Option<BoxError>,
}

impl<S> OverloadedResponse<S> {
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

impl<S: Clone> Clone for OverloadedResponse<S> {
    fn clone(&self) -> Self {
        // A pending rejection belongs to the caller that polled this service ready.
        Self::new(self.inner.clone())
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for OverloadedResponse<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.rejected.is_none() {
            // Wait for the inner service; a rejection is kept and answered in `call`.
            if let Err(err) = ready!(self.inner.poll_ready(cx)) {
                self.rejected = Some(err.into());
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let grpc = is_grpc(&req);
        match self.rejected.take() {
            Some(err) => ResponseFuture {
                kind: Kind::Rejected {
                    response: Some(error_response(&err, grpc)),
                },
            },
            None => ResponseFuture {
                kind: Kind::Inner {
                    future: self.inner.call(req),
                    grpc,
                },
            },
        }
    }
}

pin_project! {
    /// Response future of [`OverloadedResponse`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F, grpc: bool },
        Rejected { response: Option<Response<Full<Bytes>>> },
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            // Pass the inner response through; answer its error (a rejection from inside).
            KindProj::Inner { future, grpc } => Poll::Ready(Ok(match ready!(future.poll(cx)) {
                Ok(response) => response.map(Either::Left),
                Err(err) => error_response(&err.into(), *grpc).map(Either::Right),
            })),
            // Rejected in `poll_ready`: the response is ready.
            KindProj::Rejected { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| internal_response(false))
                .map(Either::Right))),
        }
    }
}

fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

fn error_response(err: &BoxError, grpc: bool) -> Response<Full<Bytes>> {
    match err.downcast_ref::<Overloaded>() {
        Some(overloaded) if grpc => overloaded.to_grpc_response(),
        Some(overloaded) => overloaded.to_http_response(),
        None => {
            tracing::error!(error = %err, "inner service failed");
            internal_response(grpc)
        }
    }
}

fn internal_response(grpc: bool) -> Response<Full<Bytes>> {
    if grpc {
        grpc_response(13, "internal error", None)
    } else {
        problem_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "the request could not be processed",
            None,
        )
    }
}

fn problem_response(
    status: StatusCode,
    title: &str,
    detail: &str,
    retry_after_secs: Option<u64>,
) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(secs) = retry_after_secs {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn grpc_response(
    code: u16,
    message: &'static str,
    pushback_ms: Option<u64>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(code));
    headers.insert("grpc-message", HeaderValue::from_static(message));
    if let Some(ms) = pushback_ms {
        headers.insert("grpc-retry-pushback-ms", HeaderValue::from(ms));
    }
    response
}

impl Overloaded {
    /// `Retry-After` in whole seconds: rounded up, at least 1.
    fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after();
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }

    /// The HTTP answer to this rejection: `503`, `Retry-After` and an RFC 9457
    /// `application/problem+json` body.
    pub fn to_http_response(&self) -> Response<Full<Bytes>> {
        problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "the service is at capacity; retry later",
            Some(self.retry_after_secs()),
        )
    }

    /// The gRPC answer to this rejection: a trailers-only response with `grpc-status: 14`
    /// (`UNAVAILABLE`) and `grpc-retry-pushback-ms`.
    pub fn to_grpc_response(&self) -> Response<Full<Bytes>> {
        grpc_response(
            14,
            "service overloaded",
            Some(u64::try_from(self.retry_after().as_millis()).unwrap_or(u64::MAX)),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::ignored_unit_patterns)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::time::Duration;
    use tower::ServiceExt;

    async fn body_json(resp: Response<ResponseBody<Full<Bytes>>>) -> serde_json::Value {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    type Ready = std::future::Ready<Result<Response<Full<Bytes>>, BoxError>>;
    type TestResponse = Response<Full<Bytes>>;

    fn failing(
        err: BoxError,
    ) -> impl Service<Request<()>, Response = TestResponse, Error = BoxError, Future = Ready> + Clone
    {
        let err = std::sync::Arc::new(std::sync::Mutex::new(Some(err)));
        tower::service_fn(move |_req: Request<()>| {
            let e = err.lock().unwrap().take();
            std::future::ready(match e {
                Some(e) => Err(e),
                None => Ok(Response::new(Full::new(Bytes::from_static(b"ok")))),
            })
        })
    }

    #[tokio::test]
    async fn overloaded_becomes_503_problem() {
        let svc = OverloadedResponseLayer::new().layer(failing(Box::new(Overloaded::new(
            Duration::from_millis(1500),
        ))));
        let resp = svc.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[RETRY_AFTER], "2");
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/problem+json");
        let body = body_json(resp).await;
        assert_eq!(body["status"], 503);
        assert_eq!(body["title"], "Service Unavailable");
        let resp = svc.oneshot(Request::new(())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn overloaded_grpc_becomes_unavailable() {
        let svc = OverloadedResponseLayer::new().layer(failing(Box::new(Overloaded::new(
            Duration::from_millis(250),
        ))));
        let req = Request::builder()
            .header(CONTENT_TYPE, "application/grpc+proto")
            .body(())
            .unwrap();
        let resp = svc.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["grpc-status"], "14");
        assert_eq!(resp.headers()["grpc-retry-pushback-ms"], "250");
    }

    #[tokio::test]
    async fn other_errors_become_500_or_internal() {
        let svc = OverloadedResponseLayer::new().layer(failing("secret detail".into()));
        let resp = svc.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_json(resp).await;
        assert!(
            !body.to_string().contains("secret"),
            "no internal detail leaks"
        );

        let svc = OverloadedResponseLayer::new().layer(failing("x".into()));
        let req = Request::builder()
            .header(CONTENT_TYPE, "application/grpc")
            .body(())
            .unwrap();
        let resp = svc.oneshot(req).await.unwrap();
        assert_eq!(resp.headers()["grpc-status"], "13");
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_rejection_from_bulkhead_is_answered() {
        use crate::bulkhead::BulkheadLayer;
        let bulkhead = BulkheadLayer::builder().max_concurrent_calls(1).build();
        let inner = tower::service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        });
        let svc = tower::ServiceBuilder::new()
            .layer(OverloadedResponseLayer::new())
            .layer(bulkhead.clone())
            .service(inner);
        let mut holder = svc.clone();
        // Take the only slot and keep it.
        holder.ready().await.unwrap();
        let resp = svc.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[RETRY_AFTER], "1");
        let mut clone = holder.clone();
        assert!(clone.rejected.is_none());
        drop(holder);
        let resp = clone
            .ready()
            .await
            .unwrap()
            .call(Request::new(()))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let _ = clone.get_ref();
        let _ = clone.get_mut();
        let _ = clone.into_inner();
    }
}
