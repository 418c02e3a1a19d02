//! [`CircuitBreakerConfig`]: breaker settings from files or the environment.

use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;

/// Which calls the failure and slow-call rates are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SlidingWindowType {
    /// The last `sliding_window_size` calls.
    #[default]
    CountBased,
    /// The calls of the last `sliding_window_size` seconds.
    TimeBased,
}

/// Circuit-breaker settings, named and defaulted as in resilience4j.
///
/// Durations deserialize from milliseconds or strings such as `"500ms"`, `"30s"`, `"2m"`.
/// [`from_env`](Self::from_env) reads `CORE_BACKEND_CIRCUITBREAKER_<FIELD>` variables.
///
/// ```
/// let config: core_backend_circuitbreaker::CircuitBreakerConfig = serde_json::from_str(
///     r#"{ "failure_rate_threshold": 25, "minimum_number_of_calls": 20, "wait_duration_in_open": "10s" }"#,
/// ).unwrap();
/// let breaker = core_backend_circuitbreaker::CircuitBreaker::from_config(&config);
/// # let _ = breaker;
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CircuitBreakerConfig {
    /// Name used in metrics labels, events and logs. Default `"default"`.
    pub name: String,
    /// Failure rate (percent, 0–100) at or above which the breaker opens. Default 50.
    pub failure_rate_threshold: f32,
    /// Slow-call rate (percent, 0–100) at or above which the breaker opens. Default 100.
    pub slow_call_rate_threshold: f32,
    /// Calls taking at least this long are slow. Default 60 s.
    #[serde(with = "duration")]
    pub slow_call_duration: Duration,
    /// Count- or time-based window. Default count-based.
    pub sliding_window_type: SlidingWindowType,
    /// Window size: calls (count-based) or seconds (time-based). Default 100.
    pub sliding_window_size: u32,
    /// Calls needed in the window before rates are evaluated. Default 100.
    pub minimum_number_of_calls: u32,
    /// How long the breaker stays open before letting probes through. Default 60 s.
    #[serde(with = "duration")]
    pub wait_duration_in_open: Duration,
    /// Growth of the open wait each time the breaker re-opens without closing in between
    /// (1 = constant). Default 1.
    pub wait_duration_multiplier: f64,
    /// Upper bound of the growing open wait. Default 10 min.
    #[serde(with = "duration")]
    pub max_wait_duration_in_open: Duration,
    /// Probe calls admitted in half-open (1–1023). Default 10.
    pub permitted_calls_in_half_open: u32,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration: Duration::from_secs(60),
            sliding_window_type: SlidingWindowType::CountBased,
            sliding_window_size: 100,
            minimum_number_of_calls: 100,
            wait_duration_in_open: Duration::from_secs(60),
            wait_duration_multiplier: 1.0,
            max_wait_duration_in_open: Duration::from_secs(600),
            permitted_calls_in_half_open: 10,
        }
    }
}

impl CircuitBreakerConfig {
    /// Defaults overridden by `CORE_BACKEND_CIRCUITBREAKER_<FIELD>` (field name upper-cased,
    /// e.g. `CORE_BACKEND_CIRCUITBREAKER_FAILURE_RATE_THRESHOLD=25`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        let get = |field: &str| {
            let key = format!("CORE_BACKEND_CIRCUITBREAKER_{}", field.to_ascii_uppercase());
            lookup(&key).map(|v| (key, v))
        };
        let bad = |key: String, value: &str, expected: &'static str| ConfigError {
            key,
            value: value.to_owned(),
            expected,
        };
        macro_rules! num {
            ($field:ident, $what:literal) => {
                if let Some((k, v)) = get(stringify!($field)) {
                    c.$field = v.trim().parse().map_err(|_| bad(k, &v, $what))?;
                }
            };
        }
        macro_rules! dur {
            ($field:ident) => {
                if let Some((k, v)) = get(stringify!($field)) {
                    c.$field = parse_duration(&v).ok_or_else(|| bad(k, &v, "a duration"))?;
                }
            };
        }
        if let Some((_, v)) = get("name") {
            c.name = v;
        }
        num!(failure_rate_threshold, "a percentage");
        num!(slow_call_rate_threshold, "a percentage");
        dur!(slow_call_duration);
        if let Some((k, v)) = get("sliding_window_type") {
            c.sliding_window_type = match v.trim() {
                "count_based" => SlidingWindowType::CountBased,
                "time_based" => SlidingWindowType::TimeBased,
                _ => return Err(bad(k, &v, "count_based or time_based")),
            };
        }
        num!(sliding_window_size, "an unsigned integer");
        num!(minimum_number_of_calls, "an unsigned integer");
        dur!(wait_duration_in_open);
        num!(wait_duration_multiplier, "a number");
        dur!(max_wait_duration_in_open);
        num!(permitted_calls_in_half_open, "an unsigned integer");
        Ok(c)
    }
}

/// Parses `"250ms"`, `"2s"`, `"1.5s"`, `"3m"`, `"1h"` or a bare number of milliseconds.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "" | "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Text(String),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Millis(ms) => Ok(Duration::from_millis(ms)),
            Raw::Text(t) => super::parse_duration(&t)
                .ok_or_else(|| D::Error::custom(format!("invalid duration {t:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn env_serde_and_errors() {
        let c = CircuitBreakerConfig::from_lookup(|k| match k {
            "CORE_BACKEND_CIRCUITBREAKER_NAME" => Some("upstream".into()),
            "CORE_BACKEND_CIRCUITBREAKER_FAILURE_RATE_THRESHOLD" => Some("25".into()),
            "CORE_BACKEND_CIRCUITBREAKER_SLIDING_WINDOW_TYPE" => Some("time_based".into()),
            "CORE_BACKEND_CIRCUITBREAKER_WAIT_DURATION_IN_OPEN" => Some("5s".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.name, "upstream");
        assert!((c.failure_rate_threshold - 25.0).abs() < f32::EPSILON);
        assert_eq!(c.sliding_window_type, SlidingWindowType::TimeBased);
        assert_eq!(c.wait_duration_in_open, Duration::from_secs(5));
        let e = CircuitBreakerConfig::from_lookup(|k| {
            k.ends_with("SLIDING_WINDOW_TYPE").then(|| "hourly".into())
        })
        .unwrap_err();
        assert!(e.to_string().contains("count_based"));
        let e = CircuitBreakerConfig::from_lookup(|k| {
            k.ends_with("_SLOW_CALL_DURATION").then(|| "x".into())
        })
        .unwrap_err();
        assert_eq!(e.key, "CORE_BACKEND_CIRCUITBREAKER_SLOW_CALL_DURATION");
        let c: CircuitBreakerConfig = serde_json::from_str(
            r#"{"slow_call_duration": 1500, "sliding_window_type": "time_based"}"#,
        )
        .unwrap();
        assert_eq!(c.slow_call_duration, Duration::from_millis(1500));
        assert!(
            serde_json::from_str::<CircuitBreakerConfig>(r#"{"wait_duration_in_open": "forever"}"#)
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn duration_parser_never_panics(s in ".{0,24}") {
            let _ = parse_duration(&s);
        }
    }
}
