//! UUIDs: version 4 (random) and version 7 (time-ordered), RFC 9562.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::{Clock, SystemClock, system_now_millis};
use crate::error::{GenerateError, IdType, ParseErrorKind, ParseIdError};
use crate::generator::IdGenerator;
use crate::monotonic::{LockedMonotonic, Monotonic, next_in_cell};
use crate::rng::random_u128;

const VERSION_SHIFT: u32 = 76;
const VERSION_MASK: u128 = 0xF << VERSION_SHIFT;
const VARIANT_MASK: u128 = 0b11 << 62;
const VARIANT_RFC: u128 = 0b10 << 62;
/// Random bits in a v7: 12 in `rand_a`, 62 in `rand_b`.
const V7_RANDOM_BITS: u32 = 74;
const RAND_B_MASK: u128 = (1 << 62) - 1;

/// A UUID (RFC 9562), 128 bits.
///
/// Create one with [`Uuid::new_v4`] (random, for unguessable tokens) or [`Uuid::now_v7`]
/// (time-ordered, for database keys), or with the generators [`UuidV4Generator`] and
/// [`UuidV7Generator`]. `Display` writes the lowercase hyphenated form
/// (`67e55044-10b1-426f-9247-bb680e5fe0c8`); `FromStr` accepts that form in any case, the
/// 32-digit simple form, the braced form `{…}` and the URN form `urn:uuid:…`.
///
/// Converts to and from [`uuid::Uuid`] for free (`From` both ways), so ids go straight into
/// libraries that speak the `uuid` crate (sqlx, tokio-postgres, …). Ordering is the byte order,
/// so v7 UUIDs sort by creation time.
///
/// ```
/// use core_backend_idgen::Uuid;
///
/// let id = Uuid::now_v7();
/// assert_eq!(id.version(), 7);
/// assert!(id.timestamp_millis().is_some());
/// let parsed: Uuid = id.to_string().parse()?;
/// assert_eq!(parsed, id);
/// let interop: uuid::Uuid = id.into();
/// assert_eq!(interop.as_u128(), id.as_u128());
/// # Ok::<(), core_backend_idgen::ParseIdError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(u128);

impl Uuid {
    /// The nil UUID, all zeros.
    pub const NIL: Self = Self(0);
    /// The max UUID, all ones.
    pub const MAX: Self = Self(u128::MAX);

    /// A random (version 4) UUID: 122 bits from the thread's CSPRNG (ChaCha12 seeded and
    /// periodically reseeded from the OS), safe to use as an unguessable token.
    #[inline]
    pub fn new_v4() -> Self {
        Self::v4_from_random(random_u128())
    }

    /// A time-ordered (version 7) UUID for the current time.
    ///
    /// 48 bits of Unix milliseconds, then 74 bits that are random for the first id of a
    /// millisecond and incremented by one for each further id in the same millisecond on this
    /// thread (RFC 9562 §6.2, method 2), so ids from one thread are strictly increasing. Ids
    /// from different threads are unique by their random bits; use one [`UuidV7Generator`] if
    /// you need a single strictly increasing sequence across threads. Because consecutive ids
    /// differ by one, v7 UUIDs are not unguessable tokens: use [`Uuid::new_v4`] for those.
    #[inline]
    pub fn now_v7() -> Self {
        thread_local! {
            static STATE: Cell<Monotonic> = const { Cell::new(Monotonic::new()) };
        }
        let now = system_now_millis();
        let (ms, rand) = STATE.with(|state| next_in_cell(state, now, V7_RANDOM_BITS));
        Self::v7_from_parts(ms, rand)
    }

    /// Sets the version (4) and variant bits on 128 random bits.
    #[inline]
    const fn v4_from_random(random: u128) -> Self {
        Self((random & !VERSION_MASK & !VARIANT_MASK) | (4 << VERSION_SHIFT) | VARIANT_RFC)
    }

    /// A version 7 UUID from Unix milliseconds (the low 48 bits) and 74 random bits.
    #[inline]
    pub(crate) const fn v7_from_parts(unix_ms: u64, random: u128) -> Self {
        let ts = ((unix_ms as u128) & 0xFFFF_FFFF_FFFF) << 80;
        let rand_a = ((random >> 62) & 0xFFF) << 64;
        let rand_b = random & RAND_B_MASK;
        Self(ts | (7 << VERSION_SHIFT) | rand_a | VARIANT_RFC | rand_b)
    }

    /// The UUID with these 128 bits (big-endian: the first byte is the top byte).
    pub const fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The 128 bits.
    pub const fn as_u128(&self) -> u128 {
        self.0
    }

    /// The UUID with these 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(u128::from_be_bytes(bytes))
    }

    /// The 16 bytes, in network order.
    pub const fn to_bytes(&self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The version field (bits 48–51): 4 for random, 7 for time-ordered, 0 for nil, 15 for max.
    pub const fn version(&self) -> u8 {
        ((self.0 >> VERSION_SHIFT) & 0xF) as u8
    }

    /// Whether the variant bits are those of RFC 9562 (`10`), as for every v4 and v7.
    pub const fn is_rfc9562_variant(&self) -> bool {
        self.0 & VARIANT_MASK == VARIANT_RFC
    }

    /// For a version 7 UUID, the Unix milliseconds it was made at; `None` for other versions.
    pub const fn timestamp_millis(&self) -> Option<u64> {
        if self.version() == 7 {
            Some((self.0 >> 80) as u64)
        } else {
            None
        }
    }

    /// For a version 7 UUID, the time it was made at (millisecond precision).
    pub fn timestamp(&self) -> Option<SystemTime> {
        self.timestamp_millis()
            .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
    }

    /// Whether this is the nil UUID.
    pub const fn is_nil(&self) -> bool {
        self.0 == 0
    }

    /// Writes the lowercase hyphenated form into `buf` and returns it, without allocating.
    pub fn encode<'b>(&self, buf: &'b mut [u8; 36]) -> &'b str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes = self.0.to_be_bytes();
        let mut out = 0;
        for (i, byte) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                buf[out] = b'-';
                out += 1;
            }
            buf[out] = HEX[usize::from(byte >> 4)];
            buf[out + 1] = HEX[usize::from(byte & 0xF)];
            out += 2;
        }
        // Every byte written above is ASCII.
        std::str::from_utf8(buf).unwrap_or_default()
    }

    /// Parses any of the accepted forms (see the type docs). Same as `str::parse`.
    pub fn parse_str(input: &str) -> Result<Self, ParseIdError> {
        let err = |kind| ParseIdError::new(IdType::Uuid, kind);
        let bytes = input.as_bytes();
        let (body, offset) = match bytes.len() {
            0 => return Err(err(ParseErrorKind::Empty)),
            32 | 36 => (bytes, 0),
            38 => {
                if bytes[0] != b'{' {
                    return Err(ParseIdError::invalid_char(IdType::Uuid, input, 0));
                }
                if bytes[37] != b'}' {
                    return Err(ParseIdError::invalid_char(IdType::Uuid, input, 37));
                }
                (&bytes[1..37], 1)
            }
            45 => {
                const URN: &[u8] = b"urn:uuid:";
                if let Some(i) = (0..URN.len()).find(|&i| !bytes[i].eq_ignore_ascii_case(&URN[i])) {
                    return Err(ParseIdError::invalid_char(IdType::Uuid, input, i));
                }
                (&bytes[9..], 9)
            }
            found => return Err(err(ParseErrorKind::InvalidLength { found })),
        };
        let hyphenated = body.len() == 36;
        let value = if let Ok(body) = <&[u8; 36]>::try_from(body) {
            if HYPHENS.iter().all(|&i| body[i] == b'-') {
                decode_hex(body, &HYPHENATED_PAIRS)
            } else {
                None
            }
        } else if let Ok(body) = <&[u8; 32]>::try_from(body) {
            decode_hex(body, &SIMPLE_PAIRS)
        } else {
            None
        };
        value.map(Self).ok_or_else(|| {
            // Slow path, only for bad input: find the first offending character.
            let i = (0..body.len())
                .find(|&i| {
                    let want_hyphen = hyphenated && HYPHENS.contains(&i);
                    want_hyphen != (body[i] == b'-') || !want_hyphen && hex_digit(body[i]).is_none()
                })
                .unwrap_or(0);
            ParseIdError::invalid_char(IdType::Uuid, input, offset + i)
        })
    }
}

/// Positions of the hyphens in the 36-character form.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// Where each byte's two hex digits start in the 36-character form.
const HYPHENATED_PAIRS: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/// Where each byte's two hex digits start in the 32-character form.
const SIMPLE_PAIRS: [usize; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];

const HEX_INVALID: u8 = 0xFF;
const HEX_TABLE: [u8; 256] = {
    let mut table = [HEX_INVALID; 256];
    let mut b = 0;
    while b < 256 {
        if let Some(d) = hex_digit(b as u8) {
            table[b] = d;
        }
        b += 1;
    }
    table
};

/// The 16 bytes whose hex digit pairs start at `pairs`, `None` if any digit is not hex.
#[inline]
fn decode_hex<const N: usize>(text: &[u8; N], pairs: &[usize; 16]) -> Option<u128> {
    let mut bytes = [0u8; 16];
    let mut bad: u8 = 0;
    for (byte, &at) in bytes.iter_mut().zip(pairs) {
        let hi = HEX_TABLE[usize::from(text[at])];
        let lo = HEX_TABLE[usize::from(text[at + 1])];
        bad |= hi | lo;
        *byte = (hi << 4) | (lo & 0xF);
    }
    // Valid digits are below 16, so the high bit is only set by an invalid one.
    (bad & 0x80 == 0).then_some(u128::from_be_bytes(bytes))
}

#[inline]
const fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0; 36];
        f.pad(self.encode(&mut buf))
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Uuid {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_str(s)
    }
}

impl From<uuid::Uuid> for Uuid {
    fn from(value: uuid::Uuid) -> Self {
        Self(value.as_u128())
    }
}

impl From<Uuid> for uuid::Uuid {
    fn from(value: Uuid) -> Self {
        uuid::Uuid::from_u128(value.0)
    }
}

impl From<Uuid> for u128 {
    fn from(value: Uuid) -> Self {
        value.0
    }
}

impl From<u128> for Uuid {
    fn from(value: u128) -> Self {
        Self(value)
    }
}

impl From<[u8; 16]> for Uuid {
    fn from(value: [u8; 16]) -> Self {
        Self::from_bytes(value)
    }
}

impl serde::Serialize for Uuid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; 36];
        serializer.serialize_str(self.encode(&mut buf))
    }
}

impl<'de> serde::Deserialize<'de> for Uuid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(crate::serde_support::FromStrVisitor::<Self>::new(
            "a UUID string",
        ))
    }
}

/// Generates random (version 4) UUIDs. See [`Uuid::new_v4`].
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV4Generator;

impl UuidV4Generator {
    /// A generator.
    pub const fn new() -> Self {
        Self
    }

    /// The next UUID; cannot fail.
    #[inline]
    pub fn next_id(&self) -> Uuid {
        Uuid::new_v4()
    }
}

impl IdGenerator for UuidV4Generator {
    type Id = Uuid;

    #[inline]
    fn generate(&self) -> Result<Uuid, GenerateError> {
        Ok(Uuid::new_v4())
    }
}

/// Generates time-ordered (version 7) UUIDs that strictly increase across all threads sharing
/// the generator.
///
/// The state (last millisecond and random part) sits behind a mutex, so every id from one
/// generator is greater than the one before, whatever thread asked; within a millisecond the
/// random part is incremented by one. When it would overflow, the generator moves on to the next
/// millisecond rather than waiting. [`Uuid::now_v7`] is the lock-free per-thread equivalent.
///
/// ```
/// use core_backend_idgen::{IdGenerator, UuidV7Generator};
///
/// let ids = UuidV7Generator::new();
/// let a = ids.next_id();
/// let b = ids.generate()?;
/// assert!(a < b);
/// # Ok::<(), core_backend_idgen::GenerateError>(())
/// ```
#[derive(Debug)]
pub struct UuidV7Generator<C = SystemClock> {
    source: LockedMonotonic<C>,
}

impl UuidV7Generator {
    /// A generator on the system clock.
    pub const fn new() -> Self {
        Self::with_clock(SystemClock)
    }
}

impl Default for UuidV7Generator {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock> UuidV7Generator<C> {
    /// A generator reading `clock` (a [`ManualClock`](crate::ManualClock) in tests).
    pub const fn with_clock(clock: C) -> Self {
        Self {
            source: LockedMonotonic::new(clock),
        }
    }

    /// The next UUID; cannot fail.
    pub fn next_id(&self) -> Uuid {
        let (ms, rand) = self.source.next(V7_RANDOM_BITS);
        Uuid::v7_from_parts(ms, rand)
    }
}

impl<C: Clock> IdGenerator for UuidV7Generator<C> {
    type Id = Uuid;

    fn generate(&self) -> Result<Uuid, GenerateError> {
        Ok(self.next_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn v4_layout() {
        for _ in 0..1000 {
            let id = Uuid::new_v4();
            assert_eq!(id.version(), 4);
            assert!(id.is_rfc9562_variant());
            assert_eq!(id.timestamp_millis(), None);
            assert_eq!(id.timestamp(), None);
            let theirs = uuid::Uuid::from(id);
            assert_eq!(theirs.get_version_num(), 4);
            assert_eq!(theirs.get_variant(), uuid::Variant::RFC4122);
        }
        assert_ne!(Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            Uuid::v4_from_random(0).to_string(),
            "00000000-0000-4000-8000-000000000000"
        );
        assert_eq!(
            Uuid::v4_from_random(u128::MAX).to_string(),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
    }

    #[test]
    fn v7_layout_matches_rfc_example() {
        // RFC 9562 Appendix A.6: 017F22E2-79B0-7CC3-98C4-DC0C0C07398F
        let rand_a: u128 = 0xCC3;
        let rand_b: u128 = 0x18C4_DC0C_0C07_398F;
        let id = Uuid::v7_from_parts(0x017F_22E2_79B0, (rand_a << 62) | rand_b);
        assert_eq!(id.to_string(), "017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
        assert_eq!(id.timestamp_millis(), Some(0x017F_22E2_79B0));
        let theirs = uuid::Uuid::from(id);
        let (secs, nanos) = theirs
            .get_timestamp()
            .map(|t| t.to_unix())
            .unwrap_or_default();
        assert_eq!(secs * 1000 + u64::from(nanos) / 1_000_000, 0x017F_22E2_79B0);
    }

    #[test]
    fn v7_now_is_monotonic_on_a_thread_and_carries_the_time() {
        let before = system_now_millis();
        let mut last = Uuid::now_v7();
        for _ in 0..10_000 {
            let next = Uuid::now_v7();
            assert!(next > last);
            assert_eq!(next.version(), 7);
            assert!(next.is_rfc9562_variant());
            last = next;
        }
        let after = system_now_millis();
        let ts = last.timestamp_millis().unwrap_or_default();
        assert!(
            ts >= before && ts <= after + 1,
            "{before} <= {ts} <= {after}"
        );
        assert!(last.timestamp().is_some());
    }

    #[test]
    fn v7_generator_increments_within_a_millisecond() {
        let clock = ManualClock::new(1_700_000_000_000);
        let ids = UuidV7Generator::with_clock(clock.clone());
        let a = ids.next_id();
        let b = ids.next_id();
        assert_eq!(b.as_u128() - a.as_u128(), 1, "{a} then {b}");
        clock.advance(1);
        let c = ids.generate().unwrap_or_default();
        assert!(c > b);
        assert_eq!(c.timestamp_millis(), Some(1_700_000_000_001));
        clock.set(1_600_000_000_000);
        let d = ids.next_id();
        assert!(d > c, "clock moved back, ids still increase");
        assert_eq!(d.timestamp_millis(), Some(1_700_000_000_001));
    }

    #[test]
    fn parse_all_forms() {
        let want = Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        for s in [
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67E55044-10B1-426F-9247-BB680E5FE0C8",
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
            "URN:UUID:67e55044-10b1-426f-9247-bb680e5fe0c8",
        ] {
            assert_eq!(s.parse::<Uuid>(), Ok(want), "{s}");
        }
        assert_eq!(format!("{want:?}"), "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert_eq!(format!("{want:>38}").len(), 38);
    }

    #[test]
    fn parse_errors_are_typed() {
        let kind = |s: &str| {
            s.parse::<Uuid>()
                .map(|_| ())
                .expect_err("must be rejected")
                .kind()
        };
        assert_eq!(kind(""), ParseErrorKind::Empty);
        assert_eq!(kind("abc"), ParseErrorKind::InvalidLength { found: 3 });
        assert_eq!(
            kind("67e55044x10b1-426f-9247-bb680e5fe0c8"),
            ParseErrorKind::InvalidCharacter {
                character: 'x',
                index: 8
            }
        );
        assert_eq!(
            kind("67e55044-10b1-426f-9247-bb680e5fe0cg"),
            ParseErrorKind::InvalidCharacter {
                character: 'g',
                index: 35
            }
        );
        assert_eq!(
            kind("[67e55044-10b1-426f-9247-bb680e5fe0c8}"),
            ParseErrorKind::InvalidCharacter {
                character: '[',
                index: 0
            }
        );
        assert_eq!(
            kind("{67e55044-10b1-426f-9247-bb680e5fe0c8]"),
            ParseErrorKind::InvalidCharacter {
                character: ']',
                index: 37
            }
        );
        assert_eq!(
            kind("urn:uuix:67e55044-10b1-426f-9247-bb680e5fe0c8"),
            ParseErrorKind::InvalidCharacter {
                character: 'x',
                index: 7
            }
        );
        // a multi-byte character is reported whole
        assert_eq!(
            kind("67e55044-10b1-426f-9247-bb680e5fe0é"),
            ParseErrorKind::InvalidCharacter {
                character: 'é',
                index: 34
            }
        );
    }

    #[test]
    fn conversions() {
        let id = Uuid::new_v4();
        assert_eq!(Uuid::from(uuid::Uuid::from(id)), id);
        assert_eq!(Uuid::from(id.to_bytes()), id);
        assert_eq!(Uuid::from(u128::from(id)), id);
        assert!(Uuid::NIL.is_nil());
        assert_eq!(Uuid::MAX.version(), 15);
        assert_eq!(Uuid::default(), Uuid::NIL);
        assert_eq!(UuidV4Generator::new().next_id().version(), 4);
        assert_eq!(UuidV4Generator.generate().map(|u| u.version()), Ok(4));
        assert_eq!(UuidV7Generator::default().next_id().version(), 7);
    }

    #[test]
    fn serde_string_form() {
        let id = Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, "\"67e55044-10b1-426f-9247-bb680e5fe0c8\"");
        assert_eq!(serde_json::from_str::<Uuid>(&json).ok(), Some(id));
        let err = serde_json::from_str::<Uuid>("\"nope\"")
            .map(|_| ())
            .expect_err("must be rejected");
        assert!(err.to_string().contains("invalid UUID"), "{err}");
        assert!(serde_json::from_str::<Uuid>("12").is_err());
    }
}
