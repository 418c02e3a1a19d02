//! Decoding `grpc-status-details-bin` (a serialized `google.rpc.Status`) into problem members.

use base64::Engine as _;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{Value, json};

#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<prost_types::Any>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct BadRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) field_violations: Vec<FieldViolation>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct FieldViolation {
    #[prost(string, tag = "1")]
    pub(crate) field: String,
    #[prost(string, tag = "2")]
    pub(crate) description: String,
    #[prost(string, tag = "3")]
    pub(crate) reason: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ErrorInfo {
    #[prost(string, tag = "1")]
    pub(crate) reason: String,
    #[prost(string, tag = "2")]
    pub(crate) domain: String,
    #[prost(map = "string, string", tag = "3")]
    pub(crate) metadata: std::collections::HashMap<String, String>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub(crate) retry_delay: Option<prost_types::Duration>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct LocalizedMessage {
    #[prost(string, tag = "1")]
    pub(crate) locale: String,
    #[prost(string, tag = "2")]
    pub(crate) message: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ResourceInfo {
    #[prost(string, tag = "1")]
    pub(crate) resource_type: String,
    #[prost(string, tag = "2")]
    pub(crate) resource_name: String,
    #[prost(string, tag = "3")]
    pub(crate) owner: String,
    #[prost(string, tag = "4")]
    pub(crate) description: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct PreconditionFailure {
    #[prost(message, repeated, tag = "1")]
    pub(crate) violations: Vec<TypedViolation>,
}

/// `PreconditionFailure.Violation` (type, subject, description).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TypedViolation {
    #[prost(string, tag = "1")]
    pub(crate) r#type: String,
    #[prost(string, tag = "2")]
    pub(crate) subject: String,
    #[prost(string, tag = "3")]
    pub(crate) description: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct QuotaFailure {
    #[prost(message, repeated, tag = "1")]
    pub(crate) violations: Vec<QuotaViolation>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct QuotaViolation {
    #[prost(string, tag = "1")]
    pub(crate) subject: String,
    #[prost(string, tag = "2")]
    pub(crate) description: String,
}

/// What a `google.rpc.Status` adds to a problem response.
#[derive(Debug, Default)]
pub(crate) struct DecodedDetails {
    /// `BadRequest` field violations as `{field, detail, reason?}`.
    pub(crate) errors: Vec<Value>,
    /// Every detail as JSON with its `@type`.
    pub(crate) details: Vec<Value>,
    /// `RetryInfo.retry_delay`, rounded up to whole seconds.
    pub(crate) retry_after_secs: Option<u64>,
}

const PREFIX: &str = "type.googleapis.com/";

/// Decodes the base64 `grpc-status-details-bin` value. `DebugInfo` details are dropped on
/// purpose: they carry stack traces meant for the server's operators, not its clients.
pub(crate) fn decode(header: &[u8], pool: &DescriptorPool) -> Option<DecodedDetails> {
    let trimmed = header
        .strip_suffix(b"==")
        .or_else(|| header.strip_suffix(b"="))
        .unwrap_or(header);
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .ok()?;
    let status = RpcStatus::decode(raw.as_slice()).ok()?;
    let mut out = DecodedDetails::default();
    for any in status.details {
        let type_name = any
            .type_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let at_type = format!("{PREFIX}{type_name}");
        let value = any.value.as_slice();
        let json = match type_name.as_str() {
            "google.rpc.DebugInfo" => continue,
            "google.rpc.BadRequest" => BadRequest::decode(value).ok().map(|b| {
                let violations: Vec<Value> = b
                    .field_violations
                    .iter()
                    .map(|v| {
                        let mut e = json!({ "field": v.field, "detail": v.description });
                        if !v.reason.is_empty() {
                            e["reason"] = json!(v.reason);
                        }
                        e
                    })
                    .collect();
                out.errors.extend(violations.iter().cloned());
                json!({ "@type": at_type, "fieldViolations": b.field_violations.iter().map(|v| json!({"field": v.field, "description": v.description})).collect::<Vec<_>>() })
            }),
            "google.rpc.ErrorInfo" => ErrorInfo::decode(value).ok().map(|e| {
                json!({ "@type": at_type, "reason": e.reason, "domain": e.domain, "metadata": e.metadata })
            }),
            "google.rpc.RetryInfo" => RetryInfo::decode(value).ok().map(|r| {
                let d = r.retry_delay.unwrap_or_default();
                let secs = d.seconds.max(0) as u64 + u64::from(d.nanos > 0);
                out.retry_after_secs = Some(secs);
                json!({ "@type": at_type, "retryDelay": format!("{}s", secs) })
            }),
            "google.rpc.LocalizedMessage" => LocalizedMessage::decode(value)
                .ok()
                .map(|m| json!({ "@type": at_type, "locale": m.locale, "message": m.message })),
            "google.rpc.ResourceInfo" => ResourceInfo::decode(value).ok().map(|r| {
                json!({ "@type": at_type, "resourceType": r.resource_type, "resourceName": r.resource_name, "owner": r.owner, "description": r.description })
            }),
            "google.rpc.PreconditionFailure" => PreconditionFailure::decode(value).ok().map(|p| {
                json!({ "@type": at_type, "violations": p.violations.iter().map(|v| json!({"type": v.r#type, "subject": v.subject, "description": v.description})).collect::<Vec<_>>() })
            }),
            "google.rpc.QuotaFailure" => QuotaFailure::decode(value).ok().map(|q| {
                json!({ "@type": at_type, "violations": q.violations.iter().map(|v| json!({"subject": v.subject, "description": v.description})).collect::<Vec<_>>() })
            }),
            other => pool.get_message_by_name(other).and_then(|desc| {
                let msg = DynamicMessage::decode(desc, value).ok()?;
                let mut v = serde_json::to_value(&msg).ok()?;
                if let Value::Object(map) = &mut v {
                    map.insert("@type".into(), json!(at_type));
                }
                Some(v)
            }),
        };
        out.details
            .push(json.unwrap_or_else(|| json!({ "@type": at_type })));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any<M: Message>(name: &str, m: &M) -> prost_types::Any {
        prost_types::Any {
            type_url: format!("{PREFIX}{name}"),
            value: m.encode_to_vec(),
        }
    }

    #[test]
    fn decodes_known_details_and_drops_debug_info() {
        let status = RpcStatus {
            code: 3,
            message: "bad".into(),
            details: vec![
                any(
                    "google.rpc.BadRequest",
                    &BadRequest {
                        field_violations: vec![FieldViolation {
                            field: "title".into(),
                            description: "too long".into(),
                            reason: String::new(),
                        }],
                    },
                ),
                any(
                    "google.rpc.RetryInfo",
                    &RetryInfo {
                        retry_delay: Some(prost_types::Duration {
                            seconds: 2,
                            nanos: 1,
                        }),
                    },
                ),
                any("google.rpc.DebugInfo", &LocalizedMessage::default()),
                any(
                    "google.rpc.ErrorInfo",
                    &ErrorInfo {
                        reason: "R".into(),
                        ..Default::default()
                    },
                ),
                any("x.Unknown", &LocalizedMessage::default()),
            ],
        };
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(status.encode_to_vec());
        let d = decode(b64.as_bytes(), &DescriptorPool::new()).expect("decodes");
        assert_eq!(
            d.errors,
            vec![json!({"field": "title", "detail": "too long"})]
        );
        assert_eq!(d.retry_after_secs, Some(3));
        assert_eq!(d.details.len(), 4);
        assert_eq!(
            d.details[3],
            json!({"@type": "type.googleapis.com/x.Unknown"})
        );
        let padded = base64::engine::general_purpose::STANDARD.encode(status.encode_to_vec());
        assert!(decode(padded.as_bytes(), &DescriptorPool::new()).is_some());
        assert!(decode(b"!!!", &DescriptorPool::new()).is_none());
    }
}
