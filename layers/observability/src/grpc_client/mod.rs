//! [`GrpcClientLayer`]: spans, metrics and trace-context injection for gRPC clients (tonic).
//!
//! Wrap a tonic `Channel` (or any `GrpcService`) before handing it to a generated client. For
//! each call it opens an `INFO` span `package.Service/Method` (kind client), sends `traceparent`,
//! and records `rpc.client.duration` with `rpc.system = grpc`, `rpc.service`, `rpc.method`,
//! `rpc.grpc.status_code` (from the trailers, or the headers of a trailers-only response) and,
//! when known, `server.address` / `server.port`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use core_backend_example_proto::notes_v1::notes_service_client::NotesServiceClient;
//! use core_backend_observability::GrpcClientLayer;
//! use tower::ServiceBuilder;
//!
//! let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051")
//!     .connect()
//!     .await?;
//! let channel = ServiceBuilder::new().layer(GrpcClientLayer::new()).service(channel);
//! let mut notes = NotesServiceClient::new(channel);
//! # drop(notes.get_note(core_backend_example_proto::notes_v1::GetNoteRequest::default()).await);
//! # Ok(()) }
//! ```
//!
//! The response future is shared with [`HttpClientLayer`](crate::HttpClientLayer).

mod layer;
mod service;

pub use self::layer::GrpcClientLayer;
pub use self::service::GrpcClient;
pub use crate::http_client::ResponseFuture;

#[cfg(test)]
mod tests;
