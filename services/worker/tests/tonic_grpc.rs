//! The bulkhead and the adaptive limit with tonic: around a client (the caller gets
//! `Status::unavailable`) and on a server (the client receives `UNAVAILABLE` from the wire),
//! against a slow `notes.v1.NotesService` served on 127.0.0.1:0.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use core_backend_example_proto::notes_v1::notes_service_client::NotesServiceClient;
use core_backend_example_proto::notes_v1::notes_service_server::{
    NotesService, NotesServiceServer,
};
use core_backend_example_proto::notes_v1::{
    CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest, ListNotesResponse, Note,
};
use core_backend_worker::adaptive::{AdaptiveConcurrencyLayer, Aimd, HttpClassifier};
use core_backend_worker::bulkhead::BulkheadLayer;
use core_backend_worker::grpc::OverloadedStatusLayer;
use core_backend_worker::http::OverloadedResponseLayer;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};
use tower::ServiceBuilder;

/// A notes service whose `GetNote` takes 300 ms.
struct SlowNotes;

#[tonic::async_trait]
impl NotesService for SlowNotes {
    async fn create_note(&self, req: Request<CreateNoteRequest>) -> Result<Response<Note>, Status> {
        let req = req.into_inner();
        Ok(Response::new(Note {
            id: "n1".into(),
            title: req.title,
            body: req.body,
            created_at: None,
        }))
    }

    async fn get_note(&self, req: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Response::new(Note {
            id: req.into_inner().id,
            title: "slow".into(),
            ..Note::default()
        }))
    }

    async fn list_notes(
        &self,
        _req: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesResponse>, Status> {
        Ok(Response::new(ListNotesResponse::default()))
    }

    async fn delete_note(&self, _req: Request<DeleteNoteRequest>) -> Result<Response<()>, Status> {
        Err(Status::not_found("no such note"))
    }
}

async fn serve_plain() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(NotesServiceServer::new(SlowNotes))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    addr
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn get(id: &str) -> GetNoteRequest {
    GetNoteRequest { id: id.into() }
}

#[tokio::test]
async fn bulkhead_around_tonic_client_gives_unavailable() {
    let addr = serve_plain().await;
    let svc = ServiceBuilder::new()
        .layer(OverloadedStatusLayer::new())
        .layer(BulkheadLayer::new(2, Duration::from_millis(30)))
        .service(channel(addr).await);
    let client = NotesServiceClient::new(svc);

    let calls: Vec<_> = (0..6)
        .map(|i| {
            let mut client = client.clone();
            tokio::spawn(async move { client.get_note(get(&i.to_string())).await })
        })
        .collect();
    let mut ok = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(note) => {
                assert_eq!(note.into_inner().title, "slow");
                ok += 1;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert_eq!(
                    status.metadata().get("grpc-retry-pushback-ms").unwrap(),
                    "1000"
                );
            }
        }
    }
    assert_eq!(ok, 2);

    // Other statuses from the server pass through.
    let status = client
        .clone()
        .delete_note(DeleteNoteRequest { id: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn without_the_status_layer_tonic_loses_the_type() {
    // Documents why `OverloadedStatusLayer` exists: tonic's generated client turns a
    // readiness error into UNKNOWN "Service was not ready".
    let addr = serve_plain().await;
    let svc = ServiceBuilder::new()
        .layer(BulkheadLayer::new(1, Duration::ZERO))
        .service(channel(addr).await);
    let client = NotesServiceClient::new(svc);
    let mut busy = client.clone();
    let first = tokio::spawn(async move { busy.get_note(get("a")).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let status = client.clone().get_note(get("b")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    assert!(
        status.message().contains("service overloaded"),
        "{status:?}"
    );
    first.await.unwrap().unwrap();
}

#[tokio::test]
async fn bulkhead_on_tonic_server_answers_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .layer(
                ServiceBuilder::new()
                    .layer(OverloadedResponseLayer::new())
                    .layer(BulkheadLayer::new(2, Duration::from_millis(20))),
            )
            .add_service(NotesServiceServer::new(SlowNotes))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let client = NotesServiceClient::new(channel(addr).await);
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.get_note(get("z")).await })
        })
        .collect();
    let mut codes = Vec::new();
    for call in calls {
        codes.push(match call.await.unwrap() {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        });
    }
    assert_eq!(
        codes.iter().filter(|c| **c == Code::Ok).count(),
        2,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == Code::Unavailable).count(),
        4,
        "{codes:?}"
    );
}

#[tokio::test]
async fn adaptive_on_tonic_server_and_client() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_limit = AdaptiveConcurrencyLayer::builder()
        .algorithm(Aimd::builder().initial_limit(3).max_limit(3).build())
        .classifier(HttpClassifier)
        .build();
    tokio::spawn(
        Server::builder()
            .layer(
                ServiceBuilder::new()
                    .layer(OverloadedResponseLayer::new())
                    .layer(server_limit.clone()),
            )
            .add_service(NotesServiceServer::new(SlowNotes))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    // The client-side limiter counts the server's trailers-only UNAVAILABLE as drops.
    let client_limit = AdaptiveConcurrencyLayer::builder()
        .algorithm(Aimd::builder().initial_limit(10).backoff_ratio(0.5).build())
        .classifier(HttpClassifier)
        .build();
    let svc = ServiceBuilder::new()
        .layer(OverloadedStatusLayer::new())
        .layer(client_limit.clone())
        .service(channel(addr).await);
    let client = NotesServiceClient::new(svc);
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.get_note(get("q")).await.map_err(|s| s.code()) })
        })
        .collect();
    let mut ok = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ok += 1,
            Err(code) => assert_eq!(code, Code::Unavailable),
        }
    }
    assert_eq!(ok, 3, "the server admits its limit");
    assert!(
        client_limit.limit() < 10,
        "the client backed off after UNAVAILABLE answers: {}",
        client_limit.limit()
    );
    assert_eq!(server_limit.in_flight(), 0);
}
