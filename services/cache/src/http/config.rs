//! [`ResponseCacheConfig`]: settings of the response-cache layer.

use std::time::Duration;

use serde::Deserialize;

use crate::{ConfigError, config::parse_duration};

/// Settings of a [`ResponseCacheLayer`](super::ResponseCacheLayer).
///
/// [`ResponseCacheConfig::from_env`] reads the `CACHE_HTTP_*` variables listed in the crate README.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ResponseCacheConfig {
    /// Value of the `cache` label on metrics. Defaults to `"http"`.
    pub name: String,
    /// Upper bound on the bytes of all stored responses (bodies + headers). Defaults to 64 MiB.
    pub max_bytes: u64,
    /// Largest body that is buffered, given an `ETag` and stored; larger bodies stream through
    /// uncached. Defaults to 1 MiB.
    pub max_body_bytes: usize,
    /// Freshness for `200` responses that carry no `max-age` / `s-maxage`. Defaults to `None`
    /// (such responses are not stored).
    #[serde(deserialize_with = "crate::config::de_opt_duration")]
    pub default_ttl: Option<Duration>,
    /// Add a strong `ETag` (SHA-256 of the body) to `200` GET responses that have none, and
    /// answer `If-None-Match` with `304` also for responses that are not stored. Defaults to `true`.
    pub etag: bool,
    /// Most variants (by `Vary`) kept per URI. Defaults to `16`.
    pub max_variants: usize,
}

impl Default for ResponseCacheConfig {
    fn default() -> Self {
        Self {
            name: "http".to_owned(),
            max_bytes: 64 << 20,
            max_body_bytes: 1 << 20,
            default_ttl: None,
            etag: true,
            max_variants: 16,
        }
    }
}

impl ResponseCacheConfig {
    /// Reads `CACHE_HTTP_NAME`, `CACHE_HTTP_MAX_BYTES`, `CACHE_HTTP_MAX_BODY_BYTES`,
    /// `CACHE_HTTP_DEFAULT_TTL`, `CACHE_HTTP_ETAG` and `CACHE_HTTP_MAX_VARIANTS` over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut cfg = Self::default();
        let int = |key: &'static str, v: String| {
            v.trim().parse::<u64>().map_err(|_| ConfigError {
                key,
                value: v,
                expected: "an unsigned integer",
            })
        };
        if let Some(v) = get("CACHE_HTTP_NAME") {
            cfg.name = v;
        }
        if let Some(v) = get("CACHE_HTTP_MAX_BYTES") {
            cfg.max_bytes = int("CACHE_HTTP_MAX_BYTES", v)?;
        }
        if let Some(v) = get("CACHE_HTTP_MAX_BODY_BYTES") {
            cfg.max_body_bytes =
                usize::try_from(int("CACHE_HTTP_MAX_BODY_BYTES", v)?).unwrap_or(usize::MAX);
        }
        if let Some(v) = get("CACHE_HTTP_MAX_VARIANTS") {
            cfg.max_variants =
                usize::try_from(int("CACHE_HTTP_MAX_VARIANTS", v)?).unwrap_or(usize::MAX);
        }
        if let Some(v) = get("CACHE_HTTP_DEFAULT_TTL") {
            cfg.default_ttl = Some(parse_duration(&v).ok_or(ConfigError {
                key: "CACHE_HTTP_DEFAULT_TTL",
                value: v,
                expected: "a duration such as 250ms, 30s, 5m, 1h or seconds",
            })?);
        }
        if let Some(v) = get("CACHE_HTTP_ETAG") {
            cfg.etag = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError {
                        key: "CACHE_HTTP_ETAG",
                        value: v,
                        expected: "true or false",
                    });
                }
            };
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides() {
        let cfg = ResponseCacheConfig::from_lookup(|k| match k {
            "CACHE_HTTP_MAX_BODY_BYTES" => Some("4096".to_owned()),
            "CACHE_HTTP_DEFAULT_TTL" => Some("10s".to_owned()),
            "CACHE_HTTP_ETAG" => Some("off".to_owned()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(cfg.max_body_bytes, 4096);
        assert_eq!(cfg.default_ttl, Some(Duration::from_secs(10)));
        assert!(!cfg.etag);
        let err = ResponseCacheConfig::from_lookup(|k| {
            (k == "CACHE_HTTP_ETAG").then(|| "maybe".to_owned())
        })
        .expect_err("bad");
        assert_eq!(err.key, "CACHE_HTTP_ETAG");
    }
}
