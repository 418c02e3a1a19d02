use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use http::{Request, Response};
use tower_service::Service;
use tracing::field::Empty;

use super::{HttpServerLayer, ResponseFuture};
use crate::body::{Attributes, Completion, Kind, ObservedBody};
use crate::{propagation, semconv};

/// Records spans and metrics of the HTTP requests it serves; see [`HttpServerLayer`].
#[derive(Debug, Clone)]
pub struct HttpServer<S> {
    inner: S,
    layer: HttpServerLayer,
}

impl<S> HttpServer<S> {
    /// Wraps `inner` with the settings of `layer`.
    pub fn new(inner: S, layer: HttpServerLayer) -> Self {
        Self { inner, layer }
    }

    /// The layer applying this service with default settings.
    pub fn layer() -> HttpServerLayer {
        HttpServerLayer::new()
    }

    /// A reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// A mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpServer<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let method = semconv::method_label(req.method());
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|path| path.as_str().to_owned());
        let scheme = if req.uri().scheme_str() == Some("https") {
            "https"
        } else {
            "http"
        };
        let span = tracing::info_span!(
            "http.server.request",
            otel.name = %SpanName(method, route.as_deref()),
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = method,
            http.route = route.as_deref(),
            http.response.status_code = Empty,
            url.path = req.uri().path(),
            url.scheme = scheme,
            trace_id = Empty,
            span_id = Empty,
        );
        let trace =
            propagation::server_context(&span, req.headers(), self.layer.trust_remote_parent);
        req.extensions_mut().insert(trace.clone());
        let attributes = Attributes {
            method: Some(method),
            route,
            scheme: Some(scheme),
            ..Attributes::default()
        };
        let completion = Completion::start(Kind::HttpServer, attributes, span.clone());
        let inner = &mut self.inner;
        let future = {
            let _entered = span.enter();
            trace.scope(|| inner.call(req))
        };
        ResponseFuture::new(future, span, trace, completion)
    }
}

/// `{method} {route}`, or the method alone without a route, as the conventions name spans.
struct SpanName<'a>(&'static str, Option<&'a str>);

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(route) => write!(f, "{} {route}", self.0),
            None => f.write_str(self.0),
        }
    }
}
