use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;
use tracing::field::Empty;

use super::{GrpcServerLayer, ResponseFuture};
use crate::body::{Attributes, Completion, Kind, ObservedBody};
use crate::{propagation, semconv};

/// Records spans and metrics of the gRPC calls it serves; see [`GrpcServerLayer`].
#[derive(Debug, Clone)]
pub struct GrpcServer<S> {
    inner: S,
    layer: GrpcServerLayer,
}

impl<S> GrpcServer<S> {
    /// Wraps `inner` with the settings of `layer`.
    pub fn new(inner: S, layer: GrpcServerLayer) -> Self {
        Self { inner, layer }
    }

    /// The layer applying this service with default settings.
    pub fn layer() -> GrpcServerLayer {
        GrpcServerLayer::new()
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcServer<S>
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
        let span = tracing::info_span!(
            "rpc.server.call",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = Empty,
            http.response.status_code = Empty,
            trace_id = Empty,
            span_id = Empty,
        );
        let trace =
            propagation::server_context(&span, req.headers(), self.layer.trust_remote_parent);
        req.extensions_mut().insert(trace.clone());
        let attributes = Attributes {
            rpc,
            ..Attributes::default()
        };
        let completion = Completion::start(Kind::GrpcServer, attributes, span.clone());
        let inner = &mut self.inner;
        let future = {
            let _entered = span.enter();
            trace.scope(|| inner.call(req))
        };
        ResponseFuture::new(future, span, trace, completion)
    }
}
