//! The configuration error: which key, from which source, what was expected, what was found.

use std::fmt;

use crate::source::ConfigSource;

/// What went wrong while loading configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A value has the wrong type or cannot be parsed (`"nope"` for a socket address).
    InvalidValue,
    /// A key without a default was set by no layer.
    MissingKey,
    /// A key the target type does not know (with `#[serde(deny_unknown_fields)]`).
    UnknownKey,
    /// A configuration file is not valid TOML, YAML or JSON.
    Syntax,
    /// A file that had to exist does not.
    FileNotFound,
    /// A file could not be read, or its extension names no known format.
    File,
    /// The validation hook rejected a value.
    Validation,
    /// Anything else serde or figment reported.
    Other,
}

/// An error loading configuration, naming the key, its source and what was expected.
///
/// `Display` is one line meant for an operator, for example:
///
/// ```text
/// invalid value for `server.addr` from env var API_SERVER__ADDR: expected a socket address like 127.0.0.1:8080, found "nope"
/// syntax error in file /etc/api.toml:3:8: expected `.`, `=`
/// ```
///
/// When several problems were found (the validation hook reported more than one), the first
/// is this error and the rest are in [`ConfigError::related`]; [`ConfigError::iter`] walks all.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Dotted key of the offending value, e.g. `server.addr`.
    pub key: Option<String>,
    /// Where the offending value (or the syntax error) is.
    pub source: Option<ConfigSource>,
    /// What was expected, in words: `a socket address like 127.0.0.1:8080`.
    pub expected: Option<String>,
    /// What was found, rendered (secrets redacted): `"nope"`.
    pub found: Option<String>,
    /// A free-form message: the parser's message for syntax errors, the I/O error for files.
    pub message: Option<String>,
    /// Further errors found in the same load.
    pub related: Vec<ConfigError>,
}

impl ConfigError {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            key: None,
            source: None,
            expected: None,
            found: None,
            message: None,
            related: Vec::new(),
        }
    }

    pub(crate) fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub(crate) fn with_source(mut self, source: ConfigSource) -> Self {
        self.source = Some(source);
        self
    }

    pub(crate) fn with_expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub(crate) fn with_found(mut self, found: impl Into<String>) -> Self {
        self.found = Some(found.into());
        self
    }

    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// This error followed by the [`related`](ConfigError::related) ones.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        std::iter::once(self).chain(self.related.iter())
    }

    /// Number of errors, this one included.
    pub fn count(&self) -> usize {
        1 + self.related.len()
    }

    fn fmt_one(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key.as_deref().map(|k| format!("`{k}`"));
        match self.kind {
            ErrorKind::Syntax => {
                f.write_str("syntax error")?;
                if let Some(source) = &self.source {
                    write!(f, " in {source}")?;
                }
            }
            ErrorKind::FileNotFound => {
                f.write_str("config file not found")?;
                if let Some(source) = &self.source {
                    write!(f, ": {source}")?;
                }
            }
            ErrorKind::File => {
                f.write_str("cannot use config")?;
                if let Some(source) = &self.source {
                    write!(f, " {source}")?;
                }
            }
            ErrorKind::MissingKey => {
                write!(f, "missing value for {}", key.as_deref().unwrap_or("a key"))?;
            }
            ErrorKind::UnknownKey => {
                write!(f, "unknown key {}", key.as_deref().unwrap_or("?"))?;
                if let Some(source) = &self.source {
                    write!(f, " in {source}")?;
                }
            }
            ErrorKind::InvalidValue | ErrorKind::Validation | ErrorKind::Other => {
                f.write_str("invalid value")?;
                if let Some(key) = &key {
                    write!(f, " for {key}")?;
                }
                if let Some(source) = &self.source {
                    write!(f, " from {source}")?;
                }
            }
        }
        let mut sep = ": ";
        if let Some(message) = &self.message {
            write!(f, "{sep}{message}")?;
            sep = "; ";
        }
        if let Some(expected) = &self.expected {
            write!(f, "{sep}expected {expected}")?;
            sep = ", ";
        }
        if let Some(found) = &self.found {
            write!(f, "{sep}found {found}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_one(f)?;
        match self.related.len() {
            0 => Ok(()),
            1 => write!(f, " (and 1 more error)"),
            n => write!(f, " (and {n} more errors)"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Turns serde's terse "expected" into words an operator understands.
pub(crate) fn humanize_expected(expected: &str) -> String {
    let range = |min: &str, max: &str| format!("an integer between {min} and {max}");
    match expected {
        "socket address" | "invalid socket address syntax" => {
            "a socket address like 127.0.0.1:8080".to_owned()
        }
        "IP address" | "invalid IP address syntax" => "an IP address like 127.0.0.1".to_owned(),
        "IPv4 address" | "invalid IPv4 address syntax" => {
            "an IPv4 address like 127.0.0.1".to_owned()
        }
        "IPv6 address" | "invalid IPv6 address syntax" => "an IPv6 address like ::1".to_owned(),
        "u8" => range("0", "255"),
        "u16" => range("0", "65535"),
        "u32" => range("0", "4294967295"),
        "u64" | "usize" | "u128" => "a non-negative integer".to_owned(),
        "i8" => range("-128", "127"),
        "i16" => range("-32768", "32767"),
        "i32" => range("-2147483648", "2147483647"),
        "i64" | "isize" | "i128" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" => "a boolean (true or false)".to_owned(),
        "path string" => "a file path".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn display_is_one_line_and_complete() {
        let e = ConfigError::new(ErrorKind::InvalidValue)
            .with_key("server.addr")
            .with_source(ConfigSource::Env {
                var: "API_SERVER__ADDR".into(),
            })
            .with_expected(humanize_expected("socket address"))
            .with_found("\"nope\"");
        assert_eq!(
            e.to_string(),
            "invalid value for `server.addr` from env var API_SERVER__ADDR: \
             expected a socket address like 127.0.0.1:8080, found \"nope\""
        );
        let s = ConfigError::new(ErrorKind::Syntax)
            .with_source(ConfigSource::File {
                path: PathBuf::from("/x/api.toml"),
                line: Some(3),
                column: Some(8),
            })
            .with_message("expected `=`");
        assert_eq!(
            s.to_string(),
            "syntax error in file /x/api.toml:3:8: expected `=`"
        );
        let mut two = e.clone();
        two.related.push(s);
        assert!(two.to_string().ends_with("(and 1 more error)"));
        assert_eq!(two.iter().count(), 2);
        assert_eq!(two.count(), 2);
        assert!(!two.to_string().contains('\n'));
    }
}
