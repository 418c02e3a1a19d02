//! [`HttpClientConfig`]: the client's settings as plain data.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, HttpClient, HttpClientBuilder};

/// Client settings, for a `httpclient` section of a service's configuration.
///
/// Durations are written `"2s"`, `"500ms"`, `"1m"` or as a number of seconds; `null` (or `"off"`
/// in an env variable) disables an optional limit.
///
/// ```
/// use core_backend_httpclient::HttpClientConfig;
///
/// let config: HttpClientConfig =
///     serde_json::from_str(r#"{ "timeout": "5s", "base_url": "http://127.0.0.1:8080/api" }"#)?;
/// let client = config.build()?;
/// # let _ = client;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// | field | env variable ([`from_env`](HttpClientConfig::from_env)) | default |
/// |---|---|---|
/// | `timeout` | `HTTPCLIENT_TIMEOUT` | `30s` |
/// | `attempt_timeout` | `HTTPCLIENT_ATTEMPT_TIMEOUT` | `10s` |
/// | `connect_timeout` | `HTTPCLIENT_CONNECT_TIMEOUT` | `5s` |
/// | `base_url` | `HTTPCLIENT_BASE_URL` | none |
/// | `user_agent` | `HTTPCLIENT_USER_AGENT` | `core-backend/<version>` |
/// | `max_redirects` | `HTTPCLIENT_MAX_REDIRECTS` | `10` |
/// | `decompression` | `HTTPCLIENT_DECOMPRESSION` | `true` |
/// | `pool_idle_timeout` | `HTTPCLIENT_POOL_IDLE_TIMEOUT` | `90s` |
/// | `pool_max_idle_per_host` | `HTTPCLIENT_POOL_MAX_IDLE_PER_HOST` | `32` |
/// | `tcp_nodelay` | `HTTPCLIENT_TCP_NODELAY` | `true` |
/// | `http2_prior_knowledge` | `HTTPCLIENT_HTTP2_PRIOR_KNOWLEDGE` | `false` |
/// | `max_response_body` | `HTTPCLIENT_MAX_RESPONSE_BODY` (bytes) | `10485760` |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpClientConfig {
    /// Limit of the whole call, body included.
    #[serde(with = "optional_duration")]
    pub timeout: Option<Duration>,
    /// Limit of one attempt, until the response head.
    #[serde(with = "optional_duration")]
    pub attempt_timeout: Option<Duration>,
    /// Limit of establishing a connection.
    #[serde(with = "optional_duration")]
    pub connect_timeout: Option<Duration>,
    /// Base URL for relative request URIs.
    pub base_url: Option<String>,
    /// Default `User-Agent`.
    pub user_agent: String,
    /// Redirects followed before failing; `0` does not follow.
    pub max_redirects: usize,
    /// Whether gzip/deflate responses are decoded.
    pub decompression: bool,
    /// How long idle pooled connections are kept.
    #[serde(with = "optional_duration")]
    pub pool_idle_timeout: Option<Duration>,
    /// Idle pooled connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// Whether `TCP_NODELAY` is set.
    pub tcp_nodelay: bool,
    /// HTTP/2 without negotiation.
    pub http2_prior_knowledge: bool,
    /// Largest response body the helpers read, in bytes.
    pub max_response_body: u64,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(30)),
            attempt_timeout: Some(Duration::from_secs(10)),
            connect_timeout: Some(Duration::from_secs(5)),
            base_url: None,
            user_agent: concat!("core-backend/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_redirects: 10,
            decompression: true,
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: 32,
            tcp_nodelay: true,
            http2_prior_knowledge: false,
            max_response_body: 10 * 1024 * 1024,
        }
    }
}

/// An environment variable whose value could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEnvVar {
    /// The variable's name.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What was expected.
    pub expected: &'static str,
}

impl fmt::Display for InvalidEnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value for env var {}: expected {}, found {:?}",
            self.var, self.expected, self.value
        )
    }
}

impl std::error::Error for InvalidEnvVar {}

const DURATION: &str = "a duration like \"2s\" or \"500ms\", or \"off\"";

impl HttpClientConfig {
    /// Defaults overridden by the `HTTPCLIENT_*` variables of the table above.
    pub fn from_env() -> Result<Self, InvalidEnvVar> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, InvalidEnvVar> {
        let mut config = Self::default();
        for (var, field) in [
            ("HTTPCLIENT_TIMEOUT", &mut config.timeout),
            ("HTTPCLIENT_ATTEMPT_TIMEOUT", &mut config.attempt_timeout),
            ("HTTPCLIENT_CONNECT_TIMEOUT", &mut config.connect_timeout),
            (
                "HTTPCLIENT_POOL_IDLE_TIMEOUT",
                &mut config.pool_idle_timeout,
            ),
        ] {
            if let Some(value) = get(var) {
                *field = optional_duration::parse(&value).map_err(|()| InvalidEnvVar {
                    var,
                    value,
                    expected: DURATION,
                })?;
            }
        }
        if let Some(value) = get("HTTPCLIENT_BASE_URL") {
            config.base_url = Some(value).filter(|v| !v.trim().is_empty());
        }
        if let Some(value) = get("HTTPCLIENT_USER_AGENT") {
            config.user_agent = value;
        }
        for (var, field) in [
            ("HTTPCLIENT_DECOMPRESSION", &mut config.decompression),
            ("HTTPCLIENT_TCP_NODELAY", &mut config.tcp_nodelay),
            (
                "HTTPCLIENT_HTTP2_PRIOR_KNOWLEDGE",
                &mut config.http2_prior_knowledge,
            ),
        ] {
            if let Some(value) = get(var) {
                *field = match value.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => {
                        return Err(InvalidEnvVar {
                            var,
                            value,
                            expected: "true or false",
                        });
                    }
                };
            }
        }
        for (var, field) in [
            ("HTTPCLIENT_MAX_REDIRECTS", &mut config.max_redirects),
            (
                "HTTPCLIENT_POOL_MAX_IDLE_PER_HOST",
                &mut config.pool_max_idle_per_host,
            ),
        ] {
            if let Some(value) = get(var) {
                *field = value.trim().parse().map_err(|_| InvalidEnvVar {
                    var,
                    value: value.clone(),
                    expected: "a whole number",
                })?;
            }
        }
        if let Some(value) = get("HTTPCLIENT_MAX_RESPONSE_BODY") {
            config.max_response_body = value.trim().parse().map_err(|_| InvalidEnvVar {
                var: "HTTPCLIENT_MAX_RESPONSE_BODY",
                value: value.clone(),
                expected: "a number of bytes",
            })?;
        }
        Ok(config)
    }

    /// A builder with these settings, to add layers to.
    pub fn builder(&self) -> HttpClientBuilder {
        HttpClientBuilder::from_config(self)
    }

    /// A client with these settings.
    pub fn build(&self) -> Result<HttpClient, Error> {
        self.builder().build()
    }
}

/// A deliberately small duration format (`ms`, `s`, `m`, `h`, or whole seconds; `off`).
mod optional_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// `Ok(None)` is "off"; `Err(())` is not a duration.
    pub(super) fn parse(s: &str) -> Result<Option<Duration>, ()> {
        let s = s.trim();
        if matches!(s, "off" | "none" | "") {
            return Ok(None);
        }
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let n: u64 = number.parse().map_err(|_| ())?;
        let duration = match unit.trim() {
            "" | "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            "m" => Duration::from_secs(n.checked_mul(60).ok_or(())?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or(())?),
            _ => return Err(()),
        };
        Ok(Some(duration))
    }

    #[allow(clippy::ref_option)] // the signature serde's `with` expects
    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            None => s.serialize_none(),
            Some(d) if d.subsec_nanos() == 0 => s.serialize_str(&format!("{}s", d.as_secs())),
            Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Secs(n)) => Ok(Some(Duration::from_secs(n))),
            Some(Raw::Text(t)) => parse(&t).map_err(|()| {
                serde::de::Error::invalid_value(serde::de::Unexpected::Str(&t), &super::DURATION)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<HttpClientConfig, InvalidEnvVar> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        HttpClientConfig::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn env_overrides_defaults() {
        let config = from(&[
            ("HTTPCLIENT_TIMEOUT", "2s"),
            ("HTTPCLIENT_ATTEMPT_TIMEOUT", "off"),
            ("HTTPCLIENT_CONNECT_TIMEOUT", "250ms"),
            ("HTTPCLIENT_BASE_URL", "http://127.0.0.1:1/api"),
            ("HTTPCLIENT_MAX_REDIRECTS", "3"),
            ("HTTPCLIENT_HTTP2_PRIOR_KNOWLEDGE", "yes"),
            ("HTTPCLIENT_MAX_RESPONSE_BODY", "1024"),
        ])
        .expect("valid");
        assert_eq!(config.timeout, Some(Duration::from_secs(2)));
        assert_eq!(config.attempt_timeout, None);
        assert_eq!(config.connect_timeout, Some(Duration::from_millis(250)));
        assert_eq!(config.base_url.as_deref(), Some("http://127.0.0.1:1/api"));
        assert_eq!(config.max_redirects, 3);
        assert!(config.http2_prior_knowledge);
        assert_eq!(config.max_response_body, 1024);
        assert!(config.build().is_ok());
        assert_eq!(from(&[]).expect("defaults"), HttpClientConfig::default());
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let error = from(&[("HTTPCLIENT_TIMEOUT", "soon")]).expect_err("bad duration");
        assert_eq!(error.var, "HTTPCLIENT_TIMEOUT");
        assert!(error.to_string().contains("HTTPCLIENT_TIMEOUT"));
        assert!(from(&[("HTTPCLIENT_TCP_NODELAY", "maybe")]).is_err());
        assert!(from(&[("HTTPCLIENT_MAX_REDIRECTS", "-1")]).is_err());
        assert!(from(&[("HTTPCLIENT_MAX_RESPONSE_BODY", "x")]).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let config: HttpClientConfig = serde_json::from_str(
            r#"{"timeout": null, "connect_timeout": 3, "attempt_timeout": "1500ms"}"#,
        )
        .expect("valid");
        assert_eq!(config.timeout, None);
        assert_eq!(config.connect_timeout, Some(Duration::from_secs(3)));
        let text = serde_json::to_string(&config).expect("serialises");
        let back: HttpClientConfig = serde_json::from_str(&text).expect("round trip");
        assert_eq!(back, config);
        assert!(serde_json::from_str::<HttpClientConfig>(r#"{"timeout": "soon"}"#).is_err());
        assert!(serde_json::from_str::<HttpClientConfig>(r#"{"nope": 1}"#).is_err());
        let bad = HttpClientConfig {
            base_url: Some("ftp://x".into()),
            ..HttpClientConfig::default()
        };
        assert!(matches!(bad.build(), Err(Error::InvalidUrl { .. })));
    }
}
