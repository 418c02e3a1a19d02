//! Deciding whether a call failed.

use http::Response;

use crate::Outcome;

/// Classifies a call's result for the breaker.
///
/// A single-method trait with a blanket impl for closures `Fn(&Result<Res, E>) -> Outcome`,
/// and ready-made classifiers: [`DefaultHttpClassifier`] (5xx and errors, which includes
/// timeouts from an inner `Timeout` layer), [`GrpcClassifier`] and [`ErrorClassifier`].
pub trait ClassifyFailure<Res, E> {
    /// The outcome of one call.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

impl<F, Res, E> ClassifyFailure<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Outcome,
{
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        self(result)
    }
}

/// Every `Err` is a failure, every `Ok` a success (for non-HTTP services).
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorClassifier;

impl<Res, E> ClassifyFailure<Res, E> for ErrorClassifier {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

/// HTTP: errors (connection failures, timeouts) and `5xx` responses are failures; anything
/// else — `4xx` included, which is the caller's fault, not the dependency's — is a success.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHttpClassifier;

impl<B, E> ClassifyFailure<Response<B>, E> for DefaultHttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Ok(res) if res.status().is_server_error() => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// gRPC: errors and the codes that mean "the server side is in trouble" — `UNKNOWN`,
/// `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS` — are
/// failures; `INVALID_ARGUMENT`, `NOT_FOUND` and the other caller-side codes are successes.
///
/// The code is read from the response headers (trailers-only responses, which is how a
/// failing call is answered); `http` 5xx responses (from a proxy) are failures too.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcClassifier;

impl<B, E> ClassifyFailure<Response<B>, E> for GrpcClassifier {
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        let Ok(res) = result else {
            return Outcome::Failure;
        };
        if res.status().is_server_error() {
            return Outcome::Failure;
        }
        let code = res
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u16>().ok());
        match code {
            Some(2 | 4 | 8 | 13 | 14 | 15) => Outcome::Failure,
            _ => Outcome::Success,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifiers() {
        let res = |s: u16, grpc: Option<&str>| {
            let mut b = Response::builder().status(s);
            if let Some(g) = grpc {
                b = b.header("grpc-status", g);
            }
            Ok::<_, ()>(b.body(()).unwrap())
        };
        assert_eq!(
            DefaultHttpClassifier.classify(&res(500, None)),
            Outcome::Failure
        );
        assert_eq!(
            DefaultHttpClassifier.classify(&res(404, None)),
            Outcome::Success
        );
        assert_eq!(
            ClassifyFailure::<Response<()>, ()>::classify(&DefaultHttpClassifier, &Err(())),
            Outcome::Failure
        );
        for code in ["2", "4", "8", "13", "14", "15"] {
            assert_eq!(
                GrpcClassifier.classify(&res(200, Some(code))),
                Outcome::Failure,
                "{code}"
            );
        }
        for code in ["0", "3", "5", "7", "16", "junk"] {
            assert_eq!(
                GrpcClassifier.classify(&res(200, Some(code))),
                Outcome::Success,
                "{code}"
            );
        }
        assert_eq!(GrpcClassifier.classify(&res(502, None)), Outcome::Failure);
        assert_eq!(
            ClassifyFailure::<Response<()>, ()>::classify(&GrpcClassifier, &Err(())),
            Outcome::Failure
        );
        assert_eq!(ErrorClassifier.classify(&Ok::<_, ()>(1)), Outcome::Success);
        assert_eq!(ErrorClassifier.classify(&Err::<(), _>(1)), Outcome::Failure);
        let custom = |r: &Result<u8, ()>| {
            if r == &Ok(0) {
                Outcome::Ignored
            } else {
                Outcome::Success
            }
        };
        assert_eq!(custom.classify(&Ok(0)), Outcome::Ignored);
    }
}
