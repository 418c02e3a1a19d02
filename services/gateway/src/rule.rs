//! Reading `google.api.http` annotations into bindings.

use http::Method;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};

use crate::error::GatewayError;
use crate::template::PathTemplate;

/// Full name of the `google.api.http` method option (field 72295728 of `MethodOptions`).
pub(crate) const HTTP_EXTENSION: &str = "google.api.http";

/// What part of the request message the HTTP body fills.
#[derive(Debug, Clone)]
pub(crate) enum BodySpec {
    /// No body: every field not bound by the path comes from the query string.
    None,
    /// `body: "*"`: the whole message (minus path fields); no query parameters.
    Whole,
    /// `body: "field"`: that top-level field.
    Field(FieldDescriptor),
}

/// One HTTP binding of one gRPC method.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub(crate) method: MethodDescriptor,
    /// `/package.Service/Method`.
    pub(crate) grpc_path: String,
    /// `package.Service/Method`, the metric and span label.
    pub(crate) rpc_name: String,
    pub(crate) http_method: Method,
    pub(crate) template: PathTemplate,
    /// Field chains bound by the template's variables, in template order.
    pub(crate) path_fields: Vec<Vec<FieldDescriptor>>,
    pub(crate) body: BodySpec,
    pub(crate) response_body: Option<FieldDescriptor>,
    /// Server-streaming: the response is newline-delimited JSON.
    pub(crate) server_streaming: bool,
}

impl Binding {
    pub(crate) fn input(&self) -> MessageDescriptor {
        self.method.input()
    }

    pub(crate) fn output(&self) -> MessageDescriptor {
        self.method.output()
    }
}

fn str_field(rule: &DynamicMessage, name: &str) -> String {
    rule.get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Reads the bindings of every annotated, unary method of `service`.
pub(crate) fn service_bindings(
    pool: &DescriptorPool,
    service: &str,
) -> Result<Vec<Binding>, GatewayError> {
    let Some(svc) = pool.get_service_by_name(service) else {
        return Err(GatewayError::UnknownService(service.to_owned()));
    };
    let Some(ext) = pool.get_extension_by_name(HTTP_EXTENSION) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for method in svc.methods() {
        let options = method.options();
        if !options.has_extension(&ext) {
            continue;
        }
        let Value::Message(rule) = options.get_extension(&ext).into_owned() else {
            continue;
        };
        if method.is_client_streaming() {
            tracing::warn!(
                method = method.full_name(),
                "core-backend-gateway: client-streaming methods are not transcoded; skipping"
            );
            continue;
        }
        push_rule(&method, &rule, true, &mut out)?;
    }
    Ok(out)
}

/// Names of every service in the pool with at least one `google.api.http` annotation.
pub(crate) fn annotated_services(pool: &DescriptorPool) -> Vec<String> {
    let Some(ext) = pool.get_extension_by_name(HTTP_EXTENSION) else {
        return Vec::new();
    };
    pool.services()
        .filter(|s| s.methods().any(|m| m.options().has_extension(&ext)))
        .map(|s| s.full_name().to_owned())
        .collect()
}

fn invalid(method: &MethodDescriptor, reason: impl Into<String>) -> GatewayError {
    GatewayError::InvalidBinding {
        method: method.full_name().to_owned(),
        reason: reason.into(),
    }
}

fn push_rule(
    method: &MethodDescriptor,
    rule: &DynamicMessage,
    top_level: bool,
    out: &mut Vec<Binding>,
) -> Result<(), GatewayError> {
    let mut pattern = None;
    for (name, verb) in [
        ("get", Method::GET),
        ("put", Method::PUT),
        ("post", Method::POST),
        ("delete", Method::DELETE),
        ("patch", Method::PATCH),
    ] {
        let path = str_field(rule, name);
        if !path.is_empty() {
            pattern = Some((verb, path));
        }
    }
    if let Some(Value::Message(custom)) = rule
        .get_field_by_name("custom")
        .map(std::borrow::Cow::into_owned)
    {
        let kind = str_field(&custom, "kind");
        let path = str_field(&custom, "path");
        if !kind.is_empty() || !path.is_empty() {
            let verb = Method::from_bytes(kind.as_bytes())
                .map_err(|_| invalid(method, format!("invalid custom HTTP method {kind:?}")))?;
            pattern = Some((verb, path));
        }
    }
    let Some((http_method, path)) = pattern else {
        return Err(invalid(method, "google.api.http rule has no pattern"));
    };
    let template = PathTemplate::parse(&path).map_err(|source| GatewayError::Template {
        method: method.full_name().to_owned(),
        source,
    })?;
    let input = method.input();
    let mut path_fields = Vec::new();
    for field_path in template.field_paths() {
        let chain = resolve_chain(&input, field_path).ok_or_else(|| {
            invalid(
                method,
                format!("path variable `{}` names no field", field_path.join(".")),
            )
        })?;
        let Some(last) = chain.last() else {
            return Err(invalid(method, "empty path variable"));
        };
        if last.is_list() || last.is_map() || !is_scalar_like(last) {
            return Err(invalid(
                method,
                format!(
                    "path variable `{}` must name a singular scalar field",
                    field_path.join(".")
                ),
            ));
        }
        path_fields.push(chain);
    }
    let body = match str_field(rule, "body").as_str() {
        "" => BodySpec::None,
        "*" => BodySpec::Whole,
        name => BodySpec::Field(
            input
                .get_field_by_name(name)
                .ok_or_else(|| invalid(method, format!("body field `{name}` does not exist")))?,
        ),
    };
    let response_body = match str_field(rule, "response_body").as_str() {
        "" => None,
        name => Some(method.output().get_field_by_name(name).ok_or_else(|| {
            invalid(
                method,
                format!("response_body field `{name}` does not exist"),
            )
        })?),
    };
    out.push(Binding {
        method: method.clone(),
        grpc_path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        rpc_name: format!("{}/{}", method.parent_service().full_name(), method.name()),
        http_method,
        template,
        path_fields,
        body,
        response_body,
        server_streaming: method.is_server_streaming(),
    });
    if top_level
        && let Some(extra) = rule.get_field_by_name("additional_bindings")
        && let Some(list) = extra.as_list()
    {
        for item in list {
            if let Some(nested) = item.as_message() {
                push_rule(method, nested, false, out)?;
            }
        }
    }
    Ok(())
}

/// Resolves `a.b.c` (proto or JSON names) to a field chain; every field but the last must
/// be a singular message.
pub(crate) fn resolve_chain(
    message: &MessageDescriptor,
    path: &[impl AsRef<str>],
) -> Option<Vec<FieldDescriptor>> {
    let mut current = message.clone();
    let mut chain = Vec::with_capacity(path.len());
    for (i, name) in path.iter().enumerate() {
        let name = name.as_ref();
        let field = current
            .get_field_by_name(name)
            .or_else(|| current.get_field_by_json_name(name))?;
        if i + 1 < path.len() {
            match field.kind() {
                Kind::Message(m) if !field.is_list() && !field.is_map() => current = m,
                _ => return None,
            }
        }
        chain.push(field);
    }
    Some(chain)
}

/// Well-known message types whose JSON form is a string or a scalar, so they can be set
/// from a path segment or a query parameter.
pub(crate) fn scalar_wkt(name: &str) -> bool {
    matches!(
        name,
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
    )
}

pub(crate) fn is_scalar_like(field: &FieldDescriptor) -> bool {
    match field.kind() {
        Kind::Message(m) => scalar_wkt(m.full_name()),
        _ => true,
    }
}
