//! REST through the gateway vs a direct gRPC call of the same method (`GetNote`), in process
//! and over loopback, each pair measured in one criterion group.
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use core_backend_example_proto::FILE_DESCRIPTOR_SET;
use core_backend_example_proto::notes_v1::notes_service_client::NotesServiceClient;
use core_backend_example_proto::notes_v1::notes_service_server::{
    NotesService, NotesServiceServer,
};
use core_backend_example_proto::notes_v1::{
    CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest, ListNotesResponse, Note,
};
use core_backend_gateway::Gateway;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::{Request, Response, Status};
use tower::ServiceExt;

struct Notes;

#[tonic::async_trait]
impl NotesService for Notes {
    async fn create_note(&self, _: Request<CreateNoteRequest>) -> Result<Response<Note>, Status> {
        Err(Status::unimplemented("bench"))
    }
    async fn get_note(&self, r: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
        Ok(Response::new(Note {
            id: r.into_inner().id,
            title: "A title of moderate length".into(),
            body: "Some body text that a note would have, a few words long.".into(),
            created_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5_000,
            }),
        }))
    }
    async fn list_notes(
        &self,
        _: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }
    async fn delete_note(&self, _: Request<DeleteNoteRequest>) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("bench"))
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = NotesServiceServer::new(Notes);
    let router: axum::Router = Gateway::builder(FILE_DESCRIPTOR_SET)
        .build(server.clone())
        .unwrap()
        .into_router();

    let mut group = c.benchmark_group("get_note_in_process");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    group.bench_function("rest_via_gateway", |b| {
        b.to_async(&rt).iter(|| {
            let router = router.clone();
            async move {
                let req = http::Request::get("/v1/notes/n1")
                    .body(Body::empty())
                    .unwrap();
                let res = router.oneshot(req).await.unwrap();
                assert_eq!(res.status(), 200);
                res.into_body().collect().await.unwrap().to_bytes()
            }
        });
    });
    group.bench_function("grpc_direct", |b| {
        b.to_async(&rt).iter(|| {
            let mut client = NotesServiceClient::new(server.clone());
            async move {
                client
                    .get_note(GetNoteRequest { id: "n1".into() })
                    .await
                    .unwrap()
                    .into_inner()
            }
        });
    });
    group.finish();

    // Loopback: one axum server with the gateway and the gRPC route; REST over HTTP/1.1
    // (hyper client, keep-alive), gRPC over h2c (tonic channel).
    let addr = rt.block_on(async {
        let app = router
            .clone()
            .route_service("/notes.v1.NotesService/{*method}", server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    });
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let channel = rt.block_on(async {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    });
    let uri: http::Uri = format!("http://{addr}/v1/notes/n1").parse().unwrap();

    let mut group = c.benchmark_group("get_note_loopback");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    group.bench_function("rest_via_gateway_http1", |b| {
        b.to_async(&rt).iter(|| {
            let http = http.clone();
            let uri = uri.clone();
            async move {
                let res = http.get(uri).await.unwrap();
                assert_eq!(res.status(), 200);
                res.into_body().collect().await.unwrap().to_bytes()
            }
        });
    });
    group.bench_function("grpc_direct_h2c", |b| {
        b.to_async(&rt).iter(|| {
            let mut client = NotesServiceClient::new(channel.clone());
            async move {
                client
                    .get_note(GetNoteRequest { id: "n1".into() })
                    .await
                    .unwrap()
                    .into_inner()
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
