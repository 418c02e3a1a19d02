//! Errors.

/// A configuration value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {key}: expected {expected}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The variable or key.
    pub key: String,
    /// The value found.
    pub value: String,
    /// What was expected.
    pub expected: &'static str,
}
