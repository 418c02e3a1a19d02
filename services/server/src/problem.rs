//! RFC 9457 problem details: the body of every HTTP error this crate produces.

use std::fmt;

use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The media type of an RFC 9457 problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Member names RFC 9457 defines; extensions cannot overwrite them.
const RESERVED: [&str; 5] = ["type", "title", "status", "detail", "instance"];

/// An RFC 9457 problem document (`application/problem+json`).
///
/// Every HTTP rejection of the server (404, 405, 408, 413, 500, 503) is one of these, and handlers
/// can return it too, since it implements [`IntoResponse`]:
///
/// ```
/// use axum::{Router, routing::get};
/// use core_backend_server::Problem;
/// use http::StatusCode;
///
/// async fn handler() -> Result<&'static str, Problem> {
///     Err(Problem::new(StatusCode::CONFLICT)
///         .with_detail("a note with this title exists")
///         .with_extension("title_taken", true))
/// }
///
/// let app: Router = Router::new().route("/notes", get(handler));
/// ```
///
/// `type` defaults to `about:blank` and `title` to the status code's reason phrase, as RFC 9457
/// recommends for problems that carry no more meaning than the status code.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type", default = "about_blank")]
    type_uri: String,
    title: String,
    status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
    #[serde(flatten)]
    extensions: Map<String, Value>,
    #[serde(skip)]
    headers: HeaderMap,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

impl Problem {
    /// A problem for `status` with `type: about:blank` and the status' reason phrase as title.
    pub fn new(status: StatusCode) -> Self {
        Self {
            type_uri: about_blank(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            extensions: Map::new(),
            headers: HeaderMap::new(),
        }
    }

    /// Sets the `type` URI that identifies the problem type. Defaults to `about:blank`.
    pub fn with_type(mut self, type_uri: impl Into<String>) -> Self {
        self.type_uri = type_uri.into();
        self
    }

    /// Sets the short, human-readable `title`. Defaults to the status code's reason phrase.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets the `detail`: an explanation specific to this occurrence. Defaults to none.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the `instance` URI reference of this occurrence. Defaults to none.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Adds an extension member. Names RFC 9457 defines (`type`, `title`, `status`, `detail`,
    /// `instance`) are ignored so that an extension cannot contradict them. Defaults to none.
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if !RESERVED.contains(&name.as_str()) {
            self.extensions.insert(name, value.into());
        }
        self
    }

    /// Adds a response header, such as `Retry-After` or `Allow`. Defaults to none.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The HTTP status, or 500 if it was deserialized from an out-of-range number.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The `type` URI.
    pub fn type_uri(&self) -> &str {
        &self.type_uri
    }

    /// The `title`.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The `detail`, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The `instance`, if any.
    pub fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }

    /// The extension members.
    pub fn extensions(&self) -> &Map<String, Value> {
        &self.extensions
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings, numbers and a string-keyed map always serializes.
        serde_json::to_vec(self).unwrap_or_else(|_| {
            format!(
                r#"{{"type":"about:blank","title":"Error","status":{}}}"#,
                self.status
            )
            .into_bytes()
        })
    }
}

impl fmt::Debug for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Problem")
            .field("type", &self.type_uri)
            .field("title", &self.title)
            .field("status", &self.status)
            .field("detail", &self.detail)
            .field("instance", &self.instance)
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.to_json();
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = status;
        let headers = res.headers_mut();
        headers.extend(self.headers);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        res
    }
}

/// Shorthand for `Problem::new(status).with_title(title).with_detail(detail).into_response()`.
///
/// ```
/// use core_backend_server::problem;
/// use http::StatusCode;
///
/// let res = problem(StatusCode::NOT_FOUND, "Not Found", "no note with id 7");
/// assert_eq!(res.status(), StatusCode::NOT_FOUND);
/// assert_eq!(res.headers()["content-type"], "application/problem+json");
/// ```
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    Problem::new(status)
        .with_title(title)
        .with_detail(detail)
        .into_response()
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn body_json(res: Response) -> Value {
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn renders_rfc9457() {
        let res = Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
            .with_detail("request body exceeds 10 bytes")
            .with_instance("/upload")
            .with_extension("limit", 10)
            .with_extension("status", 999)
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("3"))
            .into_response();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(res.headers()[header::RETRY_AFTER], "3");
        let json = body_json(res).await;
        assert_eq!(
            json,
            serde_json::json!({
                "type": "about:blank",
                "title": "Payload Too Large",
                "status": 413,
                "detail": "request body exceeds 10 bytes",
                "instance": "/upload",
                "limit": 10,
            })
        );
    }

    #[tokio::test]
    async fn shorthand_sets_title_and_detail() {
        let json = body_json(problem(StatusCode::GONE, "Gone for good", "moved away")).await;
        assert_eq!(json["title"], "Gone for good");
        assert_eq!(json["detail"], "moved away");
        assert_eq!(json["status"], 410);
    }

    #[test]
    fn round_trips_through_serde() {
        let p = Problem::new(StatusCode::BAD_REQUEST)
            .with_type("https://example.com/probs/invalid")
            .with_extension("field", "title");
        let back: Problem = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.type_uri(), "https://example.com/probs/invalid");
        assert_eq!(back.extensions()["field"], "title");
        assert_eq!(back.to_string(), "400 Bad Request");
        let odd: Problem = serde_json::from_str(r#"{"title":"x","status":1000}"#).unwrap();
        assert_eq!(odd.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(odd.type_uri(), "about:blank");
    }
}
