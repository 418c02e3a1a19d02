/// Decides which finished calls count as drops, the overload signal of the
/// [`LimitAlgorithm`](super::LimitAlgorithm)s.
///
/// Implemented for closures `Fn(Result<&Res, &E>) -> bool`, by [`DefaultClassifier`] (every
/// error is a drop) and by [`HttpClassifier`] (errors, `503` and gRPC `UNAVAILABLE`).
///
/// ```
/// use core_backend_worker::adaptive::{AdaptiveConcurrencyLayer, Aimd};
///
/// // Count only I/O errors as drops.
/// let layer = AdaptiveConcurrencyLayer::builder()
///     .algorithm(Aimd::default())
///     .classifier(|result: Result<&String, &std::io::Error>| result.is_err())
///     .build();
/// # drop(layer);
/// ```
pub trait ClassifyDrop<Res, E> {
    /// Whether this outcome signals overload.
    fn is_drop(&self, result: Result<&Res, &E>) -> bool;
}

impl<F, Res, E> ClassifyDrop<Res, E> for F
where
    F: Fn(Result<&Res, &E>) -> bool,
{
    fn is_drop(&self, result: Result<&Res, &E>) -> bool {
        self(result)
    }
}

/// Every error is a drop; every response is a success. Timeouts count when a timeout layer
/// sits inside the adaptive layer (its `Elapsed` is an error).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl<Res, E> ClassifyDrop<Res, E> for DefaultClassifier {
    fn is_drop(&self, result: Result<&Res, &E>) -> bool {
        result.is_err()
    }
}

/// For `http::Response`s: an error, a `503 Service Unavailable`, a `429 Too Many Requests`, or a
/// gRPC `UNAVAILABLE` (14) / `RESOURCE_EXHAUSTED` (8) `grpc-status` in the response headers
/// (trailers-only responses, which is how servers send immediate rejections) is a drop.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpClassifier;

impl<B, E> ClassifyDrop<http::Response<B>, E> for HttpClassifier {
    fn is_drop(&self, result: Result<&http::Response<B>, &E>) -> bool {
        let Ok(response) = result else { return true };
        let status = response.status();
        if status == http::StatusCode::SERVICE_UNAVAILABLE
            || status == http::StatusCode::TOO_MANY_REQUESTS
        {
            return true;
        }
        matches!(
            response
                .headers()
                .get("grpc-status")
                .map(http::HeaderValue::as_bytes),
            Some(b"14" | b"8")
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::ignored_unit_patterns)]
mod tests {
    use super::*;

    fn resp(status: u16, grpc: Option<&str>) -> http::Response<()> {
        let mut r = http::Response::builder().status(status);
        if let Some(g) = grpc {
            r = r.header("grpc-status", g);
        }
        r.body(()).unwrap()
    }

    #[test]
    fn http_classifier() {
        let c = HttpClassifier;
        let is_drop = |r: &http::Response<()>| ClassifyDrop::<_, ()>::is_drop(&c, Ok(r));
        assert!(!is_drop(&resp(200, None)));
        assert!(!is_drop(&resp(500, None)));
        assert!(!is_drop(&resp(404, None)));
        assert!(is_drop(&resp(503, None)));
        assert!(is_drop(&resp(429, None)));
        assert!(is_drop(&resp(200, Some("14"))));
        assert!(is_drop(&resp(200, Some("8"))));
        assert!(!is_drop(&resp(200, Some("0"))));
        assert!(!is_drop(&resp(200, Some("5"))));
        assert!(ClassifyDrop::<http::Response<()>, &str>::is_drop(
            &c,
            Err(&"boom")
        ));
    }

    #[test]
    fn default_classifier_and_closures() {
        assert!(ClassifyDrop::<u8, u8>::is_drop(&DefaultClassifier, Err(&1)));
        assert!(!ClassifyDrop::<u8, u8>::is_drop(&DefaultClassifier, Ok(&1)));
        let slow = |r: Result<&u32, &()>| matches!(r, Ok(v) if *v > 10);
        assert!(slow.is_drop(Ok(&11)));
        assert!(!slow.is_drop(Err(&())));
    }
}
