//! Human-readable durations: `"30s"`, `"500ms"`, `"1m30s"`, `"1.5h"`, or a bare number of seconds.
//!
//! Configuration values come from files and environment variables written by people, so the parser
//! accepts the forms people write and rejects everything else with a message that says what was
//! expected. It never panics and never overflows: values beyond [`Duration::MAX`] are an error.

use std::{fmt, time::Duration};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Units in the order the formatter emits them, with their length in nanoseconds.
const UNITS: [(&str, u128); 7] = [
    ("d", 86_400 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Why a duration string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// The input was empty or only whitespace.
    Empty,
    /// A character that is neither a digit nor part of a unit.
    InvalidCharacter { position: usize, found: char },
    /// A unit that is not one of the known ones.
    UnknownUnit(String),
    /// A number without a unit in a multi-part duration (`"1m30"`).
    MissingUnit,
    /// The value does not fit in a [`Duration`].
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty duration"),
            Self::InvalidCharacter { position, found } => {
                write!(
                    f,
                    "invalid character {found:?} at position {position} in duration"
                )
            }
            Self::UnknownUnit(unit) => write!(
                f,
                "unknown duration unit {unit:?} (expected one of d, h, m, min, s, ms, us, ns)"
            ),
            Self::MissingUnit => f.write_str("missing unit after number in duration"),
            Self::Overflow => f.write_str("duration too large"),
        }
    }
}

impl std::error::Error for DurationError {}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "d" | "day" | "days" => 86_400 * NANOS_PER_SEC,
        "h" | "hr" | "hour" | "hours" => 3_600 * NANOS_PER_SEC,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * NANOS_PER_SEC,
        "s" | "sec" | "secs" | "second" | "seconds" => NANOS_PER_SEC,
        "ms" | "msec" | "millis" => 1_000_000,
        "us" | "µs" | "usec" | "micros" => 1_000,
        "ns" | "nsec" | "nanos" => 1,
        _ => return None,
    })
}

/// Parses `"30s"`, `"500ms"`, `"1m 30s"`, `"1.5h"`, or `"30"` (seconds).
pub(crate) fn parse(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u128 = 0;
    let mut rest = s;
    let mut terms = 0usize;
    while !rest.is_empty() {
        let offset = s.len() - rest.len();
        // Number: digits, optionally followed by '.' and more digits.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(tail) => {
                let frac_len = tail.bytes().take_while(u8::is_ascii_digit).count();
                tail.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            let found = rest.chars().next().unwrap_or(' ');
            return Err(DurationError::InvalidCharacter {
                position: offset,
                found,
            });
        }
        // Unit: after optional spaces, everything up to the next digit, '.' or whitespace.
        let after_num = after_num.trim_start();
        let unit_len = after_num
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || c.is_whitespace() || *c == '.')
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, after_unit) = after_num.split_at(unit_len);
        terms += 1;
        let unit_ns = if unit.is_empty() {
            // A bare number means seconds, but only as the whole input.
            if terms == 1 && after_unit.is_empty() {
                NANOS_PER_SEC
            } else {
                return Err(DurationError::MissingUnit);
            }
        } else {
            unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit(unit.to_owned()))?
        };
        total = total
            .checked_add(term_nanos(int_part, frac_part, unit_ns)?)
            .ok_or(DurationError::Overflow)?;
        rest = after_unit.trim_start();
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| DurationError::Overflow)?;
    // The remainder is below one second, so it fits in u32.
    let nanos = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, nanos))
}

/// `int.frac` × `unit_ns`, truncated to whole nanoseconds.
fn term_nanos(int_part: &str, frac_part: &str, unit_ns: u128) -> Result<u128, DurationError> {
    let mut int: u128 = 0;
    for b in int_part.bytes() {
        int = int
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
            .ok_or(DurationError::Overflow)?;
    }
    let mut nanos = int.checked_mul(unit_ns).ok_or(DurationError::Overflow)?;
    // Beyond 18 fractional digits nothing is left at nanosecond precision even for days.
    let frac_digits = &frac_part[..frac_part.len().min(18)];
    if !frac_digits.is_empty() {
        let mut frac: u128 = 0;
        for b in frac_digits.bytes() {
            frac = frac * 10 + u128::from(b - b'0');
        }
        let scale = 10u128.pow(frac_digits.len() as u32);
        // frac < 10^18 and unit_ns ≤ 8.64e13, so the product stays far below u128::MAX.
        nanos = nanos
            .checked_add(frac * unit_ns / scale)
            .ok_or(DurationError::Overflow)?;
    }
    Ok(nanos)
}

/// Formats a duration so that [`parse`] reads it back exactly: `"1m30s"`, `"500ms"`, `"0s"`.
pub(crate) fn format(d: Duration) -> String {
    let mut nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (name, len) in UNITS {
        let n = nanos / len;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(name);
            nanos %= len;
        }
    }
    out
}

/// Serde support: deserializes a [`Duration`] from a human string or a number of seconds,
/// serializes it as a human string.
pub(crate) mod serde_duration {
    use std::time::Duration;

    use serde::{Deserializer, Serializer, de};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(Visitor)
    }

    pub(super) struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as \"30s\", \"500ms\", \"1m30s\" or a number of seconds")
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
            super::parse(v).map_err(|e| E::custom(format_args!("invalid duration {v:?}: {e}")))
        }
    }
}

/// Serde support for `Option<Duration>`: absent or `null` is `None`.
pub(crate) mod serde_opt_duration {
    use std::time::Duration;

    use serde::{Deserializer, Serializer, de};

    // Serde's `with` calls this with `&Option<T>`, so the reference cannot be avoided.
    #[allow(clippy::ref_option)]
    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::format(*d)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        d.deserialize_option(OptVisitor)
    }

    struct OptVisitor;

    impl<'de> de::Visitor<'de> for OptVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as \"30s\" or a number of seconds, or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            super::serde_duration::deserialize(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_common_forms() {
        let cases = [
            ("30s", Duration::from_secs(30)),
            ("500ms", Duration::from_millis(500)),
            ("1m30s", Duration::from_secs(90)),
            ("1m 30s", Duration::from_secs(90)),
            ("  2h ", Duration::from_secs(7200)),
            ("1.5s", Duration::from_millis(1500)),
            (".5s", Duration::from_millis(500)),
            ("30", Duration::from_secs(30)),
            ("0", Duration::ZERO),
            ("1d", Duration::from_secs(86_400)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("2min", Duration::from_secs(120)),
            ("1 hour", Duration::from_secs(3600)),
            ("0.000000001s", Duration::from_nanos(1)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("   "), Err(DurationError::Empty));
        assert_eq!(parse("1m30"), Err(DurationError::MissingUnit));
        assert_eq!(parse("30 30s"), Err(DurationError::MissingUnit));
        assert_eq!(
            parse("5 weeks"),
            Err(DurationError::UnknownUnit("weeks".into()))
        );
        assert_eq!(
            parse("-5s"),
            Err(DurationError::InvalidCharacter {
                position: 0,
                found: '-'
            })
        );
        assert_eq!(
            parse("s"),
            Err(DurationError::InvalidCharacter {
                position: 0,
                found: 's'
            })
        );
        assert_eq!(parse("1.s.5"), Err(DurationError::MissingUnit));
        assert_eq!(
            parse("."),
            Err(DurationError::InvalidCharacter {
                position: 0,
                found: '.'
            })
        );
        assert_eq!(
            parse("99999999999999999999999999999999999999999d"),
            Err(DurationError::Overflow)
        );
        assert_eq!(parse("213503982334602d"), Err(DurationError::Overflow));
    }

    #[test]
    fn errors_read_well() {
        let msg = parse("5 weeks").unwrap_err().to_string();
        assert!(msg.contains("weeks") && msg.contains("expected"), "{msg}");
    }

    #[test]
    fn formats_exactly() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format(Duration::from_secs(86_400 + 1)), "1d1s");
    }

    #[test]
    fn serde_accepts_strings_and_numbers() {
        #[derive(serde::Deserialize, serde::Serialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "serde_duration")]
            d: Duration,
            #[serde(with = "serde_opt_duration", default)]
            o: Option<Duration>,
        }
        let t: T = serde_json::from_str(r#"{"d": "500ms", "o": "1m"}"#).unwrap();
        assert_eq!(
            t,
            T {
                d: Duration::from_millis(500),
                o: Some(Duration::from_secs(60))
            }
        );
        let t: T = serde_json::from_str(r#"{"d": 30, "o": null}"#).unwrap();
        assert_eq!(
            t,
            T {
                d: Duration::from_secs(30),
                o: None
            }
        );
        let t: T = serde_json::from_str(r#"{"d": 0.25}"#).unwrap();
        assert_eq!(t.d, Duration::from_millis(250));
        let err = serde_json::from_str::<T>(r#"{"d": "soon"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid duration"), "{err}");
        assert!(serde_json::from_str::<T>(r#"{"d": -1}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"d": true}"#).is_err());
        let json = serde_json::to_string(&T {
            d: Duration::from_secs(90),
            o: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"d":"1m30s","o":null}"#);
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            prop_assert_eq!(parse(&format(d)), Ok(d));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_duration_alphabet(s in "[0-9.µsmhdnu ]{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn single_unit_terms_are_exact(n in 0u64..1_000_000, unit in prop::sample::select(vec![
            ("ns", 1u64), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000),
        ])) {
            let (name, ns) = unit;
            prop_assert_eq!(parse(&format!("{n}{name}")), Ok(Duration::from_nanos(n * ns)));
        }

        #[test]
        fn bare_numbers_are_seconds(n in any::<u64>()) {
            prop_assert_eq!(parse(&n.to_string()), Ok(Duration::from_secs(n)));
        }
    }
}
