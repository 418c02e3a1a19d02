//! [`GrpcServerLayer`]: spans, metrics and trace-context extraction for gRPC servers (tonic).
//!
//! For each call it opens an `INFO` span named `package.Service/Method`, continues the caller's
//! W3C trace, and records `rpc.server.duration` with `rpc.system = grpc`, `rpc.service`,
//! `rpc.method` and `rpc.grpc.status_code` when the response stream ends.
//!
//! ```
//! use core_backend_observability::GrpcServerLayer;
//!
//! let server = tonic::transport::Server::builder().layer(GrpcServerLayer::new());
//! // server.add_service(NotesServiceServer::new(notes)).serve(addr).await
//! # drop(server);
//! ```
//!
//! # Why a separate layer and not a gRPC-aware classifier on [`HttpServerLayer`]
//!
//! gRPC calls are HTTP/2 requests, but everything the conventions record differs: the metric
//! (`rpc.server.duration`), the attributes (service and method from the path instead of a route
//! template), where the outcome is (the `grpc-status` trailer, not the HTTP status, which is
//! almost always 200) and what counts as a server error. A separate type keeps each service's
//! `call` simple and lets a server that carries both (one port for REST and gRPC) put each
//! layer on its own half. The response future is shared with the HTTP server layer.
//!
//! [`HttpServerLayer`]: crate::HttpServerLayer
//!
//! # Cardinality
//!
//! `rpc.service` / `rpc.method` come from the request path, which a caller controls. Paths that
//! are not `/package.Service/Method` identifiers, and calls answered `UNIMPLEMENTED` (an unknown
//! method), are recorded as `_OTHER` so that arbitrary paths never become label values.

mod layer;
mod service;

pub use self::layer::GrpcServerLayer;
pub use self::service::GrpcServer;
pub use crate::http_server::ResponseFuture;

#[cfg(test)]
mod tests;
