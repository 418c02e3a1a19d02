use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;
use tracing::field::Empty;

use super::{GrpcClientLayer, ResponseFuture};
use crate::body::{Attributes, Completion, Kind, ObservedBody};
use crate::{propagation, semconv};

/// Records spans and metrics of outgoing gRPC calls; see [`GrpcClientLayer`].
#[derive(Debug, Clone)]
pub struct GrpcClient<S> {
    inner: S,
    layer: GrpcClientLayer,
}

impl<S> GrpcClient<S> {
    /// Wraps `inner` with the settings of `layer`.
    pub fn new(inner: S, layer: GrpcClientLayer) -> Self {
        Self { inner, layer }
    }

    /// The layer applying this service with default settings.
    pub fn layer() -> GrpcClientLayer {
        GrpcClientLayer::new()
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcClient<S>
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
        let rpc = semconv::grpc_service_method(req.uri().path())
            .map(|(service, method)| (service.to_owned(), method.to_owned()));
        let (service, method) = rpc
            .as_ref()
            .map_or((semconv::OTHER, semconv::OTHER), |(s, m)| {
                (s.as_str(), m.as_str())
            });
        let server =
            semconv::server_address(&req).or_else(|| self.layer.server.as_deref().cloned());
        let span = tracing::info_span!(
            "rpc.client.call",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "client",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = Empty,
            http.response.status_code = Empty,
            server.address = server.as_ref().map(|(host, _)| host.as_str()),
            server.port = server.as_ref().and_then(|(_, port)| *port),
            trace_id = Empty,
            span_id = Empty,
        );
        let trace = propagation::client_context(&span);
        if self.layer.propagate {
            propagation::inject(req.headers_mut(), &trace);
        }
        let attributes = Attributes {
            server,
            rpc,
            ..Attributes::default()
        };
        let completion = Completion::start(Kind::GrpcClient, attributes, span.clone());
        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture::new(future, span, completion)
    }
}
