//! Fast, unique ids for backend services: UUID v4 and v7 (RFC 9562), ULID and Snowflake.
//!
//! ```
//! use core_backend_idgen::{IdGenerator, Snowflake, SnowflakeId, Ulid, Uuid};
//!
//! // Random UUID for unguessable tokens, time-ordered UUID for primary keys.
//! let token = Uuid::new_v4();
//! let key = Uuid::now_v7();
//! assert_eq!((token.version(), key.version()), (4, 7));
//!
//! // ULIDs sort by time and read back their timestamp.
//! let a = Ulid::new();
//! let b = Ulid::new();
//! assert!(a < b && b.timestamp_millis() >= a.timestamp_millis());
//!
//! // Snowflake: 64-bit ids from a configured worker.
//! let snowflake = Snowflake::builder().worker_id(12).build()?;
//! let id: SnowflakeId = snowflake.generate()?;
//! assert_eq!(id.worker_id(snowflake.layout()), 12);
//!
//! // Every id parses back from its text form.
//! assert_eq!(key.to_string().parse::<Uuid>()?, key);
//! assert_eq!(a.to_string().parse::<Ulid>()?, a);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Which id?
//!
//! | kind | bits | sortable by time | unguessable | text |
//! |---|---|---|---|---|
//! | [`Uuid::new_v4`] | 122 random | no | yes (CSPRNG) | 36 chars |
//! | [`Uuid::now_v7`] | 48 ms + 74 random/counter | yes | no | 36 chars |
//! | [`Ulid::new`] | 48 ms + 80 random/counter | yes | no | 26 chars |
//! | [`Snowflake`] | 41 ms + 10 worker + 12 sequence (configurable) | yes | no | ≤ 19 digits |
//!
//! # Why a thread-local CSPRNG?
//!
//! Random bits come from `rand`'s `ThreadRng`: ChaCha12 per thread, seeded from the operating
//! system and reseeded from it every 64 KiB. It is cryptographically secure, so v4 UUIDs can be
//! used as tokens, and it costs a few nanoseconds, where asking the OS per id (what the `uuid`
//! crate does by default) costs hundreds. It is not reseeded on `fork()`.
//!
//! # Monotonicity
//!
//! [`Uuid::now_v7`] and [`Ulid::new`] keep per-thread state: ids made on one thread strictly
//! increase (within a millisecond the random part is incremented by one). [`UuidV7Generator`]
//! and [`UlidGenerator`] keep one state behind a mutex, so every id from one generator is greater
//! than the previous one, whatever the thread. When the random part would overflow, both move
//! on to the next millisecond (no waiting, no error). [`Snowflake`] is lock-free (one
//! `AtomicU64`), strictly increasing across threads, and applies a [`ClockBackwardsPolicy`] when
//! the clock moves backwards.
//!
//! # Web frameworks
//!
//! All ids implement serde as strings (a [`SnowflakeId`] too, because JavaScript loses precision
//! above 2^53; see [`snowflake_as_number`]), so axum's `Path<Ulid>`, `Json<…>` and `Query<…>`
//! work as they are: a malformed id is a `400 Bad Request` whose message says what is wrong.
//! With the `axum` feature, `IdPath<T>` answers a malformed id with an RFC 9457
//! `application/problem+json` body instead.
//!
//! # Metrics
//!
//! Only rare events are counted (nothing on the hot path): `core_backend.idgen.clock_backwards`
//! (a Snowflake saw the clock behind its last id) and `core_backend.idgen.sequence_exhausted`
//! (a Snowflake used up a millisecond's sequence and waited for the next).

mod clock;
mod config;
mod error;
mod generator;
mod monotonic;
mod rng;
mod serde_support;
mod snowflake;
mod ulid;
mod uuid;

#[cfg(feature = "axum")]
mod axum;

#[cfg(feature = "axum")]
pub use crate::axum::{IdPath, IdPathRejection};
pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::config::{AnyId, AnyIdGenerator, IdKind, IdgenConfig};
pub use crate::error::{ConfigError, GenerateError, IdType, ParseErrorKind, ParseIdError};
pub use crate::generator::IdGenerator;
pub use crate::snowflake::{
    ClockBackwardsMode, ClockBackwardsPolicy, DEFAULT_EPOCH_MS, Snowflake, SnowflakeBuilder,
    SnowflakeConfig, SnowflakeId, SnowflakeLayout, SnowflakeParts, snowflake_as_number,
};
pub use crate::ulid::{Ulid, UlidGenerator};
pub use crate::uuid::{Uuid, UuidV4Generator, UuidV7Generator};
