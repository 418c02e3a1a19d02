//! Build-time errors and request-time rejections (RFC 9457 problem responses).

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use tonic::Code;

use crate::status::{code_name, http_status_from_code};
use crate::template::TemplateError;

/// Why a [`Gateway`](crate::Gateway) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The descriptor set did not decode or is inconsistent.
    #[error("invalid descriptor set: {0}")]
    Descriptor(#[from] prost_reflect::DescriptorError),
    /// A service named with [`GatewayBuilder::service`](crate::GatewayBuilder::service) is not
    /// in the descriptor pool.
    #[error("service `{0}` is not in the descriptor pool")]
    UnknownService(String),
    /// A method's path template does not parse.
    #[error("method `{method}`: {source}")]
    Template {
        /// Full name of the method.
        method: String,
        /// The parse error.
        #[source]
        source: TemplateError,
    },
    /// A method's `google.api.http` rule names a missing field, a field that cannot be bound
    /// from a path, an invalid custom HTTP method, or has no pattern.
    #[error("method `{method}`: {reason}")]
    InvalidBinding {
        /// Full name of the method.
        method: String,
        /// What is wrong.
        reason: String,
    },
    /// Two methods (or two bindings of one method) claim the same HTTP method and template.
    #[error("`{http_method} {template}` is bound by both `{first}` and `{second}`")]
    DuplicateBinding {
        /// The HTTP method.
        http_method: String,
        /// The path template.
        template: String,
        /// The method registered first.
        first: String,
        /// The method registered second.
        second: String,
    },
    /// No method in the selected services carries a `google.api.http` annotation.
    #[error("no method carries a google.api.http annotation")]
    NoBindings,
    /// An environment variable read by [`GatewayConfig::from_env`](crate::GatewayConfig::from_env)
    /// does not parse.
    #[error("{variable}: {message}")]
    Config {
        /// The variable's name.
        variable: String,
        /// What was wrong with its value.
        message: String,
    },
    /// A configured header name is not a valid HTTP header name.
    #[error("invalid header name {0:?}")]
    InvalidHeaderName(String),
}

/// A request the gateway answered itself, before or instead of the gRPC result.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// The body is not JSON.
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// JSON that does not fit the message (wrong type, unknown field, bad enum name …).
    InvalidField {
        field: String,
        message: String,
    },
    /// A query parameter that names no field (or one that cannot be set from a string).
    InvalidQuery {
        parameter: String,
        message: String,
    },
    UnsupportedMediaType(String),
    PayloadTooLarge(usize),
    BodyRead(String),
    MethodNotAllowed(Vec<http::Method>),
    NotFound,
    /// The gRPC service failed at the transport level or returned something unreadable.
    Upstream {
        code: Code,
        message: String,
    },
}

impl Rejection {
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::MalformedJson { .. } => "malformed_json",
            Self::InvalidField { .. } | Self::InvalidQuery { .. } => "invalid_field",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::BodyRead(_) => "body_read_error",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::NotFound => "not_found",
            Self::Upstream { .. } => "upstream_error",
        }
    }
}

/// Builds an `application/problem+json` response.
pub(crate) fn problem(status: StatusCode, detail: &str, extra: Map<String, Value>) -> Response {
    let mut body = Map::new();
    body.insert("type".into(), Value::from("about:blank"));
    body.insert(
        "title".into(),
        Value::from(status.canonical_reason().unwrap_or("Error")),
    );
    body.insert("status".into(), Value::from(status.as_u16()));
    body.insert("detail".into(), Value::from(detail));
    body.extend(extra);
    let bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn grpc_members(code: Code) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("grpc_code".into(), Value::from(code as i32));
    m.insert("grpc_status".into(), Value::from(code_name(code)));
    m
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Self::MalformedJson {
                line,
                column,
                message,
            } => {
                let mut extra = grpc_members(Code::InvalidArgument);
                extra.insert("line".into(), json!(line));
                extra.insert("column".into(), json!(column));
                problem(
                    StatusCode::BAD_REQUEST,
                    &format!("malformed JSON at line {line} column {column}: {message}"),
                    extra,
                )
            }
            Self::InvalidField { field, message } => {
                let mut extra = grpc_members(Code::InvalidArgument);
                let detail = if field.is_empty() || field == "." {
                    format!("invalid request body: {message}")
                } else {
                    format!("invalid value for field `{field}`: {message}")
                };
                extra.insert(
                    "errors".into(),
                    json!([{ "field": field, "detail": message }]),
                );
                problem(StatusCode::BAD_REQUEST, &detail, extra)
            }
            Self::InvalidQuery { parameter, message } => {
                let mut extra = grpc_members(Code::InvalidArgument);
                extra.insert(
                    "errors".into(),
                    json!([{ "field": parameter, "detail": message }]),
                );
                problem(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid query parameter `{parameter}`: {message}"),
                    extra,
                )
            }
            Self::UnsupportedMediaType(found) => problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("expected content-type application/json, got {found:?}"),
                Map::new(),
            ),
            Self::PayloadTooLarge(limit) => {
                let mut extra = Map::new();
                extra.insert("limit".into(), json!(limit));
                problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("request body exceeds the limit of {limit} bytes"),
                    extra,
                )
            }
            Self::BodyRead(message) => problem(
                StatusCode::BAD_REQUEST,
                &format!("failed to read the request body: {message}"),
                Map::new(),
            ),
            Self::MethodNotAllowed(allowed) => {
                let allow = allowed
                    .iter()
                    .map(http::Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut response = problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("method not allowed; allowed: {allow}"),
                    Map::new(),
                );
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
            Self::NotFound => problem(
                StatusCode::NOT_FOUND,
                "no gateway route matches this path",
                Map::new(),
            ),
            Self::Upstream { code, message } => {
                problem(http_status_from_code(code), &message, grpc_members(code))
            }
        }
    }
}

/// The problem response for a gRPC status the service returned.
pub(crate) fn status_problem(
    code: Code,
    message: &str,
    details: Option<crate::details::DecodedDetails>,
    headers: HeaderMap,
) -> Response {
    let mut extra = grpc_members(code);
    let mut retry_after = None;
    if let Some(details) = details {
        if !details.errors.is_empty() {
            extra.insert("errors".into(), Value::Array(details.errors));
        }
        if !details.details.is_empty() {
            extra.insert("details".into(), Value::Array(details.details));
        }
        retry_after = details.retry_after_secs;
    }
    let mut response = problem(http_status_from_code(code), message, extra);
    response.headers_mut().extend(headers);
    if let Some(secs) = retry_after
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
