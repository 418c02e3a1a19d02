//! Serde configuration for the registry.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::registry::{HealthRegistry, HealthRegistryBuilder};

/// Registry settings as plain data, for a `health` section of a service's configuration.
///
/// Durations are written `"2s"`, `"500ms"`, `"1m"` or as a number of seconds.
///
/// ```
/// use core_backend_health::HealthConfig;
///
/// let config: HealthConfig = serde_json::from_str(r#"{ "timeout": "500ms" }"#).unwrap();
/// let registry = config.build();
/// # let _ = registry;
/// ```
///
/// | field | env variable ([`from_env`](HealthConfig::from_env)) | default |
/// |---|---|---|
/// | `timeout` | `HEALTH_TIMEOUT` | `2s` |
/// | `cache_ttl` | `HEALTH_CACHE_TTL` | `1s` |
/// | `watch_interval` | `HEALTH_WATCH_INTERVAL` | `1s` |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HealthConfig {
    /// Time limit of one check run.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// How long a check result is reused.
    #[serde(with = "duration")]
    pub cache_ttl: Duration,
    /// How often gRPC `Watch` streams re-evaluate.
    #[serde(with = "duration")]
    pub watch_interval: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            cache_ttl: Duration::from_secs(1),
            watch_interval: Duration::from_secs(1),
        }
    }
}

/// An environment variable that did not hold a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEnvVar {
    /// The variable's name.
    pub var: &'static str,
    /// Its value.
    pub value: String,
}

impl fmt::Display for InvalidEnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value for env var {}: expected a duration like \"2s\" or \"500ms\", found {:?}",
            self.var, self.value
        )
    }
}

impl std::error::Error for InvalidEnvVar {}

impl HealthConfig {
    /// Defaults overridden by `HEALTH_TIMEOUT`, `HEALTH_CACHE_TTL`, `HEALTH_WATCH_INTERVAL`.
    pub fn from_env() -> Result<Self, InvalidEnvVar> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, InvalidEnvVar> {
        let mut config = Self::default();
        for (var, field) in [
            ("HEALTH_TIMEOUT", &mut config.timeout),
            ("HEALTH_CACHE_TTL", &mut config.cache_ttl),
            ("HEALTH_WATCH_INTERVAL", &mut config.watch_interval),
        ] {
            if let Some(value) = get(var) {
                *field = duration::parse(&value).ok_or(InvalidEnvVar { var, value })?;
            }
        }
        Ok(config)
    }

    /// A builder with these settings.
    pub fn builder(&self) -> HealthRegistryBuilder {
        HealthRegistry::builder()
            .default_timeout(self.timeout)
            .cache_ttl(self.cache_ttl)
            .watch_interval(self.watch_interval)
    }

    /// A registry with these settings.
    pub fn build(&self) -> HealthRegistry {
        self.builder().build()
    }
}

/// A deliberately small duration format (`ms`, `s`, `m`, `h`, or whole seconds), so the crate
/// needs no date-time dependency.
mod duration {
    use super::{Deserialize, Deserializer, Duration, Serializer};

    pub(super) fn parse(s: &str) -> Option<Duration> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let n: u64 = number.parse().ok()?;
        match unit.trim() {
            "" | "s" => Some(Duration::from_secs(n)),
            "ms" => Some(Duration::from_millis(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            _ => None,
        }
    }

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos() == 0 {
            s.serialize_str(&format!("{}s", d.as_secs()))
        } else {
            s.serialize_str(&format!("{}ms", d.as_millis()))
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => Ok(Duration::from_secs(n)),
            Raw::Text(t) => parse(&t).ok_or_else(|| {
                serde::de::Error::invalid_value(
                    serde::de::Unexpected::Str(&t),
                    &"a duration like \"2s\", \"500ms\" or a number of seconds",
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let c: HealthConfig =
            serde_json::from_str(r#"{"timeout":"500ms","cache_ttl":3,"watch_interval":"1m"}"#)
                .unwrap();
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(c.cache_ttl, Duration::from_secs(3));
        assert_eq!(c.watch_interval, Duration::from_secs(60));
        let back: HealthConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(serde_json::from_str::<HealthConfig>(r#"{"timeout":"soon"}"#).is_err());
        assert!(serde_json::from_str::<HealthConfig>(r#"{"timeot":"1s"}"#).is_err());
        assert_eq!(duration::parse("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(duration::parse("99999999999999999999h"), None);
        assert_eq!(duration::parse("1x"), None);
    }

    #[test]
    fn env_overrides_defaults() {
        let c = HealthConfig::from_vars(|n| (n == "HEALTH_CACHE_TTL").then(|| "250ms".to_owned()))
            .unwrap();
        assert_eq!(
            c,
            HealthConfig {
                cache_ttl: Duration::from_millis(250),
                ..HealthConfig::default()
            }
        );
        let err = HealthConfig::from_vars(|n| (n == "HEALTH_TIMEOUT").then(|| "x".to_owned()))
            .unwrap_err();
        assert_eq!(err.var, "HEALTH_TIMEOUT");
        assert!(err.to_string().contains("HEALTH_TIMEOUT"));
        let registry = HealthConfig::from_env().unwrap_or_default().build();
        assert!(registry.check_names().is_empty());
    }
}
