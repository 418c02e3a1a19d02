//! REST/JSON gateway to gRPC methods, driven by their `google.api.http` annotations.
//!
//! Give it a `FileDescriptorSet` and the gRPC service (a generated `FooServer<T>`,
//! `tonic::service::Routes`, or any `tower::Service` that speaks gRPC); it returns an axum
//! [`Router`](axum::Router) that transcodes REST/JSON calls into in-process gRPC calls.
//!
//! ```
//! use core_backend_example_proto::FILE_DESCRIPTOR_SET;
//! use core_backend_example_proto::notes_v1::{
//!     GetNoteRequest, Note, notes_service_server::NotesServiceServer,
//! };
//! use core_backend_gateway::Gateway;
//! # use core_backend_example_proto::notes_v1::{
//! #     CreateNoteRequest, DeleteNoteRequest, ListNotesRequest, ListNotesResponse,
//! #     notes_service_server::NotesService,
//! # };
//! # use tonic::{Request, Response, Status};
//! # struct Notes;
//! # #[tonic::async_trait]
//! # impl NotesService for Notes {
//! #     async fn create_note(&self, _: Request<CreateNoteRequest>) -> Result<Response<Note>, Status> { Err(Status::unimplemented("")) }
//! #     async fn get_note(&self, r: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
//! #         Ok(Response::new(Note { id: r.into_inner().id, title: "hello".into(), ..Note::default() }))
//! #     }
//! #     async fn list_notes(&self, _: Request<ListNotesRequest>) -> Result<Response<ListNotesResponse>, Status> { Err(Status::unimplemented("")) }
//! #     async fn delete_note(&self, _: Request<DeleteNoteRequest>) -> Result<Response<()>, Status> { Err(Status::unimplemented("")) }
//! # }
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gateway = Gateway::builder(FILE_DESCRIPTOR_SET)
//!     .service("notes.v1.NotesService")
//!     .body_limit(64 * 1024)
//!     .build(NotesServiceServer::new(Notes))?;
//! for route in gateway.routes() {
//!     println!("{} {} -> {} (MatchedPath {})", route.http_method, route.template, route.grpc_method, route.matched_path);
//! }
//! let app: axum::Router = axum::Router::new().merge(gateway);
//!
//! let response = app
//!     .oneshot(http::Request::get("/v1/notes/n1").body(axum::body::Body::empty())?)
//!     .await?;
//! assert_eq!(response.status(), 200);
//! let body = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
//! assert_eq!(&body[..], br#"{"id":"n1","title":"hello"}"#);
//! # Ok(())
//! # }
//! ```
//!
//! # What is transcoded
//!
//! - **Paths**: the full `google.api.http` template grammar — literals, `{field}`,
//!   `{nested.field}`, `{field=segments/*/with/**}`, `*`, `**`, `:verb` — with the spec's
//!   percent-decoding (a single-segment variable is fully decoded, a multi-segment one keeps
//!   `%2F`). See [`PathTemplate`].
//! - **Bodies**: `body: "*"` (the whole message, path fields overriding), `body: "field"`, or
//!   none; `response_body: "field"`.
//! - **Query parameters** fill fields bound by neither path nor body: `a.b=1` for nested
//!   fields, `x=1&x=2` for repeated ones, enums by name or number, well-known types
//!   (`Timestamp`, `Duration`, `FieldMask`, wrappers) as their JSON strings, booleans as
//!   `true`/`false`/`1`/`0`.
//! - **JSON** follows the proto3 JSON mapping (prost-reflect): lowerCamelCase names out, both
//!   spellings in, 64-bit integers as strings, enums as names, well-known types, `Empty` as `{}`.
//! - **Server streaming** becomes newline-delimited JSON (`{"result": …}` lines, then an
//!   `{"error": …}` line if the stream fails), as grpc-gateway does; client-streaming methods
//!   are skipped.
//! - **Headers**: an allow-list of request headers (and every `grpc-metadata-*` header) goes
//!   to the service as metadata; `Retry-After`, `WWW-Authenticate`, `RateLimit-*` metadata
//!   comes back as HTTP headers.
//! - **Errors**: a gRPC status becomes the HTTP status `google.rpc.Code` documents
//!   ([`http_status_from_code`]) and an RFC 9457 `application/problem+json` body with
//!   `grpc_code`, `grpc_status`, and — when the service attached a `google.rpc.Status` in
//!   `grpc-status-details-bin` — `errors` (from `BadRequest` field violations) and `details`.
//!   Bad input is answered by the gateway itself: malformed JSON 400 (with line and column),
//!   a field of the wrong type or an unknown field 400 (naming the field), a body that is not
//!   JSON 415, a body over the limit 413, a method no binding uses on a known path 405.
//!
//! # Routing and `MatchedPath`
//!
//! Every template is registered as an axum route, so the surrounding router still answers
//! unknown paths with its own fallback and [`axum::extract::MatchedPath`] carries a template
//! (metrics stay low-cardinality). [`PathTemplate::axum_path`] gives the route:
//! `/v1/notes/{id}` stays `/v1/notes/{id}`; `/v1/{name=shelves/*}` becomes
//! `/v1/shelves/{name}`; a trailing `**` becomes a catch-all `{*name}`. Templates of the same
//! shape share one route (the first one's spelling), and the gateway's own matcher picks the
//! binding — so a verb after a variable (`/v1/notes/{id}:archive`) shows the route without
//! the verb, `/v1/notes/{id}`. [`Gateway::routes`] lists what each binding shows.
//!
//! # Why a separate matcher?
//!
//! axum's router cannot express a suffix after a parameter (custom verbs), `**` followed by a
//! verb, multi-segment variables that capture literals, or the spec's percent-decoding rules.
//! The gateway uses axum's router to find the candidate route and its own
//! [`PathTemplate::match_path`] to bind variables exactly as the spec says.

mod config;
mod details;
mod error;
mod gateway;
mod grpc;
pub mod protos;
mod rule;
mod status;
mod streaming;
mod template;
mod transcode;

pub use config::{
    DEFAULT_BODY_LIMIT, DEFAULT_FORWARD_HEADERS, DEFAULT_RESPONSE_HEADERS, GatewayConfig,
};
pub use error::GatewayError;
pub use gateway::{Gateway, GatewayBuilder, RouteInfo};
pub use status::{code_from_http_status, code_name, http_status_from_code};
pub use template::{PathTemplate, TemplateError, TemplateErrorKind};
