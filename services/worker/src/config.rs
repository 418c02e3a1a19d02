//! Plain configuration structs: serde `Deserialize` + `Default` + `from_env()`.
//!
//! Durations are written as an integer of milliseconds (`250`) or a number with a unit
//! (`250ms`, `2s`, `1m`, `1h`), in files and in environment variables alike.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::ConfigError;

/// Settings of a [`WorkerPool`](crate::WorkerPool).
///
/// | field | env variable | default |
/// |---|---|---|
/// | `workers` | `CORE_BACKEND_WORKER_WORKERS` | number of CPUs |
/// | `queue_capacity` | `CORE_BACKEND_WORKER_QUEUE_CAPACITY` | `1024` |
/// | `task_timeout` | `CORE_BACKEND_WORKER_TASK_TIMEOUT` | none |
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// Tasks that run at the same time.
    pub workers: usize,
    /// Tasks that may wait for a worker on top of the running ones.
    pub queue_capacity: usize,
    /// Longest a task may run; `None` for no limit.
    #[serde(deserialize_with = "de_opt_duration")]
    pub task_timeout: Option<Duration>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(4, std::num::NonZeroUsize::get),
            queue_capacity: 1024,
            task_timeout: None,
        }
    }
}

impl WorkerConfig {
    /// Reads the `CORE_BACKEND_WORKER_*` variables over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(v) = read(&get, "CORE_BACKEND_WORKER_WORKERS", parse_positive)? {
            config.workers = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_WORKER_QUEUE_CAPACITY", parse_usize)? {
            config.queue_capacity = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_WORKER_TASK_TIMEOUT", parse_duration_opt)? {
            config.task_timeout = v;
        }
        Ok(config)
    }
}

/// Settings of a [`BulkheadLayer`](crate::bulkhead::BulkheadLayer).
///
/// | field | env variable | default |
/// |---|---|---|
/// | `max_concurrent_calls` | `CORE_BACKEND_BULKHEAD_MAX_CONCURRENT_CALLS` | `25` |
/// | `max_wait` | `CORE_BACKEND_BULKHEAD_MAX_WAIT` | `0ms` |
/// | `retry_after` | `CORE_BACKEND_BULKHEAD_RETRY_AFTER` | `1s` |
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BulkheadConfig {
    /// Calls admitted at the same time.
    pub max_concurrent_calls: usize,
    /// Longest a call waits for a free slot before it is rejected.
    #[serde(deserialize_with = "de_duration")]
    pub max_wait: Duration,
    /// `Retry-After` hint sent with a rejection.
    #[serde(deserialize_with = "de_duration")]
    pub retry_after: Duration,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 25,
            max_wait: Duration::ZERO,
            retry_after: Duration::from_secs(1),
        }
    }
}

impl BulkheadConfig {
    /// Reads the `CORE_BACKEND_BULKHEAD_*` variables over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(v) = read(
            &get,
            "CORE_BACKEND_BULKHEAD_MAX_CONCURRENT_CALLS",
            parse_positive,
        )? {
            config.max_concurrent_calls = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_BULKHEAD_MAX_WAIT", parse_duration)? {
            config.max_wait = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_BULKHEAD_RETRY_AFTER", parse_duration)? {
            config.retry_after = v;
        }
        Ok(config)
    }
}

/// Which [`LimitAlgorithm`](crate::adaptive::LimitAlgorithm) an [`AdaptiveConfig`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AlgorithmKind {
    /// [`Aimd`](crate::adaptive::Aimd): additive increase, multiplicative decrease.
    Aimd,
    /// [`Gradient2`](crate::adaptive::Gradient2): long-term vs short-term RTT.
    #[default]
    Gradient2,
}

/// Settings of an [`AdaptiveConcurrencyLayer`](crate::adaptive::AdaptiveConcurrencyLayer).
///
/// | field | env variable | default |
/// |---|---|---|
/// | `algorithm` | `CORE_BACKEND_ADAPTIVE_ALGORITHM` (`aimd` or `gradient2`) | `gradient2` |
/// | `initial_limit` | `CORE_BACKEND_ADAPTIVE_INITIAL_LIMIT` | `20` |
/// | `min_limit` | `CORE_BACKEND_ADAPTIVE_MIN_LIMIT` | `1` |
/// | `max_limit` | `CORE_BACKEND_ADAPTIVE_MAX_LIMIT` | `200` |
/// | `backoff_ratio` (AIMD) | `CORE_BACKEND_ADAPTIVE_BACKOFF_RATIO` | `0.9` |
/// | `latency_threshold` (AIMD) | `CORE_BACKEND_ADAPTIVE_LATENCY_THRESHOLD` | `5s` |
/// | `rtt_tolerance` (Gradient2) | `CORE_BACKEND_ADAPTIVE_RTT_TOLERANCE` | `1.5` |
/// | `smoothing` (Gradient2) | `CORE_BACKEND_ADAPTIVE_SMOOTHING` | `0.2` |
/// | `long_window` (Gradient2) | `CORE_BACKEND_ADAPTIVE_LONG_WINDOW` | `600` |
/// | `queue_size` (Gradient2) | `CORE_BACKEND_ADAPTIVE_QUEUE_SIZE` | `4` |
/// | `retry_after` | `CORE_BACKEND_ADAPTIVE_RETRY_AFTER` | `1s` |
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AdaptiveConfig {
    /// The limit algorithm.
    pub algorithm: AlgorithmKind,
    /// Limit before any sample arrived.
    pub initial_limit: usize,
    /// The limit never goes below this.
    pub min_limit: usize,
    /// The limit never goes above this.
    pub max_limit: usize,
    /// AIMD: factor applied to the limit on a drop.
    pub backoff_ratio: f64,
    /// AIMD: a call slower than this counts as a drop.
    #[serde(deserialize_with = "de_duration")]
    pub latency_threshold: Duration,
    /// Gradient2: how much slower than the long-term RTT the short-term RTT may be before the
    /// limit shrinks.
    pub rtt_tolerance: f64,
    /// Gradient2: weight of a new limit estimate (0–1).
    pub smoothing: f64,
    /// Gradient2: number of samples the long-term RTT average spans.
    pub long_window: usize,
    /// Gradient2: requests allowed to queue on top of the estimated limit.
    pub queue_size: usize,
    /// `Retry-After` hint sent with a rejection.
    #[serde(deserialize_with = "de_duration")]
    pub retry_after: Duration,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self {
            algorithm: AlgorithmKind::default(),
            initial_limit: 20,
            min_limit: 1,
            max_limit: 200,
            backoff_ratio: 0.9,
            latency_threshold: Duration::from_secs(5),
            rtt_tolerance: 1.5,
            smoothing: 0.2,
            long_window: 600,
            queue_size: 4,
            retry_after: Duration::from_secs(1),
        }
    }
}

impl AdaptiveConfig {
    /// Reads the `CORE_BACKEND_ADAPTIVE_*` variables over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_ALGORITHM", parse_algorithm)? {
            c.algorithm = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_INITIAL_LIMIT", parse_positive)? {
            c.initial_limit = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_MIN_LIMIT", parse_positive)? {
            c.min_limit = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_MAX_LIMIT", parse_positive)? {
            c.max_limit = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_BACKOFF_RATIO", parse_ratio)? {
            c.backoff_ratio = v;
        }
        if let Some(v) = read(
            &get,
            "CORE_BACKEND_ADAPTIVE_LATENCY_THRESHOLD",
            parse_duration,
        )? {
            c.latency_threshold = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_RTT_TOLERANCE", parse_tolerance)? {
            c.rtt_tolerance = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_SMOOTHING", parse_ratio)? {
            c.smoothing = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_LONG_WINDOW", parse_positive)? {
            c.long_window = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_QUEUE_SIZE", parse_usize)? {
            c.queue_size = v;
        }
        if let Some(v) = read(&get, "CORE_BACKEND_ADAPTIVE_RETRY_AFTER", parse_duration)? {
            c.retry_after = v;
        }
        Ok(c)
    }
}

type Parse<T> = fn(&str) -> Result<T, &'static str>;

fn read<T>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    parse: Parse<T>,
) -> Result<Option<T>, ConfigError> {
    let Some(raw) = get(key) else { return Ok(None) };
    parse(raw.trim()).map(Some).map_err(|expected| ConfigError {
        key: key.to_owned(),
        value: raw,
        expected,
    })
}

fn parse_usize(s: &str) -> Result<usize, &'static str> {
    s.parse().map_err(|_| "a non-negative integer")
}

fn parse_positive(s: &str) -> Result<usize, &'static str> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("a positive integer"),
    }
}

fn parse_ratio(s: &str) -> Result<f64, &'static str> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err("a number in (0, 1]"),
    }
}

fn parse_tolerance(s: &str) -> Result<f64, &'static str> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 1.0 => Ok(x),
        _ => Err("a number >= 1"),
    }
}

fn parse_algorithm(s: &str) -> Result<AlgorithmKind, &'static str> {
    match s.to_ascii_lowercase().as_str() {
        "aimd" => Ok(AlgorithmKind::Aimd),
        "gradient2" => Ok(AlgorithmKind::Gradient2),
        _ => Err("`aimd` or `gradient2`"),
    }
}

fn parse_duration_opt(s: &str) -> Result<Option<Duration>, &'static str> {
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        Ok(None)
    } else {
        parse_duration(s).map(Some)
    }
}

/// Parses `250`, `250ms`, `2s`, `1m` or `1h` (whole numbers only).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, &'static str> {
    const EXPECTED: &str = "a duration such as `250ms`, `2s`, `1m` (a bare number is milliseconds)";
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| EXPECTED)?;
    let millis_per_unit = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(EXPECTED),
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or(EXPECTED)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Millis(u64),
    Text(String),
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match RawDuration::deserialize(d)? {
        RawDuration::Millis(ms) => Ok(Duration::from_millis(ms)),
        RawDuration::Text(s) => parse_duration(&s).map_err(serde::de::Error::custom),
    }
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<RawDuration>::deserialize(d)? {
        None => Ok(None),
        Some(RawDuration::Millis(ms)) => Ok(Some(Duration::from_millis(ms))),
        Some(RawDuration::Text(s)) => parse_duration_opt(&s).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::ignored_unit_patterns)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn worker_config_from_env() {
        let c = WorkerConfig::from_lookup(env(&[
            ("CORE_BACKEND_WORKER_WORKERS", "3"),
            ("CORE_BACKEND_WORKER_QUEUE_CAPACITY", "0"),
            ("CORE_BACKEND_WORKER_TASK_TIMEOUT", "2s"),
        ]))
        .unwrap();
        assert_eq!(c.workers, 3);
        assert_eq!(c.queue_capacity, 0);
        assert_eq!(c.task_timeout, Some(Duration::from_secs(2)));
        let err =
            WorkerConfig::from_lookup(env(&[("CORE_BACKEND_WORKER_WORKERS", "0")])).unwrap_err();
        assert_eq!(err.key(), "CORE_BACKEND_WORKER_WORKERS");
        assert!(err.to_string().contains("positive integer"), "{err}");
    }

    #[test]
    fn bulkhead_and_adaptive_config_from_env() {
        let b = BulkheadConfig::from_lookup(env(&[
            ("CORE_BACKEND_BULKHEAD_MAX_CONCURRENT_CALLS", "7"),
            ("CORE_BACKEND_BULKHEAD_MAX_WAIT", "50ms"),
        ]))
        .unwrap();
        assert_eq!(b.max_concurrent_calls, 7);
        assert_eq!(b.max_wait, Duration::from_millis(50));
        assert_eq!(b.retry_after, Duration::from_secs(1));
        let a = AdaptiveConfig::from_lookup(env(&[
            ("CORE_BACKEND_ADAPTIVE_ALGORITHM", "AIMD"),
            ("CORE_BACKEND_ADAPTIVE_MAX_LIMIT", "64"),
            ("CORE_BACKEND_ADAPTIVE_BACKOFF_RATIO", "0.5"),
        ]))
        .unwrap();
        assert_eq!(a.algorithm, AlgorithmKind::Aimd);
        assert_eq!(a.max_limit, 64);
        assert!((a.backoff_ratio - 0.5).abs() < f64::EPSILON);
        assert!(
            AdaptiveConfig::from_lookup(env(&[("CORE_BACKEND_ADAPTIVE_ALGORITHM", "vegas")]))
                .is_err()
        );
        assert!(
            AdaptiveConfig::from_lookup(env(&[("CORE_BACKEND_ADAPTIVE_SMOOTHING", "2")])).is_err()
        );
    }

    #[test]
    fn configs_deserialize() {
        let c: WorkerConfig =
            serde_json::from_str(r#"{"workers": 2, "task_timeout": "1s"}"#).unwrap();
        assert_eq!(c.workers, 2);
        assert_eq!(c.queue_capacity, 1024);
        assert_eq!(c.task_timeout, Some(Duration::from_secs(1)));
        let b: BulkheadConfig = serde_json::from_str(r#"{"max_wait": 20}"#).unwrap();
        assert_eq!(b.max_wait, Duration::from_millis(20));
        let a: AdaptiveConfig = serde_json::from_str(r#"{"algorithm": "aimd"}"#).unwrap();
        assert_eq!(a.algorithm, AlgorithmKind::Aimd);
        assert!(serde_json::from_str::<BulkheadConfig>(r#"{"max_wait": "soon"}"#).is_err());
        assert!(serde_json::from_str::<BulkheadConfig>(r#"{"bogus": 1}"#).is_err());
    }

    proptest! {
        #[test]
        fn duration_parser_never_panics(s in "\\PC{0,24}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn duration_parser_round_trips(n in 0u64..1_000_000, unit in prop::sample::select(vec!["", "ms", "s", "m"])) {
            let parsed = parse_duration(&format!("{n}{unit}")).unwrap();
            let factor = match unit { "s" => 1_000, "m" => 60_000, _ => 1 };
            prop_assert_eq!(parsed, Duration::from_millis(n * factor));
        }
    }
}
