//! Assembles the built-in layers, the HTTP router and the gRPC routes into one service.

use std::{
    any::Any,
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::DefaultBodyLimit, response::Response};
use http::{HeaderName, HeaderValue, Method, Request};
use pin_project_lite::pin_project;
use tower::{ServiceBuilder, ServiceExt, util::Either};
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
};
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    config::{ConfigError, ServerConfig},
    limit::ConcurrencyLimitLayer,
    problem_layer::ProblemForEmptyErrorsLayer,
    protocol::{Protocol, Rejection},
    service::InnerService,
    timeout::RequestTimeoutLayer,
};

/// The body limit axum's extractors apply when no `DefaultBodyLimit` is set.
const AXUM_DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A deferred `.layer(..)` call of the builder.
pub(crate) type UserLayer = Box<dyn FnOnce(InnerService) -> InnerService + Send>;

/// Routes each request by protocol: gRPC and gRPC-Web to tonic, everything else to axum.
///
/// Concrete service types, not boxes: the whole stack is cloned for every request, and a clone
/// of plain structs costs reference-count bumps where a box costs an allocation.
#[derive(Clone)]
struct Dispatch<H, G, W> {
    http: H,
    grpc: G,
    grpc_web: Option<W>,
}

impl<H, G, W> Service<Request<Body>> for Dispatch<H, G, W>
where
    H: Service<Request<Body>, Response = Response, Error = Infallible>,
    G: Service<Request<Body>, Response = Response, Error = Infallible>,
    W: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = DispatchFuture<H::Future, G::Future, W::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // All sides are axum routers underneath, which are always ready; poll them anyway so
        // whichever `call` picks has been polled.
        let http = self.http.poll_ready(cx)?;
        let grpc = self.grpc.poll_ready(cx)?;
        let web = match &mut self.grpc_web {
            Some(web) => web.poll_ready(cx)?,
            None => Poll::Ready(()),
        };
        if http.is_ready() && grpc.is_ready() && web.is_ready() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let kind = match (Protocol::of(&req), &mut self.grpc_web) {
            (Protocol::Grpc, _) => Kind::Grpc {
                inner: self.grpc.call(req),
            },
            (Protocol::GrpcWeb | Protocol::GrpcWebText, Some(web)) => Kind::GrpcWeb {
                inner: web.call(req),
            },
            _ => Kind::Http {
                inner: self.http.call(req),
            },
        };
        DispatchFuture { kind }
    }
}

pin_project! {
    /// Response future of [`Dispatch`].
    pub(crate) struct DispatchFuture<H, G, W> {
        #[pin]
        kind: Kind<H, G, W>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<H, G, W> {
        Http { #[pin] inner: H },
        Grpc { #[pin] inner: G },
        GrpcWeb { #[pin] inner: W },
    }
}

impl<H, G, W> Future for DispatchFuture<H, G, W>
where
    H: Future<Output = Result<Response, Infallible>>,
    G: Future<Output = Result<Response, Infallible>>,
    W: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Poll whichever side `call` picked.
        match self.project().kind.project() {
            KindProj::Http { inner } => inner.poll(cx),
            KindProj::Grpc { inner } => inner.poll(cx),
            KindProj::GrpcWeb { inner } => inner.poll(cx),
        }
    }
}

/// UUID v4 request ids, like tower-http's `MakeRequestUuid` but formatted on the stack instead of
/// through a `String`, since it runs for every request.
#[derive(Debug, Clone, Copy)]
struct UuidRequestId;

impl MakeRequestId for UuidRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        HeaderValue::from_str(id).ok().map(RequestId::new)
    }
}

fn panic_message(err: &(dyn Any + Send)) -> &str {
    err.downcast_ref::<&str>()
        .copied()
        .or_else(|| err.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

fn http_panic(err: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!(panic = panic_message(err.as_ref()), "HTTP handler panicked");
    Rejection::Panic.respond(Protocol::Http)
}

fn grpc_panic(err: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!(panic = panic_message(err.as_ref()), "gRPC handler panicked");
    Rejection::Panic.respond(Protocol::Grpc)
}

fn to_body<B>(res: http::Response<B>) -> Response
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    res.map(Body::new)
}

fn non_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// Everything [`build`] needs from the builder.
pub(crate) struct Parts {
    pub(crate) config: ServerConfig,
    pub(crate) router: Router,
    pub(crate) grpc: tonic::service::Routes,
    pub(crate) layers: Vec<UserLayer>,
}

pub(crate) fn build(parts: Parts) -> Result<InnerService, ConfigError> {
    let Parts {
        config,
        router,
        grpc,
        layers,
    } = parts;
    let limit = config.body_limit;
    let request_id = config.request_id_header()?;
    let cors = cors_layer(&config, &request_id)?;

    // HTTP: problem bodies outside the body limit so its 413 gets one; catch-panic right around
    // the handlers so a panic becomes a normal 500 that every outer layer sees.
    let http = ServiceBuilder::new()
        .layer(ProblemForEmptyErrorsLayer::new(limit))
        .map_response(to_body)
        .layer(RequestBodyLimitLayer::new(limit))
        // axum's extractors apply their own 2 MiB default on top; only a larger limit needs the
        // (per-request) extension that raises it.
        .option_layer((limit > AXUM_DEFAULT_BODY_LIMIT).then(|| DefaultBodyLimit::max(limit)))
        .layer(CatchPanicLayer::custom(http_panic))
        .service(router);
    let http = if config.compression {
        Either::Left(ServiceExt::<Request<Body>>::map_response(
            CompressionLayer::new().layer(http),
            to_body,
        ))
    } else {
        Either::Right(http)
    };

    // gRPC: tonic's routes answer unknown services with UNIMPLEMENTED.
    let grpc = CatchPanicLayer::custom(grpc_panic).layer(grpc.prepare());
    let grpc_web = config.grpc_web.then(|| {
        ServiceExt::<Request<Body>>::map_response(
            tonic_web::GrpcWebLayer::new().layer(grpc.clone()),
            to_body,
        )
    });
    let grpc = ServiceExt::<Request<Body>>::map_response(grpc, to_body);

    let inner = ServiceBuilder::new()
        .option_layer(config.concurrency_limit.map(ConcurrencyLimitLayer::new))
        .layer(RequestTimeoutLayer::new(non_zero(config.request_timeout)))
        .service(Dispatch {
            http,
            grpc,
            grpc_web,
        });

    let outer = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), UuidRequestId))
        .layer(PropagateRequestIdLayer::new(request_id))
        .option_layer(cors);
    if layers.is_empty() {
        // No user layers: one box around everything.
        return Ok(InnerService::new(outer.service(inner)));
    }
    let mut inner = InnerService::new(inner);
    for layer in layers {
        inner = layer(inner);
    }
    Ok(InnerService::new(outer.service(inner)))
}

fn cors_layer(
    config: &ServerConfig,
    request_id: &HeaderName,
) -> Result<Option<CorsLayer>, ConfigError> {
    if config.cors.is_empty() {
        return Ok(None);
    }
    let origin = match config.cors_origins()? {
        None => AllowOrigin::any(),
        Some(list) => AllowOrigin::list(list),
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods(AllowMethods::list([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ]))
            .allow_headers(AllowHeaders::mirror_request())
            // gRPC-Web clients read the status from these; clients correlate with the request id.
            .expose_headers(ExposeHeaders::list([
                HeaderName::from_static("grpc-status"),
                HeaderName::from_static("grpc-message"),
                HeaderName::from_static("grpc-status-details-bin"),
                request_id.clone(),
            ]))
            .max_age(Duration::from_secs(600)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_v4() {
        let req = Request::new(());
        let a = UuidRequestId.make_request_id(&req).unwrap();
        let b = UuidRequestId.make_request_id(&req).unwrap();
        let a = a.header_value().to_str().unwrap();
        let parsed = uuid::Uuid::parse_str(a).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(a.len(), 36);
        assert_ne!(a, b.header_value().to_str().unwrap());
    }

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&"static str"), "static str");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42_u8), "non-string panic payload");
    }
}
