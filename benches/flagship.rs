//! The flagship's stack (server + observability + health + REST gateway → gRPC service) against a
//! bare axum router with an equivalent handler, both on loopback, driven by the same concurrent
//! hyper client in one run: `GET /v1/notes/{id}`.
//!
//! ```text
//! cargo bench --bench flagship
//! ```
//!
//! Criterion reports the time of a batch of `BATCH` requests (throughput in requests/s); after the
//! groups a fixed run prints p50 / p99 latency of each side.

mod load;
#[path = "../examples/api/notes.rs"]
#[allow(dead_code)]
mod notes;

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Json, Router, extract::Path, http::StatusCode, routing::get};
use core_backend::{app::App, server::ServerConfig};
use core_backend_example_proto::{
    FILE_DESCRIPTOR_SET,
    notes_v1::{
        CreateNoteRequest,
        notes_service_server::{NotesService, NotesServiceServer},
    },
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

const BATCH: usize = 512;
const CONCURRENCY: usize = 32;

async fn start_ours() -> (SocketAddr, String) {
    let handle = core_backend::observability::prometheus_recorder().handle();
    let store = notes::NoteStore::default();
    let service = notes::Notes::new(store);
    let note = service
        .create_note(tonic::Request::new(CreateNoteRequest {
            title: "bench".into(),
            body: "a note read over and over".into(),
        }))
        .await
        .expect("create")
        .into_inner();
    let mut config = ServerConfig::default();
    config.addr = ([127, 0, 0, 1], 0).into();
    let app = App::builder(config)
        .metrics(handle)
        .grpc_service(NotesServiceServer::new(service))
        .rest_gateway(FILE_DESCRIPTOR_SET)
        .bind()
        .await
        .expect("bind");
    let addr = app.local_addr();
    tokio::spawn(app.serve_with_shutdown(std::future::pending()));
    (addr, note.id)
}

async fn start_bare(id: &str) -> SocketAddr {
    let mut notes = HashMap::new();
    notes.insert(
        id.to_owned(),
        json!({"id": id, "title": "bench", "body": "a note read over and over", "createdAt": "2026-11-26T06:00:00Z"}),
    );
    let notes = Arc::new(notes);
    let app = Router::new().route(
        "/v1/notes/{id}",
        get(move |Path(id): Path<String>| {
            let notes = notes.clone();
            async move {
                notes
                    .get(&id)
                    .cloned()
                    .map(Json)
                    .ok_or((StatusCode::NOT_FOUND, Json(Value::Null)))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn flagship(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (ours, id) = rt.block_on(start_ours());
    let bare = rt.block_on(start_bare(&id));
    let path = format!("/v1/notes/{id}");
    let client = load::client(CONCURRENCY);

    let mut group = c.benchmark_group("flagship_get_note");
    group.throughput(Throughput::Elements(BATCH as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for (name, addr) in [("core_backend_stack", ours), ("bare_axum", bare)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let client = client.clone();
                let path = path.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += load::drive(&client, addr, &path, BATCH, CONCURRENCY)
                            .await
                            .elapsed;
                    }
                    total
                }
            });
        });
    }
    group.finish();

    for (name, addr) in [("core_backend_stack", ours), ("bare_axum", bare)] {
        let run = rt.block_on(load::drive(&client, addr, &path, 20_000, CONCURRENCY));
        println!(
            "{name}: {:.0} req/s, p50 {:?}, p99 {:?} ({} requests, {CONCURRENCY} in flight)",
            run.per_second(),
            run.percentile(0.50),
            run.percentile(0.99),
            run.latencies.len()
        );
    }
}

criterion_group!(benches, flagship);
criterion_main!(benches);
