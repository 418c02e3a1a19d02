//! Deciding whether an attempt's result should be retried.

use std::time::Duration;

use http::{HeaderMap, Response, StatusCode};

use crate::retry_after::{grpc_pushback, retry_after};

/// The verdict of a [`Classify`] on one attempt's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Return this result to the caller (a success, or a failure that retrying won't fix).
    DontRetry,
    /// A transient failure: retry after the backoff delay.
    Retry,
    /// A transient failure and the server said when to come back (`Retry-After`,
    /// `grpc-retry-pushback-ms`): retry after this delay instead of the backoff delay.
    RetryAfter(Duration),
}

/// Classifies the result of one attempt.
///
/// A single-method trait with a blanket impl for closures
/// `Fn(&Result<Res, E>) -> RetryDecision`, and ready-made classifiers:
/// [`DefaultHttpClassifier`], [`GrpcClassifier`] and [`ErrorPredicate`] (for any
/// `Result<T, E>`).
///
/// ```
/// use core_backend_retry::{Classify, RetryDecision};
///
/// // Retry `Err("busy")`, nothing else.
/// let classify = |r: &Result<u32, &'static str>| match r {
///     Err("busy") => RetryDecision::Retry,
///     _ => RetryDecision::DontRetry,
/// };
/// assert_eq!(classify.classify(&Err("busy")), RetryDecision::Retry);
/// assert_eq!(classify.classify(&Ok(1)), RetryDecision::DontRetry);
/// ```
pub trait Classify<Res, E> {
    /// Classifies one attempt's result.
    fn classify(&self, result: &Result<Res, E>) -> RetryDecision;
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> RetryDecision,
{
    fn classify(&self, result: &Result<Res, E>) -> RetryDecision {
        self(result)
    }
}

/// HTTP classifier: retries transport errors, `408`, `429`, `502`, `503` and `504`, honouring
/// `Retry-After` on any of them.
///
/// Only requests that may be replayed reach the classifier at all: by default only
/// idempotent methods (see [`HttpReplay`](crate::HttpReplay)).
///
/// ```
/// use core_backend_retry::{Classify, DefaultHttpClassifier, RetryDecision};
/// use std::time::Duration;
///
/// let c = DefaultHttpClassifier::new().retry_status(http::StatusCode::INTERNAL_SERVER_ERROR);
/// let r = http::Response::builder().status(503).header("retry-after", "2").body(()).unwrap();
/// assert_eq!(c.classify(&Ok::<_, ()>(r)), RetryDecision::RetryAfter(Duration::from_secs(2)));
/// let r = http::Response::builder().status(404).body(()).unwrap();
/// assert_eq!(c.classify(&Ok::<_, ()>(r)), RetryDecision::DontRetry);
/// ```
#[derive(Debug, Clone)]
pub struct DefaultHttpClassifier {
    // Bit `i` set = status `100 + i` is retryable (covers 100..=611).
    statuses: [u64; 8],
    retry_errors: bool,
}

impl Default for DefaultHttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl DefaultHttpClassifier {
    /// The default set: errors, 408, 429, 502, 503, 504.
    pub fn new() -> Self {
        let mut this = Self {
            statuses: [0; 8],
            retry_errors: true,
        };
        for s in [408, 429, 502, 503, 504] {
            this.set(s, true);
        }
        this
    }

    fn set(&mut self, status: u16, on: bool) {
        let i = usize::from(status.saturating_sub(100));
        if let Some(word) = self.statuses.get_mut(i / 64) {
            if on {
                *word |= 1 << (i % 64);
            } else {
                *word &= !(1 << (i % 64));
            }
        }
    }

    /// Whether `status` is retried.
    pub fn is_retryable(&self, status: StatusCode) -> bool {
        let i = usize::from(status.as_u16().saturating_sub(100));
        self.statuses
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Also retries `status`. Defaults to 408, 429, 502, 503, 504.
    pub fn retry_status(mut self, status: StatusCode) -> Self {
        self.set(status.as_u16(), true);
        self
    }

    /// Stops retrying `status`. Defaults to 408, 429, 502, 503, 504 being retried.
    pub fn no_retry_status(mut self, status: StatusCode) -> Self {
        self.set(status.as_u16(), false);
        self
    }

    /// Whether transport errors (connect refused, reset, timeouts) are retried. Defaults to `true`.
    pub fn retry_errors(mut self, yes: bool) -> Self {
        self.retry_errors = yes;
        self
    }
}

impl<B, E> Classify<Response<B>, E> for DefaultHttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<Response<B>, E>) -> RetryDecision {
        match result {
            Ok(res) if self.is_retryable(res.status()) => match retry_after(res.headers()) {
                Some(after) => RetryDecision::RetryAfter(after),
                None => RetryDecision::Retry,
            },
            Err(_) if self.retry_errors => RetryDecision::Retry,
            Ok(_) | Err(_) => RetryDecision::DontRetry,
        }
    }
}

/// gRPC status codes as carried in the `grpc-status` header.
mod code {
    pub(super) const DEADLINE_EXCEEDED: u16 = 4;
    pub(super) const RESOURCE_EXHAUSTED: u16 = 8;
    pub(super) const UNAVAILABLE: u16 = 14;
}

/// gRPC classifier for `http::Response`s of a tonic `Channel` (or any gRPC transport).
///
/// | `grpc-status` | decision |
/// |---|---|
/// | `UNAVAILABLE` (14) | retry (after `grpc-retry-pushback-ms` if present) |
/// | `RESOURCE_EXHAUSTED` (8) | retry **only** with `grpc-retry-pushback-ms` or `Retry-After` |
/// | `DEADLINE_EXCEEDED` (4) | retry only if [`retry_deadline_exceeded`](Self::retry_deadline_exceeded) |
/// | anything else (`INVALID_ARGUMENT`, `NOT_FOUND`, …) | never |
/// | transport error | retry (the call never reached a handler, or failed in flight) |
///
/// A malformed (e.g. negative) `grpc-retry-pushback-ms` means "do not retry" (gRFC A6).
///
/// The status is read from the response *headers*, i.e. from "trailers-only" responses, which is
/// how servers (tonic included) answer a call that fails before any message. A status that
/// arrives in trailers after a streamed message can't be seen without consuming the body and is
/// never retried.
#[derive(Debug, Clone, Default)]
pub struct GrpcClassifier {
    retry_deadline_exceeded: bool,
}

impl GrpcClassifier {
    /// The default classifier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `DEADLINE_EXCEEDED` is retried. Defaults to `false` (the deadline is usually the
    /// caller's, and a retry would exceed it again).
    pub fn retry_deadline_exceeded(mut self, yes: bool) -> Self {
        self.retry_deadline_exceeded = yes;
        self
    }

    fn decide(&self, headers: &HeaderMap) -> RetryDecision {
        let Some(code) = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u16>().ok())
        else {
            return RetryDecision::DontRetry;
        };
        let pushback_header = headers.contains_key("grpc-retry-pushback-ms");
        let pushback = grpc_pushback(headers).or_else(|| retry_after(headers));
        if pushback_header && pushback.is_none() {
            return RetryDecision::DontRetry;
        }
        let retry = match code {
            code::UNAVAILABLE => true,
            code::RESOURCE_EXHAUSTED => pushback.is_some(),
            code::DEADLINE_EXCEEDED => self.retry_deadline_exceeded,
            _ => false,
        };
        match (retry, pushback) {
            (false, _) => RetryDecision::DontRetry,
            (true, Some(after)) => RetryDecision::RetryAfter(after),
            (true, None) => RetryDecision::Retry,
        }
    }
}

impl<B, E> Classify<Response<B>, E> for GrpcClassifier {
    fn classify(&self, result: &Result<Response<B>, E>) -> RetryDecision {
        match result {
            Ok(res) => self.decide(res.headers()),
            Err(_) => RetryDecision::Retry,
        }
    }
}

/// Classifier for any `Result<T, E>`: retries the errors for which the predicate holds; `Ok` is
/// never retried.
///
/// ```
/// use core_backend_retry::{Classify, ErrorPredicate, RetryDecision};
///
/// let c = ErrorPredicate::new(|e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionReset);
/// let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
/// assert_eq!(c.classify(&Err::<(), _>(reset)), RetryDecision::Retry);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorPredicate<F>(F);

impl<F> ErrorPredicate<F> {
    /// Retries the errors for which `predicate` returns `true`.
    pub fn new(predicate: F) -> Self {
        Self(predicate)
    }
}

impl<F, T, E> Classify<T, E> for ErrorPredicate<F>
where
    F: Fn(&E) -> bool,
{
    fn classify(&self, result: &Result<T, E>) -> RetryDecision {
        match result {
            Err(e) if (self.0)(e) => RetryDecision::Retry,
            _ => RetryDecision::DontRetry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)]
    fn grpc(code: &str, extra: &[(&'static str, &'static str)]) -> Result<Response<()>, ()> {
        let mut b = Response::builder().header("grpc-status", code);
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        Ok(b.body(()).unwrap())
    }

    #[test]
    fn grpc_codes() {
        let c = GrpcClassifier::new();
        assert_eq!(c.classify(&grpc("14", &[])), RetryDecision::Retry);
        assert_eq!(
            c.classify(&grpc("14", &[("grpc-retry-pushback-ms", "20")])),
            RetryDecision::RetryAfter(Duration::from_millis(20))
        );
        assert_eq!(
            c.classify(&grpc("14", &[("grpc-retry-pushback-ms", "-1")])),
            RetryDecision::DontRetry
        );
        assert_eq!(c.classify(&grpc("8", &[])), RetryDecision::DontRetry);
        assert_eq!(
            c.classify(&grpc("8", &[("retry-after", "1")])),
            RetryDecision::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(c.classify(&grpc("4", &[])), RetryDecision::DontRetry);
        assert_eq!(
            c.clone()
                .retry_deadline_exceeded(true)
                .classify(&grpc("4", &[])),
            RetryDecision::Retry
        );
        for code in ["0", "3", "5", "13", "16", "x", ""] {
            assert_eq!(
                c.classify(&grpc(code, &[])),
                RetryDecision::DontRetry,
                "{code}"
            );
        }
        assert_eq!(
            c.classify(&Ok::<_, ()>(Response::new(()))),
            RetryDecision::DontRetry
        );
        assert_eq!(
            Classify::<Response<()>, ()>::classify(&c, &Err(())),
            RetryDecision::Retry
        );
    }

    #[test]
    fn http_statuses() {
        let c = DefaultHttpClassifier::new();
        let st = |s: u16| Ok::<_, ()>(Response::builder().status(s).body(()).unwrap());
        for s in [408, 429, 502, 503, 504] {
            assert_eq!(c.classify(&st(s)), RetryDecision::Retry, "{s}");
        }
        for s in [200, 201, 400, 404, 500, 501, 599] {
            assert_eq!(c.classify(&st(s)), RetryDecision::DontRetry, "{s}");
        }
        let c2 = c.clone().no_retry_status(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(c2.classify(&st(429)), RetryDecision::DontRetry);
        assert_eq!(
            Classify::<Response<()>, ()>::classify(&c, &Err(())),
            RetryDecision::Retry
        );
        assert_eq!(
            Classify::<Response<()>, ()>::classify(&c.retry_errors(false), &Err(())),
            RetryDecision::DontRetry
        );
    }
}
