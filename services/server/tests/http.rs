//! HTTP/1.1 and h2c against the axum router through the full server: problem+json rejections,
//! request ids, compression, CORS, panics, limits and user layers.

#![allow(clippy::unwrap_used)]

mod common;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::HeaderMap,
    response::Response,
    routing::{get, post},
};
use common::{H1, Reply, TestServer, empty, fetch, h1, h2, req, send};
use core_backend_server::{Problem, Server, ServerConfig};
use http::StatusCode;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tokio::sync::Notify;
use tower::ServiceBuilder;

async fn panics() -> &'static str {
    panic!("handler blew up")
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/request-id",
            get(|headers: HeaderMap| async move {
                headers
                    .get("x-request-id")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "slow"
            }),
        )
        .route("/panic", get(panics))
        .route("/big", get(|| async { "a".repeat(4096) }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route(
            "/conflict",
            get(|| async { Problem::new(StatusCode::CONFLICT).with_detail("already there") }),
        )
}

fn config() -> ServerConfig {
    ServerConfig::default()
}

async fn start(cfg: ServerConfig) -> TestServer {
    TestServer::start(Server::builder().config(cfg).router(app())).await
}

/// GETs `path` on the open HTTP/1.1 connection `c`.
async fn get_on(c: &mut H1, path: &str) -> Reply {
    Reply::from(
        c.send_request(req("GET", path).body(empty()).unwrap())
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn http1_and_h2c_reach_the_router() {
    let server = start(config()).await;

    let mut c = h1(server.addr).await;
    let res = get_on(&mut c, "/").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.version, http::Version::HTTP_11);
    assert_eq!(res.text(), "hello");
    // Keep-alive: the same connection serves a second request.
    let res = get_on(&mut c, "/").await;
    assert_eq!(res.status, StatusCode::OK);

    let mut c = h2(server.addr).await;
    let r = http::Request::get(server.url("/")).body(empty()).unwrap();
    let res = Reply::from(c.send_request(r).await.unwrap()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.version, http::Version::HTTP_2);
    assert_eq!(res.text(), "hello");

    // Connection info reaches axum's extractor.
    assert_eq!(fetch(server.addr, "/peer").await.text(), "127.0.0.1");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_problems() {
    let server = start(config()).await;
    let res = fetch(server.addr, "/nope").await;
    let json = res.problem(StatusCode::NOT_FOUND);
    assert_eq!(json["instance"], "/nope");
    assert_eq!(json["title"], "Not Found");

    let res = send(server.addr, req("DELETE", "/").body(empty()).unwrap()).await;
    let json = res.problem(StatusCode::METHOD_NOT_ALLOWED);
    assert!(res.header("allow").unwrap().contains("GET"));
    assert!(json["detail"].as_str().unwrap().contains("DELETE"));

    // Over h2 too.
    let mut c = h2(server.addr).await;
    let res = Reply::from(
        c.send_request(
            http::Request::get(server.url("/nope"))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap(),
    )
    .await;
    res.problem(StatusCode::NOT_FOUND);

    // A handler's own problem passes untouched.
    let res = fetch(server.addr, "/conflict").await;
    assert_eq!(res.problem(StatusCode::CONFLICT)["detail"], "already there");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let mut cfg = config();
    cfg.body_limit = 16;
    let server = start(cfg).await;

    let ok = send(
        server.addr,
        req("POST", "/echo")
            .body(Full::new(Bytes::from_static(b"small")))
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.text(), "small");

    // Known length: refused before the handler runs.
    let big = Bytes::from(vec![b'x'; 100]);
    let res = send(
        server.addr,
        req("POST", "/echo").body(Full::new(big.clone())).unwrap(),
    )
    .await;
    let json = res.problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        json["detail"],
        "the request body exceeds the limit of 16 bytes"
    );

    // Unknown length (chunked): the limit trips while the handler reads.
    let chunks = futures_util::stream::iter(
        (0..10).map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"0123456789")))),
    );
    let r = req("POST", "/echo").body(StreamBody::new(chunks)).unwrap();
    let io =
        hyper_util::rt::TokioIo::new(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    let (mut send_chunked, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let res = Reply::from(send_chunked.send_request(r).await.unwrap()).await;
    res.problem(StatusCode::PAYLOAD_TOO_LARGE);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn slow_handlers_get_408() {
    let mut cfg = config();
    cfg.request_timeout = Duration::from_millis(200);
    let server = start(cfg).await;
    let started = std::time::Instant::now();
    let res = fetch(server.addr, "/slow").await;
    let json = res.problem(StatusCode::REQUEST_TIMEOUT);
    assert!(json["detail"].as_str().unwrap().contains("timeout"));
    assert!(started.elapsed() < Duration::from_secs(2));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn panics_become_500_and_the_server_lives() {
    let server = start(config()).await;
    let mut c = h1(server.addr).await;
    let res = get_on(&mut c, "/panic").await;
    res.problem(StatusCode::INTERNAL_SERVER_ERROR);
    // The same connection and new ones keep working.
    let res = get_on(&mut c, "/").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(fetch(server.addr, "/").await.status, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn concurrency_limit_sheds_with_503() {
    let gate = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/wait",
        get({
            let (gate, entered) = (gate.clone(), entered.clone());
            move || async move {
                entered.notify_one();
                gate.notified().await;
                "released"
            }
        }),
    );
    let mut cfg = config();
    cfg.concurrency_limit = Some(1);
    let server = TestServer::start(Server::builder().config(cfg).router(router)).await;

    let addr = server.addr;
    let first = tokio::spawn(async move { fetch(addr, "/wait").await });
    entered.notified().await;

    let res = fetch(server.addr, "/").await;
    assert!(
        res.problem(StatusCode::SERVICE_UNAVAILABLE)["detail"]
            .as_str()
            .unwrap()
            .contains("concurrency limit")
    );

    gate.notify_one();
    assert_eq!(first.await.unwrap().text(), "released");
    assert_eq!(fetch(server.addr, "/").await.status, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn request_ids_are_set_and_propagated() {
    let server = start(config()).await;
    let res = fetch(server.addr, "/request-id").await;
    let generated = res.header("x-request-id").unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    assert_eq!(res.text(), generated, "the handler sees the same id");

    let res = send(
        server.addr,
        req("GET", "/request-id")
            .header("x-request-id", "abc-123")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.header("x-request-id"), Some("abc-123"));
    assert_eq!(res.text(), "abc-123");

    // Rejections carry it too.
    let res = fetch(server.addr, "/nope").await;
    assert!(res.header("x-request-id").is_some());
    server.stop().await.unwrap();

    let mut cfg = config();
    cfg.request_id_header = "x-correlation-id".into();
    let server = start(cfg).await;
    let res = fetch(server.addr, "/").await;
    assert!(res.header("x-correlation-id").is_some());
    assert!(res.header("x-request-id").is_none());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn gzip_when_accepted_and_enabled() {
    let server = start(config()).await;
    let res = send(
        server.addr,
        req("GET", "/big")
            .header("accept-encoding", "gzip")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert!(res.body.len() < 4096);
    let res = fetch(server.addr, "/big").await;
    assert_eq!(res.header("content-encoding"), None);
    assert_eq!(res.body.len(), 4096);
    server.stop().await.unwrap();

    let mut cfg = config();
    cfg.compression = false;
    let server = start(cfg).await;
    let res = send(
        server.addr,
        req("GET", "/big")
            .header("accept-encoding", "gzip")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.header("content-encoding"), None);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn cors_answers_preflights_and_marks_rejections() {
    let mut cfg = config();
    cfg.cors = vec!["https://app.example".into()];
    let server = start(cfg).await;
    let preflight = req("OPTIONS", "/echo")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(empty())
        .unwrap();
    let res = send(server.addr, preflight).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        res.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );

    let res = send(
        server.addr,
        req("GET", "/nope")
            .header("origin", "https://app.example")
            .body(empty())
            .unwrap(),
    )
    .await;
    res.problem(StatusCode::NOT_FOUND);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        res.header("access-control-expose-headers")
            .unwrap()
            .contains("grpc-status")
    );

    let res = send(
        server.addr,
        req("GET", "/")
            .header("origin", "https://evil.example")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("access-control-allow-origin"), None);
    server.stop().await.unwrap();
}

/// A layer that logs `<name>:<status>` for every response it sees.
fn recorder(
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
) -> tower::util::MapResponseLayer<impl Fn(Response) -> Response + Clone> {
    tower::util::MapResponseLayer::new(move |res: Response| {
        log.lock()
            .unwrap()
            .push(format!("{name}:{}", res.status().as_u16()));
        res
    })
}

#[tokio::test]
async fn user_layers_wrap_everything_last_outermost() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = config();
    cfg.request_timeout = Duration::from_millis(100);
    let server = TestServer::start(
        Server::builder()
            .config(cfg)
            .router(app())
            .layer(recorder("inner", log.clone()))
            .layer(recorder("outer", log.clone())),
    )
    .await;
    assert_eq!(fetch(server.addr, "/").await.status, StatusCode::OK);
    fetch(server.addr, "/slow")
        .await
        .problem(StatusCode::REQUEST_TIMEOUT);
    fetch(server.addr, "/panic")
        .await
        .problem(StatusCode::INTERNAL_SERVER_ERROR);
    fetch(server.addr, "/nope")
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "inner:200",
            "outer:200",
            "inner:408",
            "outer:408",
            "inner:500",
            "outer:500",
            "inner:404",
            "outer:404"
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn user_layer_errors_become_responses() {
    let server = TestServer::start(
        Server::builder().router(app()).layer(
            ServiceBuilder::new()
                .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(50)))
                .map_request(|req: http::Request<Body>| req),
        ),
    )
    .await;
    fetch(server.addr, "/slow")
        .await
        .problem(StatusCode::REQUEST_TIMEOUT);
    assert_eq!(fetch(server.addr, "/").await.status, StatusCode::OK);
    server.stop().await.unwrap();

    // A layer can reject with a Problem of its own.
    let server = TestServer::start(
        Server::builder()
            .router(app())
            .layer(tower::layer::layer_fn(
                |inner: core_backend_server::InnerService| {
                    tower::service_fn(move |req: http::Request<Body>| {
                        let inner = inner.clone();
                        async move {
                            let res = tower::ServiceExt::oneshot(inner, req).await.unwrap();
                            if res.status() == StatusCode::NOT_FOUND {
                                Err(Problem::new(StatusCode::GONE)
                                    .with_detail("replaced by a layer"))
                            } else {
                                Ok(res)
                            }
                        }
                    })
                },
            )),
    )
    .await;
    let res = fetch(server.addr, "/nope").await;
    assert_eq!(
        res.problem(StatusCode::GONE)["detail"],
        "replaced by a layer"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn many_concurrent_requests_over_few_connections() {
    let server = start(config()).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut c = h2(server.addr).await;
        let url = server.url("/");
        tasks.push(tokio::spawn(async move {
            let mut futs = Vec::new();
            for _ in 0..50 {
                futs.push(c.send_request(http::Request::get(&url).body(empty()).unwrap()));
            }
            for f in futs {
                let res = f.await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hello");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn body_limit_above_axums_default_is_honoured() {
    let mut cfg = config();
    cfg.body_limit = 3 * 1024 * 1024;
    let server = start(cfg).await;
    let body = Bytes::from(vec![b'x'; 2 * 1024 * 1024 + 10]);
    let res = send(
        server.addr,
        req("POST", "/echo").body(Full::new(body.clone())).unwrap(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body.len(), body.len());
    let too_big = Bytes::from(vec![b'x'; 3 * 1024 * 1024 + 1]);
    let res = send(
        server.addr,
        req("POST", "/echo").body(Full::new(too_big)).unwrap(),
    )
    .await;
    res.problem(StatusCode::PAYLOAD_TOO_LARGE);
    server.stop().await.unwrap();
}
