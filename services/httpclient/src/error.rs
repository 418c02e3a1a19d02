//! The error type callers match on.

use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;

use crate::BoxError;

/// Which time limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Establishing the connection (TCP connect and, with TLS, the handshake).
    Connect,
    /// One attempt: from sending the request to receiving the response head.
    Attempt,
    /// The whole call: every redirect and retry, and reading the response body.
    Total,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Attempt => "attempt",
            Self::Total => "total",
        })
    }
}

/// Everything that can go wrong with a call.
///
/// Errors raised by a layer you added with [`layer`](crate::HttpClientBuilder::layer)
/// (a circuit breaker's `CircuitOpen`, a rate limiter's `RateLimited`, …) arrive as
/// [`Error::Other`] and stay reachable with [`Error::downcast_ref`] or through
/// [`source`](std::error::Error::source).
///
/// Inside the stack the client's own failures travel as a boxed [`Error`], so a retry policy or
/// a breaker classifier written as a user layer can `err.downcast_ref::<Error>()` and match the
/// kind (for example retry on [`Error::Timeout`] with [`TimeoutPhase::Attempt`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection could not be established (DNS, refused, TLS handshake).
    #[error("connect error: {source}")]
    Connect {
        /// The connector's error.
        source: BoxError,
    },
    /// An established connection failed before a response head arrived (reset, closed,
    /// protocol error).
    #[error("connection error: {source}")]
    Connection {
        /// Hyper's error.
        source: BoxError,
    },
    /// A time limit ran out.
    #[error("{phase} timeout elapsed")]
    Timeout {
        /// Which limit.
        phase: TimeoutPhase,
    },
    /// The response had a 4xx or 5xx status (from
    /// [`Response::error_for_status`](crate::Response::error_for_status)).
    #[error("http status {status}: {body_snippet}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The start of the response body (lossy UTF-8, at most 512 bytes).
        body_snippet: String,
    },
    /// Reading the response body failed (connection reset mid-body, bad compression).
    #[error("error reading the response body: {source}")]
    Body {
        /// The underlying error.
        source: BoxError,
    },
    /// The response body was not the JSON that was expected.
    #[error("invalid JSON at `{path}`: {source}")]
    Decode {
        /// Where in the document it failed (`items[2].id`, `.` for the root).
        path: String,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// The response body was larger than the allowed maximum.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The maximum in bytes.
        limit: u64,
    },
    /// More redirects than allowed.
    #[error("too many redirects (limit {limit})")]
    Redirect {
        /// The maximum number of redirects.
        limit: usize,
    },
    /// The URL could not be used.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request could not be built: a bad header name or value, or a query or JSON body
    /// that did not serialise.
    #[error("invalid request: {source}")]
    InvalidRequest {
        /// The underlying error.
        source: BoxError,
    },
    /// Any other error, typically raised by a user layer; see [`Error::downcast_ref`].
    #[error("{0}")]
    Other(#[source] BoxError),
}

impl Error {
    /// Turns an error that came out of the stack into the typed error: one of ours is unboxed,
    /// anything else becomes [`Error::Other`].
    pub fn from_boxed(error: BoxError) -> Self {
        match error.downcast::<Self>() {
            Ok(error) => *error,
            Err(other) => Self::Other(other),
        }
    }

    /// Searches this error and its [`source`](std::error::Error::source) chain for a `T`.
    ///
    /// ```
    /// use core_backend_httpclient::Error;
    ///
    /// #[derive(Debug)]
    /// struct CircuitOpen;
    /// impl std::fmt::Display for CircuitOpen {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("circuit open")
    ///     }
    /// }
    /// impl std::error::Error for CircuitOpen {}
    ///
    /// let error = Error::from_boxed(Box::new(CircuitOpen));
    /// assert!(error.downcast_ref::<CircuitOpen>().is_some());
    /// ```
    pub fn downcast_ref<T: StdError + 'static>(&self) -> Option<&T> {
        let mut next: Option<&(dyn StdError + 'static)> = match self {
            Self::Other(error) => Some(error.as_ref()),
            other => other.source(),
        };
        while let Some(error) = next {
            if let Some(found) = error.downcast_ref::<T>() {
                return Some(found);
            }
            next = error.source();
        }
        None
    }

    /// Whether a time limit ran out, in any phase.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// The status of an [`Error::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A short label for metrics.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect_error",
            Self::Connection { .. } => "connection_error",
            Self::Timeout { .. } => "timeout",
            Self::Status { .. } => "status_error",
            Self::Body { .. } => "body_error",
            Self::Decode { .. } => "decode_error",
            Self::TooLarge { .. } => "too_large",
            Self::Redirect { .. } => "redirect_error",
            Self::InvalidUrl { .. } => "invalid_url",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Other(_) => "other_error",
        }
    }

    /// Maps an error of the hyper-util client to a typed error.
    pub(crate) fn from_hyper(error: hyper_util::client::legacy::Error) -> Self {
        // The connector's own typed errors (the connect timeout) travel inside hyper-util's error.
        let mut next = error.source();
        while let Some(inner) = next {
            if let Some(Self::Timeout { phase }) = inner.downcast_ref::<Self>() {
                return Self::Timeout { phase: *phase };
            }
            next = inner.source();
        }
        if error.is_connect() {
            Self::Connect {
                source: Box::new(error),
            }
        } else {
            Self::Connection {
                source: Box::new(error),
            }
        }
    }

    /// Maps an error raised while reading a body at most `limit` bytes long.
    pub(crate) fn from_body(error: BoxError, limit: u64) -> Self {
        match error.downcast::<Self>() {
            Ok(error) => *error,
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                Self::TooLarge { limit }
            }
            Err(error) => Self::Body { source: error },
        }
    }

    pub(crate) fn invalid_url(url: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidUrl {
            url: url.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_errors_unbox_and_foreign_ones_stay_reachable() {
        let boxed: BoxError = Box::new(Error::Timeout {
            phase: TimeoutPhase::Attempt,
        });
        assert!(matches!(
            Error::from_boxed(boxed),
            Error::Timeout {
                phase: TimeoutPhase::Attempt
            }
        ));
        let io = std::io::Error::other("boom");
        let error = Error::from_boxed(Box::new(io));
        assert!(error.downcast_ref::<std::io::Error>().is_some());
        assert!(error.source().is_some());
        assert_eq!(error.outcome(), "other_error");
        assert_eq!(error.to_string(), "boom");
    }

    #[test]
    fn displays_are_lowercase_and_informative() {
        let error = Error::Timeout {
            phase: TimeoutPhase::Connect,
        };
        assert_eq!(error.to_string(), "connect timeout elapsed");
        assert!(error.is_timeout());
        let error = Error::Status {
            status: StatusCode::NOT_FOUND,
            body_snippet: "nope".into(),
        };
        assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
        assert_eq!(error.to_string(), "http status 404 Not Found: nope");
        assert_eq!(
            Error::Redirect { limit: 3 }.to_string(),
            "too many redirects (limit 3)"
        );
    }
}
