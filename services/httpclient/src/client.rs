//! [`HttpClient`] and its builder.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use pin_project_lite::pin_project;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_http::decompression::Decompression;
use tower_http::follow_redirect::FollowRedirect;
use tower_layer::Layer;
use tower_service::Service;

use crate::connect::ConnectTimeout;
use crate::defaults::{BaseUrl, RequestDefaults};
use crate::redirect::RedirectPolicy;
use crate::timeout::Timeout;
use crate::{Body, BoxError, Error, HttpClientConfig, RequestBuilder, TimeoutPhase};

/// The type-erased service every stage of the stack is, and the one a [`layer`] wraps.
///
/// [`layer`]: HttpClientBuilder::layer
pub type BoxHttpService = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

type LayerFn = Arc<dyn Fn(BoxHttpService) -> BoxHttpService + Send + Sync>;

/// A production HTTP client: a cheap-to-clone [`tower::Service`] over hyper-util's pooled
/// client, with the stack described on [`HttpClientBuilder`].
///
/// Use it as a `Service<http::Request<B>>` (for example under more tower layers, or as a tonic
/// channel), or through the helpers: [`get`](Self::get), [`get_json`](Self::get_json),
/// [`post_json`](Self::post_json), … which return a [`Response`](crate::Response).
#[derive(Clone)]
pub struct HttpClient {
    inner: Outer,
    max_response_body: u64,
}

/// The stages above the user layers, as concrete types so a clone and a call cost no boxing.
type Outer = Timeout<RequestDefaults<FollowRedirect<BoxHttpService, RedirectPolicy>>>;
type OuterFuture = <Outer as Service<Request<Body>>>::Future;

#[cfg(not(feature = "tls"))]
type Connector = ConnectTimeout<HttpConnector>;
#[cfg(feature = "tls")]
type Connector = ConnectTimeout<hyper_rustls::HttpsConnector<HttpConnector>>;

/// hyper-util's client with its errors typed and its body converted.
#[derive(Clone)]
struct Hyper {
    client: Client<Connector, Body>,
}

impl Service<Request<Body>> for Hyper {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = HyperFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The pool has no capacity limit: checking out a connection happens in the future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        HyperFuture {
            inner: self.client.request(request),
        }
    }
}

pin_project! {
    struct HyperFuture {
        #[pin]
        inner: hyper_util::client::legacy::ResponseFuture,
    }
}

impl Future for HyperFuture {
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Wait for the response head, then type the error or erase the body type.
        Poll::Ready(match ready!(self.project().inner.poll(cx)) {
            Ok(response) => Ok(response.map(Body::new)),
            Err(error) => Err(Box::new(Error::from_hyper(error))),
        })
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("max_response_body", &self.max_response_body)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A builder with the defaults of [`HttpClientConfig::default`].
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::from_config(&HttpClientConfig::default())
    }

    /// A client with the default settings.
    pub fn new() -> Self {
        HttpClientBuilder::from_config(&HttpClientConfig::default())
            .build()
            .expect("the default configuration is valid")
    }

    /// A client built from a configuration.
    pub fn from_config(config: &HttpClientConfig) -> Result<Self, Error> {
        HttpClientBuilder::from_config(config).build()
    }

    /// Starts a request; see [`RequestBuilder`].
    ///
    /// `uri` is an absolute `http(s)://` URL, or a path (`users/7?full=1`) resolved against the
    /// base URL.
    pub fn request(&self, method: Method, uri: impl AsRef<str>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, uri.as_ref())
    }

    /// Starts a `GET` request.
    pub fn get(&self, uri: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, uri)
    }

    /// Starts a `POST` request.
    pub fn post(&self, uri: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, uri)
    }

    /// Starts a `PUT` request.
    pub fn put(&self, uri: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PUT, uri)
    }

    /// Starts a `PATCH` request.
    pub fn patch(&self, uri: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PATCH, uri)
    }

    /// Starts a `DELETE` request.
    pub fn delete(&self, uri: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::DELETE, uri)
    }

    /// Starts a `HEAD` request.
    pub fn head(&self, uri: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::HEAD, uri)
    }

    /// `GET uri` with `Accept: application/json`; a 4xx/5xx becomes [`Error::Status`], the body
    /// is decoded as `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, uri: impl AsRef<str>) -> Result<T, Error> {
        self.get(uri)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await?
            .error_for_status()
            .await?
            .json()
            .await
    }

    /// `POST uri` with `body` as JSON; a 4xx/5xx becomes [`Error::Status`]. Read the answer with
    /// [`Response::json`](crate::Response::json) if there is one.
    pub async fn post_json<T: Serialize + ?Sized>(
        &self,
        uri: impl AsRef<str>,
        body: &T,
    ) -> Result<crate::Response, Error> {
        self.post(uri)
            .json(body)
            .send()
            .await?
            .error_for_status()
            .await
    }

    /// The response body limit of [`Response::bytes`](crate::Response::bytes).
    pub fn max_response_body(&self) -> u64 {
        self.max_response_body
    }

    /// Sends a prepared request through the stack.
    pub(crate) async fn execute(self, request: Request<Body>) -> Result<crate::Response, Error> {
        let max_response_body = self.max_response_body;
        let response = self.oneshot(request).await?;
        Ok(crate::Response::new(response, max_response_body))
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> Service<Request<B>> for HttpClient
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Service::<Request<Body>>::poll_ready(&mut self.inner, cx).map_err(Error::from_boxed)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let span = tracing::debug_span!(
            "httpclient.request",
            http.request.method = %request.method(),
            server.address = request.uri().host().unwrap_or_default(),
            url.path = request.uri().path(),
            http.response.status_code = tracing::field::Empty,
        );
        let request = request.map(Body::new);
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture {
            inner: future,
            span,
        }
    }
}

pin_project! {
    /// Future of [`HttpClient`]'s `call`.
    pub struct ResponseFuture {
        #[pin]
        inner: OuterFuture,
        span: tracing::Span,
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        // The stack's answer, then one metric and one event for the call.
        let result = ready!(this.inner.poll(cx)).map_err(Error::from_boxed);
        let outcome = match &result {
            Ok(response) => {
                let status = response.status();
                this.span
                    .record("http.response.status_code", status.as_u16());
                if status.is_server_error() {
                    "server_error"
                } else if status.is_client_error() {
                    "client_error"
                } else {
                    "success"
                }
            }
            Err(error) => {
                tracing::debug!(error = %error, "http request failed");
                error.outcome()
            }
        };
        metrics::counter!("core_backend.httpclient.requests", "outcome" => outcome).increment(1);
        Poll::Ready(result)
    }
}

/// Builds an [`HttpClient`].
///
/// # The stack
///
/// From the caller inwards, a request passes:
///
/// 1. **total timeout** ([`timeout`](Self::timeout)): the whole call, redirects and retries
///    included, and it keeps running while the response body is read;
/// 2. **base URL and default headers** ([`base_url`](Self::base_url),
///    [`user_agent`](Self::user_agent), [`default_header`](Self::default_header)): relative URIs
///    are resolved, missing headers added;
/// 3. **redirects** ([`max_redirects`](Self::max_redirects)): each hop goes through everything
///    below, so breakers, rate limits and traces see the real host of every hop;
/// 4. **your layers** ([`layer`](Self::layer)), the first added outermost, exactly like
///    [`tower::ServiceBuilder`]: retry, circuit breaker, rate limit, observability, … They see a
///    `Request<Body>` with an absolute URI and the default headers, and a `Response<Body>`;
///    errors of the client below them are boxed [`Error`]s;
/// 5. **decompression** ([`decompression`](Self::decompression)): gzip and deflate;
/// 6. **attempt timeout** ([`attempt_timeout`](Self::attempt_timeout)): one try, until the
///    response head;
/// 7. **hyper-util's pooled client**, whose connector has the **connect timeout**
///    ([`connect_timeout`](Self::connect_timeout)) around TCP connect and the TLS handshake.
///
/// # Why retry sits inside redirects and outside the attempt timeout
///
/// A retry re-sends one hop with a fresh attempt timer, while the total timeout bounds the sum;
/// a redirect is not a failure and must not spend retry budget or trip a breaker.
#[derive(Clone)]
pub struct HttpClientBuilder {
    timeout: Option<Duration>,
    attempt_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    base_url: Option<String>,
    headers: HeaderMap,
    header_error: Option<String>,
    max_redirects: usize,
    decompression: bool,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: usize,
    tcp_nodelay: bool,
    http2_prior_knowledge: bool,
    max_response_body: u64,
    layers: Vec<LayerFn>,
    #[cfg(feature = "tls")]
    tls_config: Option<rustls::ClientConfig>,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("timeout", &self.timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("base_url", &self.base_url)
            .field("max_redirects", &self.max_redirects)
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl HttpClientBuilder {
    /// A builder with the settings of `config`.
    pub fn from_config(config: &HttpClientConfig) -> Self {
        let mut builder = Self {
            timeout: config.timeout,
            attempt_timeout: config.attempt_timeout,
            connect_timeout: config.connect_timeout,
            base_url: config.base_url.clone(),
            headers: HeaderMap::new(),
            header_error: None,
            max_redirects: config.max_redirects,
            decompression: config.decompression,
            pool_idle_timeout: config.pool_idle_timeout,
            pool_max_idle_per_host: config.pool_max_idle_per_host,
            tcp_nodelay: config.tcp_nodelay,
            http2_prior_knowledge: config.http2_prior_knowledge,
            max_response_body: config.max_response_body,
            layers: Vec::new(),
            #[cfg(feature = "tls")]
            tls_config: None,
        };
        builder = builder.user_agent(config.user_agent.as_str());
        builder
    }

    /// Limit of the whole call, body reading included; `None` for no limit.
    ///
    /// Defaults to 30 seconds.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Limit of one attempt, until the response head; `None` for no limit.
    ///
    /// Defaults to 10 seconds.
    pub fn attempt_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.attempt_timeout = timeout.into();
        self
    }

    /// Limit of establishing a connection (TCP and TLS); `None` for no limit.
    ///
    /// Defaults to 5 seconds.
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.connect_timeout = timeout.into();
        self
    }

    /// The URL relative request URIs are appended to (`http://api.internal/v1` + `users/7` =
    /// `http://api.internal/v1/users/7`). Must be `http(s)://host[:port][/path]` with no query;
    /// checked by [`build`](Self::build).
    ///
    /// Defaults to none: requests need absolute URLs.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The `User-Agent` sent when a request has none.
    ///
    /// Defaults to `core-backend/<version>`.
    pub fn user_agent(self, user_agent: &str) -> Self {
        self.default_header(USER_AGENT, user_agent)
    }

    /// A header sent when a request does not carry one of that name. Calling it again with the
    /// same name replaces the value. A bad name or value is reported by [`build`](Self::build).
    ///
    /// Defaults to only `User-Agent`.
    pub fn default_header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: fmt::Display,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: fmt::Display,
    {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.insert(name, value);
            }
            (Err(e), _) => self.header_error = Some(format!("invalid default header name: {e}")),
            (_, Err(e)) => self.header_error = Some(format!("invalid default header value: {e}")),
        }
        self
    }

    /// How many redirects to follow before failing with [`Error::Redirect`]; `0` returns 3xx
    /// responses as they are. `Authorization`, `Proxy-Authorization` and `Cookie` are dropped
    /// once a redirect leaves the first request's origin.
    ///
    /// Defaults to 10.
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Whether to send `Accept-Encoding: gzip, deflate` and decode such responses.
    ///
    /// Defaults to `true`.
    pub fn decompression(mut self, enabled: bool) -> Self {
        self.decompression = enabled;
        self
    }

    /// How long an idle pooled connection is kept; `None` keeps it until the server closes it.
    ///
    /// Defaults to 90 seconds.
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.pool_idle_timeout = timeout.into();
        self
    }

    /// Maximum idle connections kept per host.
    ///
    /// Defaults to 32.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Whether to set `TCP_NODELAY` on connections.
    ///
    /// Defaults to `true`.
    pub fn tcp_nodelay(mut self, enabled: bool) -> Self {
        self.tcp_nodelay = enabled;
        self
    }

    /// Speak HTTP/2 without negotiation (h2c "prior knowledge", or h2 over TLS whatever ALPN
    /// says). Without it, HTTP/2 is used over TLS when the server offers it through ALPN.
    ///
    /// Defaults to `false`.
    pub fn http2_prior_knowledge(mut self, enabled: bool) -> Self {
        self.http2_prior_knowledge = enabled;
        self
    }

    /// The largest response body [`Response::bytes`](crate::Response::bytes),
    /// [`text`](crate::Response::text) and [`json`](crate::Response::json) read.
    ///
    /// Defaults to 10 MiB.
    pub fn max_response_body(mut self, bytes: u64) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// The rustls configuration for `https://` (custom roots, client certificates). Its ALPN
    /// protocols are replaced by `h2` and `http/1.1`.
    ///
    /// Defaults to the webpki roots, ring provider, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls_config = Some(config);
        self
    }

    /// Adds a tower layer at position 4 of [the stack](Self#the-stack): inside redirects and
    /// the total timeout, outside decompression and the attempt timeout. The first layer added
    /// is the outermost.
    ///
    /// The layer wraps a [`BoxHttpService`]; its service may answer with any body type and any
    /// error that converts into a [`BoxError`]. Errors it raises reach the caller as
    /// [`Error::Other`], reachable with [`Error::downcast_ref`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use core_backend_httpclient::HttpClient;
    /// use tower::limit::ConcurrencyLimitLayer;
    ///
    /// let client = HttpClient::builder()
    ///     .layer(ConcurrencyLimitLayer::new(64))
    ///     .timeout(Duration::from_secs(5))
    ///     .build()?;
    /// # Ok::<(), core_backend_httpclient::Error>(())
    /// ```
    pub fn layer<L, S, ResBody>(mut self, layer: L) -> Self
    where
        L: Layer<BoxHttpService, Service = S> + Send + Sync + 'static,
        S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        ResBody::Error: Into<BoxError>,
    {
        self.layers.push(Arc::new(move |inner: BoxHttpService| {
            BoxCloneSyncService::new(
                layer
                    .layer(inner)
                    .map_response(|response: Response<ResBody>| response.map(Body::new))
                    .map_err(Into::into),
            )
        }));
        self
    }

    /// Builds the client. Fails on an invalid base URL or default header.
    ///
    /// Building starts nothing and needs no runtime; the client must be used on a Tokio runtime.
    pub fn build(self) -> Result<HttpClient, Error> {
        if let Some(reason) = self.header_error {
            return Err(Error::InvalidRequest {
                source: reason.into(),
            });
        }
        let base = self.base_url.as_deref().map(BaseUrl::parse).transpose()?;

        let mut http = HttpConnector::new();
        http.set_nodelay(self.tcp_nodelay);
        http.enforce_http(false);
        let connector = ConnectTimeout::new(self.tls_connector(http)?, self.connect_timeout);

        let mut pool = Client::builder(TokioExecutor::new());
        pool.pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .http2_only(self.http2_prior_knowledge);
        let client = Hyper {
            client: pool.build(connector),
        };

        // Below the user layers: decompression and the attempt timeout, boxed once.
        let decompression = Decompression::new(client)
            .gzip(self.decompression)
            .deflate(self.decompression);
        let mut service = BoxCloneSyncService::new(Timeout::new(
            decompression,
            self.attempt_timeout,
            TimeoutPhase::Attempt,
        ));
        for layer in self.layers.iter().rev() {
            service = layer(service);
        }
        // Above them: redirects, request defaults, the total timeout.
        let service = Timeout::new(
            RequestDefaults::new(
                FollowRedirect::with_policy(service, RedirectPolicy::new(self.max_redirects)),
                base,
                self.headers,
            ),
            self.timeout,
            TimeoutPhase::Total,
        );
        Ok(HttpClient {
            inner: service,
            max_response_body: self.max_response_body,
        })
    }

    #[cfg(not(feature = "tls"))]
    #[allow(clippy::unnecessary_wraps, clippy::unused_self)] // the same shape as with `tls`
    fn tls_connector(&self, http: HttpConnector) -> Result<HttpConnector, Error> {
        Ok(http)
    }

    #[cfg(feature = "tls")]
    fn tls_connector(
        &self,
        http: HttpConnector,
    ) -> Result<hyper_rustls::HttpsConnector<HttpConnector>, Error> {
        let builder = match &self.tls_config {
            Some(config) => {
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config.clone())
            }
            None => hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
                .map_err(|e| Error::InvalidRequest {
                    source: Box::new(e),
                })?,
        };
        Ok(builder
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}

    #[test]
    fn client_is_cheap_to_share() {
        assert_shareable::<HttpClient>();
        assert_shareable::<HttpClientBuilder>();
        let debug = format!("{:?}", HttpClient::builder().base_url("http://h"));
        assert!(debug.contains("base_url"), "{debug}");
    }

    #[test]
    fn bad_default_headers_fail_the_build() {
        let error = HttpClient::builder()
            .default_header("bad name", "v")
            .build()
            .expect_err("bad name");
        assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
        let error = HttpClient::builder()
            .user_agent("line\nbreak")
            .build()
            .expect_err("bad value");
        assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn first_layer_added_is_outermost() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let record = |name: &'static str| {
            let order = order.clone();
            tower::layer::layer_fn(move |inner| {
                let order = order.clone();
                tower::util::MapRequest::new(inner, move |request: Request<Body>| {
                    order.lock().expect("lock").push(name);
                    request
                })
            })
        };
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("addr");
        drop(closed);
        let client = HttpClient::builder()
            .layer(record("first"))
            .layer(record("second"))
            .build()
            .expect("client");
        let error = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .expect_err("nothing listens");
        assert!(matches!(error, Error::Connect { .. }), "{error:?}");
        assert_eq!(*order.lock().expect("lock"), ["first", "second"]);
    }
}
