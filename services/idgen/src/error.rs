//! Errors: parsing ids, generating ids, reading configuration.

use std::fmt;
use std::time::Duration;

/// Which kind of id a [`ParseIdError`] was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdType {
    /// A UUID ([`Uuid`](crate::Uuid)).
    Uuid,
    /// A ULID ([`Ulid`](crate::Ulid)).
    Ulid,
    /// A Snowflake id ([`SnowflakeId`](crate::SnowflakeId)).
    Snowflake,
}

impl IdType {
    /// The name used in messages: `UUID`, `ULID` or `Snowflake id`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Uuid => "UUID",
            Self::Ulid => "ULID",
            Self::Snowflake => "Snowflake id",
        }
    }
}

impl fmt::Display for IdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a string is not a valid id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input is empty.
    Empty,
    /// The input has a length no form of this id has.
    InvalidLength {
        /// The length in bytes of the input.
        found: usize,
    },
    /// A character that is not allowed at this position (not a digit of the encoding, or a
    /// hyphen out of place). `index` is a byte offset into the input.
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its byte offset in the input.
        index: usize,
    },
    /// The value does not fit: a ULID whose first character is above `7` (more than 128 bits),
    /// or a Snowflake id above `u64::MAX`.
    Overflow,
}

/// A string could not be parsed as an id.
///
/// Returned by the `FromStr` implementations of [`Uuid`](crate::Uuid), [`Ulid`](crate::Ulid) and
/// [`SnowflakeId`](crate::SnowflakeId); [`kind`](Self::kind) says why.
///
/// ```
/// use core_backend_idgen::{ParseErrorKind, Ulid};
///
/// let err = "01ARZ3NDEKTSV4RRFFQ69G5FAU".parse::<Ulid>().unwrap_err();
/// assert_eq!(err.kind(), ParseErrorKind::InvalidCharacter { character: 'U', index: 25 });
/// assert_eq!(err.to_string(), "invalid ULID: invalid character 'U' at position 25");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParseIdError {
    id_type: IdType,
    kind: ParseErrorKind,
}

impl ParseIdError {
    pub(crate) const fn new(id_type: IdType, kind: ParseErrorKind) -> Self {
        Self { id_type, kind }
    }

    pub(crate) fn invalid_char(id_type: IdType, input: &str, index: usize) -> Self {
        // Report the whole character even if `index` points into the middle of one.
        let mut start = index.min(input.len());
        while !input.is_char_boundary(start) {
            start -= 1;
        }
        let character = input[start..].chars().next().unwrap_or('\u{FFFD}');
        Self::new(
            id_type,
            ParseErrorKind::InvalidCharacter {
                character,
                index: start,
            },
        )
    }

    /// Which kind of id was being parsed.
    pub const fn id_type(&self) -> IdType {
        self.id_type
    }

    /// Why the input was rejected.
    pub const fn kind(&self) -> ParseErrorKind {
        self.kind
    }
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: ", self.id_type)?;
        match self.kind {
            ParseErrorKind::Empty => f.write_str("empty input"),
            ParseErrorKind::InvalidLength { found } => {
                let expected = match self.id_type {
                    IdType::Uuid => "32, 36, 38 or 45 characters",
                    IdType::Ulid => "26 characters",
                    IdType::Snowflake => "1 to 20 decimal digits",
                };
                write!(f, "expected {expected}, found {found}")
            }
            ParseErrorKind::InvalidCharacter { character, index } => {
                write!(f, "invalid character {character:?} at position {index}")
            }
            ParseErrorKind::Overflow => match self.id_type {
                IdType::Ulid => f.write_str("value exceeds 128 bits (first character above '7')"),
                _ => f.write_str("value out of range"),
            },
        }
    }
}

impl std::error::Error for ParseIdError {}

/// An id could not be generated.
///
/// Only [`Snowflake`](crate::Snowflake) (and an [`AnyIdGenerator`](crate::AnyIdGenerator) built
/// for it) fails: UUID and ULID generation cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The wall clock is behind the last timestamp issued, and the
    /// [`ClockBackwardsPolicy`](crate::ClockBackwardsPolicy) says not to wait (or not this long).
    #[error("clock moved backwards by {}ms", .by.as_millis())]
    ClockMovedBackwards {
        /// How far behind the clock is.
        by: Duration,
    },
    /// The wall clock reads a time before the generator's epoch.
    #[error("clock is before the snowflake epoch")]
    ClockBeforeEpoch,
    /// The time since the epoch no longer fits in the layout's timestamp bits.
    #[error("snowflake timestamp bits exhausted: the layout's lifetime since its epoch is over")]
    TimestampOverflow,
}

/// A configuration value is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds a value that cannot be used.
    #[error("environment variable {name}: {reason}")]
    Env {
        /// The variable's name.
        name: &'static str,
        /// What was expected.
        reason: String,
    },
    /// The Snowflake bit layout is impossible (the fields exceed 63 bits, or a field is empty).
    #[error("invalid snowflake layout: {0}")]
    Layout(String),
    /// A worker or datacenter id does not fit its bits.
    #[error("{field} {value} does not fit in {bits} bits (max {max})")]
    IdOutOfRange {
        /// `worker_id` or `datacenter_id`.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The bits the layout gives it.
        bits: u8,
        /// The largest value that fits.
        max: u64,
    },
    /// An id kind name that is not one of `uuid_v4`, `uuid_v7`, `ulid`, `snowflake`.
    #[error("unknown id kind {found:?}: expected uuid_v4, uuid_v7, ulid or snowflake")]
    UnknownKind {
        /// The name given.
        found: String,
    },
    /// A snowflake epoch in the future.
    #[error("snowflake epoch {epoch_ms} is in the future")]
    EpochInFuture {
        /// The epoch given, in Unix milliseconds.
        epoch_ms: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let e = ParseIdError::new(IdType::Uuid, ParseErrorKind::InvalidLength { found: 3 });
        assert_eq!(
            e.to_string(),
            "invalid UUID: expected 32, 36, 38 or 45 characters, found 3"
        );
        let e = ParseIdError::new(IdType::Snowflake, ParseErrorKind::Overflow);
        assert_eq!(e.to_string(), "invalid Snowflake id: value out of range");
        let e = ParseIdError::new(IdType::Ulid, ParseErrorKind::Empty);
        assert_eq!(e.to_string(), "invalid ULID: empty input");
        assert_eq!(e.id_type(), IdType::Ulid);
        let e = ParseIdError::invalid_char(IdType::Ulid, "aé", 1);
        assert_eq!(
            e.kind(),
            ParseErrorKind::InvalidCharacter {
                character: 'é',
                index: 1
            }
        );
        let g = GenerateError::ClockMovedBackwards {
            by: Duration::from_millis(12),
        };
        assert_eq!(g.to_string(), "clock moved backwards by 12ms");
    }
}
