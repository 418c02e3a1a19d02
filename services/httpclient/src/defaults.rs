//! Base URL resolution and default headers.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::header::HeaderMap;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use tower_service::Service;

use crate::{Body, BoxError, Error};

/// A base URL: scheme, authority and a path prefix without its trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    prefix: String,
}

impl BaseUrl {
    /// Parses `http(s)://host[:port][/prefix]`; a query or fragment is refused.
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| Error::invalid_url(url, e.to_string()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(Error::invalid_url(
                url,
                "a base URL needs a scheme and a host",
            ));
        };
        check_scheme(url, scheme)?;
        if uri.query().is_some() || url.contains('#') {
            return Err(Error::invalid_url(
                url,
                "a base URL cannot have a query or fragment",
            ));
        }
        Ok(Self {
            scheme: scheme.clone(),
            authority: authority.clone(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// Appends a reference (`path?query`, with or without a leading `/`) to the base path.
    ///
    /// The base is a prefix: `http://h/api` + `/users?x=1` = `http://h/api/users?x=1`. Leading
    /// slashes of the reference collapse into one; a fragment is dropped (it is never sent).
    pub(crate) fn join(&self, reference: &str) -> Result<Uri, Error> {
        let reference = reference.split('#').next().unwrap_or_default();
        let (path, query) = match reference.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (reference, None),
        };
        let path = path.trim_start_matches('/');
        let mut joined = String::with_capacity(
            self.scheme.as_str().len()
                + self.authority.as_str().len()
                + self.prefix.len()
                + reference.len()
                + 5,
        );
        joined.push_str(self.scheme.as_str());
        joined.push_str("://");
        joined.push_str(self.authority.as_str());
        joined.push_str(&self.prefix);
        if !path.is_empty() || self.prefix.is_empty() {
            joined.push('/');
            joined.push_str(path);
        }
        if let Some(query) = query {
            joined.push('?');
            joined.push_str(query);
        }
        joined
            .parse()
            .map_err(|e: http::uri::InvalidUri| Error::invalid_url(reference, e.to_string()))
    }
}

fn check_scheme(url: &str, scheme: &Scheme) -> Result<(), Error> {
    if *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS {
        Ok(())
    } else {
        Err(Error::invalid_url(url, "the scheme must be http or https"))
    }
}

/// Resolves relative request URIs against the base URL and adds the default headers a request
/// does not already carry.
#[derive(Debug, Clone)]
pub(crate) struct RequestDefaults<S> {
    inner: S,
    base: Option<Arc<BaseUrl>>,
    headers: Arc<HeaderMap>,
}

impl<S> RequestDefaults<S> {
    pub(crate) fn new(inner: S, base: Option<BaseUrl>, headers: HeaderMap) -> Self {
        Self {
            inner,
            base: base.map(Arc::new),
            headers: Arc::new(headers),
        }
    }

    fn prepare(&self, request: &mut Request<Body>) -> Result<(), Error> {
        let uri = request.uri();
        match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(_)) => check_scheme(&uri.to_string(), scheme)?,
            (None, None) => {
                let Some(base) = &self.base else {
                    return Err(Error::invalid_url(
                        uri.to_string(),
                        "a relative URL needs a base URL (HttpClientBuilder::base_url)",
                    ));
                };
                let reference = uri
                    .path_and_query()
                    .map_or("/", http::uri::PathAndQuery::as_str);
                *request.uri_mut() = base.join(reference)?;
            }
            _ => {
                return Err(Error::invalid_url(
                    uri.to_string(),
                    "expected an absolute URL or a path",
                ));
            }
        }
        let headers = request.headers_mut();
        for name in self.headers.keys() {
            if !headers.contains_key(name) {
                for value in self.headers.get_all(name) {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
        Ok(())
    }
}

impl<S> Service<Request<Body>> for RequestDefaults<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Either<S::Future, Ready<Result<Response<Body>, BoxError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        match self.prepare(&mut request) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(error) => Either::Right(ready(Err(Box::new(error)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base(url: &str) -> BaseUrl {
        BaseUrl::parse(url).expect("valid base")
    }

    #[test]
    fn joins_as_a_prefix() {
        let b = base("http://h:8080/api/v1/");
        assert_eq!(b.join("users").expect("ok"), "http://h:8080/api/v1/users");
        assert_eq!(
            b.join("/users?x=1").expect("ok"),
            "http://h:8080/api/v1/users?x=1"
        );
        assert_eq!(
            b.join("//users#frag").expect("ok"),
            "http://h:8080/api/v1/users"
        );
        assert_eq!(b.join("").expect("ok"), "http://h:8080/api/v1");
        assert_eq!(b.join("?q").expect("ok"), "http://h:8080/api/v1?q");
        let root = base("https://example.com");
        assert_eq!(root.join("").expect("ok"), "https://example.com/");
        assert_eq!(root.join("a/b").expect("ok"), "https://example.com/a/b");
        assert!(root.join("a b").is_err());
    }

    #[test]
    fn refuses_bad_bases() {
        for url in [
            "",
            "example.com",
            "/path",
            "ftp://h/",
            "http://h/?q=1",
            "http://h/#x",
            "http://",
        ] {
            assert!(
                matches!(BaseUrl::parse(url), Err(Error::InvalidUrl { .. })),
                "{url} should be refused"
            );
        }
    }

    const SEGMENT: &str = "[a-zA-Z0-9._~-]{1,8}";

    proptest! {
        #[test]
        fn join_never_panics(base_url in ".{0,40}", reference in ".{0,60}") {
            if let Ok(b) = BaseUrl::parse(&base_url)
                && let Ok(uri) = b.join(&reference)
            {
                prop_assert_eq!(uri.scheme(), Some(&b.scheme));
                prop_assert_eq!(uri.authority(), Some(&b.authority));
                prop_assert!(uri.path().starts_with(&b.prefix));
            }
        }

        #[test]
        fn join_appends_path_and_keeps_query(
            host in "[a-z]{1,10}",
            prefix in proptest::collection::vec(SEGMENT, 0..4),
            trailing in any::<bool>(),
            path in proptest::collection::vec(SEGMENT, 0..4),
            leading in 0usize..3,
            query in proptest::option::of("[a-z0-9=&]{0,12}"),
        ) {
            let mut base_url = format!("http://{host}");
            for segment in &prefix {
                base_url.push('/');
                base_url.push_str(segment);
            }
            if trailing {
                base_url.push('/');
            }
            let mut reference = "/".repeat(leading);
            reference.push_str(&path.join("/"));
            if let Some(q) = &query {
                reference.push('?');
                reference.push_str(q);
            }
            let uri = base(&base_url).join(&reference).expect("valid parts join");
            let mut segments = prefix.clone();
            segments.extend(path.iter().cloned());
            let expected_path = format!("/{}", segments.join("/"));
            prop_assert_eq!(uri.path(), expected_path.as_str());
            prop_assert_eq!(uri.query(), query.as_deref());
            prop_assert_eq!(uri.host(), Some(host.as_str()));
        }
    }
}
