//! Layered, typed configuration with errors that say where the bad value is.
//!
//! A [`ConfigLoader`] merges, lowest precedence first:
//!
//! 1. built-in defaults (`T::default()`),
//! 2. optional or required files — TOML, YAML or JSON by extension — and a file named by an
//!    environment variable such as `API_CONFIG`,
//! 3. environment variables with a prefix and `__` nesting (`API_SERVER__ADDR` → `server.addr`),
//! 4. explicit overrides ([`ConfigLoader::set`]),
//!
//! deserializes the result into your type with [figment], runs your validation hooks, and
//! can keep the value fresh with [`ConfigLoader::watch`].
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use core_backend_config::{ConfigLoader, Secret, ValidationErrors};
//!
//! #[derive(Debug, Clone, Deserialize, Serialize)]
//! #[serde(default)]
//! struct Server {
//!     addr: SocketAddr,
//!     #[serde(with = "core_backend_config::duration")]
//!     request_timeout: Duration,
//! }
//! impl Default for Server {
//!     fn default() -> Self {
//!         Self { addr: ([0, 0, 0, 0], 8080).into(), request_timeout: Duration::from_secs(30) }
//!     }
//! }
//!
//! #[derive(Debug, Clone, Default, Deserialize, Serialize)]
//! #[serde(default)]
//! struct Database { url: String, password: Secret }
//!
//! #[derive(Debug, Clone, Default, Deserialize, Serialize)]
//! #[serde(default)]
//! struct ApiConfig { server: Server, database: Database }
//!
//! # let dir = tempfile::tempdir()?;
//! # let file = dir.path().join("api.toml");
//! # std::fs::write(&file, "[server]\nrequest_timeout = \"5s\"\n")?;
//! # let file = file.to_str().unwrap();
//! let loader = ConfigLoader::<ApiConfig>::new()
//!     .env_prefix("API")              // API_SERVER__ADDR, API_DATABASE__URL, …
//!     .file_from_env("API_CONFIG")    // API_CONFIG=/etc/api.toml
//! #   .env_vars([("API_CONFIG", file), ("API_SERVER__ADDR", "127.0.0.1:0")])
//!     .validate(|c: &ApiConfig| {
//!         let mut errors = ValidationErrors::new();
//!         if c.server.request_timeout.is_zero() {
//!             errors.add("server.request_timeout", "a timeout above zero");
//!         }
//!         errors.into_result()
//!     });
//! let config = loader.load()?;
//! assert_eq!(config.server.addr.port(), 0);
//! assert_eq!(config.server.request_timeout, Duration::from_secs(5));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//!
//! A [`ConfigError`] names the key, the source and what was expected, in one line:
//!
//! ```
//! # use core_backend_config::{ConfigLoader, ConfigSource};
//! # #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
//! # struct Server { addr: Option<std::net::SocketAddr> }
//! # #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
//! # struct ApiConfig { server: Server }
//! let err = ConfigLoader::<ApiConfig>::new()
//!     .env_prefix("API")
//!     .env_vars([("API_SERVER__ADDR", "nope")])
//!     .load()
//!     .unwrap_err();
//! assert_eq!(err.key.as_deref(), Some("server.addr"));
//! assert_eq!(err.source, Some(ConfigSource::Env { var: "API_SERVER__ADDR".into() }));
//! assert_eq!(
//!     err.to_string(),
//!     "invalid value for `server.addr` from env var API_SERVER__ADDR: \
//!      expected a socket address like 127.0.0.1:8080, found \"nope\"",
//! );
//! ```
//!
//! Values from files name `path:line` (the line of the key); syntax errors name
//! `path:line:column` from the parser.
//!
//! # Secrets
//!
//! Put passwords and tokens in [`Secret`] fields: `Debug` shows `[REDACTED]`, and
//! [`ConfigLoader::dump`] / [`ConfigLoader::explain`] print `"[REDACTED]"` for them and for
//! every key that looks sensitive ([`ConfigLoader::sensitive_keys`]).
//!
//! # Why no figment file features
//!
//! The loader parses files itself with `toml`, `serde_yaml` and `serde_json` and hands figment
//! the parsed tables, so that a syntax error keeps the parser's line and column (figment
//! flattens it into a string), the file text is at hand to find the line of a bad key, and
//! only one `toml` version is built. Environment variables are read by our own provider too,
//! so an error names the exact variable (`API_SERVER__ADDR`, not `SERVER.ADDR`). figment
//! still does the merging, the typed extraction and the tracking of which layer set a value.

// `ConfigError` keeps its fields public (key, source, expected, found) so callers can match on
// them; it is built once at start-up or reload, never on a request path, so its size is moot.
#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod loader;
mod secret;
mod source;
mod validate;
mod watch;

pub mod duration;

pub use error::{ConfigError, ErrorKind};
pub use loader::{ConfigLoader, DEFAULT_SENSITIVE_KEYS, DumpFormat, ExplainedValue, Explanation};
pub use secret::{REDACTED, Secret};
pub use source::{ConfigSource, FileFormat};
pub use validate::{Validate, ValidationErrors};
pub use watch::ConfigWatcher;

/// Re-exported for users who need figment directly.
pub use figment;
/// Re-exported so configuration structs can hold other secret types.
pub use secrecy;
