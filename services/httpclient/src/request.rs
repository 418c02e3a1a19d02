//! [`RequestBuilder`]: one request, built step by step.

use std::fmt;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use serde::Serialize;

use crate::{Body, Error, HttpClient, Response};

/// A request being built; from [`HttpClient::get`] and friends. Errors (a bad header, a query
/// that does not serialise) are kept and reported by [`send`](Self::send).
///
/// ```no_run
/// # async fn run(client: core_backend_httpclient::HttpClient) -> Result<(), core_backend_httpclient::Error> {
/// #[derive(serde::Deserialize)]
/// struct Page { items: Vec<String> }
///
/// let page: Page = client
///     .get("items")
///     .query(&[("limit", "10")])
///     .bearer_auth("s3cr3t")
///     .send()
///     .await?
///     .error_for_status()
///     .await?
///     .json()
///     .await?;
/// # Ok(()) }
/// ```
pub struct RequestBuilder {
    client: HttpClient,
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Body,
    error: Option<Error>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers are left out: they may hold credentials.
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    pub(crate) fn new(client: HttpClient, method: Method, uri: &str) -> Self {
        Self {
            client,
            method,
            uri: uri.to_owned(),
            headers: HeaderMap::new(),
            body: Body::empty(),
            error: None,
        }
    }

    fn fail(&mut self, error: Error) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// Adds a header (several values of one name are all sent).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        let name = HeaderName::try_from(name).map_err(Into::into);
        let value = HeaderValue::try_from(value).map_err(Into::into);
        match (name, value) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            (Err(e), _) | (_, Err(e)) => self.fail(Error::InvalidRequest {
                source: Box::new(e),
            }),
        }
        self
    }

    /// Adds all these headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in &headers {
            self.headers.append(name.clone(), value.clone());
        }
        self
    }

    /// Sets `Authorization: Bearer <token>`, marked sensitive so it is never logged.
    pub fn bearer_auth(mut self, token: &str) -> Self {
        match HeaderValue::try_from(format!("Bearer {token}")) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(AUTHORIZATION, value);
            }
            Err(e) => self.fail(Error::InvalidRequest {
                source: Box::new(e),
            }),
        }
        self
    }

    /// Appends `query` (anything `serde_urlencoded` serialises: a struct, a map, a slice of
    /// pairs) to the URL's query string.
    pub fn query<T: Serialize + ?Sized>(mut self, query: &T) -> Self {
        match serde_urlencoded::to_string(query) {
            Ok(encoded) if encoded.is_empty() => {}
            Ok(encoded) => {
                let (without_fragment, fragment) = match self.uri.split_once('#') {
                    Some((uri, fragment)) => (uri.to_owned(), Some(fragment.to_owned())),
                    None => (self.uri.clone(), None),
                };
                let separator = match without_fragment.find('?') {
                    None => "?",
                    Some(at)
                        if at + 1 == without_fragment.len() || without_fragment.ends_with('&') =>
                    {
                        ""
                    }
                    Some(_) => "&",
                };
                self.uri = format!("{without_fragment}{separator}{encoded}");
                if let Some(fragment) = fragment {
                    self.uri.push('#');
                    self.uri.push_str(&fragment);
                }
            }
            Err(e) => self.fail(Error::InvalidRequest {
                source: Box::new(e),
            }),
        }
        self
    }

    /// Sets the body to `value` as JSON, and `Content-Type: application/json` unless set.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.body = Body::from(bytes);
                if !self.headers.contains_key(CONTENT_TYPE) {
                    self.headers
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
            }
            Err(e) => self.fail(Error::InvalidRequest {
                source: Box::new(e),
            }),
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// The `http::Request` this builder describes (relative URLs still relative: the client's
    /// base URL resolves them when it is sent).
    pub fn build(self) -> Result<Request<Body>, Error> {
        self.into_parts().map(|(_, request)| request)
    }

    fn into_parts(self) -> Result<(HttpClient, Request<Body>), Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let uri = parse_uri(&self.uri)?;
        let mut request = Request::new(self.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers;
        Ok((self.client, request))
    }

    /// Sends the request. A response of any status is `Ok`; see
    /// [`Response::error_for_status`].
    pub async fn send(self) -> Result<Response, Error> {
        let (client, request) = self.into_parts()?;
        client.execute(request).await
    }
}

/// An absolute URL stays as it is; anything else is a path for the base URL, given a leading `/`.
fn parse_uri(uri: &str) -> Result<Uri, Error> {
    let without_fragment = uri.split('#').next().unwrap_or_default();
    let absolute = without_fragment
        .split_once("://")
        .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains(['/', '?']));
    let text = if absolute || without_fragment.starts_with('/') {
        without_fragment.to_owned()
    } else {
        format!("/{without_fragment}")
    };
    text.parse()
        .map_err(|e: http::uri::InvalidUri| Error::invalid_url(uri, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_absolute_and_relative() {
        assert_eq!(parse_uri("http://h/x?y#z").expect("ok"), "http://h/x?y");
        assert_eq!(parse_uri("users/7").expect("ok"), "/users/7");
        assert_eq!(parse_uri("/users?x=1").expect("ok"), "/users?x=1");
        assert_eq!(parse_uri("").expect("ok"), "/");
        assert!(parse_uri("http://bad host/").is_err());
    }

    #[test]
    fn query_and_errors() {
        let client = HttpClient::new();
        let request = client
            .get("/a?x=1#f")
            .query(&[("y", "2 3")])
            .build()
            .expect("valid");
        assert_eq!(request.uri(), "/a?x=1&y=2+3");
        let request = client
            .get("/a")
            .query(&[("k", "v")])
            .build()
            .expect("valid");
        assert_eq!(request.uri(), "/a?k=v");
        let error = client
            .get("/a")
            .header("bad header", "v")
            .build()
            .expect_err("bad name");
        assert!(matches!(error, Error::InvalidRequest { .. }));
        let request = client
            .post("/a")
            .json(&serde_json::json!({"a": 1}))
            .bearer_auth("t")
            .build()
            .expect("ok");
        assert_eq!(request.headers()[CONTENT_TYPE], "application/json");
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
        assert_eq!(request.body().as_bytes(), Some(&br#"{"a":1}"#[..]));
        assert!(!format!("{:?}", client.get("/").bearer_auth("secret")).contains("secret"));
    }
}
