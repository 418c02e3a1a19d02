//! Assembles the built-in layers, the HTTP router and the gRPC routes into one service.

use std::{
    any::Any,
    convert::Infallible,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::DefaultBodyLimit, response::Response};
use futures_util::future::BoxFuture;
use http::{HeaderName, Method, Request};
use tower::{ServiceBuilder, ServiceExt, util::BoxCloneService};
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
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

type BoxSvc = BoxCloneService<Request<Body>, Response, Infallible>;

/// The service handed to each connection.
pub(crate) type Outer = tower_http::request_id::SetRequestId<
    tower_http::request_id::PropagateRequestId<
        tower::util::Either<tower_http::cors::Cors<InnerService>, InnerService>,
    >,
    MakeRequestUuid,
>;

/// A deferred `.layer(..)` call of the builder.
pub(crate) type UserLayer = Box<dyn FnOnce(InnerService) -> InnerService + Send>;

/// Routes each request by protocol: gRPC and gRPC-Web to tonic, everything else to axum.
#[derive(Clone)]
struct Dispatch {
    http: BoxSvc,
    grpc: BoxSvc,
    grpc_web: Option<BoxSvc>,
}

impl Service<Request<Body>> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both sides are axum routers underneath, which are always ready; poll them anyway so
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
        match (Protocol::of(&req), &mut self.grpc_web) {
            (Protocol::Grpc, _) => self.grpc.call(req),
            (Protocol::GrpcWeb | Protocol::GrpcWebText, Some(web)) => web.call(req),
            _ => self.http.call(req),
        }
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

pub(crate) fn build(parts: Parts) -> Result<Outer, ConfigError> {
    let Parts {
        config,
        router,
        grpc,
        layers,
    } = parts;
    let limit = config.body_limit;

    // HTTP: problem bodies outside the body limit so its 413 gets one; catch-panic right around
    // the handlers so a panic becomes a normal 500 that every outer layer sees.
    let http = ServiceBuilder::new()
        .layer(ProblemForEmptyErrorsLayer::new(limit))
        .map_response(to_body)
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(DefaultBodyLimit::max(limit))
        .layer(CatchPanicLayer::custom(http_panic))
        .service(router);
    let http = if config.compression {
        BoxSvc::new(ServiceExt::<Request<Body>>::map_response(
            CompressionLayer::new().layer(http),
            to_body,
        ))
    } else {
        BoxSvc::new(http)
    };

    // gRPC: tonic's routes answer unknown services with UNIMPLEMENTED.
    let grpc = CatchPanicLayer::custom(grpc_panic).layer(grpc.prepare());
    let grpc_web = config.grpc_web.then(|| {
        BoxSvc::new(ServiceExt::<Request<Body>>::map_response(
            tonic_web::GrpcWebLayer::new().layer(grpc.clone()),
            to_body,
        ))
    });
    let grpc = BoxSvc::new(ServiceExt::<Request<Body>>::map_response(grpc, to_body));

    let inner = ServiceBuilder::new()
        .option_layer(config.concurrency_limit.map(ConcurrencyLimitLayer::new))
        .layer(RequestTimeoutLayer::new(non_zero(config.request_timeout)))
        .service(Dispatch {
            http,
            grpc,
            grpc_web,
        });
    let mut inner = InnerService::new(inner);
    for layer in layers {
        inner = layer(inner);
    }

    let request_id = config.request_id_header()?;
    let cors = cors_layer(&config, &request_id)?;
    Ok(ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(request_id))
        .option_layer(cors)
        .service(inner))
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
