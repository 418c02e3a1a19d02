//! The flagship's settings: one section per package, loaded by `core_backend::config`.

use core_backend::{
    config::ConfigLoader, observability::ObservabilityConfig, server::ServerConfig,
};
use serde::{Deserialize, Serialize};

/// Every setting of the `api` example. Env variables: `API_<SECTION>__<KEY>`, e.g.
/// `API_SERVER__ADDR=127.0.0.1:0`, `API_OBSERVABILITY__LOG_FORMAT=json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ApiSettings {
    /// Listener, timeouts, limits, shutdown.
    pub(crate) server: ServerConfig,
    /// Logs, metrics, traces.
    pub(crate) observability: ObservabilityConfig,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            observability: ObservabilityConfig::new("notes-api"),
        }
    }
}

/// Defaults < file named by `API_CONFIG` < `API_*` environment variables.
pub(crate) fn load() -> Result<ApiSettings, core_backend::BoxError> {
    Ok(ConfigLoader::<ApiSettings>::new()
        .env_prefix("API")
        .file_from_env("API_CONFIG")
        .load()?)
}
