//! The layer on a tonic server (RESOURCE_EXHAUSTED) and around a tonic client (typed error).
#![allow(clippy::unwrap_used)]

use core_backend_example_proto::notes_v1::notes_service_client::NotesServiceClient;
use core_backend_example_proto::notes_v1::notes_service_server::{
    NotesService, NotesServiceServer,
};
use core_backend_example_proto::notes_v1::{
    CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest, ListNotesResponse, Note,
};
use core_backend_ratelimit::{GlobalKey, Limit, Quota, RateLimitLayer};
use tonic::{Code, Request, Response, Status};

/// Answers GetNote; the other methods are not part of this test.
struct Notes;

#[tonic::async_trait]
impl NotesService for Notes {
    async fn create_note(&self, _: Request<CreateNoteRequest>) -> Result<Response<Note>, Status> {
        Err(Status::unimplemented("not part of this test"))
    }
    async fn get_note(&self, req: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
        Ok(Response::new(Note {
            id: req.into_inner().id,
            title: "t".into(),
            ..Note::default()
        }))
    }
    async fn list_notes(
        &self,
        _: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesResponse>, Status> {
        Err(Status::unimplemented("not part of this test"))
    }
    async fn delete_note(&self, _: Request<DeleteNoteRequest>) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("not part of this test"))
    }
}

async fn serve(layer: Option<RateLimitLayer>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        let svc = NotesServiceServer::new(Notes);
        match layer {
            Some(layer) => {
                tonic::transport::Server::builder()
                    .layer(layer)
                    .add_service(svc)
                    .serve_with_incoming(incoming)
                    .await
            }
            None => {
                tonic::transport::Server::builder()
                    .add_service(svc)
                    .serve_with_incoming(incoming)
                    .await
            }
        }
        .unwrap();
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn tonic_server_answers_resource_exhausted() {
    let url = serve(Some(RateLimitLayer::new(
        Limit::new("grpc", Quota::per_minute(2)).key(GlobalKey),
    )))
    .await;
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = NotesServiceClient::new(channel);
    for id in ["a", "b"] {
        let res = client
            .get_note(GetNoteRequest { id: id.into() })
            .await
            .unwrap();
        assert_eq!(res.get_ref().id, id);
        assert!(res.metadata().get("ratelimit").is_some());
    }
    let status = client
        .get_note(GetNoteRequest { id: "c".into() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.metadata().get("retry-after").unwrap(), "30");
    assert!(
        status.message().contains("rate limit \"grpc\" exceeded"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn tonic_client_fails_fast_with_rate_limited() {
    let url = serve(None).await;
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let layer = RateLimitLayer::builder()
        .limit(Limit::new("outbound", Quota::per_minute(1)).key(GlobalKey))
        .build_client();
    let svc = tower::ServiceBuilder::new().layer(layer).service(channel);
    let mut client = NotesServiceClient::new(svc);
    assert!(
        client
            .get_note(GetNoteRequest { id: "a".into() })
            .await
            .is_ok()
    );
    let status = client
        .get_note(GetNoteRequest { id: "b".into() })
        .await
        .unwrap_err();
    assert!(
        status.message().contains("rate limited by \"outbound\""),
        "{status:?}"
    );
}
