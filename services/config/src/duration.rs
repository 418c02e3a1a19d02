//! Serde helpers for durations written as `"30s"`, `"500ms"`, `"1m30s"` or whole seconds.
//!
//! ```
//! use std::time::Duration;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Timeouts {
//!     #[serde(with = "core_backend_config::duration")]
//!     request: Duration,
//! }
//!
//! let t: Timeouts = serde_json::from_str(r#"{ "request": "1m30s" }"#).unwrap();
//! assert_eq!(t.request, Duration::from_secs(90));
//! let t: Timeouts = serde_json::from_str(r#"{ "request": 5 }"#).unwrap();
//! assert_eq!(t.request, Duration::from_secs(5));
//! ```
//!
//! Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, `d`; parts may be combined (`1h30m`) and
//! may be fractional (`1.5s`). A bare number, as an integer or a string, is seconds.
//! Serialization writes the shortest exact form (`"30s"`, `"1500ms"`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

const EXPECTED: &str = "a duration like \"30s\", \"500ms\", \"1m30s\" or a number of seconds";

/// Why a duration string did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError(String);

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid duration {:?}: expected {EXPECTED}", self.0)
    }
}

impl std::error::Error for ParseDurationError {}

/// Parses `"30s"`, `"500ms"`, `"1h30m"`, `"1.5s"` or `"10"` (seconds).
pub fn parse(input: &str) -> Result<Duration, ParseDurationError> {
    let err = || ParseDurationError(input.to_owned());
    let s = input.trim();
    if s.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let number = &rest[..num_len];
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: u128 = match rest[..unit_len].trim() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" | "sec" | "secs" => 1_000_000_000,
            "m" | "min" | "mins" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        // Whole numbers in integer arithmetic so that every exact duration round-trips;
        // fractions through f64, which is exact enough for "1.5s".
        let nanos = if number.contains('.') {
            let value: f64 = number.parse().map_err(|_| err())?;
            let nanos = value * unit as f64;
            if !nanos.is_finite() || nanos >= 1.8e28 {
                return Err(err());
            }
            nanos.round() as u128
        } else {
            number
                .parse::<u128>()
                .ok()
                .and_then(|n| n.checked_mul(unit))
                .ok_or_else(err)?
        };
        total = total.checked_add(nanos).ok_or_else(err)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| err())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Renders the shortest exact form: `"30s"`, `"1500ms"`, `"250us"`, `"7ns"`.
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        "0s".to_owned()
    } else if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

/// Serializes as [`format`] does.
pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*d))
}

/// Deserializes a string (see [`parse`]) or a non-negative number of seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Duration::try_from_secs_f64(v)
            .map_err(|_| E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// The same for `Option<Duration>`: absent or `null` is `None`.
pub mod option {
    use super::{Duration, DurationVisitor};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `Some` as [`format`](super::format) does, `None` as none.
    pub fn serialize<S: Serializer>(
        d: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => serializer.serialize_some(&super::format(*d)),
            None => serializer.serialize_none(),
        }
    }

    /// Deserializes an optional duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        struct Wrapper(Duration);
        impl<'de> Deserialize<'de> for Wrapper {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(DurationVisitor).map(Wrapper)
            }
        }
        Ok(Option::<Wrapper>::deserialize(deserializer)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse(" 10 ").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse("250us").unwrap(), Duration::from_micros(250));
        for bad in [
            "",
            "s",
            "10x",
            "-1s",
            "1..2s",
            "ms10",
            "1e400s",
            "99999999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must not parse");
        }
        assert!(parse("nope").unwrap_err().to_string().contains("\"nope\""));
    }

    #[test]
    fn formats_shortest_exact() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_secs(30)), "30s");
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::from_micros(3)), "3us");
        assert_eq!(format(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn serde_forms() {
        #[derive(serde::Deserialize, serde::Serialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "super")]
            d: Duration,
            #[serde(with = "super::option", default)]
            o: Option<Duration>,
        }
        let t: T = serde_json::from_str(r#"{"d": 1.5, "o": "2s"}"#).unwrap();
        assert_eq!(
            t,
            T {
                d: Duration::from_millis(1500),
                o: Some(Duration::from_secs(2))
            }
        );
        let t: T = serde_json::from_str(r#"{"d": 3}"#).unwrap();
        assert_eq!(t.o, None);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"d":"3s","o":null}"#);
        assert!(serde_json::from_str::<T>(r#"{"d": -3}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"d": -3.0}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"d": true}"#).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s);
        }

        #[test]
        fn round_trips(nanos in 0u64..u64::MAX / 2) {
            let d = Duration::from_nanos(nanos);
            prop_assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }
}
