//! Configuration: which kind of id, and the Snowflake settings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, GenerateError};
use crate::generator::IdGenerator;
use crate::snowflake::{ClockBackwardsMode, Snowflake, SnowflakeConfig, SnowflakeId};
use crate::ulid::{Ulid, UlidGenerator};
use crate::uuid::{Uuid, UuidV4Generator, UuidV7Generator};

/// The kinds of id this crate makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdKind {
    /// Random UUID (version 4).
    UuidV4,
    /// Time-ordered UUID (version 7).
    #[default]
    UuidV7,
    /// ULID.
    Ulid,
    /// Snowflake (64-bit).
    Snowflake,
}

impl FromStr for IdKind {
    type Err = ConfigError;

    /// `uuid_v4`, `uuid_v7`, `ulid` or `snowflake`, in any case, `-` for `_`; `v4` and `v7` too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "uuid_v4" | "uuidv4" | "v4" => Ok(Self::UuidV4),
            "uuid_v7" | "uuidv7" | "v7" => Ok(Self::UuidV7),
            "ulid" => Ok(Self::Ulid),
            "snowflake" => Ok(Self::Snowflake),
            _ => Err(ConfigError::UnknownKind {
                found: s.to_owned(),
            }),
        }
    }
}

/// Id generation settings: which kind, and the Snowflake settings.
///
/// Serde `Deserialize` (every field optional), [`Default`] (UUID v7), and
/// [`from_env`](Self::from_env):
///
/// | variable | field | default |
/// |---|---|---|
/// | `IDGEN_KIND` | `kind`: `uuid_v4`, `uuid_v7`, `ulid`, `snowflake` | `uuid_v7` |
/// | `IDGEN_WORKER_ID` | `snowflake.worker_id` | 0 |
/// | `IDGEN_DATACENTER_ID` | `snowflake.datacenter_id` | 0 |
/// | `IDGEN_EPOCH_MS` | `snowflake.layout.epoch_ms` | 1704067200000 (2024-01-01) |
/// | `IDGEN_TIMESTAMP_BITS` | `snowflake.layout.timestamp_bits` | 41 |
/// | `IDGEN_DATACENTER_BITS` | `snowflake.layout.datacenter_bits` | 0 |
/// | `IDGEN_WORKER_BITS` | `snowflake.layout.worker_bits` | 10 |
/// | `IDGEN_SEQUENCE_BITS` | `snowflake.layout.sequence_bits` | 12 |
/// | `IDGEN_CLOCK_BACKWARDS` | `snowflake.clock_backwards`: `wait` or `error` | `wait` |
/// | `IDGEN_MAX_BACKWARDS_WAIT_MS` | `snowflake.max_backwards_wait_ms` | 1000 |
///
/// ```
/// use core_backend_idgen::{AnyId, IdGenerator, IdKind, IdgenConfig};
///
/// let config: IdgenConfig = serde_json::from_str(r#"{ "kind": "snowflake", "snowflake": { "worker_id": 3 } }"#)?;
/// assert_eq!(config.kind, IdKind::Snowflake);
/// let ids = config.build()?;
/// let AnyId::Snowflake(id) = ids.generate()? else { unreachable!() };
/// assert_eq!(id.worker_id(&config.snowflake.layout), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct IdgenConfig {
    /// The kind of id [`build`](Self::build) makes a generator for. Defaults to UUID v7.
    pub kind: IdKind,
    /// Snowflake settings, used when `kind` is `snowflake`.
    pub snowflake: SnowflakeConfig,
}

impl IdgenConfig {
    /// Defaults overridden by the `IDGEN_*` environment variables (see the type docs).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (for tests, or
    /// another prefix).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        fn parse<T: FromStr>(
            lookup: &impl Fn(&str) -> Option<String>,
            name: &'static str,
            expected: &str,
        ) -> Result<Option<T>, ConfigError> {
            match lookup(name) {
                None => Ok(None),
                Some(raw) => raw.trim().parse().map(Some).map_err(|_| ConfigError::Env {
                    name,
                    reason: format!("expected {expected}, found {raw:?}"),
                }),
            }
        }
        let mut config = Self::default();
        if let Some(raw) = lookup("IDGEN_KIND") {
            config.kind = raw.parse().map_err(|_| ConfigError::Env {
                name: "IDGEN_KIND",
                reason: format!("expected uuid_v4, uuid_v7, ulid or snowflake, found {raw:?}"),
            })?;
        }
        let sf = &mut config.snowflake;
        let int = "a non-negative integer";
        let bits = "a number of bits (0-63)";
        if let Some(v) = parse(&lookup, "IDGEN_WORKER_ID", int)? {
            sf.worker_id = v;
        }
        if let Some(v) = parse(&lookup, "IDGEN_DATACENTER_ID", int)? {
            sf.datacenter_id = v;
        }
        if let Some(v) = parse(&lookup, "IDGEN_EPOCH_MS", "Unix milliseconds")? {
            sf.layout.epoch_ms = v;
        }
        if let Some(v) = parse(&lookup, "IDGEN_TIMESTAMP_BITS", bits)? {
            sf.layout.timestamp_bits = v;
        }
        if let Some(v) = parse(&lookup, "IDGEN_DATACENTER_BITS", bits)? {
            sf.layout.datacenter_bits = v;
        }
        if let Some(v) = parse(&lookup, "IDGEN_WORKER_BITS", bits)? {
            sf.layout.worker_bits = v;
        }
        if let Some(v) = parse(&lookup, "IDGEN_SEQUENCE_BITS", bits)? {
            sf.layout.sequence_bits = v;
        }
        if let Some(raw) = lookup("IDGEN_CLOCK_BACKWARDS") {
            sf.clock_backwards = match raw.trim().to_ascii_lowercase().as_str() {
                "wait" => ClockBackwardsMode::Wait,
                "error" => ClockBackwardsMode::Error,
                _ => {
                    return Err(ConfigError::Env {
                        name: "IDGEN_CLOCK_BACKWARDS",
                        reason: format!("expected wait or error, found {raw:?}"),
                    });
                }
            };
        }
        if let Some(v) = parse(&lookup, "IDGEN_MAX_BACKWARDS_WAIT_MS", "milliseconds")? {
            sf.max_backwards_wait_ms = v;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the Snowflake settings (layout, ids fit), whatever the kind.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Snowflake::from_config(&self.snowflake).map(|_| ())
    }

    /// A generator of the configured kind.
    pub fn build(&self) -> Result<AnyIdGenerator, ConfigError> {
        Ok(match self.kind {
            IdKind::UuidV4 => AnyIdGenerator::UuidV4(UuidV4Generator),
            IdKind::UuidV7 => AnyIdGenerator::UuidV7(UuidV7Generator::new()),
            IdKind::Ulid => AnyIdGenerator::Ulid(UlidGenerator::new()),
            IdKind::Snowflake => {
                AnyIdGenerator::Snowflake(Snowflake::from_config(&self.snowflake)?)
            }
        })
    }
}

/// An id of any kind, from an [`AnyIdGenerator`].
///
/// Displays and serializes as the inner id does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum AnyId {
    /// A UUID (v4 or v7).
    Uuid(Uuid),
    /// A ULID.
    Ulid(Ulid),
    /// A Snowflake id.
    Snowflake(SnowflakeId),
}

impl fmt::Display for AnyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uuid(id) => fmt::Display::fmt(id, f),
            Self::Ulid(id) => fmt::Display::fmt(id, f),
            Self::Snowflake(id) => fmt::Display::fmt(id, f),
        }
    }
}

/// The generator [`IdgenConfig::build`] chose.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyIdGenerator {
    /// Random UUIDs.
    UuidV4(UuidV4Generator),
    /// Time-ordered UUIDs.
    UuidV7(UuidV7Generator),
    /// ULIDs.
    Ulid(UlidGenerator),
    /// Snowflake ids.
    Snowflake(Snowflake),
}

impl AnyIdGenerator {
    /// The kind of id made.
    pub const fn kind(&self) -> IdKind {
        match self {
            Self::UuidV4(_) => IdKind::UuidV4,
            Self::UuidV7(_) => IdKind::UuidV7,
            Self::Ulid(_) => IdKind::Ulid,
            Self::Snowflake(_) => IdKind::Snowflake,
        }
    }
}

impl IdGenerator for AnyIdGenerator {
    type Id = AnyId;

    fn generate(&self) -> Result<AnyId, GenerateError> {
        Ok(match self {
            Self::UuidV4(g) => AnyId::Uuid(g.next_id()),
            Self::UuidV7(g) => AnyId::Uuid(g.next_id()),
            Self::Ulid(g) => AnyId::Ulid(g.next_id()),
            Self::Snowflake(g) => AnyId::Snowflake(g.next_id()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from_vars(vars: &[(&str, &str)]) -> Result<IdgenConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        IdgenConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let config = from_vars(&[]).unwrap_or_default();
        assert_eq!(config, IdgenConfig::default());
        assert_eq!(config.kind, IdKind::UuidV7);
        assert_eq!(
            config.snowflake.layout,
            crate::SnowflakeLayout::new(41, 0, 10, 12)
        );
        let from_empty_json: IdgenConfig = serde_json::from_str("{}").unwrap_or_default();
        assert_eq!(from_empty_json, config);
        assert!(IdgenConfig::from_env().is_ok());
    }

    #[test]
    fn env_overrides() {
        let config = from_vars(&[
            ("IDGEN_KIND", "Snowflake"),
            ("IDGEN_WORKER_ID", "17"),
            ("IDGEN_DATACENTER_ID", "2"),
            ("IDGEN_EPOCH_MS", "1600000000000"),
            ("IDGEN_TIMESTAMP_BITS", "41"),
            ("IDGEN_DATACENTER_BITS", "5"),
            ("IDGEN_WORKER_BITS", "5"),
            ("IDGEN_SEQUENCE_BITS", "12"),
            ("IDGEN_CLOCK_BACKWARDS", "error"),
            ("IDGEN_MAX_BACKWARDS_WAIT_MS", "20"),
        ])
        .map_err(|e| e.to_string());
        let config = config.as_ref().map_err(Clone::clone);
        let Ok(config) = config else {
            panic!("{config:?}");
        };
        assert_eq!(config.kind, IdKind::Snowflake);
        assert_eq!(config.snowflake.worker_id, 17);
        assert_eq!(
            config.snowflake.policy(),
            crate::ClockBackwardsPolicy::Error
        );
        let ids = config.build().map_err(|e| e.to_string());
        let Ok(ids) = ids else { panic!("{ids:?}") };
        assert_eq!(ids.kind(), IdKind::Snowflake);
        let Ok(AnyId::Snowflake(id)) = ids.generate() else {
            panic!("not a snowflake")
        };
        let parts = id.parts(&config.snowflake.layout);
        assert_eq!((parts.worker_id, parts.datacenter_id), (17, 2));
    }

    #[test]
    fn env_errors_name_the_variable() {
        let err = |vars: &[(&str, &str)]| {
            from_vars(vars)
                .map(|_| ())
                .expect_err("must be rejected")
                .to_string()
        };
        assert!(err(&[("IDGEN_KIND", "nope")]).contains("IDGEN_KIND"));
        assert!(
            err(&[("IDGEN_WORKER_ID", "-1")]).starts_with("environment variable IDGEN_WORKER_ID")
        );
        assert!(err(&[("IDGEN_CLOCK_BACKWARDS", "maybe")]).contains("wait or error"));
        assert_eq!(
            err(&[("IDGEN_WORKER_ID", "1024")]),
            "worker_id 1024 does not fit in 10 bits (max 1023)"
        );
        assert!(err(&[("IDGEN_SEQUENCE_BITS", "30")]).contains("at most 63"));
    }

    #[test]
    fn every_kind_builds_and_generates() {
        for (kind, len) in [
            (IdKind::UuidV4, 36),
            (IdKind::UuidV7, 36),
            (IdKind::Ulid, 26),
            (IdKind::Snowflake, 0),
        ] {
            let config = IdgenConfig {
                kind,
                ..IdgenConfig::default()
            };
            let ids = config.build().map_err(|e| e.to_string());
            let Ok(ids) = ids else { panic!("{ids:?}") };
            assert_eq!(ids.kind(), kind);
            let id = ids.generate().map_err(|e| e.to_string());
            let Ok(id) = id else { panic!("{id:?}") };
            let text = id.to_string();
            if len > 0 {
                assert_eq!(text.len(), len);
            }
            let json = serde_json::to_string(&id).unwrap_or_default();
            assert_eq!(json, format!("\"{text}\""));
        }
        assert_eq!("uuid-v4".parse::<IdKind>(), Ok(IdKind::UuidV4));
        assert_eq!("v7".parse::<IdKind>(), Ok(IdKind::UuidV7));
        assert_eq!("ulid".parse::<IdKind>(), Ok(IdKind::Ulid));
        assert_eq!(
            "uuid".parse::<IdKind>().map_err(|e| e.to_string()),
            Err(
                "unknown id kind \"uuid\": expected uuid_v4, uuid_v7, ulid or snowflake".to_owned()
            )
        );
    }
}
