//! Which protocol a request speaks, and how each built-in rejection looks in it.

use std::time::Duration;

use axum::{body::Body, response::IntoResponse};
use http::{HeaderMap, HeaderValue, Request, Response, header};

use crate::{metrics, problem::Problem};

/// The protocol of a request, decided by its `content-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Anything that is not gRPC: served by the axum router.
    Http,
    /// `application/grpc` and `application/grpc+<codec>`.
    Grpc,
    /// `application/grpc-web` and `application/grpc-web+<codec>`.
    GrpcWeb,
    /// `application/grpc-web-text` and `application/grpc-web-text+<codec>` (base64 frames).
    GrpcWebText,
}

impl Protocol {
    pub(crate) fn of<B>(req: &Request<B>) -> Self {
        Self::from_headers(req.headers())
    }

    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        match headers.get(header::CONTENT_TYPE) {
            Some(ct) => Self::from_content_type(ct.as_bytes()),
            None => Self::Http,
        }
    }

    fn from_content_type(ct: &[u8]) -> Self {
        fn has_prefix(s: &[u8], prefix: &[u8]) -> bool {
            s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
        }
        // `application/grpc` must end there or continue with a codec (`+proto`) or parameters.
        fn ends_or_continues(rest: &[u8]) -> bool {
            matches!(rest.first(), None | Some(b'+' | b';' | b' '))
        }
        const GRPC: &[u8] = b"application/grpc";
        if !has_prefix(ct, GRPC) {
            return Self::Http;
        }
        let rest = &ct[GRPC.len()..];
        if ends_or_continues(rest) {
            return Self::Grpc;
        }
        if has_prefix(rest, b"-web-text") && ends_or_continues(&rest[b"-web-text".len()..]) {
            return Self::GrpcWebText;
        }
        if has_prefix(rest, b"-web") && ends_or_continues(&rest[b"-web".len()..]) {
            return Self::GrpcWeb;
        }
        Self::Http
    }

    pub(crate) fn is_grpc(self) -> bool {
        !matches!(self, Self::Http)
    }
}

/// A response the server itself produces instead of the application's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The request timeout (or the gRPC deadline) elapsed.
    Timeout,
    /// The concurrency limit was reached.
    Overloaded,
    /// A handler panicked.
    Panic,
    /// A user layer failed with an error that has no better mapping.
    Internal,
}

impl Rejection {
    /// The `reason` label of `core_backend.server.rejections`.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Overloaded => "overloaded",
            Self::Panic => "panic",
            Self::Internal => "internal",
        }
    }

    /// Counts the rejection and renders it for `protocol`.
    pub(crate) fn respond(self, protocol: Protocol) -> Response<Body> {
        metrics::rejection(self.reason());
        match protocol {
            Protocol::Http => self.problem().into_response(),
            Protocol::Grpc | Protocol::GrpcWeb | Protocol::GrpcWebText => {
                grpc_response(protocol, self.status())
            }
        }
    }

    fn problem(self) -> Problem {
        use http::StatusCode;
        match self {
            Self::Timeout => Problem::new(StatusCode::REQUEST_TIMEOUT)
                .with_detail("the request did not complete within the server's request timeout"),
            Self::Overloaded => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail("the server is at its concurrency limit; retry later"),
            Self::Panic => Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                .with_detail("the request handler failed unexpectedly"),
            Self::Internal => Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                .with_detail("the request could not be processed"),
        }
    }

    fn status(self) -> tonic::Status {
        match self {
            Self::Timeout => tonic::Status::deadline_exceeded("request deadline exceeded"),
            Self::Overloaded => tonic::Status::unavailable("server at its concurrency limit"),
            Self::Panic => tonic::Status::internal("request handler failed unexpectedly"),
            Self::Internal => tonic::Status::internal("request could not be processed"),
        }
    }
}

/// A trailers-only gRPC response (status in the headers), with the gRPC-Web content type when
/// the request was gRPC-Web so that browser clients can read it.
pub(crate) fn grpc_response(protocol: Protocol, status: tonic::Status) -> Response<Body> {
    let mut res: Response<Body> = status.into_http();
    let content_type = match protocol {
        Protocol::GrpcWeb => "application/grpc-web+proto",
        Protocol::GrpcWebText => "application/grpc-web-text+proto",
        Protocol::Http | Protocol::Grpc => return res,
    };
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// Parses the `grpc-timeout` header: 1 to 8 ASCII digits followed by one of `H M S m u n`.
/// Invalid values yield `None` and the server's own timeout applies.
pub(crate) fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.as_bytes();
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use proptest::prelude::*;

    use super::*;

    fn proto(ct: &str) -> Protocol {
        let req = Request::builder()
            .header("content-type", ct)
            .body(())
            .unwrap();
        Protocol::of(&req)
    }

    #[test]
    fn detects_protocols() {
        assert_eq!(proto("application/grpc"), Protocol::Grpc);
        assert_eq!(proto("application/grpc+proto"), Protocol::Grpc);
        assert_eq!(proto("Application/GRPC+json"), Protocol::Grpc);
        assert_eq!(proto("application/grpc-web"), Protocol::GrpcWeb);
        assert_eq!(proto("application/grpc-web+proto"), Protocol::GrpcWeb);
        assert_eq!(proto("application/grpc-web-text"), Protocol::GrpcWebText);
        assert_eq!(
            proto("application/grpc-web-text+proto"),
            Protocol::GrpcWebText
        );
        assert_eq!(proto("application/grpcx"), Protocol::Http);
        assert_eq!(proto("application/grpc-webx"), Protocol::Http);
        assert_eq!(proto("application/json"), Protocol::Http);
        assert_eq!(proto("text/plain"), Protocol::Http);
        assert_eq!(Protocol::of(&Request::new(())), Protocol::Http);
        assert!(Protocol::Grpc.is_grpc() && Protocol::GrpcWebText.is_grpc());
        assert!(!Protocol::Http.is_grpc());
    }

    fn timeout(v: &str) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert("grpc-timeout", HeaderValue::from_str(v).unwrap());
        grpc_timeout(&h)
    }

    #[test]
    fn parses_grpc_timeout() {
        assert_eq!(timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(timeout("99999999n"), Some(Duration::from_nanos(99_999_999)));
        assert_eq!(timeout("123456789S"), None);
        assert_eq!(timeout("S"), None);
        assert_eq!(timeout("10x"), None);
        assert_eq!(timeout("-1S"), None);
        assert_eq!(timeout(""), None);
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn rejections_render_per_protocol() {
        use http_body_util::BodyExt;

        let res = Rejection::Overloaded.respond(Protocol::Http);
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], 503);

        let res = Rejection::Timeout.respond(Protocol::Grpc);
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["grpc-status"], "4");
        assert_eq!(res.headers()["content-type"], "application/grpc");

        let res = Rejection::Panic.respond(Protocol::GrpcWeb);
        assert_eq!(res.headers()["grpc-status"], "13");
        assert_eq!(res.headers()["content-type"], "application/grpc-web+proto");

        let res = Rejection::Overloaded.respond(Protocol::GrpcWebText);
        assert_eq!(res.headers()["grpc-status"], "14");
        assert_eq!(
            res.headers()["content-type"],
            "application/grpc-web-text+proto"
        );

        let res = Rejection::Internal.respond(Protocol::Http);
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    proptest! {
        #[test]
        fn grpc_timeout_never_panics(v in "[ -~]{0,12}") {
            if let Ok(v) = HeaderValue::from_str(&v) {
                let mut h = HeaderMap::new();
                h.insert("grpc-timeout", v);
                let _ = grpc_timeout(&h);
            }
        }

        #[test]
        fn grpc_timeout_reads_valid_values(n in 0u64..100_000_000, unit in prop::sample::select(
            vec![('S', 1_000_000_000u64), ('m', 1_000_000), ('u', 1_000), ('n', 1)]
        )) {
            let (u, ns) = unit;
            prop_assert_eq!(timeout(&format!("{n}{u}")), Some(Duration::from_nanos(n * ns)));
        }

        #[test]
        fn content_type_detection_never_panics(ct in "[ -~]{0,40}") {
            if let Ok(v) = HeaderValue::from_str(&ct) {
                let mut h = HeaderMap::new();
                h.insert(header::CONTENT_TYPE, v);
                let _ = Protocol::from_headers(&h);
            }
        }
    }
}
