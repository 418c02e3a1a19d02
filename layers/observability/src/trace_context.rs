//! W3C Trace Context: parsing and formatting of `traceparent`, and the trace context of the
//! request being served.
//!
//! The server layers read `traceparent` / `tracestate`, make the request's span a child of the
//! remote parent, and expose the result as a [`TraceContext`] in the request extensions and
//! through [`TraceContext::current`] while the inner service runs. The client layers call
//! [`TraceContext::current`] and send a `traceparent` naming a fresh span of the same trace.

use std::fmt;
use std::str::FromStr;

use http::HeaderValue;

/// A 16-byte trace id; never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

/// An 8-byte span id; never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId([u8; 8]);

impl TraceId {
    /// Builds a trace id from its bytes; `None` for the invalid all-zero id.
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        (bytes != [0; 16]).then_some(Self(bytes))
    }

    /// A random trace id.
    pub fn random() -> Self {
        loop {
            if let Some(id) = Self::from_bytes(fastrand::u128(..).to_be_bytes()) {
                return id;
            }
        }
    }

    /// The id's bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }
}

impl SpanId {
    /// Builds a span id from its bytes; `None` for the invalid all-zero id.
    pub fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        (bytes != [0; 8]).then_some(Self(bytes))
    }

    /// A random span id.
    pub fn random() -> Self {
        loop {
            if let Some(id) = Self::from_bytes(fastrand::u64(..).to_be_bytes()) {
                return id;
            }
        }
    }

    /// The id's bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// Why a `traceparent` value was rejected.
///
/// The W3C specification says an invalid `traceparent` is ignored (a new trace starts), so the
/// server layers never turn this into a response; it is public for callers who parse headers
/// themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceParentError {
    /// The value does not have the `version-traceid-parentid-flags` shape.
    #[error("traceparent is malformed")]
    Malformed,
    /// The version is `ff`, which the specification forbids.
    #[error("traceparent version ff is invalid")]
    InvalidVersion,
    /// The trace id or parent id is all zeros.
    #[error("traceparent carries an all-zero id")]
    ZeroId,
}

/// A parsed W3C `traceparent` header.
///
/// ```
/// use core_backend_observability::TraceParent;
///
/// let tp: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?;
/// assert!(tp.sampled());
/// assert_eq!(tp.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// # Ok::<(), core_backend_observability::TraceParentError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace the request belongs to.
    pub trace_id: TraceId,
    /// The caller's span, the parent of ours.
    pub parent_id: SpanId,
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value following the W3C Trace Context rules: lowercase hex only,
    /// version `ff` rejected, exact length for version `00`, and for future versions the
    /// version-00 prefix followed by nothing or by `-` and more.
    pub fn parse(value: &[u8]) -> Result<Self, TraceParentError> {
        if value.len() < 55 {
            return Err(TraceParentError::Malformed);
        }
        let version = hex_byte(&value[0..2])?;
        if version == 0xff {
            return Err(TraceParentError::InvalidVersion);
        }
        if version == 0 && value.len() != 55 {
            return Err(TraceParentError::Malformed);
        }
        if value.len() > 55 && value[55] != b'-' {
            return Err(TraceParentError::Malformed);
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return Err(TraceParentError::Malformed);
        }
        let mut trace = [0u8; 16];
        for (i, byte) in trace.iter_mut().enumerate() {
            *byte = hex_byte(&value[3 + 2 * i..5 + 2 * i])?;
        }
        let mut span = [0u8; 8];
        for (i, byte) in span.iter_mut().enumerate() {
            *byte = hex_byte(&value[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&value[53..55])?;
        Ok(Self {
            trace_id: TraceId::from_bytes(trace).ok_or(TraceParentError::ZeroId)?,
            parent_id: SpanId::from_bytes(span).ok_or(TraceParentError::ZeroId)?,
            flags,
        })
    }

    /// Whether the caller sampled the trace (flag bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & 0x01 == 0x01
    }

    /// The value as a header.
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::try_from(self.to_string()).unwrap_or_else(|_| {
            // Only lowercase hex and dashes are ever written, which are always valid.
            HeaderValue::from_static("")
        })
    }
}

fn hex_byte(pair: &[u8]) -> Result<u8, TraceParentError> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(TraceParentError::Malformed),
    };
    Ok(digit(pair[0])? << 4 | digit(pair[1])?)
}

impl FromStr for TraceParent {
    type Err = TraceParentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

/// The trace context of the request being served: its trace, the server span's id, the flags
/// and the caller's `tracestate` (passed on unchanged).
///
/// The server layers put it in the request extensions (so handlers can read it with axum's
/// `Extension<TraceContext>` or `request.extensions()`), and make it available through
/// [`TraceContext::current`] to code polled inside the request's future (the handler and what it
/// awaits; not tasks it spawns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace.
    pub trace_id: TraceId,
    /// The id of the current (server) span.
    pub span_id: SpanId,
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
    /// The caller's `tracestate`, when it sent a valid one.
    pub tracestate: Option<HeaderValue>,
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

impl TraceContext {
    /// Starts a new trace (sampled), for a request that carried no valid `traceparent`.
    pub fn new_root() -> Self {
        Self {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            flags: 0x01,
            tracestate: None,
        }
    }

    /// The context of a span `span_id` that is a child of `parent`.
    pub fn child_of(
        parent: &TraceParent,
        span_id: SpanId,
        tracestate: Option<HeaderValue>,
    ) -> Self {
        Self {
            trace_id: parent.trace_id,
            span_id,
            flags: parent.flags,
            tracestate,
        }
    }

    /// Reads `traceparent` and `tracestate` from request headers. Invalid or absent values give
    /// `None` (the specification says to start a new trace then); `tracestate` is only kept with
    /// a valid `traceparent` and when it fits the specification's 512-byte limit.
    pub fn extract(headers: &http::HeaderMap) -> Option<(TraceParent, Option<HeaderValue>)> {
        let mut values = headers.get_all("traceparent").iter();
        let first = values.next()?;
        if values.next().is_some() {
            // Several traceparent headers cannot be combined; ignore them all.
            return None;
        }
        let parent = TraceParent::parse(first.as_bytes()).ok()?;
        let state = headers
            .get("tracestate")
            .filter(|v| v.len() <= 512 && !v.is_empty())
            .cloned();
        Some((parent, state))
    }

    /// The `traceparent` to send for an outgoing call made from span `span_id` of this trace.
    pub fn traceparent_for(&self, span_id: SpanId) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            parent_id: span_id,
            flags: self.flags,
        }
    }

    /// The trace context of the request whose future is being polled, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `future` with `self` as [`TraceContext::current`]: use it for work spawned from a
    /// request (`tokio::spawn(cx.in_scope(job))`) or started outside one, so the client layers
    /// called from it propagate this trace.
    pub async fn in_scope<F: std::future::Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// Runs `f` with `self` as [`TraceContext::current`].
    pub(crate) fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self.clone(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_specification_example() {
        let tp: TraceParent = VALID.parse().expect("valid");
        assert_eq!(tp.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(tp.flags, 1);
        assert!(tp.sampled());
        assert_eq!(tp.to_string(), VALID);
        assert_eq!(tp.to_header_value(), VALID);
    }

    #[test]
    fn rejects_invalid_values() {
        let cases = [
            ("", TraceParentError::Malformed),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                TraceParentError::Malformed,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TraceParentError::InvalidVersion,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                TraceParentError::ZeroId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                TraceParentError::ZeroId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                TraceParentError::Malformed,
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TraceParentError::Malformed,
            ),
            (
                "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TraceParentError::Malformed,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(value.parse::<TraceParent>(), Err(expected), "{value}");
        }
    }

    #[test]
    fn accepts_future_versions_with_more_fields() {
        let tp: TraceParent =
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future"
                .parse()
                .expect("future version");
        assert_eq!(tp.flags, 1);
        assert!(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"
                .parse::<TraceParent>()
                .is_err()
        );
    }

    #[test]
    fn extract_ignores_duplicates_and_bad_state() {
        let mut headers = http::HeaderMap::new();
        assert!(TraceContext::extract(&headers).is_none());
        headers.insert("traceparent", HeaderValue::from_static(VALID));
        headers.insert("tracestate", HeaderValue::from_static("congo=t61rcWkgMzE"));
        let (tp, state) = TraceContext::extract(&headers).expect("valid");
        assert_eq!(tp.to_string(), VALID);
        assert_eq!(state.expect("state"), "congo=t61rcWkgMzE");
        headers.append("traceparent", HeaderValue::from_static(VALID));
        assert!(TraceContext::extract(&headers).is_none());
    }

    #[test]
    fn current_is_scoped() {
        assert!(TraceContext::current().is_none());
        let cx = TraceContext::new_root();
        let seen = cx.scope(TraceContext::current);
        assert_eq!(seen, Some(cx));
        assert!(TraceContext::current().is_none());
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(value in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = TraceParent::parse(&value);
        }

        #[test]
        fn never_panics_on_near_valid_strings(value in "[0-9a-fA-F-]{50,60}") {
            let _ = TraceParent::parse(value.as_bytes());
        }

        #[test]
        fn round_trips(trace in any::<u128>(), span in any::<u64>(), flags in any::<u8>()) {
            prop_assume!(trace != 0 && span != 0);
            let tp = TraceParent {
                trace_id: TraceId::from_bytes(trace.to_be_bytes()).expect("non-zero"),
                parent_id: SpanId::from_bytes(span.to_be_bytes()).expect("non-zero"),
                flags,
            };
            prop_assert_eq!(tp.to_string().parse::<TraceParent>(), Ok(tp));
        }
    }
}
