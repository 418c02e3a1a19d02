//! [`RetryConfig`]: retry settings from files or the environment.

use std::time::Duration;

use serde::Deserialize;

use crate::{Jitter, error::ConfigError};

/// Retry settings, deserializable (durations as milliseconds or strings such as `"250ms"`,
/// `"2s"`, `"1m"`) and readable from `CORE_BACKEND_RETRY_*` variables.
///
/// ```
/// let config: core_backend_retry::RetryConfig =
///     serde_json::from_str(r#"{ "max_attempts": 5, "base_delay": "50ms", "jitter": "equal" }"#).unwrap();
/// let layer = core_backend_retry::RetryLayer::from_config(&config);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Total attempts including the first. Default 3.
    pub max_attempts: u32,
    /// First backoff delay. Default 100 ms.
    #[serde(with = "duration")]
    pub base_delay: Duration,
    /// Largest backoff delay. Default 10 s.
    #[serde(with = "duration")]
    pub max_delay: Duration,
    /// Growth factor. Default 2.
    pub multiplier: f64,
    /// Jitter: `none`, `full`, `equal`, `decorrelated`. Default `full`.
    pub jitter: Jitter,
    /// Give up when the next attempt would start later than this after the first. Default none.
    #[serde(with = "opt_duration")]
    pub max_elapsed: Option<Duration>,
    /// Longest `Retry-After` honoured. Default 30 s.
    #[serde(with = "duration")]
    pub max_retry_after: Duration,
    /// When the server asks for more than `max_retry_after`: `false` = stop retrying and
    /// return that response, `true` = wait `max_retry_after` and retry. Default `false`.
    pub clamp_retry_after: bool,
    /// Whether a retry budget is used. Default `true`.
    pub budget_enabled: bool,
    /// Retries allowed per request. Default 0.2.
    pub budget_ratio: f32,
    /// Retries allowed per second whatever the traffic. Default 10.
    pub budget_min_per_sec: u32,
    /// Most tokens the budget holds. Default 100.
    pub budget_max_tokens: u32,
    /// Retry only idempotent HTTP requests. Default `true`.
    pub idempotent_only: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: Jitter::Full,
            max_elapsed: None,
            max_retry_after: Duration::from_secs(30),
            clamp_retry_after: false,
            budget_enabled: true,
            budget_ratio: 0.2,
            budget_min_per_sec: 10,
            budget_max_tokens: 100,
            idempotent_only: true,
        }
    }
}

impl RetryConfig {
    /// Defaults overridden by `CORE_BACKEND_RETRY_<FIELD>` variables (field name in upper case,
    /// e.g. `CORE_BACKEND_RETRY_MAX_ATTEMPTS=5`, `CORE_BACKEND_RETRY_BASE_DELAY=50ms`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        let get = |field: &'static str| {
            let key = format!("CORE_BACKEND_RETRY_{}", field.to_ascii_uppercase());
            lookup(&key).map(|v| (key, v))
        };
        fn bad(key: String, value: &str, expected: &'static str) -> ConfigError {
            ConfigError {
                key,
                value: value.to_owned(),
                expected,
            }
        }
        macro_rules! num {
            ($field:ident, $what:literal) => {
                if let Some((k, v)) = get(stringify!($field)) {
                    c.$field = v.trim().parse().map_err(|_| bad(k, &v, $what))?;
                }
            };
        }
        macro_rules! dur {
            ($field:ident) => {
                if let Some((k, v)) = get(stringify!($field)) {
                    c.$field = parse_duration(&v).ok_or_else(|| bad(k, &v, "a duration"))?;
                }
            };
        }
        num!(max_attempts, "an unsigned integer");
        dur!(base_delay);
        dur!(max_delay);
        num!(multiplier, "a number");
        if let Some((k, v)) = get("jitter") {
            c.jitter = match v.trim() {
                "none" => Jitter::None,
                "full" => Jitter::Full,
                "equal" => Jitter::Equal,
                "decorrelated" => Jitter::Decorrelated,
                _ => return Err(bad(k, &v, "none, full, equal or decorrelated")),
            };
        }
        if let Some((k, v)) = get("max_elapsed") {
            c.max_elapsed = Some(parse_duration(&v).ok_or_else(|| bad(k, &v, "a duration"))?);
        }
        dur!(max_retry_after);
        num!(clamp_retry_after, "true or false");
        num!(budget_enabled, "true or false");
        num!(budget_ratio, "a number");
        num!(budget_min_per_sec, "an unsigned integer");
        num!(budget_max_tokens, "an unsigned integer");
        num!(idempotent_only, "true or false");
        Ok(c)
    }
}

/// Parses `"250ms"`, `"2s"`, `"1.5s"`, `"3m"`, `"1h"` or a bare number of milliseconds.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "" | "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Text(String),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Millis(ms) => Ok(Duration::from_millis(ms)),
            Raw::Text(t) => super::parse_duration(&t)
                .ok_or_else(|| D::Error::custom(format!("invalid duration {t:?}"))),
        }
    }
}

mod opt_duration {
    use std::time::Duration;

    use serde::Deserializer;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::duration::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "s", "-1s", "1d", "1e400s", "1..2s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn env_and_serde() {
        let env = |k: &str| match k {
            "CORE_BACKEND_RETRY_MAX_ATTEMPTS" => Some("5".into()),
            "CORE_BACKEND_RETRY_BASE_DELAY" => Some("20ms".into()),
            "CORE_BACKEND_RETRY_JITTER" => Some("decorrelated".into()),
            "CORE_BACKEND_RETRY_MAX_ELAPSED" => Some("3s".into()),
            "CORE_BACKEND_RETRY_BUDGET_ENABLED" => Some("false".into()),
            _ => None,
        };
        let c = RetryConfig::from_lookup(env).unwrap();
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.base_delay, Duration::from_millis(20));
        assert_eq!(c.jitter, Jitter::Decorrelated);
        assert_eq!(c.max_elapsed, Some(Duration::from_secs(3)));
        assert!(!c.budget_enabled);
        let err = RetryConfig::from_lookup(|k| {
            (k == "CORE_BACKEND_RETRY_MAX_ATTEMPTS").then(|| "many".into())
        })
        .unwrap_err();
        assert_eq!(err.key, "CORE_BACKEND_RETRY_MAX_ATTEMPTS");
        assert!(err.to_string().contains("unsigned integer"));
        assert!(
            RetryConfig::from_lookup(|k| (k == "CORE_BACKEND_RETRY_JITTER").then(|| "x".into()))
                .is_err()
        );

        let c: RetryConfig =
            serde_json::from_str(r#"{"base_delay": 5, "max_elapsed": "1m"}"#).unwrap();
        assert_eq!(c.base_delay, Duration::from_millis(5));
        assert_eq!(c.max_elapsed, Some(Duration::from_secs(60)));
        assert!(serde_json::from_str::<RetryConfig>(r#"{"base_delay": "soon"}"#).is_err());
        assert!(serde_json::from_str::<RetryConfig>(r#"{"nope": 1}"#).is_err());
    }

    proptest! {
        #[test]
        fn duration_parser_never_panics(s in ".{0,24}") {
            let _ = parse_duration(&s);
        }
    }
}
