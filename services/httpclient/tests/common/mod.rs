//! Loopback servers for the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// Serves `router` on 127.0.0.1:0 (HTTP/1.1 and h2c) and returns its address.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    addr
}
