use std::time::Duration;

use serde::Deserialize;

/// Settings shared by the lock implementations.
///
/// | field | env (`LOCK_` prefix) | default |
/// |---|---|---|
/// | `ttl_ms` | `LOCK_TTL_MS` | `30000` |
/// | `acquire_timeout_ms` | `LOCK_ACQUIRE_TIMEOUT_MS` | `10000` |
/// | `poll_min_ms` | `LOCK_POLL_MIN_MS` | `5` |
/// | `poll_max_ms` | `LOCK_POLL_MAX_MS` | `250` |
///
/// `ttl_ms` and `acquire_timeout_ms` are the values an application passes to
/// [`Lock::acquire_timeout`](crate::Lock::acquire_timeout) ([`LockConfig::ttl`],
/// [`LockConfig::acquire_timeout`]); the poll bounds are used by backends that wait by
/// polling (Redis), the in-memory lock is woken directly.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LockConfig {
    /// Lease length: how long a crashed holder blocks others.
    pub ttl_ms: u64,
    /// How long to wait for a held lock.
    pub acquire_timeout_ms: u64,
    /// Shortest pause between two attempts of a polling backend.
    pub poll_min_ms: u64,
    /// Longest pause between two attempts of a polling backend (the pause doubles from
    /// `poll_min_ms` with full jitter).
    pub poll_max_ms: u64,
}

impl Default for LockConfig {
    fn default() -> Self {
        Self {
            ttl_ms: 30_000,
            acquire_timeout_ms: 10_000,
            poll_min_ms: 5,
            poll_max_ms: 250,
        }
    }
}

/// A configuration value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {key}: expected a positive number of milliseconds")]
pub struct ConfigError {
    key: String,
    value: String,
}

impl LockConfig {
    /// Reads `LOCK_*` variables over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup("LOCK_", |k| std::env::var(k).ok())
    }

    /// Reads `<prefix>TTL_MS`, … through `lookup` (e.g. the prefix `API_LOCK__`).
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        for (name, field) in [
            ("TTL_MS", &mut c.ttl_ms),
            ("ACQUIRE_TIMEOUT_MS", &mut c.acquire_timeout_ms),
            ("POLL_MIN_MS", &mut c.poll_min_ms),
            ("POLL_MAX_MS", &mut c.poll_max_ms),
        ] {
            let key = format!("{prefix}{name}");
            if let Some(v) = lookup(&key) {
                *field = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError { key, value: v })?;
            }
        }
        if c.poll_max_ms < c.poll_min_ms {
            c.poll_max_ms = c.poll_min_ms;
        }
        Ok(c)
    }

    /// The lease length.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms)
    }

    /// The acquire timeout.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }

    /// The polling bounds `(min, max)`.
    pub fn poll_bounds(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.poll_min_ms),
            Duration::from_millis(self.poll_max_ms.max(self.poll_min_ms)),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lookup_overrides_and_rejects() {
        let c = LockConfig::from_lookup("API_LOCK__", |k| match k {
            "API_LOCK__TTL_MS" => Some("500".to_owned()),
            "API_LOCK__POLL_MAX_MS" => Some("1".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.ttl(), Duration::from_millis(500));
        assert_eq!(
            c.poll_bounds(),
            (Duration::from_millis(5), Duration::from_millis(5))
        );
        let e = LockConfig::from_lookup("LOCK_", |k| (k == "LOCK_TTL_MS").then(|| "0".into()))
            .unwrap_err();
        assert!(e.to_string().contains("LOCK_TTL_MS"));
        let c: LockConfig = serde_json::from_str(r#"{"acquire_timeout_ms": 7}"#).unwrap();
        assert_eq!(c.acquire_timeout(), Duration::from_millis(7));
        assert_eq!(c.ttl_ms, 30_000);
        assert!(LockConfig::from_env().is_ok() || std::env::var("LOCK_TTL_MS").is_ok());
    }
}
