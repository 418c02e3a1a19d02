//! Snowflake ids: 64-bit integers of timestamp, node and sequence.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, GenerateError, IdType, ParseErrorKind, ParseIdError};
use crate::generator::IdGenerator;

/// 2024-01-01T00:00:00Z in Unix milliseconds: the default epoch. With 41 timestamp bits it lasts
/// until 2093.
pub const DEFAULT_EPOCH_MS: u64 = 1_704_067_200_000;

/// A Snowflake id: a 64-bit integer whose top bit is zero (so it fits a signed `BIGINT`), then
/// timestamp, datacenter, worker and sequence bits as laid out by a [`SnowflakeLayout`].
///
/// `Display`/`FromStr` use the decimal form. Serde writes a **string** in human-readable formats
/// (`"1234567890123456789"`), because JavaScript numbers lose precision above 2^53, and a `u64`
/// in binary formats; it reads both a string and a number. Use
/// [`snowflake_as_number`](crate::snowflake_as_number) on a field to write a number.
///
/// The fields are read back through the layout the id was made with:
///
/// ```
/// use core_backend_idgen::{Snowflake, SnowflakeLayout};
///
/// let ids = Snowflake::builder().worker_id(42).build()?;
/// let id = ids.next_id()?;
/// let parts = id.parts(ids.layout());
/// assert_eq!(parts.worker_id, 42);
/// assert_eq!(id.worker_id(&SnowflakeLayout::default()), 42);
/// assert_eq!(id.to_string().parse::<core_backend_idgen::SnowflakeId>()?, id);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SnowflakeId(u64);

impl SnowflakeId {
    /// The id with this value.
    pub const fn from_u64(value: u64) -> Self {
        Self(value)
    }

    /// The value.
    pub const fn as_u64(&self) -> u64 {
        self.0
    }

    /// The value as an `i64` (lossless for ids made by a [`Snowflake`], whose top bit is 0),
    /// e.g. for a PostgreSQL `BIGINT`.
    pub const fn as_i64(&self) -> i64 {
        self.0 as i64
    }

    /// All fields, read through `layout`.
    pub const fn parts(&self, layout: &SnowflakeLayout) -> SnowflakeParts {
        layout.decompose(*self)
    }

    /// The Unix milliseconds it was made at, read through `layout`.
    pub const fn timestamp_millis(&self, layout: &SnowflakeLayout) -> u64 {
        layout.decompose(*self).timestamp_ms
    }

    /// The time it was made at, read through `layout`.
    pub fn timestamp(&self, layout: &SnowflakeLayout) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_millis(self.timestamp_millis(layout)))
            .unwrap_or(UNIX_EPOCH)
    }

    /// The worker id, read through `layout`.
    pub const fn worker_id(&self, layout: &SnowflakeLayout) -> u64 {
        layout.decompose(*self).worker_id
    }

    /// The datacenter id, read through `layout` (0 when the layout has no datacenter bits).
    pub const fn datacenter_id(&self, layout: &SnowflakeLayout) -> u64 {
        layout.decompose(*self).datacenter_id
    }

    /// The sequence number within its millisecond, read through `layout`.
    pub const fn sequence(&self, layout: &SnowflakeLayout) -> u64 {
        layout.decompose(*self).sequence
    }
}

impl fmt::Display for SnowflakeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for SnowflakeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for SnowflakeId {
    type Err = ParseIdError;

    /// Decimal digits only (no sign, no spaces), 1 to 20 of them, at most `u64::MAX`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.is_empty() {
            return Err(ParseIdError::new(IdType::Snowflake, ParseErrorKind::Empty));
        }
        if bytes.len() > 20 {
            return Err(ParseIdError::new(
                IdType::Snowflake,
                ParseErrorKind::InvalidLength { found: bytes.len() },
            ));
        }
        let mut value: u64 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !b.is_ascii_digit() {
                return Err(ParseIdError::invalid_char(IdType::Snowflake, s, i));
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .ok_or(ParseIdError::new(
                    IdType::Snowflake,
                    ParseErrorKind::Overflow,
                ))?;
        }
        Ok(Self(value))
    }
}

impl From<u64> for SnowflakeId {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl From<SnowflakeId> for u64 {
    fn from(value: SnowflakeId) -> Self {
        value.0
    }
}

impl Serialize for SnowflakeId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&self.0)
        } else {
            serializer.serialize_u64(self.0)
        }
    }
}

struct SnowflakeVisitor;

impl serde::de::Visitor<'_> for SnowflakeVisitor {
    type Value = SnowflakeId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Snowflake id as a decimal string or an unsigned integer")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SnowflakeId, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SnowflakeId, E> {
        Ok(SnowflakeId(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SnowflakeId, E> {
        u64::try_from(v)
            .map(SnowflakeId)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
    }
}

impl<'de> Deserialize<'de> for SnowflakeId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(SnowflakeVisitor)
        } else {
            deserializer.deserialize_u64(SnowflakeVisitor)
        }
    }
}

/// Serde helpers that write a [`SnowflakeId`] as a JSON number instead of a string.
///
/// Numbers above 2^53 lose precision in JavaScript; use this only when every reader handles
/// 64-bit integers. Reading accepts a number or a string either way.
///
/// ```
/// use core_backend_idgen::SnowflakeId;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Row {
///     #[serde(with = "core_backend_idgen::snowflake_as_number")]
///     id: SnowflakeId,
/// }
///
/// let json = serde_json::to_string(&Row { id: SnowflakeId::from_u64(7) })?;
/// assert_eq!(json, r#"{"id":7}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub mod snowflake_as_number {
    use super::{SnowflakeId, SnowflakeVisitor};

    /// Writes the id as a `u64`.
    pub fn serialize<S: serde::Serializer>(
        id: &SnowflakeId,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(id.0)
    }

    /// Reads a number or a decimal string.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SnowflakeId, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(SnowflakeVisitor)
        } else {
            deserializer.deserialize_u64(SnowflakeVisitor)
        }
    }
}

/// The fields of a [`SnowflakeId`], as read through a [`SnowflakeLayout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SnowflakeParts {
    /// Unix milliseconds (the layout's epoch added back).
    pub timestamp_ms: u64,
    /// Datacenter id (0 when the layout has no datacenter bits).
    pub datacenter_id: u64,
    /// Worker id.
    pub worker_id: u64,
    /// Sequence within the millisecond.
    pub sequence: u64,
}

/// How the 63 usable bits of a Snowflake id are split, and the epoch its timestamps count from.
///
/// From the top: timestamp (milliseconds since `epoch_ms`), datacenter id, worker id, sequence.
/// The default is Twitter's 41/10/12 split (no datacenter bits: ten worker bits), with the epoch
/// 2024-01-01: 69 years of timestamps, 1 024 workers, 4 096 ids per millisecond per worker.
/// Twitter's own 41/5/5/12 is `SnowflakeLayout::new(41, 5, 5, 12)`; Sonyflake's 39/16/8 (10 ms
/// ticks aside) would be `SnowflakeLayout::new(39, 0, 16, 8)`. The fields may sum to less than
/// 63, e.g. to keep ids below 2^53 for JavaScript.
///
/// In configuration (serde, every field optional):
/// `{ "timestamp_bits": 41, "datacenter_bits": 0, "worker_bits": 10, "sequence_bits": 12,
/// "epoch_ms": 1704067200000 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SnowflakeLayout {
    /// Bits of milliseconds since the epoch. Defaults to 41.
    pub timestamp_bits: u8,
    /// Bits of datacenter id. Defaults to 0.
    pub datacenter_bits: u8,
    /// Bits of worker id. Defaults to 10.
    pub worker_bits: u8,
    /// Bits of sequence within a millisecond. Defaults to 12.
    pub sequence_bits: u8,
    /// The epoch, in Unix milliseconds. Defaults to [`DEFAULT_EPOCH_MS`] (2024-01-01).
    pub epoch_ms: u64,
}

impl Default for SnowflakeLayout {
    fn default() -> Self {
        Self::new(41, 0, 10, 12)
    }
}

impl SnowflakeLayout {
    /// A layout with these field widths and the default epoch; check it with
    /// [`validate`](Self::validate) (the builders do).
    pub const fn new(
        timestamp_bits: u8,
        datacenter_bits: u8,
        worker_bits: u8,
        sequence_bits: u8,
    ) -> Self {
        Self {
            timestamp_bits,
            datacenter_bits,
            worker_bits,
            sequence_bits,
            epoch_ms: DEFAULT_EPOCH_MS,
        }
    }

    /// Sets the epoch (Unix milliseconds). Defaults to [`DEFAULT_EPOCH_MS`].
    pub const fn with_epoch_ms(mut self, epoch_ms: u64) -> Self {
        self.epoch_ms = epoch_ms;
        self
    }

    /// Checks that the timestamp and sequence have at least one bit each and that the fields fit
    /// in 63 bits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let total = u32::from(self.timestamp_bits)
            + u32::from(self.datacenter_bits)
            + u32::from(self.worker_bits)
            + u32::from(self.sequence_bits);
        if self.timestamp_bits == 0 || self.sequence_bits == 0 {
            return Err(ConfigError::Layout(
                "timestamp_bits and sequence_bits must be at least 1".into(),
            ));
        }
        if total > 63 {
            return Err(ConfigError::Layout(format!(
                "{}+{}+{}+{} = {total} bits, at most 63 fit (the sign bit stays 0)",
                self.timestamp_bits, self.datacenter_bits, self.worker_bits, self.sequence_bits
            )));
        }
        Ok(())
    }

    /// The largest worker id that fits.
    pub const fn max_worker_id(&self) -> u64 {
        mask(self.worker_bits)
    }

    /// The largest datacenter id that fits.
    pub const fn max_datacenter_id(&self) -> u64 {
        mask(self.datacenter_bits)
    }

    /// How many ids one worker can make per millisecond (`2^sequence_bits`).
    pub const fn ids_per_millisecond(&self) -> u64 {
        mask(self.sequence_bits) + 1
    }

    /// Reads the fields of `id`.
    pub const fn decompose(&self, id: SnowflakeId) -> SnowflakeParts {
        let v = id.0;
        let seq = self.sequence_bits as u32;
        let worker = self.worker_bits as u32;
        let dc = self.datacenter_bits as u32;
        let ts_shift = seq + worker + dc;
        SnowflakeParts {
            timestamp_ms: ((v >> ts_shift) & mask(self.timestamp_bits))
                .saturating_add(self.epoch_ms),
            datacenter_id: (v >> (seq + worker)) & mask(self.datacenter_bits),
            worker_id: (v >> seq) & mask(self.worker_bits),
            sequence: v & mask(self.sequence_bits),
        }
    }
}

const fn mask(bits: u8) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// What a [`Snowflake`] does when the wall clock reads earlier than the last id it issued
/// (an NTP step, a VM resumed from a snapshot).
///
/// Issuing ids anyway could repeat an id already issued in that millisecond, so the generator
/// either waits for the clock to catch up or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClockBackwardsPolicy {
    /// Sleep until the clock is past the last timestamp, if it is behind by at most `max`;
    /// fail with [`GenerateError::ClockMovedBackwards`] if it is further behind.
    Wait {
        /// The longest step back to wait out.
        max: Duration,
    },
    /// Fail at once with [`GenerateError::ClockMovedBackwards`].
    Error,
}

impl Default for ClockBackwardsPolicy {
    /// `Wait { max: 1s }`: small corrections are waited out, large steps fail.
    fn default() -> Self {
        Self::Wait {
            max: Duration::from_secs(1),
        }
    }
}

/// Builds a [`Snowflake`]. Made by [`Snowflake::builder`].
#[derive(Debug, Clone)]
pub struct SnowflakeBuilder<C = SystemClock> {
    clock: C,
    layout: SnowflakeLayout,
    worker_id: u64,
    datacenter_id: u64,
    policy: ClockBackwardsPolicy,
}

impl<C: Clock> SnowflakeBuilder<C> {
    /// The worker id; must fit the layout's worker bits. Defaults to 0.
    pub fn worker_id(mut self, worker_id: u64) -> Self {
        self.worker_id = worker_id;
        self
    }

    /// The datacenter id; must fit the layout's datacenter bits. Defaults to 0.
    pub fn datacenter_id(mut self, datacenter_id: u64) -> Self {
        self.datacenter_id = datacenter_id;
        self
    }

    /// The bit layout and epoch. Defaults to [`SnowflakeLayout::default`] (41/10/12, 2024-01-01).
    pub fn layout(mut self, layout: SnowflakeLayout) -> Self {
        self.layout = layout;
        self
    }

    /// The epoch in Unix milliseconds (a shortcut for the layout's `epoch_ms`).
    /// Defaults to [`DEFAULT_EPOCH_MS`] (2024-01-01).
    pub fn epoch_ms(mut self, epoch_ms: u64) -> Self {
        self.layout.epoch_ms = epoch_ms;
        self
    }

    /// What to do when the clock moves backwards.
    /// Defaults to [`ClockBackwardsPolicy::Wait`] up to one second.
    pub fn clock_backwards(mut self, policy: ClockBackwardsPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock to read (a [`ManualClock`](crate::ManualClock) in tests).
    /// Defaults to [`SystemClock`].
    pub fn clock<C2: Clock>(self, clock: C2) -> SnowflakeBuilder<C2> {
        SnowflakeBuilder {
            clock,
            layout: self.layout,
            worker_id: self.worker_id,
            datacenter_id: self.datacenter_id,
            policy: self.policy,
        }
    }

    /// Checks the layout, that the worker and datacenter ids fit it, and that the epoch is not
    /// in the future (by the builder's clock).
    pub fn build(self) -> Result<Snowflake<C>, ConfigError> {
        let layout = self.layout;
        layout.validate()?;
        if layout.epoch_ms > self.clock.now_millis() {
            return Err(ConfigError::EpochInFuture {
                epoch_ms: layout.epoch_ms,
            });
        }
        for (field, value, bits) in [
            ("worker_id", self.worker_id, layout.worker_bits),
            ("datacenter_id", self.datacenter_id, layout.datacenter_bits),
        ] {
            if value > mask(bits) {
                return Err(ConfigError::IdOutOfRange {
                    field,
                    value,
                    bits,
                    max: mask(bits),
                });
            }
        }
        let seq_bits = u32::from(layout.sequence_bits);
        let worker_shift = seq_bits;
        let dc_shift = worker_shift + u32::from(layout.worker_bits);
        let ts_shift = dc_shift + u32::from(layout.datacenter_bits);
        Ok(Snowflake {
            clock: self.clock,
            layout,
            policy: self.policy,
            node: (self.datacenter_id << dc_shift) | (self.worker_id << worker_shift),
            seq_bits,
            seq_mask: mask(layout.sequence_bits),
            ts_shift,
            ts_max: mask(layout.timestamp_bits),
            state: AtomicU64::new(0),
            backwards_logged: AtomicU64::new(u64::MAX),
        })
    }
}

/// A Snowflake id generator: lock-free, safe to share between threads (`Arc<Snowflake>` or a
/// `static`), and strictly increasing across all of them.
///
/// One `AtomicU64` holds the last millisecond and sequence; each id is one compare-and-swap.
/// When a millisecond's sequence is used up the caller spins (yielding) until the next
/// millisecond; when the clock moves backwards the [`ClockBackwardsPolicy`] decides.
/// Each worker (process) sharing an id space needs its own worker id (and datacenter id):
/// set them in code, in [`SnowflakeConfig`], or with `IDGEN_WORKER_ID` / `IDGEN_DATACENTER_ID`.
///
/// ```
/// use core_backend_idgen::{ClockBackwardsPolicy, IdGenerator, Snowflake};
///
/// let ids = Snowflake::builder()
///     .worker_id(7)
///     .clock_backwards(ClockBackwardsPolicy::Error)
///     .build()?;
/// let a = ids.next_id()?;
/// let b = ids.generate()?;
/// assert!(b > a);
/// assert_eq!(b.worker_id(ids.layout()), 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Snowflake<C = SystemClock> {
    clock: C,
    layout: SnowflakeLayout,
    policy: ClockBackwardsPolicy,
    node: u64,
    seq_bits: u32,
    seq_mask: u64,
    ts_shift: u32,
    ts_max: u64,
    /// `(milliseconds since epoch << seq_bits) | sequence` of the last id issued.
    state: AtomicU64,
    /// The last timestamp a clock-backwards warning was logged for.
    backwards_logged: AtomicU64,
}

impl Snowflake {
    /// A builder on the system clock with the defaults.
    pub fn builder() -> SnowflakeBuilder {
        SnowflakeBuilder {
            clock: SystemClock,
            layout: SnowflakeLayout::default(),
            worker_id: 0,
            datacenter_id: 0,
            policy: ClockBackwardsPolicy::default(),
        }
    }

    /// A generator from configuration.
    pub fn from_config(config: &SnowflakeConfig) -> Result<Self, ConfigError> {
        Self::builder()
            .layout(config.layout)
            .worker_id(config.worker_id)
            .datacenter_id(config.datacenter_id)
            .clock_backwards(config.policy())
            .build()
    }
}

impl<C: Clock> Snowflake<C> {
    /// The layout ids are made with; pass it to [`SnowflakeId::parts`] to read them.
    pub const fn layout(&self) -> &SnowflakeLayout {
        &self.layout
    }

    /// The next id.
    ///
    /// Fails only when the clock moved backwards (per the policy), reads before the epoch, or is
    /// past the layout's lifetime.
    #[inline]
    pub fn next_id(&self) -> Result<SnowflakeId, GenerateError> {
        let mut reported_backwards = false;
        let mut reported_exhausted = false;
        // Load the state before reading the clock: another thread's clock reading that led to
        // the state we see happened before ours, so `now < last` means the clock really went
        // back, not that we lost a race.
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let last = current >> self.seq_bits;
            let now = self.elapsed()?;
            let next = match now.cmp(&last) {
                std::cmp::Ordering::Greater => now << self.seq_bits,
                std::cmp::Ordering::Equal => {
                    if current & self.seq_mask == self.seq_mask {
                        if !reported_exhausted {
                            reported_exhausted = true;
                            metrics::counter!("core_backend.idgen.sequence_exhausted").increment(1);
                        }
                        self.wait_past(last)?;
                        current = self.state.load(Ordering::Acquire);
                        continue;
                    }
                    current + 1
                }
                std::cmp::Ordering::Less => {
                    let by = Duration::from_millis(last - now);
                    if !reported_backwards {
                        reported_backwards = true;
                        metrics::counter!("core_backend.idgen.clock_backwards").increment(1);
                        // One log line per step back, not one per id while the clock is behind.
                        if self.backwards_logged.swap(last, Ordering::Relaxed) != last {
                            tracing::warn!(
                                behind_ms = last - now,
                                policy = ?self.policy,
                                "clock moved backwards"
                            );
                        }
                    }
                    match self.policy {
                        ClockBackwardsPolicy::Wait { max } if by <= max => {
                            self.clock.sleep(by);
                            current = self.state.load(Ordering::Acquire);
                            continue;
                        }
                        _ => return Err(GenerateError::ClockMovedBackwards { by }),
                    }
                }
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let ts = next >> self.seq_bits;
                    return Ok(SnowflakeId(
                        (ts << self.ts_shift) | self.node | (next & self.seq_mask),
                    ));
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Milliseconds since the epoch, checked against the layout.
    #[inline]
    fn elapsed(&self) -> Result<u64, GenerateError> {
        let now = self
            .clock
            .now_millis()
            .checked_sub(self.layout.epoch_ms)
            .ok_or(GenerateError::ClockBeforeEpoch)?;
        if now > self.ts_max {
            return Err(GenerateError::TimestampOverflow);
        }
        Ok(now)
    }

    /// Waits until the clock reads past `last` (or moves backwards, which the caller handles).
    #[cold]
    fn wait_past(&self, last: u64) -> Result<(), GenerateError> {
        let mut spins: u32 = 0;
        loop {
            if self.elapsed()? != last {
                return Ok(());
            }
            spins = spins.saturating_add(1);
            if spins < 64 {
                std::hint::spin_loop();
            } else if spins < 10_000 {
                std::thread::yield_now();
            } else {
                // A clock that does not move for this long is not a wall clock being busy;
                // stop burning the CPU.
                self.clock.sleep(Duration::from_micros(100));
            }
        }
    }
}

impl<C: Clock> IdGenerator for Snowflake<C> {
    type Id = SnowflakeId;

    #[inline]
    fn generate(&self) -> Result<SnowflakeId, GenerateError> {
        self.next_id()
    }
}

/// Which [`ClockBackwardsPolicy`] a [`SnowflakeConfig`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClockBackwardsMode {
    /// [`ClockBackwardsPolicy::Wait`], up to `max_backwards_wait_ms`.
    #[default]
    Wait,
    /// [`ClockBackwardsPolicy::Error`].
    Error,
}

/// Snowflake settings, for [`IdgenConfig`](crate::IdgenConfig) or [`Snowflake::from_config`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SnowflakeConfig {
    /// This process's worker id (`IDGEN_WORKER_ID`). Defaults to 0.
    pub worker_id: u64,
    /// This process's datacenter id (`IDGEN_DATACENTER_ID`); needs datacenter bits in the
    /// layout. Defaults to 0.
    pub datacenter_id: u64,
    /// Bit layout and epoch. Defaults to 41/0/10/12 since 2024-01-01.
    pub layout: SnowflakeLayout,
    /// What to do when the clock moves backwards (`IDGEN_CLOCK_BACKWARDS`: `wait` or `error`).
    /// Defaults to `wait`.
    pub clock_backwards: ClockBackwardsMode,
    /// The longest step back that `wait` waits out, in milliseconds
    /// (`IDGEN_MAX_BACKWARDS_WAIT_MS`). Defaults to 1000.
    pub max_backwards_wait_ms: u64,
}

impl Default for SnowflakeConfig {
    fn default() -> Self {
        Self {
            worker_id: 0,
            datacenter_id: 0,
            layout: SnowflakeLayout::default(),
            clock_backwards: ClockBackwardsMode::Wait,
            max_backwards_wait_ms: 1_000,
        }
    }
}

impl SnowflakeConfig {
    /// The policy these settings name.
    pub fn policy(&self) -> ClockBackwardsPolicy {
        match self.clock_backwards {
            ClockBackwardsMode::Wait => ClockBackwardsPolicy::Wait {
                max: Duration::from_millis(self.max_backwards_wait_ms),
            },
            ClockBackwardsMode::Error => ClockBackwardsPolicy::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    const T0: u64 = DEFAULT_EPOCH_MS + 1_000_000;

    fn manual(clock: &ManualClock) -> SnowflakeBuilder<ManualClock> {
        Snowflake::builder().clock(clock.clone())
    }

    fn build<C: Clock>(builder: SnowflakeBuilder<C>) -> Snowflake<C> {
        match builder.build() {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        }
    }

    fn next<C: Clock>(g: &Snowflake<C>) -> SnowflakeId {
        match g.next_id() {
            Ok(id) => id,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn default_layout_is_twitter_41_10_12() {
        let clock = ManualClock::new(T0);
        let g = build(manual(&clock).worker_id(1023));
        let id = next(&g);
        assert_eq!(id.as_u64(), (1_000_000 << 22) | (1023 << 12));
        let parts = id.parts(g.layout());
        assert_eq!(
            (
                parts.timestamp_ms,
                parts.datacenter_id,
                parts.worker_id,
                parts.sequence
            ),
            (T0, 0, 1023, 0)
        );
        assert_eq!(
            id.timestamp(g.layout()),
            UNIX_EPOCH + Duration::from_millis(T0)
        );
        assert_eq!(g.layout().ids_per_millisecond(), 4096);
        assert_eq!(g.layout().max_worker_id(), 1023);
        assert_eq!(g.layout().max_datacenter_id(), 0);
        assert_eq!(id.as_i64() as u64, id.as_u64());
    }

    #[test]
    fn custom_layout_with_datacenter_and_epoch() {
        let clock = ManualClock::new(5_000);
        let layout = SnowflakeLayout::new(40, 5, 5, 13).with_epoch_ms(1_000);
        let g = build(
            manual(&clock)
                .layout(layout)
                .worker_id(31)
                .datacenter_id(17),
        );
        next(&g);
        let id = next(&g);
        assert_eq!(id.as_u64(), (4_000 << 23) | (17 << 18) | (31 << 13) | 1);
        assert_eq!(id.datacenter_id(&layout), 17);
        assert_eq!(id.worker_id(&layout), 31);
        assert_eq!(id.sequence(&layout), 1);
        assert_eq!(id.timestamp_millis(&layout), 5_000);
        let g = build(manual(&clock).epoch_ms(4_999));
        assert_eq!(next(&g).timestamp_millis(g.layout()), 5_000);
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let err = |b: SnowflakeBuilder| b.build().map(|_| ()).expect_err("must be rejected");
        assert!(matches!(
            err(Snowflake::builder().worker_id(1024)),
            ConfigError::IdOutOfRange {
                field: "worker_id",
                max: 1023,
                ..
            }
        ));
        assert!(matches!(
            err(Snowflake::builder().datacenter_id(1)),
            ConfigError::IdOutOfRange {
                field: "datacenter_id",
                max: 0,
                ..
            }
        ));
        assert!(matches!(
            err(Snowflake::builder().layout(SnowflakeLayout::new(42, 0, 10, 12))),
            ConfigError::Layout(_)
        ));
        assert!(matches!(
            err(Snowflake::builder().layout(SnowflakeLayout::new(41, 0, 10, 0))),
            ConfigError::Layout(_)
        ));
        // fewer than 63 bits is fine, e.g. JavaScript-safe 53-bit ids
        assert!(
            Snowflake::builder()
                .layout(SnowflakeLayout::new(41, 0, 4, 8))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn sequence_increments_then_resets_on_a_new_millisecond() {
        let clock = ManualClock::new(T0);
        let g = build(manual(&clock));
        let ids: Vec<_> = (0..5).map(|_| next(&g)).collect();
        let seqs: Vec<_> = ids.iter().map(|id| id.sequence(g.layout())).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
        clock.advance(1);
        let id = next(&g);
        assert_eq!(id.sequence(g.layout()), 0);
        assert!(id > ids[4]);
    }

    #[test]
    fn sequence_overflow_waits_for_the_next_millisecond() {
        let clock = ManualClock::new(T0);
        let layout = SnowflakeLayout::new(41, 0, 10, 2); // 4 ids per millisecond
        let g = build(manual(&clock).layout(layout));
        let ids: Vec<_> = (0..4).map(|_| next(&g)).collect();
        assert!(ids.iter().all(|id| id.timestamp_millis(&layout) == T0));
        // The fifth id waits; a manual clock advances when slept on, so this returns.
        let fifth = next(&g);
        assert_eq!(fifth.timestamp_millis(&layout), T0 + 1);
        assert_eq!(fifth.sequence(&layout), 0);
        assert!(fifth > ids[3]);
    }

    #[test]
    fn sequence_overflow_on_the_real_clock() {
        let g = build(Snowflake::builder().layout(SnowflakeLayout::new(41, 0, 10, 1)));
        let mut last = next(&g);
        for _ in 0..20 {
            let id = next(&g);
            assert!(id > last);
            last = id;
        }
    }

    #[test]
    fn clock_backwards_error_policy() {
        let clock = ManualClock::new(T0);
        let g = build(manual(&clock).clock_backwards(ClockBackwardsPolicy::Error));
        let before = next(&g);
        clock.set(T0 - 5);
        assert_eq!(
            g.next_id(),
            Err(GenerateError::ClockMovedBackwards {
                by: Duration::from_millis(5)
            })
        );
        clock.set(T0);
        let after = next(&g);
        assert!(after > before, "same millisecond again: sequence continues");
    }

    #[test]
    fn clock_backwards_wait_policy_waits_up_to_max() {
        let clock = ManualClock::new(T0);
        let policy = ClockBackwardsPolicy::Wait {
            max: Duration::from_millis(10),
        };
        let g = build(manual(&clock).clock_backwards(policy));
        let before = next(&g);
        clock.set(T0 - 10);
        // waiting (on a manual clock, sleeping advances it) brings the clock back to T0
        let after = next(&g);
        assert!(after > before);
        assert!(clock.now_millis() >= T0);
        clock.set(T0 - 11);
        assert_eq!(
            g.next_id(),
            Err(GenerateError::ClockMovedBackwards {
                by: Duration::from_millis(11)
            })
        );
    }

    #[test]
    fn clock_before_epoch_or_past_the_layout() {
        let clock = ManualClock::new(DEFAULT_EPOCH_MS - 1);
        assert_eq!(
            manual(&clock).build().map(|_| ()),
            Err(ConfigError::EpochInFuture {
                epoch_ms: DEFAULT_EPOCH_MS
            })
        );
        clock.set(DEFAULT_EPOCH_MS);
        let g = build(manual(&clock));
        clock.set(DEFAULT_EPOCH_MS - 1);
        assert_eq!(g.next_id(), Err(GenerateError::ClockBeforeEpoch));
        clock.set(DEFAULT_EPOCH_MS + (1 << 41));
        assert_eq!(g.next_id(), Err(GenerateError::TimestampOverflow));
        clock.set(DEFAULT_EPOCH_MS + (1 << 41) - 1);
        assert!(g.next_id().is_ok());
    }

    #[test]
    fn shared_between_threads_strictly_increasing_per_thread_and_unique() {
        let g = Arc::new(build(Snowflake::builder().worker_id(5)));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = Arc::clone(&g);
                std::thread::spawn(move || {
                    let mut ids = Vec::with_capacity(20_000);
                    for _ in 0..20_000 {
                        ids.push(next(&*g));
                    }
                    ids
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            let ids = h.join().unwrap_or_default();
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            all.extend(ids);
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn parse_display_and_errors() {
        let id = SnowflakeId::from_u64(1_234_567_890_123_456_789);
        assert_eq!(id.to_string(), "1234567890123456789");
        assert_eq!(format!("{id:?}"), "1234567890123456789");
        assert_eq!("1234567890123456789".parse(), Ok(id));
        assert_eq!(
            "18446744073709551615".parse(),
            Ok(SnowflakeId::from(u64::MAX))
        );
        let kind = |s: &str| {
            s.parse::<SnowflakeId>()
                .map(|_| ())
                .expect_err("must be rejected")
                .kind()
        };
        assert_eq!(kind(""), ParseErrorKind::Empty);
        assert_eq!(kind("18446744073709551616"), ParseErrorKind::Overflow);
        assert_eq!(
            kind("123456789012345678901"),
            ParseErrorKind::InvalidLength { found: 21 }
        );
        assert_eq!(
            kind("-1"),
            ParseErrorKind::InvalidCharacter {
                character: '-',
                index: 0
            }
        );
        assert_eq!(
            kind("12 "),
            ParseErrorKind::InvalidCharacter {
                character: ' ',
                index: 2
            }
        );
        assert_eq!(u64::from(id), 1_234_567_890_123_456_789);
    }

    #[test]
    fn serde_string_by_default_number_on_request() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Row {
            id: SnowflakeId,
            #[serde(with = "crate::snowflake_as_number")]
            n: SnowflakeId,
        }
        let row = Row {
            id: SnowflakeId(9_007_199_254_740_993),
            n: SnowflakeId(7),
        };
        let json = serde_json::to_string(&row).unwrap_or_default();
        assert_eq!(json, r#"{"id":"9007199254740993","n":7}"#);
        let back: Option<Row> = serde_json::from_str(&json).ok();
        assert_eq!(back.as_ref(), Some(&row));
        // both fields read both forms
        let swapped: Option<Row> = serde_json::from_str(r#"{"id":9007199254740993,"n":"7"}"#).ok();
        assert_eq!(swapped, Some(row));
        assert!(serde_json::from_str::<SnowflakeId>("-1").is_err());
        assert!(serde_json::from_str::<SnowflakeId>("\"x\"").is_err());
        assert!(serde_json::from_str::<SnowflakeId>("1.5").is_err());
    }

    fn counters(f: impl FnOnce()) -> Vec<(String, u64)> {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        let mut out: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => Some((key.key().name().to_owned(), n)),
                _ => None,
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn rare_events_are_counted_once_per_event() {
        let clock = ManualClock::new(T0);
        let layout = SnowflakeLayout::new(41, 0, 10, 1); // 2 ids per millisecond
        let g = build(manual(&clock).layout(layout));
        let seen = counters(|| {
            for _ in 0..3 {
                next(&g); // the third waits for the next millisecond: one exhaustion
            }
            clock.set(T0 - 3);
            next(&g); // waits out the step back: one backwards event
            for _ in 0..50 {
                next(&g); // plain ids: nothing recorded
            }
        });
        let get = |name: &str| seen.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert_eq!(get("core_backend.idgen.clock_backwards"), Some(1));
        let exhausted = get("core_backend.idgen.sequence_exhausted").unwrap_or_default();
        // 54 ids at 2 per millisecond: one wait per millisecond after the first
        assert!((20..=30).contains(&exhausted), "{seen:?}");
    }

    #[test]
    fn config_policy() {
        let mut config = SnowflakeConfig::default();
        assert_eq!(config.policy(), ClockBackwardsPolicy::default());
        config.clock_backwards = ClockBackwardsMode::Error;
        assert_eq!(config.policy(), ClockBackwardsPolicy::Error);
        let parsed: Result<SnowflakeConfig, _> = serde_json::from_str(
            r#"{"worker_id": 9, "layout": {"sequence_bits": 11, "worker_bits": 11}, "clock_backwards": "error"}"#,
        );
        let parsed = parsed.unwrap_or_default();
        assert_eq!(parsed.worker_id, 9);
        assert_eq!(parsed.layout.sequence_bits, 11);
        assert_eq!(parsed.layout.timestamp_bits, 41);
        assert_eq!(parsed.clock_backwards, ClockBackwardsMode::Error);
        assert!(serde_json::from_str::<SnowflakeConfig>(r#"{"wroker_id": 1}"#).is_err());
        assert!(Snowflake::from_config(&parsed).is_ok());
    }
}
