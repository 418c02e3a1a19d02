//! GrpcServerLayer and GrpcClientLayer on a real tonic server and client over loopback.

mod common;

use std::sync::{Arc, Mutex};

use core_backend_example_proto::notes_v1::notes_service_client::NotesServiceClient;
use core_backend_example_proto::notes_v1::notes_service_server::{
    NotesService, NotesServiceServer,
};
use core_backend_example_proto::notes_v1::{
    CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest, ListNotesResponse, Note,
};
use core_backend_observability::{GrpcClientLayer, GrpcServerLayer, TraceContext};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};
use tower::ServiceBuilder;

use common::{find, parse_prometheus, telemetry};

/// Notes server that remembers the trace id of every call it served.
#[derive(Default, Clone)]
struct Notes {
    seen: Arc<Mutex<Vec<String>>>,
}

impl Notes {
    fn saw(&self) {
        let trace = TraceContext::current()
            .map(|cx| cx.trace_id.to_string())
            .unwrap_or_default();
        self.seen.lock().expect("lock").push(trace);
    }
}

#[tonic::async_trait]
impl NotesService for Notes {
    async fn create_note(
        &self,
        request: Request<CreateNoteRequest>,
    ) -> Result<Response<Note>, Status> {
        self.saw();
        let request = request.into_inner();
        Ok(Response::new(Note {
            id: "1".to_owned(),
            title: request.title,
            body: request.body,
            created_at: None,
        }))
    }

    async fn get_note(&self, request: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
        self.saw();
        Err(Status::not_found(format!(
            "no note {}",
            request.into_inner().id
        )))
    }

    async fn list_notes(
        &self,
        _request: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesResponse>, Status> {
        self.saw();
        Ok(Response::new(ListNotesResponse::default()))
    }

    async fn delete_note(
        &self,
        _request: Request<DeleteNoteRequest>,
    ) -> Result<Response<()>, Status> {
        self.saw();
        Err(Status::permission_denied("read-only"))
    }
}

async fn start(notes: Notes) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(NotesServiceServer::new(notes))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// A channel to the server at `addr`.
async fn connect(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_metrics_carry_service_method_and_status() {
    let telemetry = telemetry();
    let notes = Notes::default();
    let addr = start(notes.clone()).await;
    let channel = connect(addr).await;
    let channel = ServiceBuilder::new()
        .layer(GrpcClientLayer::new().server_address("127.0.0.1", addr.port()))
        .service(channel);
    let mut client = NotesServiceClient::new(channel);

    let note = client
        .create_note(CreateNoteRequest {
            title: "t".to_owned(),
            body: "b".to_owned(),
        })
        .await
        .expect("created")
        .into_inner();
    assert_eq!(note.id, "1");
    let missing = client
        .get_note(GetNoteRequest {
            id: "404".to_owned(),
        })
        .await
        .expect_err("not found");
    assert_eq!(missing.code(), Code::NotFound);
    let denied = client
        .delete_note(DeleteNoteRequest { id: "1".to_owned() })
        .await
        .expect_err("denied");
    assert_eq!(denied.code(), Code::PermissionDenied);

    let text = telemetry.prometheus_handle().render();
    let samples = parse_prometheus(&text);
    let series = |metric: &str, method: &str, code: &str| {
        find(
            &samples,
            metric,
            &[
                ("rpc_system", "grpc"),
                ("rpc_service", "notes.v1.NotesService"),
                ("rpc_method", method),
                ("rpc_grpc_status_code", code),
            ],
        )
        .iter()
        .map(|s| s.value)
        .sum::<f64>()
    };
    for metric in [
        "rpc_server_duration_seconds_count",
        "rpc_client_duration_seconds_count",
    ] {
        assert!(
            (series(metric, "CreateNote", "0") - 1.0).abs() < f64::EPSILON,
            "{metric}: {text}"
        );
        assert!(
            (series(metric, "GetNote", "5") - 1.0).abs() < f64::EPSILON,
            "{metric}: {text}"
        );
        assert!(
            (series(metric, "DeleteNote", "7") - 1.0).abs() < f64::EPSILON,
            "{metric}: {text}"
        );
    }
    let port = addr.port().to_string();
    let client_series = find(
        &samples,
        "rpc_client_duration_seconds_count",
        &[
            ("rpc_method", "GetNote"),
            ("server_address", "127.0.0.1"),
            ("server_port", port.as_str()),
        ],
    );
    assert_eq!(client_series.len(), 1, "{text}");
    assert!(
        !find(
            &samples,
            "rpc_server_duration_seconds_bucket",
            &[("rpc_method", "GetNote"), ("le", "0.005")]
        )
        .is_empty(),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_sees_the_clients_trace() {
    let _ = telemetry();
    let notes = Notes::default();
    let addr = start(notes.clone()).await;
    let channel = connect(addr).await;
    let channel = ServiceBuilder::new()
        .layer(GrpcClientLayer::new())
        .service(channel);
    let mut client = NotesServiceClient::new(channel);

    let cx = TraceContext::new_root();
    let expected = cx.trace_id.to_string();
    cx.in_scope(client.list_notes(ListNotesRequest::default()))
        .await
        .expect("listed");
    client
        .list_notes(ListNotesRequest::default())
        .await
        .expect("listed");

    let seen = notes.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0], expected,
        "the call made in the scope continues its trace"
    );
    assert_eq!(seen[1].len(), 32, "a call outside any scope starts a trace");
    assert_ne!(seen[1], expected);
}
