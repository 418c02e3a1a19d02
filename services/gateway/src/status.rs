//! gRPC status ↔ HTTP status mapping, as `google.rpc.Code` documents it (and grpc-gateway
//! implements it).

use http::StatusCode;
use tonic::Code;

/// The HTTP status a gRPC status code maps to (the `google.rpc.Code` "HTTP Mapping", the same
/// table grpc-gateway uses).
///
/// ```
/// use core_backend_gateway::http_status_from_code;
/// use http::StatusCode;
/// use tonic::Code;
///
/// assert_eq!(http_status_from_code(Code::NotFound), StatusCode::NOT_FOUND);
/// assert_eq!(http_status_from_code(Code::Cancelled).as_u16(), 499);
/// assert_eq!(http_status_from_code(Code::FailedPrecondition), StatusCode::BAD_REQUEST);
/// ```
pub fn http_status_from_code(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // 499 "Client Closed Request" has no constant; the literal is valid.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The gRPC code an HTTP status maps to: the inverse of [`http_status_from_code`] where it is
/// one-to-one, and the `google.rpc.Code` documentation's choice where several codes share a
/// status (400 → `INVALID_ARGUMENT`, 409 → `ABORTED`, 500 → `INTERNAL`).
///
/// Statuses outside the table: other 2xx → `OK`, 408 → `DEADLINE_EXCEEDED`,
/// 412 → `FAILED_PRECONDITION`, 416 → `OUT_OF_RANGE`, other 4xx → `FAILED_PRECONDITION`,
/// 502 → `UNAVAILABLE`, other 5xx → `INTERNAL`, anything else → `UNKNOWN`.
///
/// ```
/// use core_backend_gateway::code_from_http_status;
/// use http::StatusCode;
/// use tonic::Code;
///
/// assert_eq!(code_from_http_status(StatusCode::NOT_FOUND), Code::NotFound);
/// assert_eq!(code_from_http_status(StatusCode::TOO_MANY_REQUESTS), Code::ResourceExhausted);
/// ```
pub fn code_from_http_status(status: StatusCode) -> Code {
    match status.as_u16() {
        200..=299 => Code::Ok,
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 | 504 => Code::DeadlineExceeded,
        409 => Code::Aborted,
        416 => Code::OutOfRange,
        429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        501 => Code::Unimplemented,
        502 | 503 => Code::Unavailable,
        402..=498 => Code::FailedPrecondition,
        500..=599 => Code::Internal,
        _ => Code::Unknown,
    }
}

/// The canonical upper-case name of a code (`NOT_FOUND`), as google.rpc spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The gRPC code for an HTTP status a gRPC server answered with instead of 200, per the gRPC
/// spec's "HTTP to gRPC Status Code Mapping" (transport-level failures, not application errors).
pub(crate) fn code_from_transport_status(status: StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    #[test]
    fn table_matches_google_rpc() {
        let expected = [
            200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
        ];
        for (code, status) in ALL.into_iter().zip(expected) {
            assert_eq!(http_status_from_code(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn reverse_mapping_round_trips_through_the_status() {
        for code in ALL {
            let status = http_status_from_code(code);
            assert_eq!(
                http_status_from_code(code_from_http_status(status)),
                status,
                "{code:?}"
            );
        }
        assert_eq!(
            code_from_http_status(StatusCode::IM_A_TEAPOT),
            Code::FailedPrecondition
        );
        assert_eq!(
            code_from_http_status(StatusCode::BAD_GATEWAY),
            Code::Unavailable
        );
        assert_eq!(
            code_from_http_status(StatusCode::HTTP_VERSION_NOT_SUPPORTED),
            Code::Internal
        );
        assert_eq!(
            code_from_http_status(StatusCode::MOVED_PERMANENTLY),
            Code::Unknown
        );
    }

    #[test]
    fn names_are_canonical() {
        for code in ALL {
            assert_eq!(
                code_name(code),
                format!("{code:?}").chars().fold(String::new(), |mut s, c| {
                    if c.is_uppercase() && !s.is_empty() {
                        s.push('_');
                    }
                    s.push(c.to_ascii_uppercase());
                    s
                })
            );
        }
        assert_eq!(
            code_from_transport_status(StatusCode::NOT_FOUND),
            Code::Unimplemented
        );
        assert_eq!(
            code_from_transport_status(StatusCode::IM_A_TEAPOT),
            Code::Unknown
        );
    }
}
