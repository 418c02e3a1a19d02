//! [`ServerConfig`]: everything about the listener and the built-in layers that an operator tunes.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::duration::{self, serde_duration, serde_opt_duration};

/// Settings of the server. Deserializes from the `server` section of the application's
/// configuration (durations as `"30s"`/`"500ms"` strings or integer seconds) or from
/// `SERVER_*` environment variables with [`ServerConfig::from_env`].
///
/// Every field has a production-safe default; see the crate README for the table.
///
/// ```
/// use std::time::Duration;
/// use core_backend_server::ServerConfig;
///
/// let cfg: ServerConfig = serde_json::from_str(r#"{
///     "addr": "127.0.0.1:0",
///     "request_timeout": "5s",
///     "body_limit": 65536,
///     "concurrency_limit": 512
/// }"#).unwrap();
/// assert_eq!(cfg.request_timeout, Duration::from_secs(5));
/// assert_eq!(cfg.header_read_timeout, Duration::from_secs(10)); // default
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Address to listen on. Defaults to `0.0.0.0:8080`.
    pub addr: SocketAddr,
    /// Time until the response head must be ready: `408` problem+json on HTTP,
    /// `DEADLINE_EXCEEDED` on gRPC (a shorter `grpc-timeout` from the client wins). Zero disables
    /// it. Defaults to 30 s.
    #[serde(with = "serde_duration")]
    pub request_timeout: Duration,
    /// Time a new connection has to deliver its first request head, and an HTTP/1 connection
    /// each following one (this also closes idle keep-alive connections). Protects against
    /// slow-loris clients. Zero disables it (not recommended). Defaults to 10 s.
    #[serde(with = "serde_duration")]
    pub header_read_timeout: Duration,
    /// Largest HTTP request body in bytes; larger ones get `413` problem+json. Routes may set a
    /// lower limit with `axum::extract::DefaultBodyLimit`. gRPC messages are limited by tonic's
    /// own `max_decoding_message_size` (4 MiB by default). Defaults to 2 MiB.
    pub body_limit: usize,
    /// Most requests (HTTP and gRPC together) in flight at once; beyond it requests are shed
    /// at once with `503` problem+json / `UNAVAILABLE`, never queued. Defaults to none (no limit).
    pub concurrency_limit: Option<usize>,
    /// Most open connections; at the limit the server stops accepting until one closes (new
    /// clients wait in the kernel's backlog). Defaults to none (no limit).
    pub max_connections: Option<usize>,
    /// How long in-flight requests may take to finish after shutdown started; then the remaining
    /// connections are closed by force. Defaults to 30 s.
    #[serde(with = "serde_duration")]
    pub shutdown_timeout: Duration,
    /// Pause between running the shutdown hooks (readiness turns to failing) and closing the
    /// listener, during which the server keeps accepting, so load balancers notice first.
    /// Defaults to 0 s.
    #[serde(with = "serde_duration")]
    pub shutdown_grace: Duration,
    /// Serve gRPC-Web (`application/grpc-web*`, HTTP/1.1 too) through tonic-web.
    /// Defaults to `false`.
    pub grpc_web: bool,
    /// gzip-compress HTTP responses when the client accepts it (gRPC has its own compression).
    /// Defaults to `true`.
    pub compression: bool,
    /// Origins allowed by CORS (`"*"` for any); empty turns CORS off. Defaults to empty.
    pub cors: Vec<String>,
    /// Header that carries the request id: kept when the client sends one, otherwise set to a
    /// new UUID, and copied to the response. Defaults to `x-request-id`.
    pub request_id_header: String,
    /// Keep HTTP/1 connections open between requests. Defaults to `true`.
    pub http1_keep_alive: bool,
    /// Most concurrent streams a client may open on one HTTP/2 connection. Defaults to 200.
    pub http2_max_concurrent_streams: u32,
    /// Interval of HTTP/2 keep-alive pings; none disables them. Defaults to none.
    #[serde(with = "serde_opt_duration")]
    pub http2_keep_alive_interval: Option<Duration>,
    /// How long to wait for a keep-alive ping's answer before closing the connection.
    /// Defaults to 20 s.
    #[serde(with = "serde_duration")]
    pub http2_keep_alive_timeout: Duration,
    /// Set `TCP_NODELAY` on accepted sockets. Defaults to `true`.
    pub tcp_nodelay: bool,
    /// TLS certificate and key; none serves cleartext (h2c). Requires the `tls` cargo feature.
    /// Defaults to none.
    pub tls: Option<TlsConfig>,
}

/// PEM files of the server certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsConfig {
    /// PEM file with the certificate chain, leaf first.
    pub cert_path: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
}

impl TlsConfig {
    /// A TLS configuration from the two PEM file paths.
    pub fn new(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        Self {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            body_limit: 2 * 1024 * 1024,
            concurrency_limit: None,
            max_connections: None,
            shutdown_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::ZERO,
            grpc_web: false,
            compression: true,
            cors: Vec::new(),
            request_id_header: "x-request-id".to_owned(),
            http1_keep_alive: true,
            http2_max_concurrent_streams: 200,
            http2_keep_alive_interval: None,
            http2_keep_alive_timeout: Duration::from_secs(20),
            tcp_nodelay: true,
            tls: None,
        }
    }
}

/// A configuration value that is malformed or out of range. Names the key (field or environment
/// variable) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    key: String,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The field or environment variable at fault.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong and what was expected.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl ServerConfig {
    /// Reads `SERVER_*` environment variables over the defaults: `SERVER_ADDR`,
    /// `SERVER_REQUEST_TIMEOUT`, `SERVER_BODY_LIMIT`, … (the field name upper-cased), with
    /// `SERVER_CORS` comma-separated and `SERVER_TLS_CERT` / `SERVER_TLS_KEY` for TLS. An
    /// optional number set to `none` or an empty string is unset.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_prefixed("SERVER_")
    }

    /// [`from_env`](Self::from_env) with another prefix, e.g. `"API_SERVER_"`.
    pub fn from_env_prefixed(prefix: &str) -> Result<Self, ConfigError> {
        Self::from_lookup(prefix, |key| std::env::var(key).ok())
    }

    /// [`from_env`](Self::from_env) reading variables from `lookup` instead of the process
    /// environment (for tests and other sources of key/value pairs).
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = Env { prefix, lookup };
        let mut c = Self::default();
        env.parse(
            "ADDR",
            &mut c.addr,
            "a socket address such as 0.0.0.0:8080",
            |v| v.parse().ok(),
        )?;
        env.parse(
            "REQUEST_TIMEOUT",
            &mut c.request_timeout,
            DURATION,
            parse_duration,
        )?;
        env.parse(
            "HEADER_READ_TIMEOUT",
            &mut c.header_read_timeout,
            DURATION,
            parse_duration,
        )?;
        env.parse("BODY_LIMIT", &mut c.body_limit, "a number of bytes", |v| {
            v.parse().ok()
        })?;
        env.parse(
            "CONCURRENCY_LIMIT",
            &mut c.concurrency_limit,
            OPT_COUNT,
            parse_opt,
        )?;
        env.parse(
            "MAX_CONNECTIONS",
            &mut c.max_connections,
            OPT_COUNT,
            parse_opt,
        )?;
        env.parse(
            "SHUTDOWN_TIMEOUT",
            &mut c.shutdown_timeout,
            DURATION,
            parse_duration,
        )?;
        env.parse(
            "SHUTDOWN_GRACE",
            &mut c.shutdown_grace,
            DURATION,
            parse_duration,
        )?;
        env.parse("GRPC_WEB", &mut c.grpc_web, BOOL, parse_bool)?;
        env.parse("COMPRESSION", &mut c.compression, BOOL, parse_bool)?;
        env.parse("CORS", &mut c.cors, "comma-separated origins", |v| {
            Some(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        })?;
        env.parse(
            "REQUEST_ID_HEADER",
            &mut c.request_id_header,
            "a header name",
            |v| Some(v.trim().to_owned()),
        )?;
        env.parse(
            "HTTP1_KEEP_ALIVE",
            &mut c.http1_keep_alive,
            BOOL,
            parse_bool,
        )?;
        env.parse(
            "HTTP2_MAX_CONCURRENT_STREAMS",
            &mut c.http2_max_concurrent_streams,
            "a number of streams",
            |v| v.parse().ok(),
        )?;
        env.parse(
            "HTTP2_KEEP_ALIVE_INTERVAL",
            &mut c.http2_keep_alive_interval,
            "a duration such as \"30s\", or none",
            |v| match v.trim() {
                "" | "none" => Some(None),
                v => parse_duration(v).map(Some),
            },
        )?;
        env.parse(
            "HTTP2_KEEP_ALIVE_TIMEOUT",
            &mut c.http2_keep_alive_timeout,
            DURATION,
            parse_duration,
        )?;
        env.parse("TCP_NODELAY", &mut c.tcp_nodelay, BOOL, parse_bool)?;
        let cert = env.get("TLS_CERT");
        let key = env.get("TLS_KEY");
        match (cert, key) {
            (Some(cert), Some(key)) => c.tls = Some(TlsConfig::new(cert, key)),
            (None, None) => {}
            (Some(_), None) => {
                return Err(ConfigError::new(
                    format!("{prefix}TLS_KEY"),
                    "must be set with TLS_CERT",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    format!("{prefix}TLS_CERT"),
                    "must be set with TLS_KEY",
                ));
            }
        }
        Ok(c)
    }

    /// Checks values that deserialize fine but cannot work. [`bind`] calls it.
    ///
    /// [`bind`]: crate::ServerBuilder::bind
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.body_limit == 0 {
            return Err(ConfigError::new("body_limit", "must be greater than 0"));
        }
        if self.concurrency_limit == Some(0) {
            return Err(ConfigError::new(
                "concurrency_limit",
                "must be greater than 0 (or unset)",
            ));
        }
        if self.max_connections == Some(0) {
            return Err(ConfigError::new(
                "max_connections",
                "must be greater than 0 (or unset)",
            ));
        }
        if self.http2_max_concurrent_streams == 0 {
            return Err(ConfigError::new(
                "http2_max_concurrent_streams",
                "must be greater than 0",
            ));
        }
        if self.http2_keep_alive_interval == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "http2_keep_alive_interval",
                "must be greater than 0 (or unset)",
            ));
        }
        self.request_id_header()?;
        self.cors_origins()?;
        Ok(())
    }

    pub(crate) fn request_id_header(&self) -> Result<HeaderName, ConfigError> {
        HeaderName::try_from(self.request_id_header.as_str()).map_err(|_| {
            ConfigError::new(
                "request_id_header",
                format!(
                    "{:?} is not a valid HTTP header name",
                    self.request_id_header
                ),
            )
        })
    }

    /// `None`: any origin (`"*"`); `Some(list)`: exactly these.
    pub(crate) fn cors_origins(&self) -> Result<Option<Vec<HeaderValue>>, ConfigError> {
        if self.cors.iter().any(|o| o == "*") {
            return Ok(None);
        }
        self.cors
            .iter()
            .map(|o| {
                let valid = o.starts_with("http://") || o.starts_with("https://");
                match HeaderValue::from_str(o.trim_end_matches('/')) {
                    Ok(v) if valid => Ok(v),
                    _ => Err(ConfigError::new(
                        "cors",
                        format!(
                            "{o:?} is not an origin such as \"https://app.example.com\" or \"*\""
                        ),
                    )),
                }
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

const DURATION: &str = "a duration such as \"30s\", \"500ms\" or a number of seconds";
const BOOL: &str = "true or false";
const OPT_COUNT: &str = "a positive number, or none";

fn parse_duration(v: &str) -> Option<Duration> {
    duration::parse(v).ok()
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

// Outer `None`: not a valid value; inner `None`: explicitly unset.
#[allow(clippy::option_option)]
fn parse_opt(v: &str) -> Option<Option<usize>> {
    match v.trim() {
        "" | "none" => Some(None),
        v => v.parse().ok().map(Some),
    }
}

struct Env<'a, F> {
    prefix: &'a str,
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    fn get(&self, key: &str) -> Option<String> {
        (self.lookup)(&format!("{}{key}", self.prefix))
    }

    fn parse<T>(
        &self,
        key: &str,
        field: &mut T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<(), ConfigError> {
        let Some(raw) = self.get(key) else {
            return Ok(());
        };
        *field = parse(raw.trim()).ok_or_else(|| {
            ConfigError::new(
                format!("{}{key}", self.prefix),
                format!("expected {expected}, found {raw:?}"),
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ServerConfig::from_lookup("SERVER_", |k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = ServerConfig::default();
        assert_eq!(c.addr.to_string(), "0.0.0.0:8080");
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.body_limit, 2 * 1024 * 1024);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(c.shutdown_grace, Duration::ZERO);
        assert_eq!(c.request_id_header, "x-request-id");
        assert!(c.validate().is_ok());
        assert_eq!(from(&[]).unwrap(), c);
        // An empty document is the defaults too.
        assert_eq!(serde_json::from_str::<ServerConfig>("{}").unwrap(), c);
    }

    #[test]
    fn reads_env() {
        let c = from(&[
            ("SERVER_ADDR", "127.0.0.1:9000"),
            ("SERVER_REQUEST_TIMEOUT", "500ms"),
            ("SERVER_HEADER_READ_TIMEOUT", "3"),
            ("SERVER_BODY_LIMIT", "1024"),
            ("SERVER_CONCURRENCY_LIMIT", "64"),
            ("SERVER_MAX_CONNECTIONS", "none"),
            ("SERVER_SHUTDOWN_TIMEOUT", "1m"),
            ("SERVER_SHUTDOWN_GRACE", "2s"),
            ("SERVER_GRPC_WEB", "true"),
            ("SERVER_COMPRESSION", "off"),
            ("SERVER_CORS", "https://a.example, https://b.example"),
            ("SERVER_REQUEST_ID_HEADER", "x-correlation-id"),
            ("SERVER_HTTP1_KEEP_ALIVE", "0"),
            ("SERVER_HTTP2_MAX_CONCURRENT_STREAMS", "50"),
            ("SERVER_HTTP2_KEEP_ALIVE_INTERVAL", "15s"),
            ("SERVER_HTTP2_KEEP_ALIVE_TIMEOUT", "5s"),
            ("SERVER_TCP_NODELAY", "no"),
            ("SERVER_TLS_CERT", "/etc/cert.pem"),
            ("SERVER_TLS_KEY", "/etc/key.pem"),
        ])
        .unwrap();
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.request_timeout, Duration::from_millis(500));
        assert_eq!(c.header_read_timeout, Duration::from_secs(3));
        assert_eq!(c.body_limit, 1024);
        assert_eq!(c.concurrency_limit, Some(64));
        assert_eq!(c.max_connections, None);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(60));
        assert_eq!(c.shutdown_grace, Duration::from_secs(2));
        assert!(c.grpc_web && !c.compression && !c.http1_keep_alive && !c.tcp_nodelay);
        assert_eq!(c.cors, ["https://a.example", "https://b.example"]);
        assert_eq!(c.request_id_header, "x-correlation-id");
        assert_eq!(c.http2_max_concurrent_streams, 50);
        assert_eq!(c.http2_keep_alive_interval, Some(Duration::from_secs(15)));
        assert_eq!(c.http2_keep_alive_timeout, Duration::from_secs(5));
        assert_eq!(c.tls, Some(TlsConfig::new("/etc/cert.pem", "/etc/key.pem")));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = from(&[("SERVER_REQUEST_TIMEOUT", "soon")]).unwrap_err();
        assert_eq!(e.key(), "SERVER_REQUEST_TIMEOUT");
        assert!(
            e.message().contains("duration") && e.message().contains("soon"),
            "{e}"
        );
        let e = from(&[("SERVER_GRPC_WEB", "maybe")]).unwrap_err();
        assert_eq!(e.key(), "SERVER_GRPC_WEB");
        let e = from(&[("SERVER_ADDR", "localhost")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("SERVER_ADDR: expected a socket address"),
            "{e}"
        );
        let e = from(&[("SERVER_TLS_CERT", "c.pem")]).unwrap_err();
        assert_eq!(e.key(), "SERVER_TLS_KEY");
        let e = from(&[("SERVER_TLS_KEY", "k.pem")]).unwrap_err();
        assert_eq!(e.key(), "SERVER_TLS_CERT");
        let e = from(&[("SERVER_HTTP2_KEEP_ALIVE_INTERVAL", "often")]).unwrap_err();
        assert_eq!(e.key(), "SERVER_HTTP2_KEEP_ALIVE_INTERVAL");
    }

    #[test]
    fn deserializes_human_and_integer_durations() {
        let c: ServerConfig = serde_json::from_str(
            r#"{"request_timeout": 5, "shutdown_timeout": "1m30s", "http2_keep_alive_interval": "10s",
                "tls": {"cert_path": "c.pem", "key_path": "k.pem"}}"#,
        )
        .unwrap();
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(90));
        assert_eq!(c.http2_keep_alive_interval, Some(Duration::from_secs(10)));
        assert!(c.tls.is_some());
        let err = serde_json::from_str::<ServerConfig>(r#"{"request_timout": 5}"#).unwrap_err();
        assert!(err.to_string().contains("request_timout"), "{err}");
        // Serializes back to the same value.
        let back: ServerConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn validation() {
        let mut c = ServerConfig::default();
        c.body_limit = 0;
        assert_eq!(c.validate().unwrap_err().key(), "body_limit");
        let mut c = ServerConfig::default();
        c.concurrency_limit = Some(0);
        assert_eq!(c.validate().unwrap_err().key(), "concurrency_limit");
        let mut c = ServerConfig::default();
        c.max_connections = Some(0);
        assert_eq!(c.validate().unwrap_err().key(), "max_connections");
        let mut c = ServerConfig::default();
        c.http2_max_concurrent_streams = 0;
        assert_eq!(
            c.validate().unwrap_err().key(),
            "http2_max_concurrent_streams"
        );
        let mut c = ServerConfig::default();
        c.http2_keep_alive_interval = Some(Duration::ZERO);
        assert_eq!(c.validate().unwrap_err().key(), "http2_keep_alive_interval");
        let mut c = ServerConfig::default();
        c.request_id_header = "bad header".into();
        assert_eq!(c.validate().unwrap_err().key(), "request_id_header");
        let mut c = ServerConfig::default();
        c.cors = vec!["example.com".into()];
        assert_eq!(c.validate().unwrap_err().key(), "cors");
        c.cors = vec!["https://example.com/".into()];
        assert_eq!(c.cors_origins().unwrap().unwrap()[0], "https://example.com");
        c.cors = vec!["https://example.com".into(), "*".into()];
        assert_eq!(c.cors_origins().unwrap(), None);
    }
}
