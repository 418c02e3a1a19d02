//! [`CacheConfig`]: plain settings for the memory store and the loading cache.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Settings of a [`MemoryCache`](crate::MemoryCache) and a [`TypedCache`](crate::TypedCache).
///
/// Deserializes from any serde source (durations as `"250ms"`, `"30s"`, `"5m"`, `"1h"` or a
/// bare number of seconds); [`CacheConfig::from_env`] reads the `CACHE_*` variables listed in
/// the crate README. The defaults are safe for production: bounded size, bounded lifetime, no
/// stale serving and no negative caching unless asked for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Value of the `cache` label on metrics. Defaults to `"default"`.
    pub name: String,
    /// Upper bound on the number of entries. Defaults to `10_000`.
    pub max_entries: u64,
    /// When set, bound the store by weighted size (key + value bytes) instead of entry count.
    /// Defaults to `None`.
    pub max_bytes: Option<u64>,
    /// Upper bound on any entry's lifetime, whatever TTL it was written with. Defaults to 1 hour.
    #[serde(deserialize_with = "de_duration")]
    pub ttl: Duration,
    /// Drop entries not read for this long. Defaults to `None` (no idle expiry).
    #[serde(deserialize_with = "de_opt_duration")]
    pub tti: Option<Duration>,
    /// Grace window after an entry's TTL in which `get_or_insert_with` serves the stale value while
    /// one background refresh runs. Defaults to zero (off).
    #[serde(deserialize_with = "de_duration")]
    pub stale_while_revalidate: Duration,
    /// Cache a loader's "not found" for this long. Defaults to `None` (not cached).
    #[serde(deserialize_with = "de_opt_duration")]
    pub negative_ttl: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            max_entries: 10_000,
            max_bytes: None,
            ttl: Duration::from_secs(3600),
            tti: None,
            stale_while_revalidate: Duration::ZERO,
            negative_ttl: None,
        }
    }
}

/// A `CACHE_*` variable held a value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {key}: expected {expected}")]
pub struct ConfigError {
    /// The variable name.
    pub key: &'static str,
    /// The value found.
    pub value: String,
    /// What was expected.
    pub expected: &'static str,
}

impl CacheConfig {
    /// Reads `CACHE_NAME`, `CACHE_MAX_ENTRIES`, `CACHE_MAX_BYTES`, `CACHE_TTL`, `CACHE_TTI`,
    /// `CACHE_STALE_WHILE_REVALIDATE` and `CACHE_NEGATIVE_TTL` over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        const DURATION: &str = "a duration such as 250ms, 30s, 5m, 1h or seconds";
        let mut cfg = Self::default();
        let int = |key: &'static str, v: String| {
            v.trim().parse::<u64>().map_err(|_| ConfigError {
                key,
                value: v,
                expected: "an unsigned integer",
            })
        };
        let dur = |key: &'static str, v: String| {
            parse_duration(&v).ok_or(ConfigError {
                key,
                value: v,
                expected: DURATION,
            })
        };
        if let Some(v) = get("CACHE_NAME") {
            cfg.name = v;
        }
        if let Some(v) = get("CACHE_MAX_ENTRIES") {
            cfg.max_entries = int("CACHE_MAX_ENTRIES", v)?;
        }
        if let Some(v) = get("CACHE_MAX_BYTES") {
            cfg.max_bytes = Some(int("CACHE_MAX_BYTES", v)?);
        }
        if let Some(v) = get("CACHE_TTL") {
            cfg.ttl = dur("CACHE_TTL", v)?;
        }
        if let Some(v) = get("CACHE_TTI") {
            cfg.tti = Some(dur("CACHE_TTI", v)?);
        }
        if let Some(v) = get("CACHE_STALE_WHILE_REVALIDATE") {
            cfg.stale_while_revalidate = dur("CACHE_STALE_WHILE_REVALIDATE", v)?;
        }
        if let Some(v) = get("CACHE_NEGATIVE_TTL") {
            cfg.negative_ttl = Some(dur("CACHE_NEGATIVE_TTL", v)?);
        }
        Ok(cfg)
    }
}

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"` or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = |m: u64| n.checked_mul(m).map(Duration::from_secs);
    match unit.trim() {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Secs(u64),
    Text(String),
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match RawDuration::deserialize(d)? {
        RawDuration::Secs(n) => Ok(Duration::from_secs(n)),
        RawDuration::Text(s) => parse_duration(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid duration {s:?}"))),
    }
}

pub(crate) fn de_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration(" 5m "), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn env_overrides_defaults_and_names_bad_keys() {
        let env = |k: &str| match k {
            "CACHE_MAX_ENTRIES" => Some("42".to_owned()),
            "CACHE_TTL" => Some("30s".to_owned()),
            "CACHE_NEGATIVE_TTL" => Some("5s".to_owned()),
            _ => None,
        };
        let cfg = CacheConfig::from_lookup(env).expect("valid");
        assert_eq!(cfg.max_entries, 42);
        assert_eq!(cfg.ttl, Duration::from_secs(30));
        assert_eq!(cfg.negative_ttl, Some(Duration::from_secs(5)));
        let err = CacheConfig::from_lookup(|k| (k == "CACHE_TTI").then(|| "soon".to_owned()))
            .expect_err("bad");
        assert_eq!(err.key, "CACHE_TTI");
    }

    #[test]
    fn serde_reads_durations_as_text_or_seconds() {
        let cfg: CacheConfig =
            serde_json::from_str(r#"{"ttl":"2m","tti":10,"stale_while_revalidate":"1s"}"#)
                .expect("json");
        assert_eq!(cfg.ttl, Duration::from_secs(120));
        assert_eq!(cfg.tti, Some(Duration::from_secs(10)));
        assert_eq!(cfg.stale_while_revalidate, Duration::from_secs(1));
        assert_eq!(cfg.max_entries, 10_000);
    }
}
