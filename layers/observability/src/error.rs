//! Errors of [`init`](crate::init) and [`Telemetry::shutdown`](crate::Telemetry::shutdown).

/// Why [`init`](crate::init) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// `init` already ran in this process; the global subscriber and recorder can be set once.
    #[error("observability is already initialised in this process")]
    AlreadyInitialized,
    /// A setting has a value that cannot be used.
    #[error("invalid value {value:?} for {key}: expected {expected}")]
    InvalidConfig {
        /// The setting or environment variable.
        key: &'static str,
        /// The value found.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The log filter (`RUST_LOG` syntax) does not parse.
    #[error("invalid log filter {filter:?}: {source}")]
    InvalidLogFilter {
        /// The filter found.
        filter: String,
        /// The parser's complaint.
        source: tracing_subscriber::filter::ParseError,
    },
    /// Another global `tracing` subscriber was installed first (not by this crate).
    #[error("a global tracing subscriber is already installed")]
    TracingAlreadySet(#[source] tracing::subscriber::SetGlobalDefaultError),
    /// Another global `metrics` recorder was installed first (not by this crate).
    #[error("a global metrics recorder is already installed")]
    MetricsAlreadySet,
    /// The OTLP exporters could not be built.
    #[error("OTLP export could not be set up: {0}")]
    Otlp(String),
}

/// Why [`Telemetry::shutdown`](crate::Telemetry::shutdown) could not flush everything.
#[derive(Debug, thiserror::Error)]
#[error("telemetry shutdown failed: {message}")]
pub struct ShutdownError {
    pub(crate) message: String,
}
