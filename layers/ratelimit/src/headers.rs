//! The IETF `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-10)
//! and the rejection responses.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};

use crate::quota::ceil_secs;
use crate::{Decision, Quota, RateLimitBody};

/// `RateLimit-Policy`: every policy that applied to the request.
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: the live state of the most restrictive policy.
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// One limit's result for one request.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub(crate) name: Arc<str>,
    pub(crate) quota: Quota,
    pub(crate) decision: Decision,
}

/// The two header values for a set of applied limits.
#[derive(Debug, Clone)]
pub(crate) struct HeaderBlock {
    policy: HeaderValue,
    state: HeaderValue,
}

/// Writes `name` as a structured-field string (printable ASCII; `"` and `\` escaped).
fn sf_string(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('_'),
        }
    }
    out.push('"');
}

fn secs(d: Duration) -> u64 {
    ceil_secs(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The most restrictive result: a denial, else the fewest remaining, then the longest reset.
pub(crate) fn most_restrictive(applied: &[Applied]) -> Option<&Applied> {
    applied.iter().min_by_key(|a| {
        (
            a.decision.is_allowed(),
            a.decision.remaining(),
            std::cmp::Reverse(a.decision.reset()),
        )
    })
}

impl HeaderBlock {
    pub(crate) fn new(applied: &[Applied]) -> Option<Self> {
        let worst = most_restrictive(applied)?;
        let mut policy = String::new();
        for (i, a) in applied.iter().enumerate() {
            if i > 0 {
                policy.push_str(", ");
            }
            sf_string(&mut policy, &a.name);
            let (q, w) = a.quota.policy();
            let _ = write!(policy, ";q={q};w={w}");
        }
        let mut state = String::new();
        sf_string(&mut state, &worst.name);
        let _ = write!(
            state,
            ";r={};t={}",
            worst.decision.remaining(),
            secs(worst.decision.reset())
        );
        Some(Self {
            policy: HeaderValue::try_from(policy).ok()?,
            state: HeaderValue::try_from(state).ok()?,
        })
    }

    pub(crate) fn apply(&self, headers: &mut http::HeaderMap) {
        headers.insert(RATELIMIT_POLICY.clone(), self.policy.clone());
        headers.insert(RATELIMIT.clone(), self.state.clone());
    }
}

/// Seconds for `Retry-After`: rounded up, at least 1 (0 would invite an immediate retry).
pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    secs(d).max(1)
}

fn problem(status: StatusCode, detail: &str, retry_after: u64, limit: Option<&str>) -> Bytes {
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "retry_after": retry_after,
    });
    if let (Some(limit), Some(map)) = (limit, body.as_object_mut()) {
        map.insert("limit".to_owned(), limit.into());
    }
    Bytes::from(body.to_string())
}

/// gRPC `grpc-message`: percent-encode everything outside printable ASCII and `%`.
fn grpc_message(msg: &str) -> HeaderValue {
    let mut out = String::with_capacity(msg.len());
    for b in msg.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    HeaderValue::try_from(out).unwrap_or_else(|_| HeaderValue::from_static("rate limited"))
}

/// How a rejection is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Http,
    Grpc,
}

/// The response for a denied request.
pub(crate) fn rejection<B>(
    wire: Wire,
    limit: &str,
    retry_after: Duration,
    block: Option<&HeaderBlock>,
) -> Response<RateLimitBody<B>> {
    let secs = retry_after_secs(retry_after);
    let detail = format!("rate limit \"{limit}\" exceeded; retry after {secs} s");
    let mut res = match wire {
        Wire::Http => {
            let mut res = Response::new(RateLimitBody::full(problem(
                StatusCode::TOO_MANY_REQUESTS,
                &detail,
                secs,
                Some(limit),
            )));
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            res
        }
        Wire::Grpc => grpc_trailers_only(8, &detail),
    };
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    if let Some(block) = block {
        block.apply(res.headers_mut());
    }
    res
}

/// The response for a request refused because the store failed (fail-closed).
pub(crate) fn store_unavailable<B>(wire: Wire) -> Response<RateLimitBody<B>> {
    let detail = "rate limit store unavailable";
    let mut res = match wire {
        Wire::Http => {
            let mut res = Response::new(RateLimitBody::full(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                detail,
                1,
                None,
            )));
            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            res
        }
        Wire::Grpc => grpc_trailers_only(14, detail),
    };
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// A gRPC "trailers-only" response: HTTP 200 whose headers carry the status.
fn grpc_trailers_only<B>(code: u16, message: &str) -> Response<RateLimitBody<B>> {
    let mut res = Response::new(RateLimitBody::full(Bytes::new()));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(code));
    h.insert("grpc-message", grpc_message(message));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(name: &str, quota: Quota, decision: Decision) -> Applied {
        Applied {
            name: name.into(),
            quota,
            decision,
        }
    }

    #[test]
    fn fields_list_policies_and_report_the_most_restrictive() {
        let a = [
            applied(
                "per-second",
                Quota::per_second(10).burst(20),
                Decision::allowed(19, Duration::from_millis(100)),
            ),
            applied(
                "per-day",
                Quota::per_day(1000),
                Decision::allowed(3, Duration::from_secs(3600)),
            ),
        ];
        let block = HeaderBlock::new(&a).unwrap();
        let mut h = http::HeaderMap::new();
        block.apply(&mut h);
        assert_eq!(
            h["ratelimit-policy"],
            r#""per-second";q=20;w=2, "per-day";q=1000;w=86400"#
        );
        assert_eq!(h["ratelimit"], r#""per-day";r=3;t=3600"#);
        assert!(HeaderBlock::new(&[]).is_none());
    }

    #[test]
    fn names_are_escaped() {
        let mut s = String::new();
        sf_string(&mut s, "a\"b\\c\u{e9}");
        assert_eq!(s, r#""a\"b\\c_""#);
        assert_eq!(grpc_message("50% off é"), "50%25 off %C3%A9");
    }

    #[test]
    fn rejections() {
        let res = rejection::<()>(Wire::Http, "x", Duration::from_millis(1), None);
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "1");
        let res = rejection::<()>(Wire::Grpc, "x", Duration::from_millis(2500), None);
        assert_eq!(res.headers()["grpc-status"], "8");
        assert_eq!(res.headers()["retry-after"], "3");
        assert_eq!(store_unavailable::<()>(Wire::Http).status(), 503);
        assert_eq!(
            store_unavailable::<()>(Wire::Grpc).headers()["grpc-status"],
            "14"
        );
    }
}
