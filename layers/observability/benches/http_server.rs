//! Overhead of `HttpServerLayer` on an axum router, in process: the same router with and
//! without the layer, driven by `tower::ServiceExt::oneshot` in one criterion group.

#![allow(missing_docs)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use core_backend_observability::{HttpServerLayer, prometheus_recorder};
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt as _;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::ServiceExt as _;

fn router() -> Router {
    Router::new().route("/v1/notes/{id}", get(|| async { "a note" }))
}

async fn run(app: Router) {
    let request = Request::get("/v1/notes/42")
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    let body = response.into_body().collect().await.expect("body");
    std::hint::black_box(body);
}

/// Serves `app` on 127.0.0.1:0 on `runtime`; returns the request URI.
fn serve(runtime: &tokio::runtime::Runtime, app: Router) -> http::Uri {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}/v1/notes/42").parse().expect("uri")
}

/// The same comparison over loopback: hyper client with keep-alive, one request at a time.
fn loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let bare = serve(&runtime, router());
    let observed = serve(&runtime, router().layer(HttpServerLayer::new()));
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();

    let mut group = c.benchmark_group("http_server_layer_loopback");
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(30);
    for (name, uri) in [("bare_axum", bare), ("with_http_server_layer", observed)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let client = client.clone();
                let uri = uri.clone();
                async move {
                    let response = client.get(uri).await.expect("response");
                    let body = response.into_body().collect().await.expect("body");
                    std::hint::black_box(body);
                }
            });
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    // The layer's metrics go to a real Prometheus recorder, as in production.
    if std::env::var_os("BENCH_NO_RECORDER").is_none() {
        metrics::set_global_recorder(prometheus_recorder()).expect("first recorder");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bare = router();
    let observed = router().layer(HttpServerLayer::new());

    let mut group = c.benchmark_group("http_server_layer");
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(30);
    group.bench_function("bare_axum", |b| {
        b.to_async(&runtime).iter(|| run(bare.clone()));
    });
    group.bench_function("with_http_server_layer", |b| {
        b.to_async(&runtime).iter(|| run(observed.clone()));
    });
    // With an INFO subscriber the span is live and its fields are recorded; output is discarded.
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    group.bench_function("with_http_server_layer_and_info_subscriber", |b| {
        b.to_async(&runtime).iter(|| run(observed.clone()));
    });
    group.finish();
}

criterion_group!(benches, bench, loopback);
criterion_main!(benches);
