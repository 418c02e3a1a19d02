use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;
use tracing::field::Empty;

use super::{HttpClientLayer, ResponseFuture};
use crate::body::{Attributes, Completion, Kind, ObservedBody};
use crate::{propagation, semconv};

/// Records spans and metrics of outgoing HTTP requests; see [`HttpClientLayer`].
#[derive(Debug, Clone)]
pub struct HttpClient<S> {
    inner: S,
    layer: HttpClientLayer,
}

impl<S> HttpClient<S> {
    /// Wraps `inner` with the settings of `layer`.
    pub fn new(inner: S, layer: HttpClientLayer) -> Self {
        Self { inner, layer }
    }

    /// The layer applying this service with default settings.
    pub fn layer() -> HttpClientLayer {
        HttpClientLayer::new()
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpClient<S>
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
        let server = semconv::server_address(&req);
        let span = tracing::info_span!(
            "http.client.request",
            otel.name = method,
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = method,
            http.response.status_code = Empty,
            server.address = server.as_ref().map(|(host, _)| host.as_str()),
            server.port = server.as_ref().and_then(|(_, port)| *port),
            url.full = %req.uri(),
            trace_id = Empty,
            span_id = Empty,
        );
        let trace = propagation::client_context(&span);
        if self.layer.propagate {
            propagation::inject(req.headers_mut(), &trace);
        }
        let attributes = Attributes {
            method: Some(method),
            server,
            ..Attributes::default()
        };
        let completion = Completion::start(Kind::HttpClient, attributes, span.clone());
        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture::new(future, span, completion)
    }
}
