//! Throughput and latency of a trivial `GET` through the full server (all defaults: request id,
//! timeout, body limit, compression, catch-panic, problem bodies) versus bare `axum::serve` with
//! the same router, both driven by the same hyper client on loopback in one run.
//!
//! - `h2c_64_in_flight`: 4 HTTP/2 connections, 64 requests in flight; also axum with tower-http's
//!   request-id layers, to show what the request id alone costs.
//! - `http1_16_connections`: 16 HTTP/1.1 keep-alive connections, one request in flight each.
//!
//! After the criterion groups, a latency pass prints p50/p99 for both servers.
//!
//! Run: `cargo bench -p core-backend-server --no-run`, then the printed binary with `--bench`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use axum::{Router, routing::get, serve::ListenerExt};
use bytes::Bytes;
use core_backend_server::Server;
use criterion::{Criterion, Throughput, criterion_group};
use futures_util::{StreamExt, stream::FuturesUnordered};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{net::TcpStream, runtime::Runtime};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

const BATCH: usize = 256;
const IN_FLIGHT: usize = 64;
const H2_CONNECTIONS: usize = 4;
const H1_CONNECTIONS: usize = 16;

fn router() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Bare `axum::serve` of `router` with `TCP_NODELAY` (ours sets it by default, so Nagle does
/// not decide the comparison).
async fn serve_axum(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Starts our server and bare axum on loopback; returns (ours, axum).
fn start_servers(rt: &Runtime) -> (SocketAddr, SocketAddr) {
    rt.block_on(async {
        let ours = Server::builder()
            .addr("127.0.0.1:0".parse().unwrap())
            .router(router())
            .bind()
            .await
            .unwrap();
        let ours_addr = ours.local_addr();
        tokio::spawn(ours.serve_with_shutdown(std::future::pending()));

        let axum_addr = serve_axum(router()).await;
        (ours_addr, axum_addr)
    })
}

async fn h2_clients(addr: SocketAddr) -> Vec<http2::SendRequest<Empty<Bytes>>> {
    let mut clients = Vec::new();
    for _ in 0..H2_CONNECTIONS {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let io = TokioIo::new(stream);
        let (send, conn) = http2::handshake(TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(conn);
        clients.push(send);
    }
    clients
}

async fn h1_clients(addr: SocketAddr) -> Vec<http1::SendRequest<Empty<Bytes>>> {
    let mut clients = Vec::new();
    for _ in 0..H1_CONNECTIONS {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (send, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        clients.push(send);
    }
    clients
}

fn request(addr: SocketAddr) -> http::Request<Empty<Bytes>> {
    http::Request::get(format!("http://{addr}/"))
        .body(Empty::new())
        .unwrap()
}

/// One request over HTTP/2; returns its latency.
async fn h2_one(mut client: http2::SendRequest<Empty<Bytes>>, addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let res = client.send_request(request(addr)).await.unwrap();
    assert!(res.status().is_success());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok");
    started.elapsed()
}

/// `total` requests with `IN_FLIGHT` in flight, round-robin over the connections.
async fn h2_batch(
    clients: &[http2::SendRequest<Empty<Bytes>>],
    addr: SocketAddr,
    total: usize,
    latencies: Option<&mut Vec<Duration>>,
) {
    let mut running = FuturesUnordered::new();
    let mut sent = 0;
    let mut record = latencies;
    while sent < total || !running.is_empty() {
        while sent < total && running.len() < IN_FLIGHT {
            running.push(h2_one(clients[sent % clients.len()].clone(), addr));
            sent += 1;
        }
        if let Some(latency) = running.next().await
            && let Some(out) = record.as_deref_mut()
        {
            out.push(latency);
        }
    }
}

/// `BATCH` requests spread over the HTTP/1.1 connections, one in flight per connection.
async fn h1_batch(clients: &mut [http1::SendRequest<Empty<Bytes>>], addr: SocketAddr) {
    let per_conn = BATCH / clients.len();
    let tasks = clients.iter_mut().map(|client| async move {
        for _ in 0..per_conn {
            client.ready().await.unwrap();
            let res = client.send_request(request(addr)).await.unwrap();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok");
        }
    });
    futures_util::future::join_all(tasks).await;
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let (ours, bare) = start_servers(&rt);

    // The same router with tower-http's request-id layers, which ours applies by default: shows
    // how much of the difference is the request id alone.
    let with_request_id = rt.block_on(serve_axum(
        router()
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid)),
    ));

    let mut group = c.benchmark_group("h2c_64_in_flight");
    group.throughput(Throughput::Elements(BATCH as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, addr) in [
        ("core_backend_server", ours),
        ("bare_axum_serve", bare),
        ("axum_serve_with_request_id", with_request_id),
    ] {
        let clients = rt.block_on(h2_clients(addr));
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let clients = clients.clone();
                async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        h2_batch(&clients, addr, BATCH, None).await;
                    }
                    started.elapsed()
                }
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("http1_16_connections");
    group.throughput(Throughput::Elements(BATCH as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, addr) in [("core_backend_server", ours), ("bare_axum_serve", bare)] {
        let clients = std::sync::Arc::new(tokio::sync::Mutex::new(rt.block_on(h1_clients(addr))));
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let clients = clients.clone();
                async move {
                    let mut clients = clients.lock().await;
                    let started = Instant::now();
                    for _ in 0..iters {
                        h1_batch(&mut clients, addr).await;
                    }
                    started.elapsed()
                }
            });
        });
    }
    group.finish();

    latency_report(&rt, ours, bare);
}

/// p50/p99 of 20 000 requests with 64 in flight over HTTP/2, alternating servers per round so
/// both see the same machine load.
fn latency_report(rt: &Runtime, ours: SocketAddr, bare: SocketAddr) {
    const ROUNDS: usize = 10;
    const PER_ROUND: usize = 2_000;
    let (ours_lat, bare_lat, ours_time, bare_time) = rt.block_on(async {
        let ours_clients = h2_clients(ours).await;
        let bare_clients = h2_clients(bare).await;
        let (mut o, mut b) = (Vec::new(), Vec::new());
        let (mut ot, mut bt) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            h2_batch(&ours_clients, ours, PER_ROUND, Some(&mut o)).await;
            ot += started.elapsed();
            let started = Instant::now();
            h2_batch(&bare_clients, bare, PER_ROUND, Some(&mut b)).await;
            bt += started.elapsed();
        }
        (o, b, ot, bt)
    });
    let pct = |v: &[Duration], p: f64| {
        let mut v = v.to_vec();
        v.sort();
        v[((v.len() as f64 - 1.0) * p) as usize]
    };
    let total = (ROUNDS * PER_ROUND) as f64;
    let ours_rps = total / ours_time.as_secs_f64();
    let bare_rps = total / bare_time.as_secs_f64();
    println!(
        "\nlatency, h2c, {IN_FLIGHT} in flight, {} requests each:",
        ROUNDS * PER_ROUND
    );
    println!(
        "  core_backend_server: {ours_rps:>9.0} req/s  p50 {:>8.1?}  p99 {:>8.1?}",
        pct(&ours_lat, 0.50),
        pct(&ours_lat, 0.99)
    );
    println!(
        "  bare_axum_serve:     {bare_rps:>9.0} req/s  p50 {:>8.1?}  p99 {:>8.1?}",
        pct(&bare_lat, 0.50),
        pct(&bare_lat, 0.99)
    );
    println!("  ratio ours / bare:   {:.3}", ours_rps / bare_rps);
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
