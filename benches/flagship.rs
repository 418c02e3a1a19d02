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

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::Path, http::StatusCode, routing::get};
use core_backend::{app::App, server::ServerConfig};
use core_backend_example_proto::{
    FILE_DESCRIPTOR_SET,
    notes_v1::{
        CreateNoteRequest, GetNoteRequest,
        notes_service_client::NotesServiceClient,
        notes_service_server::{NotesService, NotesServiceServer},
    },
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use tonic::transport::{Channel, Endpoint};

const BATCH: usize = 512;
const CONCURRENCY: usize = 32;

/// The flagship's stack: server + observability + health + metrics (+ the REST gateway to the
/// notes gRPC service), with `same_handler` mounted as an axum route.
async fn start_ours(same_handler: impl FnOnce(&str) -> Router) -> (SocketAddr, String) {
    let handle = core_backend::observability::prometheus_recorder().handle();
    let service = notes::Notes::new(notes::NoteStore::default());
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
        .router(same_handler(&note.id))
        .grpc_service(NotesServiceServer::new(service))
        .rest_gateway(FILE_DESCRIPTOR_SET)
        .bind()
        .await
        .expect("bind");
    let addr = app.local_addr();
    tokio::spawn(app.serve_with_shutdown(std::future::pending()));
    (addr, note.id)
}

/// The handler both servers run for `GET /bench/notes/{id}`: a map lookup returning JSON.
fn same_handler(id: &str) -> Router {
    let mut notes = HashMap::new();
    notes.insert(
        id.to_owned(),
        json!({"id": id, "title": "bench", "body": "a note read over and over", "createdAt": "2026-11-26T06:00:00Z"}),
    );
    let notes = Arc::new(notes);
    Router::new().route(
        "/bench/notes/{id}",
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
    )
}

async fn start_bare(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// `total` GetNote calls from `concurrency` tasks sharing one HTTP/2 channel.
async fn drive_grpc(channel: Channel, id: &str, total: usize, concurrency: usize) -> load::Run {
    let left = Arc::new(AtomicUsize::new(total));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut client = NotesServiceClient::new(channel.clone());
        let (left, id) = (left.clone(), id.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                let t = Instant::now();
                let note = client
                    .get_note(GetNoteRequest { id: id.clone() })
                    .await
                    .expect("GetNote");
                assert_eq!(note.get_ref().id, id);
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.expect("grpc task"));
    }
    load::Run {
        elapsed: started.elapsed(),
        latencies,
    }
}

fn report(name: &str, run: &load::Run) {
    println!(
        "{name}: {:.0} req/s, p50 {:?}, p99 {:?} ({} requests, {CONCURRENCY} in flight)",
        run.per_second(),
        run.percentile(0.50),
        run.percentile(0.99),
        run.latencies.len()
    );
}

fn flagship(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (ours, id) = rt.block_on(start_ours(same_handler));
    let bare = rt.block_on(start_bare(same_handler(&id)));
    let handler_path = format!("/bench/notes/{id}");
    let gateway_path = format!("/v1/notes/{id}");
    let client = load::client(CONCURRENCY);
    let channel = rt.block_on(async {
        Endpoint::from_shared(format!("http://{ours}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect")
    });

    // 1. The same handler behind our stack and behind bare axum.
    let mut group = c.benchmark_group("flagship_stack");
    group.throughput(Throughput::Elements(BATCH as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for (name, addr) in [("core_backend_app", ours), ("bare_axum", bare)] {
        let path = handler_path.clone();
        let client = client.clone();
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (client, path) = (client.clone(), path.clone());
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

    // 2. GetNote as REST through the gateway and as direct gRPC, on the same server.
    let mut group = c.benchmark_group("flagship_gateway");
    group.throughput(Throughput::Elements(BATCH as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    {
        let (client, path) = (client.clone(), gateway_path.clone());
        group.bench_function("rest_via_gateway", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (client, path) = (client.clone(), path.clone());
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += load::drive(&client, ours, &path, BATCH, CONCURRENCY)
                            .await
                            .elapsed;
                    }
                    total
                }
            });
        });
    }
    {
        let (channel, id) = (channel.clone(), id.clone());
        group.bench_function("grpc_direct", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (channel, id) = (channel.clone(), id.clone());
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += drive_grpc(channel.clone(), &id, BATCH, CONCURRENCY)
                            .await
                            .elapsed;
                    }
                    total
                }
            });
        });
    }
    group.finish();

    // Fixed runs, interleaved twice, for req/s and latency percentiles.
    for round in 1..=2 {
        println!("-- round {round}");
        report(
            "core_backend_app (same handler)",
            &rt.block_on(load::drive(
                &client,
                ours,
                &handler_path,
                20_000,
                CONCURRENCY,
            )),
        );
        report(
            "bare_axum (same handler)",
            &rt.block_on(load::drive(
                &client,
                bare,
                &handler_path,
                20_000,
                CONCURRENCY,
            )),
        );
        report(
            "rest_via_gateway",
            &rt.block_on(load::drive(
                &client,
                ours,
                &gateway_path,
                20_000,
                CONCURRENCY,
            )),
        );
        report(
            "grpc_direct",
            &rt.block_on(drive_grpc(channel.clone(), &id, 20_000, CONCURRENCY)),
        );
    }
}

criterion_group!(benches, flagship);
criterion_main!(benches);
