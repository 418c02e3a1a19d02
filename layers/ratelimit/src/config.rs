//! [`RateLimitConfig`]: the serde / environment form of the common set-up (a per-client
//! limit, optionally a daily one).

use std::fmt;

use ipnet::IpNet;
use serde::Deserialize;

use crate::{
    Algorithm, ClientIp, ForwardedHeader, Limit, MemoryStore, OnStoreError, Quota,
    RateLimitLayerBuilder,
};

/// Configuration of a per-client rate limit.
///
/// | field | env (`from_env`) | default |
/// |---|---|---|
/// | `enabled` | `RATELIMIT_ENABLED` | `true` |
/// | `per_second` | `RATELIMIT_PER_SECOND` | `100` |
/// | `burst` | `RATELIMIT_BURST` | `2 × per_second` |
/// | `per_day` | `RATELIMIT_PER_DAY` | none |
/// | `algorithm` | `RATELIMIT_ALGORITHM` (`gcra`, `sliding_window`, `fixed_window`) | `gcra` |
/// | `trusted_proxies` | `RATELIMIT_TRUSTED_PROXIES` (comma-separated CIDRs) | none |
/// | `forwarded_header` | `RATELIMIT_FORWARDED_HEADER` (`x-forwarded-for`, `forwarded`, `none`) | `x-forwarded-for` |
/// | `exempt_paths` | `RATELIMIT_EXEMPT_PATHS` (comma-separated) | health and metrics paths |
/// | `on_store_error` | `RATELIMIT_ON_STORE_ERROR` (`fail-open`, `fail-closed`) | `fail-open` |
/// | `max_keys` | `RATELIMIT_MAX_KEYS` | `1000000` |
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Whether the limit is applied at all.
    pub enabled: bool,
    /// Sustained requests per second per client.
    pub per_second: u32,
    /// Requests a client may send at once; `None` is twice `per_second`.
    pub burst: Option<u32>,
    /// An additional daily quota per client.
    pub per_day: Option<u32>,
    /// The algorithm of the per-second limit (the daily one is a sliding window).
    pub algorithm: Algorithm,
    /// Proxies allowed to name the client in the forwarding header.
    pub trusted_proxies: Vec<IpNet>,
    /// The forwarding header the trusted proxies set.
    pub forwarded_header: ForwardedHeader,
    /// Exact paths never limited.
    pub exempt_paths: Vec<String>,
    /// Admit or refuse when the store fails.
    pub on_store_error: OnStoreError,
    /// The most client keys kept in memory.
    pub max_keys: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_second: 100,
            burst: None,
            per_day: None,
            algorithm: Algorithm::Gcra,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            exempt_paths: crate::DEFAULT_EXEMPT_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            on_store_error: OnStoreError::FailOpen,
            max_keys: crate::memory::DEFAULT_MAX_KEYS,
        }
    }
}

/// A configuration value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
    value: String,
    expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value {:?} for {}: expected {}",
            self.value, self.key, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

impl RateLimitConfig {
    /// Reads `RATELIMIT_*` variables over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_prefixed("RATELIMIT_")
    }

    /// Reads `<prefix>PER_SECOND`, `<prefix>BURST`, … over the defaults (e.g. the prefix
    /// `API_RATELIMIT__` reads `API_RATELIMIT__PER_SECOND`).
    pub fn from_env_prefixed(prefix: &str) -> Result<Self, ConfigError> {
        Self::from_lookup(prefix, |k| std::env::var(k).ok())
    }

    /// Reads the variables through `lookup` (testable without touching the environment).
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        let get =
            |name: &str| lookup(&format!("{prefix}{name}")).map(|v| (format!("{prefix}{name}"), v));
        let err = |key: String, value: String, expected| ConfigError {
            key,
            value,
            expected,
        };
        if let Some((k, v)) = get("ENABLED") {
            c.enabled = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(err(k, v, "true or false")),
            };
        }
        if let Some((k, v)) = get("PER_SECOND") {
            c.per_second = parse_nonzero(&v).ok_or_else(|| err(k, v, "a positive integer"))?;
        }
        if let Some((k, v)) = get("BURST") {
            c.burst = Some(parse_nonzero(&v).ok_or_else(|| err(k, v, "a positive integer"))?);
        }
        if let Some((k, v)) = get("PER_DAY") {
            c.per_day = Some(parse_nonzero(&v).ok_or_else(|| err(k, v, "a positive integer"))?);
        }
        if let Some((k, v)) = get("ALGORITHM") {
            c.algorithm = match v.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "gcra" | "token_bucket" => Algorithm::Gcra,
                "sliding_window" => Algorithm::SlidingWindow,
                "fixed_window" => Algorithm::FixedWindow,
                _ => return Err(err(k, v, "gcra, sliding_window or fixed_window")),
            };
        }
        if let Some((k, v)) = get("TRUSTED_PROXIES") {
            c.trusted_proxies = split_list(&v)
                .map(|s| {
                    s.parse::<IpNet>()
                        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                })
                .collect::<Result<_, _>>()
                .map_err(|_| err(k, v.clone(), "comma-separated CIDRs or IP addresses"))?;
        }
        if let Some((k, v)) = get("FORWARDED_HEADER") {
            c.forwarded_header = match v.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "x-forwarded-for" => ForwardedHeader::XForwardedFor,
                "forwarded" => ForwardedHeader::Forwarded,
                "none" => ForwardedHeader::None,
                _ => return Err(err(k, v, "x-forwarded-for, forwarded or none")),
            };
        }
        if let Some((_, v)) = get("EXEMPT_PATHS") {
            c.exempt_paths = split_list(&v).map(str::to_owned).collect();
        }
        if let Some((k, v)) = get("ON_STORE_ERROR") {
            c.on_store_error =
                OnStoreError::parse(&v).ok_or_else(|| err(k, v, "fail-open or fail-closed"))?;
        }
        if let Some((k, v)) = get("MAX_KEYS") {
            c.max_keys = v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| err(k, v, "a positive integer"))?;
        }
        Ok(c)
    }

    /// The per-client key extractor this configuration describes.
    pub fn client_ip(&self) -> ClientIp {
        ClientIp::new()
            .trusted_proxies(self.trusted_proxies.iter().copied())
            .header(self.forwarded_header)
    }

    /// The limits this configuration describes: `per-second` (and `per-day`); empty when
    /// disabled.
    pub fn limits(&self) -> Vec<Limit> {
        if !self.enabled {
            return Vec::new();
        }
        let key = self.client_ip();
        let burst = self
            .burst
            .unwrap_or_else(|| self.per_second.saturating_mul(2));
        let mut limits = vec![
            Limit::new(
                "per-second",
                Quota::per_second(self.per_second)
                    .burst(burst)
                    .algorithm(self.algorithm),
            )
            .key(key.clone()),
        ];
        if let Some(per_day) = self.per_day {
            limits.push(
                Limit::new(
                    "per-day",
                    Quota::per_day(per_day).algorithm(Algorithm::SlidingWindow),
                )
                .key(key),
            );
        }
        limits
    }

    /// A layer builder with this configuration and an in-memory store; call
    /// [`store`](RateLimitLayerBuilder::store) to share the limit (e.g. Redis), then
    /// [`build`](RateLimitLayerBuilder::build).
    pub fn builder(&self) -> RateLimitLayerBuilder {
        let mut b = crate::RateLimitLayer::builder()
            .store(MemoryStore::builder().max_keys(self.max_keys).build())
            .on_store_error(self.on_store_error)
            .exempt_paths(self.exempt_paths.iter().cloned());
        for limit in self.limits() {
            b = b.limit(limit);
        }
        b
    }
}

fn parse_nonzero(v: &str) -> Option<u32> {
    v.trim().parse().ok().filter(|n| *n > 0)
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn reads_prefixed_variables() {
        let c = RateLimitConfig::from_lookup(
            "API_RATELIMIT__",
            lookup(&[
                ("API_RATELIMIT__PER_SECOND", "5"),
                ("API_RATELIMIT__BURST", "7"),
                ("API_RATELIMIT__PER_DAY", "1000"),
                ("API_RATELIMIT__ALGORITHM", "sliding-window"),
                ("API_RATELIMIT__TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
                ("API_RATELIMIT__FORWARDED_HEADER", "forwarded"),
                ("API_RATELIMIT__EXEMPT_PATHS", "/a,/b"),
                ("API_RATELIMIT__ON_STORE_ERROR", "fail-closed"),
                ("API_RATELIMIT__MAX_KEYS", "10"),
                ("API_RATELIMIT__ENABLED", "yes"),
            ]),
        )
        .unwrap();
        assert_eq!(c.per_second, 5);
        assert_eq!(c.burst, Some(7));
        assert_eq!(c.per_day, Some(1000));
        assert_eq!(c.algorithm, Algorithm::SlidingWindow);
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);
        assert_eq!(c.exempt_paths, vec!["/a", "/b"]);
        assert_eq!(c.on_store_error, OnStoreError::FailClosed);
        assert_eq!(c.max_keys, 10);
        let limits = c.limits();
        assert_eq!(limits.len(), 2);
        assert_eq!(limits[0].quota().burst_size(), 7);
        let _ = c.builder().build();
    }

    #[test]
    fn bad_values_name_the_key() {
        for (k, v) in [
            ("RATELIMIT_PER_SECOND", "0"),
            ("RATELIMIT_BURST", "x"),
            ("RATELIMIT_PER_DAY", "-1"),
            ("RATELIMIT_ALGORITHM", "magic"),
            ("RATELIMIT_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("RATELIMIT_FORWARDED_HEADER", "via"),
            ("RATELIMIT_ON_STORE_ERROR", "maybe"),
            ("RATELIMIT_MAX_KEYS", "0"),
            ("RATELIMIT_ENABLED", "perhaps"),
        ] {
            let e = RateLimitConfig::from_lookup("RATELIMIT_", lookup(&[(k, v)])).unwrap_err();
            assert!(e.to_string().contains(k), "{e}");
        }
    }

    #[test]
    fn defaults_and_serde() {
        let c = RateLimitConfig::from_env().unwrap_or_default();
        assert!(c.enabled);
        let c: RateLimitConfig = serde_json::from_str(r#"{"per_second": 3, "on_store_error": "fail-closed", "trusted_proxies": ["10.0.0.0/8"]}"#).unwrap();
        assert_eq!(c.per_second, 3);
        assert_eq!(c.limits()[0].quota().burst_size(), 6);
        assert!(serde_json::from_str::<RateLimitConfig>(r#"{"per_secnd": 3}"#).is_err());
        let off = RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        };
        assert!(off.limits().is_empty());
    }
}
