//! [`Error`]: why a server could not start.

use std::{io, net::SocketAddr};

use tower::BoxError;

use crate::config::ConfigError;

/// Why [`ServerBuilder::bind`](crate::ServerBuilder::bind) failed. Once bound, the server does
/// not fail: connection and request errors are logged and counted, not returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value cannot work; the error names the key.
    #[error("invalid server configuration: {0}")]
    Config(#[from] ConfigError),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from the configuration.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The listener's local address could not be read.
    #[error("cannot read the listener's address: {0}")]
    LocalAddr(#[source] io::Error),
    /// A file descriptor set given for gRPC reflection could not be decoded.
    #[error("invalid file descriptor set for gRPC reflection: {0}")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// The TLS certificate or key could not be loaded or does not fit.
    #[error("TLS setup failed: {message}")]
    Tls {
        /// What failed, naming the file.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
}
