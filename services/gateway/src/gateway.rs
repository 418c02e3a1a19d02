//! The builder, the route table and the request handler.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::Code;
use tower::{BoxError, ServiceExt};
use tower_service::Service;
use tracing::Instrument;

use crate::config::GatewayConfig;
use crate::error::{GatewayError, Rejection, status_problem};
use crate::grpc::{self, GrpcService, is_reserved};
use crate::rule::{Binding, BodySpec, annotated_services, service_bindings};
use crate::streaming::NdjsonBody;
use crate::transcode::{JsonOptions, build_request, parse_json, render_response};

/// A REST/JSON gateway to gRPC methods, built from `google.api.http` annotations.
///
/// Build one with [`Gateway::builder`], then turn it into an axum [`Router`] with
/// [`into_router`](Self::into_router) (or pass it straight to [`Router::merge`]).
#[derive(Debug)]
pub struct Gateway {
    groups: Vec<RouteGroup>,
    routes: Vec<RouteInfo>,
    shared: Arc<Shared>,
}

/// One HTTP binding served by a [`Gateway`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteInfo {
    /// The HTTP method (`GET`, …, or a `custom` kind).
    pub http_method: Method,
    /// The `google.api.http` path template as written in the proto.
    pub template: String,
    /// The axum route it is registered under: what [`axum::extract::MatchedPath`] shows.
    pub matched_path: String,
    /// The gRPC method, `package.Service/Method`.
    pub grpc_method: String,
}

#[derive(Debug)]
struct RouteGroup {
    axum_path: String,
    bindings: Arc<[Arc<Binding>]>,
}

struct Shared {
    service: GrpcService,
    pool: DescriptorPool,
    json: JsonOptions,
    body_limit: usize,
    forward: Vec<HeaderName>,
    response_headers: Vec<HeaderName>,
    response_metadata: bool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("json", &self.json)
            .field("body_limit", &self.body_limit)
            .field("forward", &self.forward)
            .field("response_headers", &self.response_headers)
            .field("response_metadata", &self.response_metadata)
            .finish_non_exhaustive()
    }
}

enum Source {
    Bytes(Bytes),
    Pool(DescriptorPool),
}

/// Builds a [`Gateway`]; see [`Gateway::builder`].
#[must_use]
pub struct GatewayBuilder {
    source: Source,
    services: Vec<String>,
    config: GatewayConfig,
}

impl std::fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("services", &self.services)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Starts a builder from an encoded `google.protobuf.FileDescriptorSet` (for example the
    /// `FILE_DESCRIPTOR_SET` constant a build script writes with protox or
    /// `tonic-prost-build`). It must include `google/api/annotations.proto` and
    /// `google/api/http.proto`, which it does when the protos import them.
    pub fn builder(file_descriptor_set: impl Into<Bytes>) -> GatewayBuilder {
        GatewayBuilder {
            source: Source::Bytes(file_descriptor_set.into()),
            services: Vec::new(),
            config: GatewayConfig::default(),
        }
    }

    /// Starts a builder from an already decoded [`DescriptorPool`].
    pub fn builder_from_pool(pool: DescriptorPool) -> GatewayBuilder {
        GatewayBuilder {
            source: Source::Pool(pool),
            services: Vec::new(),
            config: GatewayConfig::default(),
        }
    }

    /// Every HTTP binding served, in registration order.
    pub fn routes(&self) -> &[RouteInfo] {
        &self.routes
    }

    /// The axum router serving the gateway's routes; merge it into your application's router.
    ///
    /// Paths that match none of the gateway's routes are left to the surrounding router
    /// (its fallback answers them). The gateway registers every method (`any`) on its paths
    /// and answers a method no binding uses with 405 and an `Allow` header, so another
    /// router must not register the same path.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let mut router = Router::new();
        for group in self.groups {
            let shared = Arc::clone(&self.shared);
            let bindings = Arc::clone(&group.bindings);
            router = router.route(
                &group.axum_path,
                any(move |request: Request<Body>| {
                    let shared = Arc::clone(&shared);
                    let bindings = Arc::clone(&bindings);
                    async move { handle(&shared, &bindings, request).await }
                }),
            );
        }
        router
    }
}

impl<S> From<Gateway> for Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn from(gateway: Gateway) -> Self {
        gateway.into_router()
    }
}

impl GatewayBuilder {
    /// Serves the methods of this service (full name, `notes.v1.NotesService`); call it once
    /// per service.
    ///
    /// Defaults to every service in the pool with at least one annotated method.
    pub fn service(mut self, full_name: impl Into<String>) -> Self {
        self.services.push(full_name.into());
        self
    }

    /// Applies a whole [`GatewayConfig`] (e.g. loaded from a file or the environment),
    /// replacing the settings made so far.
    ///
    /// Defaults to [`GatewayConfig::default()`].
    pub fn config(mut self, config: GatewayConfig) -> Self {
        self.config = config;
        self
    }

    /// Largest accepted request body in bytes; a larger body is answered 413.
    ///
    /// Defaults to 4 MiB.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Forwards this request header to the gRPC service as metadata (in addition to the
    /// list so far). `grpc-metadata-<name>` headers are always forwarded as `<name>`.
    ///
    /// Defaults to `authorization`, `x-request-id`, `traceparent`, `tracestate`,
    /// `x-tenant-id`, `accept-language`.
    pub fn forward_header(mut self, name: impl Into<String>) -> Self {
        self.config
            .forward_headers
            .push(name.into().to_ascii_lowercase());
        self
    }

    /// Forwards no request header except `grpc-metadata-*` ones; add some back with
    /// [`forward_header`](Self::forward_header).
    ///
    /// Defaults to forwarding the list given at [`forward_header`](Self::forward_header).
    pub fn clear_forward_headers(mut self) -> Self {
        self.config.forward_headers.clear();
        self
    }

    /// Copies this response metadata entry to the HTTP response under the same name.
    ///
    /// Defaults to `retry-after`, `www-authenticate`, `ratelimit`, `ratelimit-policy`,
    /// `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset`, `x-request-id`,
    /// `content-language`.
    pub fn response_header(mut self, name: impl Into<String>) -> Self {
        self.config
            .response_headers
            .push(name.into().to_ascii_lowercase());
        self
    }

    /// Copies every other (non-reserved) response metadata entry to the HTTP response as
    /// `grpc-metadata-<name>`, as grpc-gateway does.
    ///
    /// Defaults to `false`.
    pub fn response_metadata_headers(mut self, enabled: bool) -> Self {
        self.config.response_metadata_headers = enabled;
        self
    }

    /// Emits fields holding their default value (`0`, `""`, `false`, `[]`, `{}`) in responses.
    ///
    /// Defaults to `false` (the proto3 JSON default).
    pub fn emit_defaults(mut self, enabled: bool) -> Self {
        self.config.emit_defaults = enabled;
        self
    }

    /// Uses the proto field names (`page_size`) instead of lowerCamelCase (`pageSize`) in
    /// responses. Requests accept both spellings either way.
    ///
    /// Defaults to `false`.
    pub fn use_proto_names(mut self, enabled: bool) -> Self {
        self.config.use_proto_names = enabled;
        self
    }

    /// Ignores unknown JSON fields and query parameters instead of answering 400.
    ///
    /// Defaults to `false`.
    pub fn ignore_unknown_fields(mut self, enabled: bool) -> Self {
        self.config.ignore_unknown_fields = enabled;
        self
    }

    /// Reads the annotations and builds the gateway around `service`, the gRPC service to call
    /// in process (a generated `FooServer<T>`, `tonic::service::Routes`, or any
    /// `tower::Service` speaking gRPC over `http`).
    ///
    /// The service is cloned per request and driven to readiness before each call.
    pub fn build<S, B>(self, service: S) -> Result<Gateway, GatewayError>
    where
        S: Service<Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let pool = match self.source {
            Source::Bytes(bytes) => DescriptorPool::decode(bytes)?,
            Source::Pool(pool) => pool,
        };
        let services = if self.services.is_empty() {
            annotated_services(&pool)
        } else {
            self.services
        };
        let mut bindings = Vec::new();
        for name in &services {
            bindings.extend(service_bindings(&pool, name)?);
        }
        if bindings.is_empty() {
            return Err(GatewayError::NoBindings);
        }
        let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
        for b in &bindings {
            let key = (b.http_method.to_string(), b.template.as_str().to_owned());
            if let Some(first) = seen.insert(key.clone(), b.rpc_name.clone()) {
                return Err(GatewayError::DuplicateBinding {
                    http_method: key.0,
                    template: key.1,
                    first,
                    second: b.rpc_name.clone(),
                });
            }
        }
        let headers = |names: &[String]| {
            names
                .iter()
                .map(|n| {
                    HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes())
                        .map_err(|_| GatewayError::InvalidHeaderName(n.clone()))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let forward = headers(&self.config.forward_headers)?;
        let response_headers = headers(&self.config.response_headers)?;

        // One axum route per route shape; bindings sharing a shape are told apart by
        // the gateway's own matcher (most specific first: verbs, then literals).
        let mut shapes: Vec<(String, String, Vec<Arc<Binding>>)> = Vec::new();
        let mut routes = Vec::new();
        for b in bindings {
            let shape = b.template.route_shape();
            let index = if let Some(i) = shapes.iter().position(|(s, _, _)| *s == shape) {
                i
            } else {
                shapes.push((shape, b.template.axum_path(), Vec::new()));
                shapes.len() - 1
            };
            routes.push(RouteInfo {
                http_method: b.http_method.clone(),
                template: b.template.as_str().to_owned(),
                matched_path: shapes[index].1.clone(),
                grpc_method: b.rpc_name.clone(),
            });
            shapes[index].2.push(Arc::new(b));
        }
        let groups = shapes
            .into_iter()
            .map(|(_, axum_path, mut bindings)| {
                bindings.sort_by_key(|b| std::cmp::Reverse(b.template.specificity()));
                RouteGroup {
                    axum_path,
                    bindings: bindings.into(),
                }
            })
            .collect();

        let service = GrpcService::new(
            service
                .map_response(|r: http::Response<B>| r.map(Body::new))
                .map_err(Into::into),
        );
        let config = self.config;
        Ok(Gateway {
            groups,
            routes,
            shared: Arc::new(Shared {
                service,
                pool,
                json: JsonOptions {
                    emit_defaults: config.emit_defaults,
                    use_proto_names: config.use_proto_names,
                    ignore_unknown_fields: config.ignore_unknown_fields,
                },
                body_limit: config.body_limit,
                forward,
                response_headers,
                response_metadata: config.response_metadata_headers,
            }),
        })
    }
}

async fn handle(shared: &Shared, bindings: &[Arc<Binding>], request: Request<Body>) -> Response {
    let path = request.uri().path();
    let mut allowed: Vec<Method> = Vec::new();
    let mut chosen = None;
    let mut head_fallback = None;
    for binding in bindings {
        if let Some(captures) = binding.template.match_path(path) {
            if binding.http_method == request.method() {
                chosen = Some((binding, captures));
                break;
            }
            // HEAD is served by a GET binding unless one claims HEAD (hyper drops the body).
            if request.method() == Method::HEAD
                && binding.http_method == Method::GET
                && head_fallback.is_none()
            {
                head_fallback = Some((binding, captures));
                continue;
            }
            if !allowed.contains(&binding.http_method) {
                allowed.push(binding.http_method.clone());
            }
        }
    }
    let chosen = chosen.or(head_fallback);
    let Some((binding, captures)) = chosen else {
        let rejection = if allowed.is_empty() {
            Rejection::NotFound
        } else {
            Rejection::MethodNotAllowed(allowed)
        };
        return rejection.into_response();
    };
    let span = tracing::info_span!(
        "gateway",
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = binding.method.parent_service().full_name(),
        rpc.method = binding.method.name(),
        http.request.method = %binding.http_method,
        http.route = binding.template.as_str(),
        rpc.grpc.status_code = tracing::field::Empty,
    );
    let start = Instant::now();
    let values: Vec<String> = captures.into_iter().map(|(_, v)| v).collect();
    let (response, outcome) = transcode(shared, binding, values, request)
        .instrument(span)
        .await;
    let labels = [
        ("rpc_method", binding.rpc_name.clone()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!("core_backend.gateway.requests", &labels).increment(1);
    metrics::histogram!("core_backend.gateway.request.duration", &labels[..1])
        .record(start.elapsed().as_secs_f64());
    response
}

/// Returns the response and the `outcome` metric label.
async fn transcode(
    shared: &Shared,
    binding: &Arc<Binding>,
    path_values: Vec<String>,
    request: Request<Body>,
) -> (Response, &'static str) {
    match try_transcode(shared, binding, path_values, request).await {
        Ok((response, outcome)) => (response, outcome),
        Err(rejection) => {
            let outcome = rejection.outcome();
            tracing::debug!(outcome, error = ?rejection, "gateway rejected the request");
            (rejection.into_response(), outcome)
        }
    }
}

async fn try_transcode(
    shared: &Shared,
    binding: &Arc<Binding>,
    path_values: Vec<String>,
    request: Request<Body>,
) -> Result<(Response, &'static str), Rejection> {
    let (parts, body) = request.into_parts();
    let json_body = match binding.body {
        BodySpec::None => None,
        BodySpec::Whole | BodySpec::Field(_) => {
            read_json_body(shared, &parts.headers, body).await?
        }
    };
    let message = build_request(
        binding,
        &shared.json,
        json_body,
        &path_values,
        parts.uri.query(),
    )?;
    let metadata = forward_metadata(shared, &parts.headers);
    let framed = grpc::frame(&message.encode_to_vec())?;
    if binding.server_streaming {
        return stream(shared, binding, framed, metadata).await;
    }
    let reply = grpc::call(&shared.service, &binding.grpc_path, framed, metadata).await?;
    tracing::Span::current().record("rpc.grpc.status_code", reply.code as i32);
    let headers = response_headers(shared, &reply.metadata);
    if reply.code != Code::Ok {
        return Ok(status_response(shared, &reply, headers));
    }
    let output = DynamicMessage::decode(binding.output(), reply.payload.unwrap_or_default())
        .map_err(|e| Rejection::Upstream {
            code: Code::Internal,
            message: format!(
                "the gRPC response does not decode as `{}`: {e}",
                binding.output().full_name()
            ),
        })?;
    let json =
        render_response(binding, &shared.json, &output).map_err(|message| Rejection::Upstream {
            code: Code::Internal,
            message,
        })?;
    let mut response = Response::new(Body::from(json));
    response.headers_mut().extend(headers);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok((response, "ok"))
}

/// A server-streaming call: headers now, one NDJSON line per message as they arrive.
async fn stream(
    shared: &Shared,
    binding: &Arc<Binding>,
    framed: Bytes,
    metadata: HeaderMap,
) -> Result<(Response, &'static str), Rejection> {
    let (metadata, body) =
        match grpc::start(&shared.service, &binding.grpc_path, framed, metadata).await? {
            grpc::Started::Done(reply) => {
                tracing::Span::current().record("rpc.grpc.status_code", reply.code as i32);
                let headers = response_headers(shared, &reply.metadata);
                if reply.code != Code::Ok {
                    return Ok(status_response(shared, &reply, headers));
                }
                // An OK status with no messages: an empty stream.
                (reply.metadata, Body::empty())
            }
            grpc::Started::Body { metadata, body } => (metadata, body),
        };
    let headers = response_headers(shared, &metadata);
    let body = NdjsonBody::new(
        body,
        Arc::clone(binding),
        shared.json.clone(),
        shared.pool.clone(),
    );
    let mut response = Response::new(Body::new(body));
    response.headers_mut().extend(headers);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok((response, "ok"))
}

/// The problem response and outcome label of a reply with a non-OK status.
fn status_response(
    shared: &Shared,
    reply: &grpc::GrpcReply,
    headers: HeaderMap,
) -> (Response, &'static str) {
    let details = reply
        .details
        .as_ref()
        .and_then(|v| crate::details::decode(v.as_bytes(), &shared.pool));
    (
        status_problem(reply.code, &reply.message, details, headers),
        outcome_label(reply.code),
    )
}

fn outcome_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_json_body(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<serde_json::Value>, Rejection> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > shared.body_limit as u64) {
        return Err(Rejection::PayloadTooLarge(shared.body_limit));
    }
    let bytes = match Limited::new(body, shared.body_limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(Rejection::PayloadTooLarge(shared.body_limit));
        }
        Err(e) => return Err(Rejection::BodyRead(e.to_string())),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match content_type {
        Some(ct) if is_json(&ct) => {}
        other => return Err(Rejection::UnsupportedMediaType(other.unwrap_or_default())),
    }
    parse_json(&bytes).map(Some)
}

fn forward_metadata(shared: &Shared, headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if let Some(stripped) = name.as_str().strip_prefix("grpc-metadata-") {
            if let Ok(meta) = HeaderName::from_bytes(stripped.as_bytes())
                && !stripped.is_empty()
                && !is_reserved(&meta)
            {
                out.append(meta, value.clone());
            }
        } else if shared.forward.contains(name) && !is_reserved(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn response_headers(shared: &Shared, metadata: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in metadata {
        if is_reserved(name) {
            continue;
        }
        if shared.response_headers.contains(name) {
            out.append(name.clone(), value.clone());
        } else if shared.response_metadata
            && let Ok(prefixed) = HeaderName::from_bytes(format!("grpc-metadata-{name}").as_bytes())
        {
            out.append(prefixed, value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::code_name;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json(""));
    }

    #[test]
    fn outcome_labels_match_code_names() {
        for n in 0..17 {
            let code = Code::from_i32(n);
            assert_eq!(outcome_label(code).to_ascii_uppercase(), code_name(code));
        }
    }
}
