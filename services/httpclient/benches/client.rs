//! Our client stack against a bare hyper-util client: GET on a loopback axum server, 32 requests
//! in flight.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use core_backend_httpclient::HttpClient;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const IN_FLIGHT: usize = 32;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().route("/hello", get(|| async { "hello world" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    let url = format!("http://{addr}/hello");
    let uri: http::Uri = url.parse().expect("uri");

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let bare: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(IN_FLIGHT)
        .build(connector);
    let ours = runtime.block_on(async {
        HttpClient::builder()
            .pool_max_idle_per_host(IN_FLIGHT)
            .build()
            .expect("client")
    });

    // The same client with every optional stage switched off, to show what the stages cost.
    let minimal = runtime.block_on(async {
        HttpClient::builder()
            .pool_max_idle_per_host(IN_FLIGHT)
            .timeout(None)
            .attempt_timeout(None)
            .connect_timeout(None)
            .max_redirects(0)
            .decompression(false)
            .build()
            .expect("client")
    });

    let mut group = c.benchmark_group("loopback_get_32_in_flight");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(30);
    group.bench_function("hyper_util_bare", |b| {
        b.to_async(&runtime).iter(|| {
            let bare = bare.clone();
            let uri = uri.clone();
            async move {
                join_all((0..IN_FLIGHT).map(|_| {
                    let bare = bare.clone();
                    let uri = uri.clone();
                    async move {
                        let response = bare.get(uri).await.expect("response");
                        let body = response
                            .into_body()
                            .collect()
                            .await
                            .expect("body")
                            .to_bytes();
                        assert_eq!(body.len(), 11);
                    }
                }))
                .await
            }
        });
    });
    group.bench_function("core_backend_httpclient", |b| {
        b.to_async(&runtime).iter(|| {
            let ours = ours.clone();
            let url = url.as_str();
            async move {
                join_all((0..IN_FLIGHT).map(|_| {
                    let ours = ours.clone();
                    async move {
                        let body = ours
                            .get(url)
                            .send()
                            .await
                            .expect("response")
                            .bytes()
                            .await
                            .expect("body");
                        assert_eq!(body.len(), 11);
                    }
                }))
                .await
            }
        });
    });
    group.bench_function("core_backend_httpclient_minimal", |b| {
        b.to_async(&runtime).iter(|| {
            let minimal = minimal.clone();
            let url = url.as_str();
            async move {
                join_all((0..IN_FLIGHT).map(|_| {
                    let minimal = minimal.clone();
                    async move {
                        let body = minimal
                            .get(url)
                            .send()
                            .await
                            .expect("response")
                            .bytes()
                            .await
                            .expect("body");
                        assert_eq!(body.len(), 11);
                    }
                }))
                .await
            }
        });
    });
    group.finish();

    // The machine is shared and its load moves during a run, so the ratio is also measured with
    // the two clients interleaved batch by batch: both see the same load.
    let (mut bare_time, mut ours_time) = (Duration::ZERO, Duration::ZERO);
    runtime.block_on(async {
        for round in 0..ROUNDS {
            for turn in 0..2 {
                let started = std::time::Instant::now();
                for _ in 0..BATCHES {
                    if (round + turn) % 2 == 0 {
                        join_all((0..IN_FLIGHT).map(|_| {
                            let bare = bare.clone();
                            let uri = uri.clone();
                            async move {
                                let response = bare.get(uri).await.expect("response");
                                response.into_body().collect().await.expect("body");
                            }
                        }))
                        .await;
                    } else {
                        join_all((0..IN_FLIGHT).map(|_| {
                            let ours = ours.clone();
                            let url = url.as_str();
                            async move {
                                ours.get(url)
                                    .send()
                                    .await
                                    .expect("response")
                                    .bytes()
                                    .await
                                    .expect("body");
                            }
                        }))
                        .await;
                    }
                }
                if (round + turn) % 2 == 0 {
                    bare_time += started.elapsed();
                } else {
                    ours_time += started.elapsed();
                }
            }
        }
    });
    let requests = (ROUNDS * BATCHES * IN_FLIGHT) as f64;
    let bare_rate = requests / bare_time.as_secs_f64();
    let ours_rate = requests / ours_time.as_secs_f64();
    println!(
        "interleaved: hyper_util_bare {bare_rate:.0} req/s, core_backend_httpclient {ours_rate:.0} req/s, ratio {:.3}",
        ours_rate / bare_rate
    );
}

const ROUNDS: usize = 20;
const BATCHES: usize = 40;

criterion_group!(benches, bench);
criterion_main!(benches);
