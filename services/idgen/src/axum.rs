//! axum support: an id path extractor with RFC 9457 rejections.

use std::fmt;
use std::str::FromStr;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};

use crate::error::ParseIdError;

/// Extracts an id ([`Uuid`](crate::Uuid), [`Ulid`](crate::Ulid), [`SnowflakeId`](crate::SnowflakeId))
/// from a route with one path parameter, answering a malformed id with `400 Bad Request` and an
/// RFC 9457 `application/problem+json` body.
///
/// `axum::extract::Path<Ulid>` works without this (ids are serde strings) and answers with a
/// plain-text 400; use `IdPath` where the service speaks problem+json. For routes with several
/// parameters use `Path<(Ulid, Ulid)>` or a struct.
///
/// ```
/// use axum::{Router, routing::get};
/// use core_backend_idgen::{IdPath, Ulid};
///
/// async fn get_note(IdPath(id): IdPath<Ulid>) -> String {
///     format!("note {id} from {:?}", id.timestamp())
/// }
///
/// let app: Router = Router::new().route("/notes/{id}", get(get_note));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdPath<T>(pub T);

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    S: Send + Sync,
    T: FromStr<Err = ParseIdError> + Send,
{
    type Rejection = IdPathRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IdPathRejection::Path)?;
        raw.parse().map(IdPath).map_err(IdPathRejection::InvalidId)
    }
}

/// Why [`IdPath`] rejected a request. Answers with an RFC 9457 problem+json body.
#[derive(Debug)]
#[non_exhaustive]
pub enum IdPathRejection {
    /// The path segment is not a valid id: `400 Bad Request`.
    InvalidId(ParseIdError),
    /// The route has no single path parameter, or it is not valid UTF-8 (axum's own rejection;
    /// its status is kept).
    Path(PathRejection),
}

impl IdPathRejection {
    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidId(_) => StatusCode::BAD_REQUEST,
            Self::Path(rejection) => rejection.status(),
        }
    }
}

impl fmt::Display for IdPathRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidId(e) => fmt::Display::fmt(e, f),
            Self::Path(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for IdPathRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidId(e) => Some(e),
            Self::Path(e) => Some(e),
        }
    }
}

impl IntoResponse for IdPathRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            Self::InvalidId(e) => e.to_string(),
            Self::Path(e) => e.body_text(),
        };
        let body = serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        let mut response = (status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::Ulid;

    #[test]
    fn rejection_reports_its_cause() {
        let Err(parse) = "x".parse::<Ulid>() else {
            panic!("parsed")
        };
        let rejection = IdPathRejection::InvalidId(parse);
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
        assert_eq!(rejection.to_string(), parse.to_string());
        assert!(rejection.source().is_some());
        let response = rejection.into_response();
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/problem+json"))
        );
    }
}
