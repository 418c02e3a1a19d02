//! What the service returns when the breaker refuses a call.

use crate::CircuitOpen;

/// Boxed error type of the default mode.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Turns a refusal (and the inner service's errors) into the service's result.
///
/// Three implementations cover the positions the layer is used in: [`ErrorOnOpen`] (clients:
/// a boxed [`CircuitOpen`] error), [`HttpOnOpen`] (HTTP servers: a `503` problem+json
/// response) and [`GrpcOnOpen`] (gRPC servers and clients: `UNAVAILABLE`).
pub trait OnOpen<Res, E> {
    /// The service's error type.
    type Error;
    /// Converts an error of the inner service.
    fn inner_error(&self, error: E) -> Self::Error;
    /// The result of a refused call.
    fn on_open(&self, open: &CircuitOpen) -> Result<Res, Self::Error>;
}

/// Refusals are `Err(Box<CircuitOpen>)`; callers `downcast_ref::<CircuitOpen>()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorOnOpen;

impl<Res, E: Into<BoxError>> OnOpen<Res, E> for ErrorOnOpen {
    type Error = BoxError;
    fn inner_error(&self, error: E) -> BoxError {
        error.into()
    }
    fn on_open(&self, open: &CircuitOpen) -> Result<Res, BoxError> {
        Err(Box::new(open.clone()))
    }
}

/// Refusals are `503 Service Unavailable` with `Retry-After` and an
/// `application/problem+json` body; the error type stays the inner service's (an axum
/// `Router`'s `Infallible` stays `Infallible`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpOnOpen;

impl<B: From<String>, E> OnOpen<http::Response<B>, E> for HttpOnOpen {
    type Error = E;
    fn inner_error(&self, error: E) -> E {
        error
    }
    fn on_open(&self, open: &CircuitOpen) -> Result<http::Response<B>, E> {
        Ok(open.to_http_response())
    }
}

/// Refusals are gRPC `UNAVAILABLE` trailers-only responses with `grpc-retry-pushback-ms`;
/// the error type stays the inner service's.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcOnOpen;

impl<B: Default, E> OnOpen<http::Response<B>, E> for GrpcOnOpen {
    type Error = E;
    fn inner_error(&self, error: E) -> E {
        error
    }
    fn on_open(&self, open: &CircuitOpen) -> Result<http::Response<B>, E> {
        Ok(open.to_grpc_response())
    }
}
