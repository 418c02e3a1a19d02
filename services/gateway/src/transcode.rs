//! JSON ↔ protobuf: assembling the request message from body, path and query, and rendering
//! the response message (proto3 JSON mapping via prost-reflect's serde support).

use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage,
    SerializeOptions,
};
use serde_json::{Map, Value};

use crate::error::Rejection;
use crate::rule::{Binding, BodySpec, resolve_chain, scalar_wkt};

/// JSON options shared by every call.
#[derive(Debug, Clone)]
pub(crate) struct JsonOptions {
    pub(crate) emit_defaults: bool,
    pub(crate) use_proto_names: bool,
    pub(crate) ignore_unknown_fields: bool,
}

impl JsonOptions {
    pub(crate) fn serialize(&self) -> SerializeOptions {
        SerializeOptions::new()
            .stringify_64_bit_integers(true)
            .use_enum_numbers(false)
            .use_proto_field_name(self.use_proto_names)
            .skip_default_fields(!self.emit_defaults)
    }

    fn deserialize(&self) -> DeserializeOptions {
        DeserializeOptions::new().deny_unknown_fields(!self.ignore_unknown_fields)
    }
}

/// Parses a JSON document, reporting where it broke.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, Rejection> {
    serde_json::from_slice(bytes).map_err(|e| Rejection::MalformedJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Builds the request message of `binding` from the (already parsed) body, the path captures
/// and the raw query string.
pub(crate) fn build_request(
    binding: &Binding,
    options: &JsonOptions,
    body: Option<Value>,
    path_values: &[String],
    query: Option<&str>,
) -> Result<DynamicMessage, Rejection> {
    let input = binding.input();
    let mut root = Map::new();
    match (&binding.body, body) {
        (BodySpec::Whole, Some(Value::Object(map))) => root = map,
        (BodySpec::Whole, Some(other)) => {
            return Err(Rejection::InvalidField {
                field: String::new(),
                message: format!("expected a JSON object, found {}", json_kind(&other)),
            });
        }
        (BodySpec::Field(field), Some(value)) => {
            root.insert(field.name().to_owned(), value);
        }
        (BodySpec::Whole | BodySpec::Field(_), None) | (BodySpec::None, _) => {}
    }
    for (chain, raw) in binding.path_fields.iter().zip(path_values) {
        let value = scalar_from_str(chain.last().map(FieldDescriptor::kind), raw).map_err(|m| {
            Rejection::InvalidField {
                field: field_path(chain),
                message: m,
            }
        })?;
        set_nested(&mut root, chain, value, false);
    }
    if let Some(query) = query
        && !matches!(binding.body, BodySpec::Whole)
    {
        apply_query(binding, options, &input, &mut root, query)?;
    }
    deserialize(&input, Value::Object(root), options)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn field_path(chain: &[FieldDescriptor]) -> String {
    chain
        .iter()
        .map(FieldDescriptor::name)
        .collect::<Vec<_>>()
        .join(".")
}

/// Deserializes `value` into a message of type `desc`, naming the field on error.
pub(crate) fn deserialize(
    desc: &MessageDescriptor,
    value: Value,
    options: &JsonOptions,
) -> Result<DynamicMessage, Rejection> {
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    match DynamicMessage::deserialize_with_options(desc.clone(), de, &options.deserialize()) {
        Ok(message) => Ok(message),
        Err(e) => Err(Rejection::InvalidField {
            field: track.path().to_string(),
            message: e.to_string(),
        }),
    }
}

/// Sets `root[chain...] = value`, creating objects on the way and removing the field under
/// its other JSON name so the two spellings never collide. With `append`, a repeated field
/// gets `value` pushed.
fn set_nested(
    root: &mut Map<String, Value>,
    chain: &[FieldDescriptor],
    value: Value,
    append: bool,
) {
    let mut current = root;
    for (i, field) in chain.iter().enumerate() {
        let existing = current
            .remove(field.json_name())
            .or_else(|| current.remove(field.name()));
        if i + 1 == chain.len() {
            let value = match (append, existing) {
                (true, Some(Value::Array(mut items))) => {
                    items.push(value);
                    Value::Array(items)
                }
                (true, _) => Value::Array(vec![value]),
                (false, _) => value,
            };
            current.insert(field.name().to_owned(), value);
            return;
        }
        let next = match existing {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        current.insert(field.name().to_owned(), Value::Object(next));
        let Some(Value::Object(map)) = current.get_mut(field.name()) else {
            return;
        };
        current = map;
    }
}

/// Converts a path or query string to the JSON value proto3 JSON expects for `kind`.
fn scalar_from_str(kind: Option<Kind>, raw: &str) -> Result<Value, String> {
    let Some(kind) = kind else {
        return Ok(Value::from(raw));
    };
    match kind {
        Kind::Bool => parse_bool(raw).map(Value::Bool),
        Kind::Enum(e) => Ok(raw.parse::<i32>().map_or_else(
            |_| Value::from(raw),
            |n| {
                if e.get_value(n).is_some() {
                    Value::from(n)
                } else {
                    Value::from(raw)
                }
            },
        )),
        Kind::Message(m) if m.full_name() == "google.protobuf.BoolValue" => {
            parse_bool(raw).map(Value::Bool)
        }
        Kind::Message(m) if !scalar_wkt(m.full_name()) => Err(format!(
            "a `{}` message cannot be set from a string",
            m.full_name()
        )),
        _ => Ok(Value::from(raw)),
    }
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw {
        "true" | "True" | "TRUE" | "t" | "T" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "f" | "F" | "0" => Ok(false),
        _ => Err(format!("invalid boolean {raw:?}")),
    }
}

fn apply_query(
    binding: &Binding,
    options: &JsonOptions,
    input: &MessageDescriptor,
    root: &mut Map<String, Value>,
    query: &str,
) -> Result<(), Rejection> {
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key.is_empty() {
            continue;
        }
        let parts: Vec<&str> = key.split('.').collect();
        let Some(chain) = resolve_chain(input, &parts) else {
            if options.ignore_unknown_fields {
                continue;
            }
            return Err(Rejection::InvalidQuery {
                parameter: key.into_owned(),
                message: format!("no such field in `{}`", input.full_name()),
            });
        };
        // Fields bound by the path or the body are not taken from the query.
        if let BodySpec::Field(body) = &binding.body
            && chain[0] == *body
        {
            continue;
        }
        if binding
            .path_fields
            .iter()
            .any(|p| p.starts_with(&chain) || chain.starts_with(p))
        {
            continue;
        }
        let Some(last) = chain.last() else { continue };
        if last.is_map() || (last.is_list() && !crate::rule::is_scalar_like(last)) {
            return Err(Rejection::InvalidQuery {
                parameter: key.into_owned(),
                message: "maps and repeated messages cannot be set from the query string".into(),
            });
        }
        let json = scalar_from_str(Some(last.kind()), &value).map_err(|message| {
            Rejection::InvalidQuery {
                parameter: key.to_string(),
                message,
            }
        })?;
        set_nested(root, &chain, json, last.is_list());
    }
    Ok(())
}

/// Renders the response message (or its `response_body` field) as JSON.
pub(crate) fn render_response(
    binding: &Binding,
    options: &JsonOptions,
    message: &DynamicMessage,
) -> Result<Vec<u8>, String> {
    let serialize = options.serialize();
    let Some(field) = &binding.response_body else {
        let mut out = serde_json::Serializer::new(Vec::new());
        message
            .serialize_with_options(&mut out, &serialize)
            .map_err(|e| e.to_string())?;
        return Ok(out.into_inner());
    };
    let key = if options.use_proto_names {
        field.name()
    } else {
        field.json_name()
    };
    let mut only = DynamicMessage::new(message.descriptor());
    only.set_field(field, message.get_field(field).into_owned());
    let mut value = to_value(&only, &serialize)?;
    let mut extracted = value.as_object_mut().and_then(|m| m.remove(key));
    if extracted.is_none() {
        // The field holds its default value and was skipped: render the default explicitly.
        let mut value = to_value(&only, &serialize.clone().skip_default_fields(false))?;
        extracted = value.as_object_mut().and_then(|m| m.remove(key));
    }
    serde_json::to_vec(&extracted.unwrap_or(Value::Null)).map_err(|e| e.to_string())
}

fn to_value(message: &DynamicMessage, options: &SerializeOptions) -> Result<Value, String> {
    message
        .serialize_with_options(serde_json::value::Serializer, options)
        .map_err(|e| e.to_string())
}
