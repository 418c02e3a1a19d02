//! Plain, serde-loadable gateway settings.

use serde::Deserialize;

use crate::error::GatewayError;

/// Default request body limit: 4 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Request headers forwarded to the gRPC service as metadata unless configured otherwise
/// (`grpc-metadata-*` headers are always forwarded, with the prefix removed).
pub const DEFAULT_FORWARD_HEADERS: &[&str] = &[
    "authorization",
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-tenant-id",
    "accept-language",
];

/// Response metadata copied to the HTTP response under its own name unless configured
/// otherwise (the headers whose meaning is the same in HTTP).
pub const DEFAULT_RESPONSE_HEADERS: &[&str] = &[
    "retry-after",
    "www-authenticate",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-request-id",
    "content-language",
];

/// Gateway settings; [`GatewayBuilder::config`](crate::GatewayBuilder::config) applies them.
///
/// Every field has a builder setter too. Loadable with serde (e.g. from the config service)
/// or from the environment with [`GatewayConfig::from_env`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Largest accepted request body in bytes; larger bodies get 413.
    pub body_limit: usize,
    /// Emit fields that hold their default value (`0`, `""`, `false`, `[]`) in responses.
    pub emit_defaults: bool,
    /// Use the proto field names (`page_size`) instead of lowerCamelCase (`pageSize`) in responses.
    pub use_proto_names: bool,
    /// Ignore unknown JSON fields and query parameters instead of answering 400.
    pub ignore_unknown_fields: bool,
    /// Request headers forwarded as gRPC metadata (lower-case names).
    pub forward_headers: Vec<String>,
    /// Response metadata copied to HTTP response headers under the same name.
    pub response_headers: Vec<String>,
    /// Also copy every other response metadata entry as a `grpc-metadata-<name>` header.
    pub response_metadata_headers: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            body_limit: DEFAULT_BODY_LIMIT,
            emit_defaults: false,
            use_proto_names: false,
            ignore_unknown_fields: false,
            forward_headers: DEFAULT_FORWARD_HEADERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            response_headers: DEFAULT_RESPONSE_HEADERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            response_metadata_headers: false,
        }
    }
}

impl GatewayConfig {
    /// Reads the settings from `CORE_BACKEND_GATEWAY_*` environment variables, starting from
    /// the defaults (see the crate README for the list). A variable that does not parse is an
    /// error naming the variable.
    pub fn from_env() -> Result<Self, GatewayError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, GatewayError> {
        fn bad(variable: &str, value: &str, expected: &str) -> GatewayError {
            GatewayError::Config {
                variable: variable.to_owned(),
                message: format!("{value:?} is not {expected}"),
            }
        }
        fn boolean(variable: &str, value: &str) -> Result<bool, GatewayError> {
            match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(bad(variable, value, "a boolean")),
            }
        }
        fn list(value: &str) -> Vec<String> {
            value
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        }
        let mut config = Self::default();
        const P: &str = "CORE_BACKEND_GATEWAY_";
        if let Some(v) = get(&format!("{P}BODY_LIMIT")) {
            config.body_limit = v
                .trim()
                .parse()
                .map_err(|_| bad(&format!("{P}BODY_LIMIT"), &v, "a byte count"))?;
        }
        for (name, slot) in [
            ("EMIT_DEFAULTS", &mut config.emit_defaults),
            ("USE_PROTO_NAMES", &mut config.use_proto_names),
            ("IGNORE_UNKNOWN_FIELDS", &mut config.ignore_unknown_fields),
            (
                "RESPONSE_METADATA_HEADERS",
                &mut config.response_metadata_headers,
            ),
        ] {
            let var = format!("{P}{name}");
            if let Some(v) = get(&var) {
                *slot = boolean(&var, &v)?;
            }
        }
        if let Some(v) = get(&format!("{P}FORWARD_HEADERS")) {
            config.forward_headers = list(&v);
        }
        if let Some(v) = get(&format!("{P}RESPONSE_HEADERS")) {
            config.response_headers = list(&v);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn env_overrides_defaults() {
        let c = GatewayConfig::from_lookup(lookup(&[
            ("CORE_BACKEND_GATEWAY_BODY_LIMIT", "1024"),
            ("CORE_BACKEND_GATEWAY_EMIT_DEFAULTS", "true"),
            ("CORE_BACKEND_GATEWAY_FORWARD_HEADERS", "Authorization, x-a"),
        ]))
        .expect("valid");
        assert_eq!(c.body_limit, 1024);
        assert!(c.emit_defaults);
        assert!(!c.use_proto_names);
        assert_eq!(c.forward_headers, vec!["authorization", "x-a"]);
        assert_eq!(
            GatewayConfig::from_lookup(lookup(&[])).expect("valid"),
            GatewayConfig::default()
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e =
            GatewayConfig::from_lookup(lookup(&[("CORE_BACKEND_GATEWAY_EMIT_DEFAULTS", "maybe")]))
                .expect_err("invalid");
        assert!(
            e.to_string().contains("CORE_BACKEND_GATEWAY_EMIT_DEFAULTS"),
            "{e}"
        );
        let e = GatewayConfig::from_lookup(lookup(&[("CORE_BACKEND_GATEWAY_BODY_LIMIT", "-1")]))
            .expect_err("invalid");
        assert!(e.to_string().contains("BODY_LIMIT"), "{e}");
    }

    #[test]
    fn deserializes_with_defaults() {
        let c: GatewayConfig = serde_json::from_str(r#"{"body_limit": 10}"#).expect("valid");
        assert_eq!(c.body_limit, 10);
        assert_eq!(c.forward_headers, GatewayConfig::default().forward_headers);
        assert!(serde_json::from_str::<GatewayConfig>(r#"{"nope": 1}"#).is_err());
    }
}
