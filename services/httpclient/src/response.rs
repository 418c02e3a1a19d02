//! [`Response`]: a response with body helpers.

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, StatusCode, Version};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

use crate::{Body, Error};

/// How much of an error response's body [`Response::error_for_status`] keeps.
const SNIPPET_BYTES: usize = 512;

/// A response from [`RequestBuilder::send`](crate::RequestBuilder::send): status and headers
/// read, body not yet.
#[derive(Debug)]
pub struct Response {
    inner: http::Response<Body>,
    max_body: u64,
}

impl Response {
    pub(crate) fn new(inner: http::Response<Body>, max_body: u64) -> Self {
        Self { inner, max_body }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The extensions (for example tower-http's `RequestUri`, the URL after redirects).
    pub fn extensions(&self) -> &http::Extensions {
        self.inner.extensions()
    }

    /// The `http::Response`, for streaming the body yourself.
    pub fn into_inner(self) -> http::Response<Body> {
        self.inner
    }

    /// Fails with [`Error::Status`] (with the first 512 bytes of the body) on a 4xx or 5xx.
    pub async fn error_for_status(self) -> Result<Self, Error> {
        let status = self.status();
        if !(status.is_client_error() || status.is_server_error()) {
            return Ok(self);
        }
        let mut body = self.inner.into_body();
        let mut snippet = BytesMut::new();
        while snippet.len() < SNIPPET_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        snippet.extend_from_slice(&data);
                    }
                }
                // A broken error body does not hide the status.
                Some(Err(_)) | None => break,
            }
        }
        snippet.truncate(SNIPPET_BYTES);
        Err(Error::Status {
            status,
            body_snippet: String::from_utf8_lossy(&snippet).into_owned(),
        })
    }

    /// The whole body, at most the client's [`max_response_body`] bytes, else
    /// [`Error::TooLarge`].
    ///
    /// [`max_response_body`]: crate::HttpClientBuilder::max_response_body
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let limit = self.max_body;
        self.bytes_limited(limit).await
    }

    /// The whole body, at most `limit` bytes, else [`Error::TooLarge`].
    pub async fn bytes_limited(self, limit: u64) -> Result<Bytes, Error> {
        let declared = self
            .inner
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Err(Error::TooLarge { limit });
        }
        let cap = usize::try_from(limit).unwrap_or(usize::MAX);
        match Limited::new(self.inner.into_body(), cap).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) => Err(Error::from_body(error, limit)),
        }
    }

    /// The body as text (lossy UTF-8), within the size limit.
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(match String::from_utf8(bytes.to_vec()) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The body decoded as JSON, within the size limit; [`Error::Decode`] names where it failed.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        decode_json(&bytes)
    }
}

pub(crate) fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| Error::Decode {
        path: e.path().to_string(),
        source: e.into_inner(),
    })?;
    deserializer.end().map_err(|e| Error::Decode {
        path: ".".to_owned(),
        source: e,
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        id: u32,
    }

    #[test]
    fn decode_errors_name_the_path() {
        let error =
            decode_json::<Outer>(br#"{"items":[{"id":1},{"id":"x"}]}"#).expect_err("bad id");
        match error {
            Error::Decode { path, .. } => assert_eq!(path, "items[1].id"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            decode_json::<Outer>(br#"{"items":[]} x"#),
            Err(Error::Decode { .. })
        ));
    }

    #[tokio::test]
    async fn limits_and_snippets() {
        let response = Response::new(http::Response::new(Body::from(vec![b'a'; 100])), 10);
        assert!(matches!(
            response.bytes().await,
            Err(Error::TooLarge { limit: 10 })
        ));
        let mut inner = http::Response::new(Body::from(vec![b'b'; 2000]));
        *inner.status_mut() = StatusCode::BAD_GATEWAY;
        let error = Response::new(inner, 10)
            .error_for_status()
            .await
            .expect_err("502");
        match error {
            Error::Status {
                status,
                body_snippet,
            } => {
                assert_eq!(status, StatusCode::BAD_GATEWAY);
                assert_eq!(body_snippet.len(), SNIPPET_BYTES);
            }
            other => panic!("unexpected {other:?}"),
        }
        let ok = Response::new(http::Response::new(Body::from("hi")), 10);
        assert_eq!(
            ok.error_for_status()
                .await
                .expect("200")
                .text()
                .await
                .expect("text"),
            "hi"
        );
    }
}
