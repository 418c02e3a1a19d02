//! Redis for core-backend: the connection set-up lives here once ([`RedisConfig`],
//! [`Redis::connect`]: URL from `REDIS_URL`, a reconnecting
//! [`ConnectionManager`], timeouts, a health check), and each
//! package's Redis store sits behind a cargo feature named after the package:
//!
//! | feature | module | implements |
//! |---|---|---|
//! | `ratelimit` | [`ratelimit`] | `core_backend_ratelimit::RateLimitStore` (atomic Lua GCRA / windows) |
//! | `lock` | [`lock`] | `core_backend_lock::Lock` (SET NX PX, fencing token by INCR, Lua release / extend) |
//! | `cache` | [`cache`] | `core_backend_cache::Cache` (`GET`+`PTTL` / `SET PX` / `DEL`; L2 of a tiered cache) |
//!
//! ```no_run
//! # #[cfg(feature = "ratelimit")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use core_backend_ratelimit::{Limit, Quota, RateLimitLayer};
//! use core_backend_redis::{Redis, RedisConfig, ratelimit::RedisRateLimitStore};
//!
//! let redis = Redis::connect(&RedisConfig::from_env()?).await?;
//! let layer = RateLimitLayer::builder()
//!     .limit(Limit::new("per-second", Quota::per_second(10).burst(20)))
//!     .store(RedisRateLimitStore::new(&redis))
//!     .build();
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[cfg(feature = "lock")]
pub mod lock;
#[cfg(feature = "ratelimit")]
pub mod ratelimit;

#[cfg(feature = "cache")]
pub mod cache;

pub use redis;

/// Connection settings.
///
/// | field | env | default |
/// |---|---|---|
/// | `url` | `REDIS_URL` | `redis://127.0.0.1:6379` |
/// | `key_prefix` | `REDIS_KEY_PREFIX` | `core-backend` |
/// | `connect_timeout_ms` | `REDIS_CONNECT_TIMEOUT_MS` | `1000` |
/// | `response_timeout_ms` | `REDIS_RESPONSE_TIMEOUT_MS` | `500` |
/// | `reconnect_max_delay_ms` | `REDIS_RECONNECT_MAX_DELAY_MS` | `2000` |
///
/// The URL may hold a password: it is kept in a [`SecretString`] and never printed.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (`rediss://` needs a TLS feature of the
    /// `redis` crate, not enabled by default).
    pub url: SecretString,
    /// Prefix of every key this crate writes (`<prefix>:rl:…`).
    pub key_prefix: String,
    /// Time allowed to open a connection.
    pub connect_timeout_ms: u64,
    /// Time allowed for one command's reply; past it the command fails (and a store applies
    /// its failure policy) instead of waiting.
    pub response_timeout_ms: u64,
    /// Longest pause between reconnection attempts.
    pub reconnect_max_delay_ms: u64,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &"[redacted]")
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("reconnect_max_delay_ms", &self.reconnect_max_delay_ms)
            .finish()
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("redis://127.0.0.1:6379"),
            key_prefix: "core-backend".to_owned(),
            connect_timeout_ms: 1_000,
            response_timeout_ms: 500,
            reconnect_max_delay_ms: 2_000,
        }
    }
}

/// A configuration value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {key}: expected {expected}")]
pub struct ConfigError {
    key: String,
    value: String,
    expected: &'static str,
}

impl RedisConfig {
    /// A configuration for `url` with the other settings at their defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            ..Self::default()
        }
    }

    /// Reads `REDIS_*` variables over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup("REDIS_", |k| std::env::var(k).ok())
    }

    /// Reads `<prefix>URL`, `<prefix>KEY_PREFIX`, … through `lookup` (e.g. the prefix
    /// `API_REDIS__` with `std::env::var`).
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        if let Some(url) = lookup(&format!("{prefix}URL")) {
            c.url = SecretString::from(url);
        }
        if let Some(p) = lookup(&format!("{prefix}KEY_PREFIX")) {
            c.key_prefix = p;
        }
        for (name, field) in [
            ("CONNECT_TIMEOUT_MS", &mut c.connect_timeout_ms),
            ("RESPONSE_TIMEOUT_MS", &mut c.response_timeout_ms),
            ("RECONNECT_MAX_DELAY_MS", &mut c.reconnect_max_delay_ms),
        ] {
            let key = format!("{prefix}{name}");
            if let Some(v) = lookup(&key) {
                *field = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError {
                        key,
                        value: v,
                        expected: "a positive number of milliseconds",
                    })?;
            }
        }
        Ok(c)
    }
}

/// Connection failures and command errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed (its text is not repeated: it may hold a password).
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(#[source] redis::RedisError),
    /// Redis refused or failed a command, or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A Redis connection shared by every store built from it: one multiplexed connection
/// that reconnects by itself (commands fail fast while Redis is away, and work again once it
/// is back, without restarting anything). Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    manager: ConnectionManager,
    prefix: Arc<str>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Connects and checks the server answers `PING`.
    pub async fn connect(config: &RedisConfig) -> Result<Self, Error> {
        let redis = Self::connect_lazy(config)?;
        redis.ping().await?;
        Ok(redis)
    }

    /// Prepares the connection without contacting the server: the first command connects.
    /// A service can start while Redis is down (its stores then apply their failure policy).
    pub fn connect_lazy(config: &RedisConfig) -> Result<Self, Error> {
        let client = redis::Client::open(config.url.expose_secret()).map_err(Error::InvalidUrl)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(config.connect_timeout_ms)))
            .set_response_timeout(Some(Duration::from_millis(config.response_timeout_ms)))
            .set_max_delay(Duration::from_millis(config.reconnect_max_delay_ms))
            .set_number_of_retries(2);
        let manager = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok(Self {
            manager,
            prefix: config.key_prefix.as_str().into(),
        })
    }

    /// The reconnecting connection, for commands of your own.
    pub fn connection(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Sends `PING`; the health check.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut conn = self.manager.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Times a `PING` round trip: the health check with a latency figure.
    pub async fn health_check(&self) -> Result<Duration, Error> {
        let start = Instant::now();
        self.ping().await?;
        Ok(start.elapsed())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn config_from_lookup_and_redaction() {
        let c = RedisConfig::from_lookup("API_REDIS__", |k| match k {
            "API_REDIS__URL" => Some("redis://:hunter2@127.0.0.1:1/0".to_owned()),
            "API_REDIS__KEY_PREFIX" => Some("app".to_owned()),
            "API_REDIS__RESPONSE_TIMEOUT_MS" => Some("250".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.key_prefix, "app");
        assert_eq!(c.response_timeout_ms, 250);
        assert!(!format!("{c:?}").contains("hunter2"));
        let e = RedisConfig::from_lookup("REDIS_", |k| {
            (k == "REDIS_CONNECT_TIMEOUT_MS").then(|| "soon".to_owned())
        })
        .unwrap_err();
        assert!(e.to_string().contains("REDIS_CONNECT_TIMEOUT_MS"));
        assert!(
            RedisConfig::from_env().is_ok() || std::env::var("REDIS_CONNECT_TIMEOUT_MS").is_ok()
        );
    }

    #[test]
    fn bad_url_is_not_echoed() {
        let err = Redis::connect_lazy(&RedisConfig::new("nope://secret@x")).unwrap_err();
        assert!(matches!(err, Error::InvalidUrl(_)));
    }

    #[tokio::test]
    async fn lazy_connection_to_nothing_fails_then_reports() {
        // port 1 on loopback: nothing listens there
        let redis = Redis::connect_lazy(&RedisConfig {
            connect_timeout_ms: 200,
            ..RedisConfig::new("redis://127.0.0.1:1")
        })
        .unwrap();
        assert!(redis.ping().await.is_err());
        assert!(format!("{redis:?}").contains("core-backend"));
    }
}
