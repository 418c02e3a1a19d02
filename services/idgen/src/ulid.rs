//! ULIDs: 48-bit millisecond timestamp + 80 random bits, Crockford base32.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::{Clock, SystemClock, system_now_millis};
use crate::error::{GenerateError, IdType, ParseErrorKind, ParseIdError};
use crate::generator::IdGenerator;
use crate::monotonic::{LockedMonotonic, Monotonic, next_in_cell};
use crate::uuid::Uuid;

const RANDOM_BITS: u32 = 80;
const RANDOM_MASK: u128 = (1 << RANDOM_BITS) - 1;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const INVALID: u8 = 0xFF;
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 32 {
        let c = ALPHABET[i];
        table[c as usize] = i as u8;
        table[c.to_ascii_lowercase() as usize] = i as u8;
        i += 1;
    }
    table
};

/// A ULID: 48 bits of Unix milliseconds then 80 random bits, written as 26 characters of
/// Crockford base32 (`01ARZ3NDEKTSV4RRFFQ69G5FAV`).
///
/// [`Ulid::new`] makes one for the current time; ids made on one thread are strictly increasing
/// (within a millisecond the random part is incremented by one). [`UlidGenerator`] gives one
/// strictly increasing sequence across threads. Ordering (of the value and of the string) is
/// creation order.
///
/// `FromStr` is case-insensitive and strict: it accepts only the 32 symbols of the Crockford
/// alphabet (not the `I`/`L`/`O` aliases, so every ULID has exactly one spelling up to case) and
/// rejects a first character above `7`, which would not fit in 128 bits.
///
/// ```
/// use core_backend_idgen::Ulid;
///
/// let id: Ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse()?;
/// assert_eq!(id.timestamp_millis(), 1_469_922_850_259);
/// assert_eq!(id.to_string(), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
/// assert_eq!("01arz3ndektsv4rrffq69g5fav".parse::<Ulid>()?, id);
/// assert!(Ulid::new() > id);
/// # Ok::<(), core_backend_idgen::ParseIdError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ulid(u128);

impl Ulid {
    /// The nil ULID (all zeros).
    pub const NIL: Self = Self(0);

    /// A ULID for the current time, from the thread's CSPRNG; strictly greater than the previous
    /// one made on this thread. When the 80-bit random part would overflow within a millisecond
    /// (odds about `n / 2^80`), the id moves to the next millisecond instead of waiting.
    #[inline]
    pub fn new() -> Self {
        thread_local! {
            static STATE: Cell<Monotonic> = const { Cell::new(Monotonic::new()) };
        }
        let now = system_now_millis();
        let (ms, rand) = STATE.with(|state| next_in_cell(state, now, RANDOM_BITS));
        Self::from_parts(ms, rand)
    }

    /// A ULID from Unix milliseconds (the low 48 bits are used) and a random part (the low 80
    /// bits are used).
    #[inline]
    pub const fn from_parts(unix_ms: u64, random: u128) -> Self {
        Self((((unix_ms as u128) & 0xFFFF_FFFF_FFFF) << RANDOM_BITS) | (random & RANDOM_MASK))
    }

    /// The ULID with these 128 bits.
    pub const fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The 128 bits.
    pub const fn as_u128(&self) -> u128 {
        self.0
    }

    /// The ULID with these 16 bytes (big-endian).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(u128::from_be_bytes(bytes))
    }

    /// The 16 bytes (big-endian), e.g. for a `BYTEA`/`UUID` column.
    pub const fn to_bytes(&self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The Unix milliseconds it was made at.
    pub const fn timestamp_millis(&self) -> u64 {
        (self.0 >> RANDOM_BITS) as u64
    }

    /// The time it was made at (millisecond precision).
    pub fn timestamp(&self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_millis(self.timestamp_millis()))
            .unwrap_or(UNIX_EPOCH)
    }

    /// The 80-bit random part.
    pub const fn random(&self) -> u128 {
        self.0 & RANDOM_MASK
    }

    /// Whether this is the nil ULID.
    pub const fn is_nil(&self) -> bool {
        self.0 == 0
    }

    /// Writes the 26-character uppercase form into `buf` and returns it, without allocating.
    pub fn encode<'b>(&self, buf: &'b mut [u8; 26]) -> &'b str {
        let mut value = self.0;
        for slot in buf.iter_mut().rev() {
            *slot = ALPHABET[(value & 0x1F) as usize];
            value >>= 5;
        }
        // Every byte written above is ASCII.
        std::str::from_utf8(buf).unwrap_or_default()
    }

    /// Parses the 26-character form, case-insensitively. Same as `str::parse`.
    pub fn parse_str(input: &str) -> Result<Self, ParseIdError> {
        let bytes = input.as_bytes();
        if bytes.is_empty() {
            return Err(ParseIdError::new(IdType::Ulid, ParseErrorKind::Empty));
        }
        if bytes.len() != 26 {
            return Err(ParseIdError::new(
                IdType::Ulid,
                ParseErrorKind::InvalidLength { found: bytes.len() },
            ));
        }
        let mut value: u128 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let digit = DECODE[usize::from(b)];
            if digit == INVALID {
                return Err(ParseIdError::invalid_char(IdType::Ulid, input, i));
            }
            value = (value << 5) | u128::from(digit);
        }
        // 26 × 5 = 130 bits: the first character may only carry 3.
        if DECODE[usize::from(bytes[0])] > 7 {
            return Err(ParseIdError::new(IdType::Ulid, ParseErrorKind::Overflow));
        }
        Ok(Self(value))
    }
}

impl fmt::Display for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0; 26];
        f.pad(self.encode(&mut buf))
    }
}

impl fmt::Debug for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Ulid {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_str(s)
    }
}

impl From<Ulid> for u128 {
    fn from(value: Ulid) -> Self {
        value.0
    }
}

impl From<u128> for Ulid {
    fn from(value: u128) -> Self {
        Self(value)
    }
}

/// The same 128 bits seen as a UUID (as many databases store ULIDs); not a valid v4/v7.
impl From<Ulid> for Uuid {
    fn from(value: Ulid) -> Self {
        Uuid::from_u128(value.0)
    }
}

/// The same 128 bits seen as a ULID.
impl From<Uuid> for Ulid {
    fn from(value: Uuid) -> Self {
        Self(value.as_u128())
    }
}

impl serde::Serialize for Ulid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; 26];
        serializer.serialize_str(self.encode(&mut buf))
    }
}

impl<'de> serde::Deserialize<'de> for Ulid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(crate::serde_support::FromStrVisitor::<Self>::new(
            "a ULID string",
        ))
    }
}

/// Generates ULIDs that strictly increase across all threads sharing the generator.
///
/// The last timestamp and random part sit behind a mutex; within a millisecond the random part is
/// incremented by one; when it would overflow the generator moves on to the next millisecond
/// (documented choice: no waiting, no error). A clock that moves backwards is treated as the same
/// millisecond, so ids keep increasing. [`Ulid::new`] is the lock-free per-thread equivalent.
///
/// ```
/// use core_backend_idgen::{IdGenerator, UlidGenerator};
///
/// let ids = UlidGenerator::new();
/// let a = ids.next_id();
/// let b = ids.generate()?;
/// assert!(a < b);
/// # Ok::<(), core_backend_idgen::GenerateError>(())
/// ```
#[derive(Debug)]
pub struct UlidGenerator<C = SystemClock> {
    source: LockedMonotonic<C>,
}

impl UlidGenerator {
    /// A generator on the system clock.
    pub const fn new() -> Self {
        Self::with_clock(SystemClock)
    }
}

impl Default for UlidGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock> UlidGenerator<C> {
    /// A generator reading `clock` (a [`ManualClock`](crate::ManualClock) in tests).
    pub const fn with_clock(clock: C) -> Self {
        Self {
            source: LockedMonotonic::new(clock),
        }
    }

    /// The next ULID; cannot fail.
    pub fn next_id(&self) -> Ulid {
        let (ms, rand) = self.source.next(RANDOM_BITS);
        Ulid::from_parts(ms, rand)
    }
}

impl<C: Clock> IdGenerator for UlidGenerator<C> {
    type Id = Ulid;

    fn generate(&self) -> Result<Ulid, GenerateError> {
        Ok(self.next_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn layout_and_known_value() {
        let id = Ulid::from_parts(1_469_922_850_259, 0x1234);
        assert_eq!(id.timestamp_millis(), 1_469_922_850_259);
        assert_eq!(id.random(), 0x1234);
        assert_eq!(id.as_u128() >> 80, 1_469_922_850_259);
        let parsed: Ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap_or_default();
        assert_eq!(parsed.timestamp_millis(), 1_469_922_850_259);
        assert_eq!(Ulid::from_parts(u64::MAX, u128::MAX).as_u128(), u128::MAX);
        assert_eq!(
            Ulid::from_u128(u128::MAX).to_string(),
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
        );
        assert_eq!(Ulid::NIL.to_string(), "00000000000000000000000000");
        assert!(Ulid::NIL.is_nil());
    }

    #[test]
    fn parse_errors() {
        let kind = |s: &str| {
            s.parse::<Ulid>()
                .map(|_| ())
                .expect_err("must be rejected")
                .kind()
        };
        assert_eq!(kind(""), ParseErrorKind::Empty);
        assert_eq!(kind("01ARZ"), ParseErrorKind::InvalidLength { found: 5 });
        assert_eq!(kind("8ZZZZZZZZZZZZZZZZZZZZZZZZZ"), ParseErrorKind::Overflow);
        for (s, c, i) in [
            ("01ARZ3NDEKTSV4RRFFQ69G5FAI", 'I', 25),
            ("01ARZ3NDEKTSV4RRFFQ69G5FAL", 'L', 25),
            ("O1ARZ3NDEKTSV4RRFFQ69G5FAV", 'O', 0),
            ("01ARZ3NDEKTSV4RRFFQ69G5FA-", '-', 25),
        ] {
            assert_eq!(
                kind(s),
                ParseErrorKind::InvalidCharacter {
                    character: c,
                    index: i
                },
                "{s}"
            );
        }
        // 26 bytes, but with a two-byte character in the middle
        assert_eq!(
            kind("01ARZ3NDEKTSV4RRFFQ69G5Fé"),
            ParseErrorKind::InvalidCharacter {
                character: 'é',
                index: 24
            }
        );
    }

    #[test]
    fn agrees_with_the_ulid_crate() {
        for _ in 0..1000 {
            let ours = Ulid::new();
            let theirs = ulid::Ulid(ours.as_u128());
            assert_eq!(ours.to_string(), theirs.to_string());
            assert_eq!(ours.timestamp_millis(), theirs.timestamp_ms());
            let back: ulid::Ulid = ours.to_string().parse().unwrap_or_default();
            assert_eq!(back.0, ours.as_u128());
        }
    }

    #[test]
    fn new_is_monotonic_and_current() {
        let before = system_now_millis();
        let mut last = Ulid::new();
        for _ in 0..10_000 {
            let next = Ulid::new();
            assert!(next > last);
            last = next;
        }
        let ts = last.timestamp_millis();
        assert!(ts >= before && ts <= system_now_millis() + 1);
        assert!(last.timestamp() > UNIX_EPOCH);
    }

    #[test]
    fn generator_increments_within_a_millisecond() {
        let clock = ManualClock::new(1_700_000_000_000);
        let ids = UlidGenerator::with_clock(clock.clone());
        let a = ids.next_id();
        let b = ids.next_id();
        assert_eq!(b.random(), a.random() + 1);
        assert_eq!(b.timestamp_millis(), 1_700_000_000_000);
        clock.advance(3);
        let c = ids.generate().unwrap_or_default();
        assert_eq!(c.timestamp_millis(), 1_700_000_000_003);
        clock.set(1_000);
        let d = ids.next_id();
        assert!(d > c);
    }

    #[test]
    fn conversions_and_serde() {
        let id = Ulid::new();
        assert_eq!(Ulid::from(Uuid::from(id)), id);
        assert_eq!(Ulid::from(u128::from(id)), id);
        assert_eq!(Ulid::from_bytes(id.to_bytes()), id);
        assert_eq!(format!("{id:?}"), id.to_string());
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<Ulid>(&json).ok(), Some(id));
        let err = serde_json::from_str::<Ulid>("\"8ZZZZZZZZZZZZZZZZZZZZZZZZZ\"")
            .map(|_| ())
            .expect_err("must be rejected");
        assert!(err.to_string().contains("exceeds 128 bits"), "{err}");
        assert!(!UlidGenerator::default().next_id().is_nil());
    }
}
