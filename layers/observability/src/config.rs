//! [`ObservabilityConfig`]: what [`init`](crate::init) sets up.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::InitError;

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines, with the fields of the enclosing spans (`trace_id=…`) as a prefix.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`, the event's fields,
    /// `span`, and `trace_id` / `span_id` of the request being served.
    Json,
}

impl FromStr for LogFormat {
    type Err = InitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "pretty" | "plain" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(InitError::InvalidConfig {
                key: "LOG_FORMAT",
                value: s.to_owned(),
                expected: "`text` or `json`",
            }),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

/// Settings of [`init`](crate::init).
///
/// Build it in code (`ObservabilityConfig::new("notes").log_format(LogFormat::Json)`), read it
/// from the environment with [`ObservabilityConfig::from_env`], or deserialize it as a section
/// of your settings. Every field has a default; see the crate README for the table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ObservabilityConfig {
    /// `service.name` of the resource. Defaults to `unknown_service`, as the conventions say.
    pub service_name: String,
    /// `service.version` of the resource. Defaults to none.
    pub service_version: Option<String>,
    /// `deployment.environment.name` of the resource (`production`, `staging` …). Defaults to none.
    pub environment: Option<String>,
    /// Log line format. Defaults to [`LogFormat::Text`].
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax (`info,my_crate=debug`). Defaults to none: `RUST_LOG`
    /// when set, else `info`.
    pub log_filter: Option<String>,
    /// Base URL of an OTLP/HTTP collector (`http://127.0.0.1:4318`); traces go to
    /// `<endpoint>/v1/traces`, metrics to `<endpoint>/v1/metrics`. Only used when the crate is
    /// built with the `otlp` feature. Defaults to none (no export).
    pub otlp_endpoint: Option<String>,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        Self {
            service_name: "unknown_service".to_owned(),
            service_version: None,
            environment: None,
            log_format: LogFormat::Text,
            log_filter: None,
            otlp_endpoint: None,
        }
    }
}

impl ObservabilityConfig {
    /// Defaults with the given service name.
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            ..Self::default()
        }
    }

    /// Sets `service.version`.
    ///
    /// Defaults to none.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Sets `deployment.environment.name`.
    ///
    /// Defaults to none.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Sets the log format.
    ///
    /// Defaults to [`LogFormat::Text`].
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    /// Sets the log filter (`RUST_LOG` syntax).
    ///
    /// Defaults to `RUST_LOG`, else `info`.
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = Some(filter.into());
        self
    }

    /// Sets the OTLP/HTTP collector base URL (needs the `otlp` feature).
    ///
    /// Defaults to none.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(endpoint.into());
        self
    }

    /// Reads the settings from the environment (the standard OpenTelemetry variables where one
    /// exists):
    ///
    /// | variable | field |
    /// |---|---|
    /// | `OTEL_SERVICE_NAME` (else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) | `service_name` |
    /// | `service.version` in `OTEL_RESOURCE_ATTRIBUTES` | `service_version` |
    /// | `deployment.environment.name` (or `deployment.environment`) in `OTEL_RESOURCE_ATTRIBUTES` | `environment` |
    /// | `LOG_FORMAT` (`text` / `json`) | `log_format` |
    /// | `RUST_LOG` | `log_filter` |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); ignored when `OTEL_SDK_DISABLED=true` | `otlp_endpoint` |
    ///
    /// An invalid `LOG_FORMAT` is an error naming the variable.
    pub fn from_env() -> Result<Self, InitError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let mut config = Self::default();
        let resource = get("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
        for pair in resource.split(',') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim().to_owned();
            match key.trim() {
                "service.name" => config.service_name = value,
                "service.version" => config.service_version = Some(value),
                "deployment.environment.name" => config.environment = Some(value),
                "deployment.environment" if config.environment.is_none() => {
                    config.environment = Some(value);
                }
                _ => {}
            }
        }
        if let Some(name) = get("OTEL_SERVICE_NAME") {
            config.service_name = name;
        }
        if let Some(format) = get("LOG_FORMAT") {
            config.log_format = format.parse()?;
        }
        config.log_filter = get("RUST_LOG");
        let disabled =
            get("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if !disabled {
            config.otlp_endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT")
                .or_else(|| get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<ObservabilityConfig, InitError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ObservabilityConfig::from_lookup(|key| map.get(key).cloned())
    }

    #[test]
    fn defaults() {
        let config = from(&[]).expect("valid");
        assert_eq!(config, ObservabilityConfig::default());
        assert_eq!(config.service_name, "unknown_service");
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn reads_standard_variables() {
        let config = from(&[
            ("OTEL_SERVICE_NAME", "notes"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=ignored,service.version=1.2.3,deployment.environment.name=prod",
            ),
            ("LOG_FORMAT", "JSON"),
            ("RUST_LOG", "debug"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ])
        .expect("valid");
        assert_eq!(config.service_name, "notes");
        assert_eq!(config.service_version.as_deref(), Some("1.2.3"));
        assert_eq!(config.environment.as_deref(), Some("prod"));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.log_filter.as_deref(), Some("debug"));
        assert_eq!(
            config.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318")
        );
    }

    #[test]
    fn sdk_disabled_turns_export_off() {
        let config = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ])
        .expect("valid");
        assert_eq!(config.otlp_endpoint, None);
    }

    #[test]
    fn bad_log_format_names_the_variable() {
        let error = from(&[("LOG_FORMAT", "xml")]).expect_err("invalid");
        let message = error.to_string();
        assert!(
            message.contains("LOG_FORMAT") && message.contains("xml"),
            "{message}"
        );
    }

    #[test]
    fn deserializes_with_defaults() {
        let config: ObservabilityConfig =
            serde_json::from_str(r#"{"service_name":"notes","log_format":"json"}"#).expect("valid");
        assert_eq!(
            config,
            ObservabilityConfig::new("notes").log_format(LogFormat::Json)
        );
        assert!(serde_json::from_str::<ObservabilityConfig>(r#"{"nope":1}"#).is_err());
    }
}
