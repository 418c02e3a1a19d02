//! `Retry-After` (RFC 9110 §10.2.3) and gRPC `grpc-retry-pushback-ms` parsing.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// Parses a `Retry-After` value: either delta-seconds (`"120"`) or an HTTP-date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`, and the obsolete RFC 850 / asctime forms).
///
/// A date in the past yields [`Duration::ZERO`]. Anything else (negative numbers, garbage,
/// non-ASCII) yields `None`; the parser never panics. Delta-seconds too large for a
/// `u64` saturate.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use core_backend_retry::parse_retry_after;
///
/// assert_eq!(parse_retry_after(b"5", SystemTime::now()), Some(Duration::from_secs(5)));
/// let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
/// assert_eq!(
///     parse_retry_after(b"Wed, 21 Oct 2015 07:28:30 GMT", now),
///     Some(Duration::from_secs(30)),
/// );
/// assert_eq!(parse_retry_after(b"soon", now), None);
/// ```
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let value = std::str::from_utf8(value).ok()?.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // RFC 9110: delta-seconds = 1*DIGIT; huge values saturate rather than fail.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Reads `Retry-After` from `headers` (see [`parse_retry_after`]).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?;
    parse_retry_after(value.as_bytes(), SystemTime::now())
}

/// Reads gRPC's `grpc-retry-pushback-ms` (gRFC A6): a non-negative integer of milliseconds.
/// A negative or malformed value means "do not retry" in the spec and yields `None` here.
pub fn grpc_pushback(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-retry-pushback-ms")?.to_str().ok()?.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_millis(
        value.parse::<u64>().unwrap_or(u64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480) // 2015-10-21 07:28:00 UTC
    }

    #[test]
    fn forms() {
        let now = base();
        assert_eq!(parse_retry_after(b"0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(b" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(b"99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after(b"Wed, 21 Oct 2015 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after(b"Wednesday, 21-Oct-15 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after(b"Wed Oct 21 07:28:05 2015", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after(b"Tue, 20 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in [&b""[..], b"-1", b"1.5", b"soon", b"\xff\xfe", b"+3", b"3s"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn pushback() {
        let mut h = HeaderMap::new();
        assert_eq!(grpc_pushback(&h), None);
        h.insert("grpc-retry-pushback-ms", "250".parse().unwrap());
        assert_eq!(grpc_pushback(&h), Some(Duration::from_millis(250)));
        h.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
        assert_eq!(grpc_pushback(&h), None);
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_retry_after(&bytes, base());
        }

        #[test]
        fn delta_seconds_roundtrip(secs in any::<u64>()) {
            prop_assert_eq!(
                parse_retry_after(secs.to_string().as_bytes(), base()),
                Some(Duration::from_secs(secs))
            );
        }

        #[test]
        fn http_date_roundtrip(offset in 0u64..10_000_000) {
            let now = base();
            let at = now + Duration::from_secs(offset);
            let text = httpdate::fmt_http_date(at);
            prop_assert_eq!(parse_retry_after(text.as_bytes(), now), Some(Duration::from_secs(offset)));
        }

        #[test]
        fn past_dates_are_zero(offset in 1u64..1_000_000_000) {
            let now = base();
            let text = httpdate::fmt_http_date(now - Duration::from_secs(offset));
            prop_assert_eq!(parse_retry_after(text.as_bytes(), now), Some(Duration::ZERO));
        }
    }
}
