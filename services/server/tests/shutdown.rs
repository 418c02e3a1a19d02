//! Graceful shutdown: hooks first, in-flight requests finish, new connections are refused, and
//! stragglers are cut off at the deadline.

#![allow(clippy::unwrap_used)]

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, routing::get};
use common::{Reply, TestServer, empty, fetch, req};
use core_backend_server::{Server, ServerConfig};
use http::StatusCode;
use tokio::{net::TcpStream, sync::Notify};

type Log = Arc<Mutex<Vec<&'static str>>>;

/// `/slow` announces that it started, sleeps `delay`, logs and answers.
fn router(log: Log, entered: Arc<Notify>, delay: Duration) -> Router {
    Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(move || async move {
            entered.notify_one();
            tokio::time::sleep(delay).await;
            log.lock().unwrap().push("slow request done");
            "finished"
        }),
    )
}

async fn refused(addr: std::net::SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_err()
}

#[tokio::test]
async fn in_flight_requests_finish_while_new_connections_are_refused() {
    let log: Log = Arc::default();
    let entered = Arc::new(Notify::new());
    let hook_log = log.clone();
    let async_log = log.clone();
    let mut server = TestServer::start(
        Server::builder()
            .router(router(
                log.clone(),
                entered.clone(),
                Duration::from_millis(800),
            ))
            .on_shutdown(move || hook_log.lock().unwrap().push("hook"))
            .on_shutdown_async(move || async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                async_log.lock().unwrap().push("async hook");
            }),
    )
    .await;
    let addr = server.addr;

    // One request in flight over HTTP/1.1, one over HTTP/2.
    let h1 = tokio::spawn(async move { fetch(addr, "/slow").await });
    entered.notified().await;
    let mut h2 = common::h2(addr).await;
    let url = server.url("/slow");
    let h2_req = tokio::spawn(async move {
        Reply::from(
            h2.send_request(http::Request::get(url).body(empty()).unwrap())
                .await
                .unwrap(),
        )
        .await
    });
    entered.notified().await;

    let started = Instant::now();
    server.signal();
    // The listener closes once the hooks ran, long before the slow requests end.
    let mut waited = Duration::ZERO;
    while !refused(addr).await {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
        assert!(waited < Duration::from_secs(2), "listener still open");
    }
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "refusing only after {:?}",
        started.elapsed()
    );

    let h1 = h1.await.unwrap();
    assert_eq!(
        (h1.status, h1.text().as_str()),
        (StatusCode::OK, "finished")
    );
    let h2 = h2_req.await.unwrap();
    assert_eq!(
        (h2.status, h2.text().as_str()),
        (StatusCode::OK, "finished")
    );
    server.join().await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "hook",
            "async hook",
            "slow request done",
            "slow request done"
        ]
    );
}

#[tokio::test]
async fn grace_period_keeps_accepting() {
    let mut cfg = ServerConfig::default();
    cfg.shutdown_grace = Duration::from_millis(500);
    let hooked = Arc::new(Notify::new());
    let notify = hooked.clone();
    let mut server = TestServer::start(
        Server::builder()
            .config(cfg)
            .router(Router::new().route("/", get(|| async { "ok" })))
            .on_shutdown(move || notify.notify_one()),
    )
    .await;
    let started = Instant::now();
    server.signal();
    hooked.notified().await;
    // Readiness would now fail, but the server still serves new connections.
    assert_eq!(fetch(server.addr, "/").await.status, StatusCode::OK);
    let addr = server.addr;
    server.join().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(refused(addr).await);
}

#[tokio::test]
async fn stragglers_are_cut_off_at_the_deadline() {
    let log: Log = Arc::default();
    let entered = Arc::new(Notify::new());
    let mut cfg = ServerConfig::default();
    cfg.shutdown_timeout = Duration::from_millis(300);
    let mut server = TestServer::start(Server::builder().config(cfg).router(router(
        log.clone(),
        entered.clone(),
        Duration::from_secs(30),
    )))
    .await;
    let mut c = common::h1(server.addr).await;
    let pending = tokio::spawn(async move {
        c.send_request(req("GET", "/slow").body(empty()).unwrap())
            .await
    });
    entered.notified().await;

    let started = Instant::now();
    server.signal();
    server.join().await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The client sees its connection closed; the handler never finished.
    assert!(pending.await.unwrap().is_err());
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_delay_shutdown() {
    let server = TestServer::start(
        Server::builder().router(Router::new().route("/", get(|| async { "ok" }))),
    )
    .await;
    // An idle HTTP/1.1 keep-alive connection and an idle HTTP/2 connection.
    let mut h1 = common::h1(server.addr).await;
    let res = h1
        .send_request(req("GET", "/").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let _h2 = common::h2(server.addr).await;
    let started = Instant::now();
    server.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shutdown_before_any_connection() {
    let bound = Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .bind()
        .await
        .unwrap();
    let addr = bound.local_addr();
    assert!(!bound.is_tls());
    bound.serve_with_shutdown(async {}).await.unwrap();
    assert!(refused(addr).await);
}

#[tokio::test]
async fn bind_errors_name_the_address() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Server::builder().addr(addr).bind().await.unwrap_err();
    assert!(matches!(err, core_backend_server::Error::Bind { .. }));
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    // An existing listener can be handed in instead.
    let server = TestServer::start(Server::builder().listener(taken)).await;
    assert_eq!(server.addr, addr);
    fetch(addr, "/").await.problem(StatusCode::NOT_FOUND);
    server.stop().await.unwrap();

    let mut cfg = ServerConfig::default();
    cfg.body_limit = 0;
    let err = Server::builder().config(cfg).bind().await.unwrap_err();
    assert!(err.to_string().contains("body_limit"), "{err}");
}

#[cfg(not(feature = "tls"))]
#[tokio::test]
async fn tls_without_the_feature_is_a_config_error() {
    let mut cfg = ServerConfig::default();
    cfg.tls = Some(core_backend_server::TlsConfig::new("cert.pem", "key.pem"));
    let err = Server::builder().config(cfg).bind().await.unwrap_err();
    assert!(matches!(err, core_backend_server::Error::Config(_)));
    assert!(err.to_string().contains("`tls` feature"), "{err}");
}
