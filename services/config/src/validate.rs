//! The validation hook.

/// Problems found by a validation hook, keyed by dotted field name.
///
/// ```
/// use core_backend_config::{Validate, ValidationErrors};
///
/// struct Pool { min: u32, max: u32 }
///
/// impl Validate for Pool {
///     fn validate(&self) -> Result<(), ValidationErrors> {
///         let mut errors = ValidationErrors::new();
///         if self.max == 0 {
///             errors.add("pool.max", "a pool size of at least 1");
///         }
///         if self.min > self.max {
///             errors.add("pool.min", "at most `pool.max`");
///         }
///         errors.into_result()
///     }
/// }
/// assert_eq!(Pool { min: 2, max: 1 }.validate().unwrap_err().len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    errors: Vec<(String, String)>,
}

impl ValidationErrors {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `key` (dotted, `server.addr`) is wrong; `expected` says what it should be,
    /// in words that complete "expected …": `"a non-zero port"`.
    pub fn add(&mut self, key: impl Into<String>, expected: impl Into<String>) -> &mut Self {
        self.errors.push((key.into(), expected.into()));
        self
    }

    /// Appends all of `other`.
    pub fn extend(&mut self, other: ValidationErrors) {
        self.errors.extend(other.errors);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// How many problems were recorded.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// `Ok(())` if empty, `Err(self)` otherwise.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The recorded `(key, expected)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.errors.iter().map(|(k, m)| (k.as_str(), m.as_str()))
    }
}

impl IntoIterator for ValidationErrors {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

/// A configuration type that checks itself after loading; see
/// [`ConfigLoader::validated`](crate::ConfigLoader::validated).
pub trait Validate {
    /// Returns every problem found, keyed by dotted field name.
    fn validate(&self) -> Result<(), ValidationErrors>;
}
