//! The client against real servers on loopback.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use common::serve;
use core_backend_httpclient::{Body, BoxError, Error, HttpClient, TimeoutPhase};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::ServiceExt;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Note {
    id: u64,
    title: String,
    tags: Vec<String>,
}

fn headers_json(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn echo_router() -> Router {
    Router::new()
        .route(
            "/notes",
            post(|Json(note): Json<Note>| async move { (StatusCode::CREATED, Json(note)) }),
        )
        .route(
            "/headers",
            get(|headers: HeaderMap| async move { Json(headers_json(&headers)) }),
        )
        .route("/uri", get(|uri: Uri| async move { uri.to_string() }))
        .route(
            "/api/v1/{*rest}",
            get(
                |Path(rest): Path<String>, Query(q): Query<HashMap<String, String>>| async move {
                    Json(serde_json::json!({ "rest": rest, "query": q }))
                },
            ),
        )
        .route(
            "/version",
            get(|version: Version| async move { format!("{version:?}") }),
        )
}

#[tokio::test]
async fn json_round_trip() {
    let addr = serve(echo_router()).await;
    let client = HttpClient::new();
    let note = Note {
        id: 7,
        title: "héllo".into(),
        tags: vec!["a".into(), "b".into()],
    };
    let response = client
        .post_json(format!("http://{addr}/notes"), &note)
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);
    let back: Note = response.json().await.expect("json");
    assert_eq!(back, note);

    let headers: HashMap<String, String> = client
        .get_json(format!("http://{addr}/headers"))
        .await
        .expect("get_json");
    assert_eq!(headers["accept"], "application/json");
}

#[tokio::test]
async fn base_url_query_and_default_headers() {
    let addr = serve(echo_router()).await;
    let client = HttpClient::builder()
        .base_url(format!("http://{addr}/api/"))
        .default_header("x-team", "payments")
        .build()
        .expect("client");
    let value: serde_json::Value = client
        .get("v1/notes/7")
        .query(&[("full", "yes")])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(value["rest"], "notes/7");
    assert_eq!(value["query"]["full"], "yes");

    let client = HttpClient::builder()
        .base_url(format!("http://{addr}"))
        .default_header("x-team", "payments")
        .build()
        .expect("client");
    let seen: HashMap<String, String> = client.get_json("/headers").await.expect("headers");
    assert_eq!(
        seen["user-agent"],
        concat!("core-backend/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(seen["x-team"], "payments");
    // A header set on the request wins over the default.
    let seen: HashMap<String, String> = client
        .get("headers")
        .header("x-team", "search")
        .header("user-agent", "mine/1")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["x-team"], "search");
    assert_eq!(seen["user-agent"], "mine/1");
    // An absolute URL ignores the base.
    let text = client
        .get(format!("http://{addr}/uri?a=1"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert_eq!(text, "/uri?a=1");
}

#[tokio::test]
async fn relative_url_without_base_is_invalid() {
    let client = HttpClient::new();
    let error = client.get("/x").send().await.expect_err("no base");
    assert!(matches!(error, Error::InvalidUrl { .. }), "{error:?}");
    let error = client
        .get("ftp://127.0.0.1/x")
        .send()
        .await
        .expect_err("scheme");
    assert!(matches!(error, Error::InvalidUrl { .. }), "{error:?}");
    assert!(matches!(
        HttpClient::builder().base_url("not a url").build(),
        Err(Error::InvalidUrl { .. })
    ));
}

#[tokio::test]
async fn gzip_responses_are_decoded() {
    let text = "all work and no play makes jack a dull boy. ".repeat(200);
    let served = text.clone();
    let router = Router::new()
        .route(
            "/big",
            get(move |headers: HeaderMap| {
                let served = served.clone();
                async move {
                    let asked = headers
                        .get("accept-encoding")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    ([("x-asked", asked)], served)
                }
            }),
        )
        .layer(tower_http::compression::CompressionLayer::new());
    let addr = serve(router).await;

    let response = HttpClient::new()
        .get(format!("http://{addr}/big"))
        .send()
        .await
        .expect("send");
    assert!(
        response.headers()["x-asked"]
            .to_str()
            .expect("ascii")
            .contains("gzip")
    );
    assert!(
        response.headers().get("content-encoding").is_none(),
        "decoded"
    );
    assert_eq!(response.text().await.expect("text"), text);

    // Switched off, the compressed bytes arrive as they are.
    let client = HttpClient::builder()
        .decompression(false)
        .build()
        .expect("client");
    let response = client
        .get(format!("http://{addr}/big"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert!(response.bytes().await.expect("bytes").len() < text.len());
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let router = Router::new()
        .route(
            "/hop/{n}",
            get(|Path(n): Path<u32>| async move {
                if n == 0 {
                    "arrived".into_response()
                } else {
                    Redirect::temporary(&format!("/hop/{}", n - 1)).into_response()
                }
            }),
        )
        .route(
            "/post-here",
            post(|body: String| async move { format!("got {body}") }),
        )
        .route(
            "/moved",
            post(|| async { Redirect::temporary("/post-here") }),
        );
    let addr = serve(router).await;
    let client = HttpClient::builder()
        .max_redirects(3)
        .build()
        .expect("client");

    let text = client
        .get(format!("http://{addr}/hop/3"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert_eq!(text, "arrived");
    let error = client
        .get(format!("http://{addr}/hop/4"))
        .send()
        .await
        .expect_err("too many");
    assert!(matches!(error, Error::Redirect { limit: 3 }), "{error:?}");

    // A 307 replays an in-memory body.
    let text = client
        .post(format!("http://{addr}/moved"))
        .body("payload")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert_eq!(text, "got payload");

    // max_redirects(0) hands the 3xx back.
    let client = HttpClient::builder()
        .max_redirects(0)
        .build()
        .expect("client");
    let response = client
        .get(format!("http://{addr}/hop/1"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
}

#[tokio::test]
async fn authorization_does_not_cross_origins() {
    let seen = Router::new().route(
        "/seen",
        get(|headers: HeaderMap| async move {
            Json(serde_json::json!({
                "authorization": headers.get("authorization").and_then(|v| v.to_str().ok()),
                "cookie": headers.get("cookie").and_then(|v| v.to_str().ok()),
                "x-other": headers.get("x-other").and_then(|v| v.to_str().ok()),
            }))
        }),
    );
    let other = serve(seen.clone()).await;
    let router = seen
        .route("/same", get(|| async { Redirect::temporary("/seen") }))
        .route(
            "/away",
            get(move || async move { Redirect::temporary(&format!("http://{other}/seen")) }),
        );
    let addr = serve(router).await;
    let client = HttpClient::new();

    let call = |path: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(format!("http://{addr}{path}"))
                .bearer_auth("s3cr3t")
                .header("cookie", "session=1")
                .header("x-other", "kept")
                .send()
                .await
                .expect("send")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let same = call("/same").await;
    assert_eq!(same["authorization"], "Bearer s3cr3t");
    assert_eq!(same["cookie"], "session=1");
    let away = call("/away").await;
    assert!(away["authorization"].is_null(), "{away}");
    assert!(away["cookie"].is_null(), "{away}");
    assert_eq!(away["x-other"], "kept");
}

/// A server that accepts connections and reads requests but never answers.
async fn silent_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            held.push(stream);
        }
    });
    addr
}

#[tokio::test]
async fn attempt_timeout() {
    let addr = silent_server().await;
    let client = HttpClient::builder()
        .attempt_timeout(Duration::from_millis(200))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let started = Instant::now();
    let error = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect_err("silent");
    assert!(
        matches!(
            error,
            Error::Timeout {
                phase: TimeoutPhase::Attempt
            }
        ),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn total_timeout_covers_headers_and_body() {
    let addr = silent_server().await;
    let client = HttpClient::builder()
        .attempt_timeout(None)
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let error = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect_err("silent");
    assert!(
        matches!(
            error,
            Error::Timeout {
                phase: TimeoutPhase::Total
            }
        ),
        "{error:?}"
    );

    // A server that sends the head at once and then dribbles the body.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
            .await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let response = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect("head in time");
    let error = response.bytes().await.expect_err("body too slow");
    assert!(
        matches!(
            error,
            Error::Timeout {
                phase: TimeoutPhase::Total
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn connect_timeout_on_a_full_backlog() {
    // A listener that never accepts, with a backlog of one: once the queue is full, the kernel
    // drops further SYNs and a connect hangs — the loopback stand-in for a host that does not
    // answer.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let _listener = socket.listen(1).expect("listen");
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    let client = HttpClient::builder()
        .connect_timeout(Duration::from_millis(300))
        .attempt_timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let started = Instant::now();
    let error = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect_err("backlog full");
    assert!(
        matches!(
            error,
            Error::Timeout {
                phase: TimeoutPhase::Connect
            }
        ),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let error = HttpClient::new()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect_err("refused");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
}

#[tokio::test]
async fn connection_reset_is_typed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        // First connection: a head and part of the body, then a reset.
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial")
            .await;
        let _ = stream.flush().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let std = stream.into_std().expect("std");
        std.set_nonblocking(true).expect("nonblocking");
        drop(std_reset(std));
        // Second connection: reset before any answer.
        let (mut stream, _) = listener.accept().await.expect("accept");
        let _ = stream.read(&mut buf).await;
        drop(std_reset(stream.into_std().expect("std")));
    });
    let client = HttpClient::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let response = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect("head arrives");
    let error = response.bytes().await.expect_err("reset mid-body");
    assert!(matches!(error, Error::Body { .. }), "{error:?}");
    let error = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect_err("reset before head");
    assert!(matches!(error, Error::Connection { .. }), "{error:?}");
}

/// Closes with `SO_LINGER = 0`, which sends a RST instead of a FIN.
fn std_reset(stream: std::net::TcpStream) -> tokio::net::TcpStream {
    let stream = tokio::net::TcpStream::from_std(stream).expect("tokio stream");
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).expect("linger");
    stream
}

#[tokio::test]
async fn status_errors_carry_a_body_snippet() {
    let router = Router::new().route(
        "/missing",
        get(|| async { (StatusCode::NOT_FOUND, "no note with id 7; ".repeat(100)) }),
    );
    let addr = serve(router).await;
    let client = HttpClient::new();
    let error = client
        .get_json::<Note>(format!("http://{addr}/missing"))
        .await
        .expect_err("404");
    match error {
        Error::Status {
            status,
            body_snippet,
        } => {
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert!(body_snippet.starts_with("no note with id 7"));
            assert_eq!(body_snippet.len(), 512);
        }
        other => panic!("unexpected {other:?}"),
    }
    // Without error_for_status a 404 is a plain response.
    let response = client
        .get(format!("http://{addr}/missing"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn decode_errors_name_the_field() {
    let router = Router::new().route(
        "/note",
        get(|| async { Json(serde_json::json!({ "id": 1, "title": "t", "tags": ["a", 2] })) }),
    );
    let addr = serve(router).await;
    let error = HttpClient::new()
        .get_json::<Note>(format!("http://{addr}/note"))
        .await
        .expect_err("bad tag");
    match error {
        Error::Decode { path, .. } => assert_eq!(path, "tags[1]"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn body_size_limit() {
    let router = Router::new()
        .route("/sized", get(|| async { vec![b'x'; 5000] }))
        .route(
            "/chunked",
            get(|| async {
                let chunks = (0..50).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 100]));
                axum::body::Body::from_stream(tokio_stream::iter(chunks))
            }),
        );
    let addr = serve(router).await;
    let client = HttpClient::builder()
        .max_response_body(1000)
        .build()
        .expect("client");
    for path in ["/sized", "/chunked"] {
        let response = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .expect("send");
        let error = response.bytes().await.expect_err("too large");
        assert!(
            matches!(error, Error::TooLarge { limit: 1000 }),
            "{path}: {error:?}"
        );
    }
    let response = client
        .get(format!("http://{addr}/chunked"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        response.bytes_limited(10_000).await.expect("fits").len(),
        5000
    );
}

#[tokio::test]
async fn http2_prior_knowledge() {
    let addr = serve(echo_router()).await;
    let client = HttpClient::builder()
        .http2_prior_knowledge(true)
        .build()
        .expect("client");
    let response = client
        .get(format!("http://{addr}/version"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.text().await.expect("text"), "HTTP/2.0");
    let response = HttpClient::new()
        .get(format!("http://{addr}/version"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.text().await.expect("text"), "HTTP/1.1");
}

#[tokio::test]
async fn works_as_a_plain_tower_service() {
    let addr = serve(echo_router()).await;
    let client = HttpClient::builder()
        .base_url(format!("http://{addr}"))
        .build()
        .expect("client");
    let request = http::Request::get("/uri?x=1")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let response = client.clone().oneshot(request).await.expect("call");
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body, "/uri?x=1");
    // Shared across tasks.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("uri").send().await.map(|r| r.status()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("join").expect("send"), StatusCode::OK);
    }
}

#[derive(Debug)]
struct CircuitOpen;
impl std::fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("circuit open")
    }
}
impl std::error::Error for CircuitOpen {}

/// A test layer: counts calls, tags requests, and fails hosts marked open with `CircuitOpen`.
#[derive(Clone)]
struct Probe {
    calls: Arc<AtomicUsize>,
    open: bool,
}

impl<S> tower::Layer<S> for Probe {
    type Service = ProbeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ProbeService {
            inner,
            probe: self.clone(),
        }
    }
}

#[derive(Clone)]
struct ProbeService<S> {
    inner: S,
    probe: Probe,
}

impl<S> tower::Service<http::Request<Body>> for ProbeService<S>
where
    S: tower::Service<http::Request<Body>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        self.probe.calls.fetch_add(1, Ordering::SeqCst);
        // The layer sees the absolute URI and default headers.
        assert!(request.uri().scheme().is_some());
        assert!(request.headers().contains_key("user-agent"));
        request
            .headers_mut()
            .insert("x-probe", http::HeaderValue::from_static("1"));
        if self.probe.open {
            return Box::pin(async { Err(Box::new(CircuitOpen) as BoxError) });
        }
        let future = self.inner.call(request);
        Box::pin(future)
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

#[tokio::test]
async fn user_layers_sit_inside_redirects_and_their_errors_stay_typed() {
    let router = echo_router().route(
        "/redirect",
        get(|| async { Redirect::temporary("/headers") }),
    );
    let addr = serve(router).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let client = HttpClient::builder()
        .base_url(format!("http://{addr}"))
        .layer(Probe {
            calls: calls.clone(),
            open: false,
        })
        .build()
        .expect("client");
    let seen: HashMap<String, String> = client.get_json("redirect").await.expect("json");
    assert_eq!(seen["x-probe"], "1");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one call per hop");

    let client = HttpClient::builder()
        .base_url(format!("http://{addr}"))
        .layer(Probe {
            calls: calls.clone(),
            open: true,
        })
        .build()
        .expect("client");
    let error = client.get("headers").send().await.expect_err("open");
    assert!(matches!(error, Error::Other(_)));
    assert!(error.downcast_ref::<CircuitOpen>().is_some());
    let source = std::error::Error::source(&error).expect("a source");
    assert!(source.is::<CircuitOpen>());
}

/// Retries a 503 or an attempt timeout, up to `left` times.
#[derive(Clone)]
struct RetryUnavailable {
    left: usize,
}

impl tower::retry::Policy<http::Request<Body>, http::Response<Body>, BoxError>
    for RetryUnavailable
{
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _request: &mut http::Request<Body>,
        result: &mut Result<http::Response<Body>, BoxError>,
    ) -> Option<Self::Future> {
        let retry = match result {
            Ok(response) => response.status() == StatusCode::SERVICE_UNAVAILABLE,
            Err(error) => matches!(
                error.downcast_ref::<Error>(),
                Some(Error::Timeout {
                    phase: TimeoutPhase::Attempt
                })
            ),
        };
        (retry && self.left > 0).then(|| {
            self.left -= 1;
            std::future::ready(())
        })
    }

    fn clone_request(&mut self, request: &http::Request<Body>) -> Option<http::Request<Body>> {
        let mut copy = http::Request::new(request.body().try_clone()?);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        Some(copy)
    }
}

#[tokio::test]
async fn tower_retry_and_concurrency_limit_in_the_stack() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = Router::new().route(
        "/flaky",
        get(move || {
            let counter = counter.clone();
            async move {
                match counter.fetch_add(1, Ordering::SeqCst) {
                    0 => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
                    1 => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        "late".into_response()
                    }
                    _ => "ok".into_response(),
                }
            }
        }),
    );
    let addr = serve(router).await;
    let client = HttpClient::builder()
        .base_url(format!("http://{addr}"))
        .attempt_timeout(Duration::from_millis(300))
        .layer(tower::limit::ConcurrencyLimitLayer::new(4))
        .layer(tower::retry::RetryLayer::new(RetryUnavailable { left: 3 }))
        .build()
        .expect("client");
    let text = client
        .get("flaky")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert_eq!(text, "ok");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "503, then a timed-out attempt, then success"
    );
}

#[tokio::test]
async fn observability_layer_composes() {
    let addr = serve(echo_router()).await;
    let client = HttpClient::builder()
        .base_url(format!("http://{addr}"))
        .layer(core_backend_observability::HttpClientLayer::new())
        .build()
        .expect("client");
    let seen: HashMap<String, String> = client.get_json("headers").await.expect("json");
    assert!(seen.contains_key("user-agent"));
}
