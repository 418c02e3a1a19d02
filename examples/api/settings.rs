//! The flagship's settings: one section per package, loaded by `core_backend::config`.

use core_backend::{
    config::ConfigLoader, observability::ObservabilityConfig, ratelimit::RateLimitConfig,
    redis::RedisConfig, server::ServerConfig,
};
use serde::Deserialize;

/// Every setting of the `api` example. Env variables: `API_<SECTION>__<KEY>`, e.g.
/// `API_SERVER__ADDR=127.0.0.1:0`, `API_OBSERVABILITY__LOG_FORMAT=json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ApiSettings {
    /// Listener, timeouts, limits, shutdown.
    pub(crate) server: ServerConfig,
    /// Logs, metrics, traces.
    pub(crate) observability: ObservabilityConfig,
    /// Per-client limit on the API (`API_RATELIMIT__PER_SECOND`, `API_RATELIMIT__BURST`, …);
    /// probes and `/metrics` are never limited.
    pub(crate) ratelimit: RateLimitConfig,
    /// Set `API_REDIS__URL=redis://…` to share rate limits between instances.
    pub(crate) redis: Option<RedisConfig>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            observability: ObservabilityConfig::new("notes-api"),
            ratelimit: RateLimitConfig::default(),
            redis: None,
        }
    }
}

/// Defaults < file named by `API_CONFIG` < `API_*` environment variables.
pub(crate) fn load() -> Result<ApiSettings, core_backend::BoxError> {
    // Sections whose types are not `Serialize` take their defaults from `#[serde(default)]`.
    Ok(ConfigLoader::<ApiSettings>::without_defaults()
        .env_prefix("API")
        .file_from_env("API_CONFIG")
        .load()?)
}
