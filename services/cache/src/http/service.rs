//! [`ResponseCache`].

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::time::Instant;
use tower_service::Service;

use super::{
    ResponseBody, ResponseCacheConfig, ResponseFuture,
    headers::{CacheControl, EntityTag, IfNoneMatch, Vary, strong_etag},
    store::{Shared, StoredResponse, not_modified},
};
use crate::BoxError;

/// A shared HTTP cache in front of `S`, made by [`ResponseCacheLayer`](super::ResponseCacheLayer).
///
/// See the [module docs](super) for what is stored, served and invalidated.
#[derive(Debug, Clone)]
pub struct ResponseCache<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> ResponseCache<S> {
    /// `inner` behind a cache of its own with `config`.
    pub fn new(inner: S, config: ResponseCacheConfig) -> Self {
        Self::from_shared(inner, Arc::new(Shared::new(config)))
    }

    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the cache.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ResponseCache<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: Body + Send + 'static,
    ResB::Data: Send,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        // The ready service goes into the future; a fresh clone stays for the next poll_ready.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(Box::pin(handle(Arc::clone(&self.shared), inner, req)))
    }
}

/// Store key: authority (from the URI or `Host`) + path and query.
fn cache_key<B>(req: &Request<B>) -> String {
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        })
        .unwrap_or_default();
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    format!("{host}{path}")
}

fn invalidates(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

async fn handle<S, ReqB, ResB>(
    shared: Arc<Shared>,
    mut inner: S,
    req: Request<ReqB>,
) -> Result<Response<ResponseBody<ResB>>, S::Error>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body,
    ResB::Error: Into<BoxError>,
{
    let method = req.method().clone();
    if invalidates(&method) {
        let key = cache_key(&req);
        let res = inner.call(req).await?;
        if res.status().is_success() || res.status().is_redirection() {
            shared.invalidate(&key).await;
        }
        return Ok(res.map(ResponseBody::stream));
    }
    if method != Method::GET && method != Method::HEAD {
        return Ok(inner.call(req).await?.map(ResponseBody::stream));
    }

    let key = cache_key(&req);
    let req_cc = CacheControl::from_headers(req.headers());
    let inm = IfNoneMatch::from_headers(req.headers());
    let may_serve = !(req_cc.no_cache || req_cc.no_store || req_cc.max_age == Some(0));
    if may_serve && let Some(hit) = shared.lookup(&key, req.headers()).await {
        shared.metrics.hits.increment(1);
        tracing::trace!(%key, "response cache hit");
        return Ok(hit.respond(&method, inm.as_ref(), &shared.metrics));
    }
    shared.metrics.misses.increment(1);

    let has_auth = req.headers().contains_key(header::AUTHORIZATION);
    let req_headers = req.headers().clone();
    let res = inner.call(req).await?;
    if method == Method::HEAD || res.status() != StatusCode::OK {
        return Ok(res.map(ResponseBody::stream));
    }

    let config = &shared.config;
    let res_cc = CacheControl::from_headers(res.headers());
    let vary = Vary::from_headers(res.headers());
    let lifetime = res_cc
        .s_maxage
        .or(res_cc.max_age)
        .map(Duration::from_secs)
        .or(config.default_ttl);
    let selecting_names = match vary {
        Vary::Headers(names) => Some(names),
        Vary::Any => None,
    };
    let storable = !req_cc.no_store
        && !res_cc.no_store
        && !res_cc.private
        && !res_cc.no_cache
        && selecting_names.is_some()
        && !res.headers().contains_key(header::SET_COOKIE)
        && (!has_auth || res_cc.public || res_cc.s_maxage.is_some())
        && lifetime.is_some_and(|l| !l.is_zero());
    let add_etag = config.etag && !res.headers().contains_key(header::ETAG);
    if !storable && !add_etag && inm.is_none() {
        return Ok(res.map(ResponseBody::stream));
    }
    let too_large = res
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > config.max_body_bytes as u64);
    if too_large {
        return Ok(res.map(ResponseBody::stream));
    }

    let (mut parts, body) = res.into_parts();
    let body = match buffer(body, config.max_body_bytes).await {
        Buffered::Complete(body) => body,
        Buffered::Partial(frames, error, rest) => {
            return Ok(Response::from_parts(
                parts,
                ResponseBody::partial(frames, error, rest),
            ));
        }
    };
    if add_etag {
        parts.headers.insert(header::ETAG, strong_etag(&body));
    }
    let etag = parts
        .headers
        .get(header::ETAG)
        .and_then(|v| EntityTag::parse(v.as_bytes()));

    if storable && let (Some(names), Some(lifetime)) = (selecting_names, lifetime) {
        let selecting = names
            .into_iter()
            .map(|name| {
                let values = req_headers.get_all(&name).iter().cloned().collect();
                (name, values)
            })
            .collect();
        let initial_age = parts
            .headers
            .get(header::AGE)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut headers = parts.headers.clone();
        strip_unstored(&mut headers);
        let stored = StoredResponse {
            status: parts.status,
            headers,
            body: body.clone(),
            etag: etag.clone(),
            stored_at: Instant::now(),
            initial_age,
            lifetime,
            selecting,
        };
        shared.insert(&key, stored).await;
    }

    if inm.is_some_and(|inm| inm.matches(etag.as_ref())) {
        shared.metrics.not_modified.increment(1);
        return Ok(not_modified(&parts.headers));
    }
    Ok(Response::from_parts(parts, ResponseBody::full(body)))
}

/// Hop-by-hop fields and `Age` (recomputed on every hit) are not stored.
fn strip_unstored(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
        header::AGE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

enum Buffered<B> {
    Complete(Bytes),
    /// Frames read so far, the error that stopped reading, the rest of the body: streamed, not stored.
    Partial(
        VecDeque<Frame<Bytes>>,
        Option<BoxError>,
        Option<Pin<Box<B>>>,
    ),
}

/// Reads `body` while it stays within `max` bytes of data and has no trailers.
async fn buffer<B>(body: B, max: usize) -> Buffered<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = Box::pin(body);
    let mut frames: VecDeque<Frame<Bytes>> = VecDeque::new();
    let mut len = 0usize;
    let mut trailers = false;
    loop {
        match body.frame().await {
            None => break,
            Some(Err(err)) => return Buffered::Partial(frames, Some(err.into()), None),
            Some(Ok(frame)) => {
                let frame = frame.map_data(|mut d| d.copy_to_bytes(d.remaining()));
                if let Some(data) = frame.data_ref() {
                    len = len.saturating_add(data.len());
                } else {
                    trailers = true;
                }
                frames.push_back(frame);
                if len > max {
                    return Buffered::Partial(frames, None, Some(body));
                }
            }
        }
    }
    if trailers {
        return Buffered::Partial(frames, None, None);
    }
    if frames.len() == 1 {
        if let Some(Ok(data)) = frames.pop_front().map(Frame::into_data) {
            return Buffered::Complete(data);
        }
        return Buffered::Complete(Bytes::new());
    }
    let mut all = BytesMut::with_capacity(len);
    for frame in frames {
        if let Ok(data) = frame.into_data() {
            all.extend_from_slice(&data);
        }
    }
    Buffered::Complete(all.freeze())
}

#[cfg(test)]
mod tests {
    use std::{
        convert::Infallible,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use http_body_util::{Full, StreamBody};
    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::ResponseCacheLayer;
    use tower_layer::Layer;

    type Handler = Arc<dyn Fn(&Request<()>) -> Response<Full<Bytes>> + Send + Sync>;

    fn svc(
        calls: &Arc<AtomicUsize>,
        handler: Handler,
    ) -> impl Service<
        Request<()>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static {
        let calls = Arc::clone(calls);
        service_fn(move |req: Request<()>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let res = handler(&req);
            async move { Ok::<_, Infallible>(res) }
        })
    }

    fn ok(cc: &'static str, body: &'static str) -> Handler {
        Arc::new(move |_| {
            let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
            if !cc.is_empty() {
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, cc.parse().expect("cc"));
            }
            res
        })
    }

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).expect("request")
    }

    /// Waits for `s` to be ready and sends `req`.
    async fn send<S>(s: &mut S, req: Request<()>) -> S::Response
    where
        S: Service<Request<()>>,
        S::Error: std::fmt::Debug,
    {
        s.ready()
            .await
            .expect("ready")
            .call(req)
            .await
            .expect("call")
    }

    async fn body<B: Body<Error = BoxError>>(res: Response<B>) -> Bytes {
        res.into_body().collect().await.expect("body").to_bytes()
    }

    #[tokio::test(start_paused = true)]
    async fn max_age_hit_then_expiry_with_age_header() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut s = ResponseCacheLayer::new().layer(svc(&calls, ok("max-age=10", "hello")));
        let first = send(&mut s, get("/a")).await;
        assert!(first.headers().get(header::AGE).is_none());
        let etag = first
            .headers()
            .get(header::ETAG)
            .cloned()
            .expect("etag added");
        assert_eq!(body(first).await, "hello");

        tokio::time::advance(Duration::from_secs(3)).await;
        let hit = send(&mut s, get("/a")).await;
        assert_eq!(hit.headers().get(header::AGE).expect("age"), "3");
        assert_eq!(hit.headers().get(header::ETAG), Some(&etag));
        assert_eq!(body(hit).await, "hello");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        tokio::time::advance(Duration::from_secs(7)).await;
        send(&mut s, get("/a")).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "stale after max-age");
    }

    #[tokio::test(start_paused = true)]
    async fn s_maxage_wins_and_request_no_cache_bypasses() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut s =
            ResponseCacheLayer::new().layer(svc(&calls, ok("max-age=1, s-maxage=100", "x")));
        send(&mut s, get("/a")).await;
        tokio::time::advance(Duration::from_secs(50)).await;
        send(&mut s, get("/a")).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let req = Request::get("/a")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(())
            .expect("req");
        send(&mut s, req).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "no-cache goes to the origin"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn private_no_store_no_cache_and_set_cookie_are_not_stored() {
        for cc in [
            "private, max-age=60",
            "no-store, max-age=60",
            "no-cache, max-age=60",
            "",
        ] {
            let calls = Arc::new(AtomicUsize::new(0));
            let mut s = ResponseCacheLayer::new().layer(svc(&calls, ok(cc, "x")));
            for _ in 0..2 {
                send(&mut s, get("/a")).await;
            }
            assert_eq!(calls.load(Ordering::SeqCst), 2, "{cc:?}");
        }
        let calls = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(|_| {
            Response::builder()
                .header(header::CACHE_CONTROL, "max-age=60")
                .header(header::SET_COOKIE, "a=b")
                .body(Full::new(Bytes::from_static(b"x")))
                .expect("res")
        });
        let mut s = ResponseCacheLayer::new().layer(svc(&calls, handler));
        for _ in 0..2 {
            send(&mut s, get("/a")).await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn authorization_needs_public_or_s_maxage() {
        let authed = || {
            Request::get("/a")
                .header(header::AUTHORIZATION, "Bearer t")
                .body(())
                .expect("req")
        };
        let calls = Arc::new(AtomicUsize::new(0));
        let mut s = ResponseCacheLayer::new().layer(svc(&calls, ok("max-age=60", "x")));
        for _ in 0..2 {
            send(&mut s, authed()).await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let calls = Arc::new(AtomicUsize::new(0));
        let mut s = ResponseCacheLayer::new().layer(svc(&calls, ok("public, max-age=60", "x")));
        for _ in 0..2 {
            send(&mut s, authed()).await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn head_is_served_from_get_without_body_and_inm_star_is_304() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut s = ResponseCacheLayer::new().layer(svc(&calls, ok("max-age=60", "hello")));
        send(&mut s, get("/a")).await;
        let head = Request::head("/a").body(()).expect("req");
        let res = send(&mut s, head).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(body(res).await.is_empty());
        let req = Request::get("/a")
            .header(header::IF_NONE_MATCH, "*")
            .body(())
            .expect("req");
        let res = send(&mut s, req).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert!(res.headers().contains_key(header::ETAG));
        assert!(res.headers().contains_key(header::CACHE_CONTROL));
        assert!(res.headers().contains_key(header::AGE));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn large_bodies_stream_through_uncached_and_intact() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let inner = service_fn(move |_req: Request<()>| {
            counter.fetch_add(1, Ordering::SeqCst);
            let chunks: Vec<Result<Frame<Bytes>, Infallible>> = (0..10)
                .map(|i| Ok(Frame::data(Bytes::from(vec![b'a' + i; 100]))))
                .collect();
            let body = StreamBody::new(futures_util::stream::iter(chunks));
            let res = Response::builder()
                .header(header::CACHE_CONTROL, "max-age=60")
                .body(body)
                .expect("res");
            async move { Ok::<_, Infallible>(res) }
        });
        let mut s = ResponseCacheLayer::builder()
            .max_body_bytes(250)
            .build()
            .layer(inner);
        for _ in 0..2 {
            let res = send(&mut s, get("/big")).await;
            assert!(!res.headers().contains_key(header::ETAG));
            let b = body(res).await;
            assert_eq!(b.len(), 1000);
            assert_eq!(&b[..100], &[b'a'; 100][..]);
            assert_eq!(&b[900..], &[b'j'; 100][..]);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // With room for the body it is buffered, tagged and stored.
        let mut s = ResponseCacheLayer::new().layer(s.into_inner());
        for _ in 0..2 {
            let res = send(&mut s, get("/big")).await;
            assert!(res.headers().contains_key(header::ETAG));
            assert_eq!(body(res).await.len(), 1000);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn body_error_while_buffering_reaches_the_client() {
        let inner = service_fn(|_req: Request<()>| {
            let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
                Ok(Frame::data(Bytes::from_static(b"part"))),
                Err(std::io::Error::other("boom")),
            ];
            let body = StreamBody::new(futures_util::stream::iter(frames));
            async move { Ok::<_, Infallible>(Response::new(body)) }
        });
        let s = ResponseCacheLayer::new().layer(inner);
        let res = s.oneshot(get("/e")).await.expect("call");
        let mut body = res.into_body();
        let first = body.frame().await.expect("frame").expect("data");
        assert_eq!(first.into_data().expect("data"), "part");
        assert!(body.frame().await.expect("frame").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn put_and_delete_invalidate_failed_writes_do_not() {
        let calls = Arc::new(AtomicUsize::new(0));
        let status = Arc::new(AtomicUsize::new(200));
        let st = Arc::clone(&status);
        let handler: Handler = Arc::new(move |_| {
            let code = u16::try_from(st.load(Ordering::SeqCst)).expect("status");
            Response::builder()
                .status(code)
                .header(header::CACHE_CONTROL, "max-age=60")
                .body(Full::new(Bytes::from_static(b"x")))
                .expect("res")
        });
        let layer = ResponseCacheLayer::new();
        let mut s = layer.layer(svc(&calls, handler));
        let mut call = async |req: Request<()>| send(&mut s, req).await;
        call(get("/a")).await;
        call(get("/a")).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        for method in [Method::PUT, Method::DELETE] {
            call(
                Request::builder()
                    .method(method)
                    .uri("/a")
                    .body(())
                    .expect("req"),
            )
            .await;
            call(get("/a")).await;
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            5,
            "each write dropped the entry"
        );
        // A failed write leaves the entry alone.
        status.store(500, Ordering::SeqCst);
        call(Request::post("/a").body(()).expect("req")).await;
        status.store(200, Ordering::SeqCst);
        call(get("/a")).await;
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        // The layer can invalidate by hand.
        layer.invalidate("/a").await;
        call(get("/a")).await;
        assert_eq!(calls.load(Ordering::SeqCst), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn content_length_over_limit_and_non_200_pass_through() {
        let calls = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(|req| {
            let big = req.uri().path() == "/big";
            Response::builder()
                .status(if big { 200 } else { 404 })
                .header(header::CACHE_CONTROL, "max-age=60")
                .header(header::CONTENT_LENGTH, if big { "10" } else { "1" })
                .body(Full::new(Bytes::from_static(if big {
                    b"0123456789"
                } else {
                    b"x"
                })))
                .expect("res")
        });
        let mut s = ResponseCache::new(
            svc(&calls, handler),
            ResponseCacheConfig {
                max_body_bytes: 5,
                ..ResponseCacheConfig::default()
            },
        );
        for path in ["/big", "/big", "/missing", "/missing"] {
            let res = send(&mut s, get(path)).await;
            assert!(!res.headers().contains_key(header::ETAG));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let _ = s.get_mut();
    }

    #[tokio::test(start_paused = true)]
    async fn not_modified_carries_vary_and_origin_etag_is_kept() {
        let calls = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(|_| {
            Response::builder()
                .header(header::CACHE_CONTROL, "max-age=60")
                .header(header::VARY, "accept-language")
                .header(header::ETAG, "W/\"v1\"")
                .body(Full::new(Bytes::from_static(b"x")))
                .expect("res")
        });
        let mut s = ResponseCacheLayer::new().layer(svc(&calls, handler));
        let req = || {
            Request::get("/a")
                .header(header::IF_NONE_MATCH, "\"v1\"")
                .body(())
                .expect("req")
        };
        for _ in 0..2 {
            let res = send(&mut s, req()).await;
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
            assert_eq!(res.headers()[header::ETAG], "W/\"v1\"");
            assert_eq!(res.headers()[header::VARY], "accept-language");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn partial_body_size_hint_counts_buffered_frames() {
        let rest = Full::new(Bytes::from_static(b"abc"));
        let frames = VecDeque::from([Frame::data(Bytes::from_static(b"12"))]);
        let body = ResponseBody::partial(frames, None, Some(Box::pin(rest)));
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        let body = ResponseBody::<Full<Bytes>>::full(Bytes::from_static(b"12"));
        assert_eq!(body.size_hint().exact(), Some(2));
        assert!(ResponseBody::<Full<Bytes>>::empty().is_end_stream());
        assert!(format!("{body:?}").contains("full"));
    }

    #[tokio::test]
    async fn other_methods_pass_through() {
        let calls = Arc::new(AtomicUsize::new(0));
        let s = ResponseCacheLayer::new().layer(svc(&calls, ok("max-age=60", "x")));
        let req = Request::builder()
            .method(Method::OPTIONS)
            .uri("/a")
            .body(())
            .expect("req");
        let res = s.clone().oneshot(req).await.expect("call");
        assert_eq!(body(res).await, "x");
        assert_eq!(
            s.get_ref()
                .clone()
                .oneshot(get("/a"))
                .await
                .expect("call")
                .status(),
            StatusCode::OK
        );
    }
}
