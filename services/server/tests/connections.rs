//! Connection-level protection: slow-loris clients, silent connections, the connection cap.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use axum::{Router, routing::get};
use common::{TestServer, fetch};
use core_backend_server::{Server, ServerConfig};
use http::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn config(header_read_timeout: Duration) -> ServerConfig {
    let mut cfg = ServerConfig::default();
    cfg.header_read_timeout = header_read_timeout;
    cfg
}

async fn start(cfg: ServerConfig) -> TestServer {
    TestServer::start(
        Server::builder()
            .config(cfg)
            .router(Router::new().route("/", get(|| async { "ok" }))),
    )
    .await
}

/// Writes `bytes`, then reads until the server closes; returns how long that took and what
/// the server sent.
async fn closed_after(server: &TestServer, bytes: &[u8]) -> (Duration, Vec<u8>) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    stream.write_all(bytes).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "server did not close the connection");
    (started.elapsed(), received)
}

#[tokio::test]
async fn slow_loris_headers_are_cut_off() {
    let server = start(config(Duration::from_millis(300))).await;
    // A request head that never ends.
    let (took, _) = closed_after(&server, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await;
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(2), "closed too late: {took:?}");
    // The server still serves well-behaved clients.
    assert_eq!(fetch(server.addr, "/").await.status, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn silent_and_half_preface_connections_are_closed() {
    let server = start(config(Duration::from_millis(300))).await;
    let (took, received) = closed_after(&server, b"").await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(received.is_empty());
    // Part of the HTTP/2 preface, then nothing.
    let (took, _) = closed_after(&server, b"PRI * HTTP/2.0\r\n").await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn complete_requests_are_not_cut_off() {
    let server = start(config(Duration::from_millis(300))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // Shorter than the HTTP/2 preface, but a complete request.
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.0 200 OK"), "{text}");
    assert!(text.ends_with("ok"), "{text}");

    // An HTTP/2 connection idle after its handshake stays open past the timeout.
    let mut h2 = common::h2(server.addr).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let res = h2
        .send_request(
            http::Request::get(server.url("/"))
                .body(common::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn max_connections_holds_back_new_clients() {
    let mut cfg = config(Duration::from_secs(10));
    cfg.max_connections = Some(1);
    let server = start(cfg).await;

    let mut first = common::h1(server.addr).await;
    let res = first
        .send_request(common::req("GET", "/").body(common::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // The second client connects (kernel backlog) but is not served while the first is open.
    let addr = server.addr;
    let second = tokio::spawn(async move { fetch(addr, "/").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "second connection was served beyond max_connections"
    );

    drop(first);
    let res = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status, StatusCode::OK);
    server.stop().await.unwrap();
}
