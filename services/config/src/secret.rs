//! Secret strings in configuration structs.

use std::cell::Cell;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text every secret is rendered as in `Debug`, dumps and error messages.
pub const REDACTED: &str = "[REDACTED]";

thread_local! {
    static REDACTING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with [`Secret`] serializing as [`REDACTED`] on this thread.
pub(crate) fn redacting<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            REDACTING.with(|r| r.set(self.0));
        }
    }
    let _reset = Reset(REDACTING.with(|r| r.replace(true)));
    f()
}

/// A secret string in a configuration struct: a password, a token, a DSN with credentials.
///
/// Backed by [`secrecy::SecretString`] (zeroized on drop). `Debug` prints `[REDACTED]`;
/// the value is reachable only through [`Secret::expose_secret`]. It deserializes from a plain
/// string in any layer. It serializes to the real value (so a default can carry one), except
/// inside [`ConfigLoader::dump`](crate::ConfigLoader::dump) and
/// [`ConfigLoader::explain`](crate::ConfigLoader::explain), where it always renders as
/// `"[REDACTED]"`, whatever the key is called.
///
/// ```
/// use core_backend_config::Secret;
///
/// let password = Secret::from("hunter2");
/// assert_eq!(format!("{password:?}"), "Secret([REDACTED])");
/// assert_eq!(password.expose_secret(), "hunter2");
/// ```
#[derive(Clone, Default)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a string.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret value. Call it where the value is used, never to log it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the secret is the empty string (for "is it configured?" checks).
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<SecretString> for Secret {
    fn from(value: SecretString) -> Self {
        Self(value)
    }
}

impl From<Secret> for SecretString {
    fn from(value: Secret) -> Self {
        value.0
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if REDACTING.with(Cell::get) {
            serializer.serialize_str(REDACTED)
        } else {
            serializer.serialize_str(self.0.expose_secret())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_real_value_outside_redaction_only() {
        let s = Secret::from("pw");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"pw\"");
        assert_eq!(
            redacting(|| serde_json::to_string(&s).unwrap()),
            "\"[REDACTED]\""
        );
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"pw\"");
        let back: Secret = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(back.expose_secret(), "x");
        assert!(!back.is_empty());
        assert!(Secret::default().is_empty());
        let inner: SecretString = back.into();
        assert_eq!(Secret::from(inner).expose_secret(), "x");
    }
}
