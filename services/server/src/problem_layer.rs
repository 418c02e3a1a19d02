//! Gives error responses that have no body an RFC 9457 body.
//!
//! axum answers an unknown route with an empty `404`, a wrong method with an empty `405` (plus
//! `Allow`), and tower-http's body limit and axum's extractors answer an oversized body with a
//! `text/plain` `413`. This service turns exactly those into `application/problem+json`, keeping
//! the status and headers (such as `Allow`). Responses that already have a body or a
//! `content-type` are the application's and pass untouched, so a handler's own JSON error is never
//! rewritten.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{body::Body, response::IntoResponse};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, header};
use http_body::Body as _;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::{metrics, problem::Problem};

/// Applies [`ProblemForEmptyErrors`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProblemForEmptyErrorsLayer {
    body_limit: usize,
}

impl ProblemForEmptyErrorsLayer {
    /// `body_limit` is only used to word the `413` detail.
    pub(crate) fn new(body_limit: usize) -> Self {
        Self { body_limit }
    }
}

impl<S> Layer<S> for ProblemForEmptyErrorsLayer {
    type Service = ProblemForEmptyErrors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProblemForEmptyErrors {
            inner,
            body_limit: self.body_limit,
        }
    }
}

/// Rewrites body-less error responses (and the body limit's plain-text `413`) as problem+json.
#[derive(Debug, Clone)]
pub(crate) struct ProblemForEmptyErrors<S> {
    inner: S,
    body_limit: usize,
}

impl<S, ReqBody> Service<Request<ReqBody>> for ProblemForEmptyErrors<S>
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
        ResponseFuture {
            method: req.method().clone(),
            uri: req.uri().clone(),
            body_limit: self.body_limit,
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    /// Response future of [`ProblemForEmptyErrors`].
    pub(crate) struct ResponseFuture<F> {
        #[pin]
        inner: F,
        method: Method,
        uri: Uri,
        body_limit: usize,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Wait for the inner response, then decide whether it needs a problem body.
        let res = ready!(this.inner.poll(cx))?;
        let status = res.status();
        if !(status.is_client_error() || status.is_server_error()) {
            return Poll::Ready(Ok(res));
        }
        let empty = res.body().size_hint().exact() == Some(0)
            && !res.headers().contains_key(header::CONTENT_TYPE);
        let plain_413 = status == StatusCode::PAYLOAD_TOO_LARGE && is_text_plain(res.headers());
        if !(empty || plain_413) {
            return Poll::Ready(Ok(res));
        }
        let detail = match status {
            StatusCode::NOT_FOUND => "no route matches the request path".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => {
                format!("method {} is not allowed for this path", this.method)
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                metrics::rejection("body_limit");
                format!(
                    "the request body exceeds the limit of {} bytes",
                    this.body_limit
                )
            }
            _ => String::new(),
        };
        let mut problem = Problem::new(status).with_instance(this.uri.path());
        if !detail.is_empty() {
            problem = problem.with_detail(detail);
        }
        let (mut parts, _) = res.into_parts();
        let (new_parts, body) = problem.into_response().into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.extend(new_parts.headers);
        Poll::Ready(Ok(Response::from_parts(parts, body)))
    }
}

fn is_text_plain(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"))
}

#[cfg(test)]
mod tests {
    use axum::{Json, Router, routing::get};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn app() -> ProblemForEmptyErrors<Router> {
        let router = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
            .route(
                "/own-json",
                get(|| async {
                    (
                        StatusCode::NOT_FOUND,
                        Json(serde_json::json!({"own": true})),
                    )
                }),
            );
        ProblemForEmptyErrorsLayer::new(10).layer(router)
    }

    async fn call(uri: &str, method: Method) -> (StatusCode, HeaderMap, serde_json::Value) {
        let req = Request::builder()
            .uri(uri)
            .method(method)
            .body(Body::empty())
            .unwrap();
        let res = app().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (parts.status, parts.headers, json)
    }

    #[tokio::test]
    async fn unknown_route_becomes_problem() {
        let (status, headers, json) = call("/nope?x=1", Method::GET).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(json["instance"], "/nope");
        assert_eq!(json["status"], 404);
    }

    #[tokio::test]
    async fn method_not_allowed_keeps_allow() {
        let (status, headers, json) = call("/ok", Method::DELETE).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(headers["allow"].to_str().unwrap().contains("GET"));
        assert_eq!(json["detail"], "method DELETE is not allowed for this path");
    }

    #[tokio::test]
    async fn empty_handler_errors_get_a_body_but_own_bodies_stay() {
        let (status, _, json) = call("/teapot", Method::GET).await;
        assert_eq!(status, StatusCode::IM_A_TEAPOT);
        assert_eq!(json["title"], "I'm a teapot");
        assert!(json.get("detail").is_none());

        let (status, headers, json) = call("/own-json", Method::GET).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(json, serde_json::json!({"own": true}));

        let (status, _, json) = call("/ok", Method::GET).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json, serde_json::Value::Null);
    }
}
