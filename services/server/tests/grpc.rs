//! gRPC, gRPC-Web and reflection on the same port as the HTTP router.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::{Router, routing::get};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{Reply, TestServer, fetch, notes_server, req, send};
use core_backend_example_proto::{
    FILE_DESCRIPTOR_SET,
    notes_v1::{CreateNoteRequest, GetNoteRequest, Note, notes_service_client::NotesServiceClient},
};
use core_backend_server::{Server, ServerConfig};
use http::StatusCode;
use http_body_util::Full;
use prost::Message;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

fn router() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

async fn start(cfg: ServerConfig) -> TestServer {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<core_backend_example_proto::notes_v1::notes_service_server::NotesServiceServer<common::Notes>>()
        .await;
    TestServer::start(
        Server::builder()
            .config(cfg)
            .router(router())
            .grpc_service(notes_server())
            .grpc_service(health)
            .file_descriptor_set(FILE_DESCRIPTOR_SET),
    )
    .await
}

#[tokio::test]
async fn grpc_and_http_share_the_port() {
    let server = start(ServerConfig::default()).await;
    let channel = common::channel(server.addr).await;

    let mut notes = NotesServiceClient::new(channel.clone());
    let note = notes
        .create_note(CreateNoteRequest {
            title: "t".into(),
            body: "b".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((note.title.as_str(), note.body.as_str()), ("t", "b"));

    // tonic's `remote_addr` works: the server adds TcpConnectInfo.
    let note = notes
        .get_note(GetNoteRequest { id: "7".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(note.body, "127.0.0.1");

    let err = notes
        .get_note(GetNoteRequest {
            id: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let mut health = HealthClient::new(channel);
    let res = health
        .check(HealthCheckRequest {
            service: "notes.v1.NotesService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.status(), ServingStatus::Serving);

    // HTTP on the same port.
    assert_eq!(fetch(server.addr, "/hello").await.text(), "hello");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_service_is_unimplemented() {
    let server = start(ServerConfig::default()).await;
    let mut client = tonic::client::Grpc::new(common::channel(server.addr).await);
    client.ready().await.unwrap();
    let err = client
        .unary::<_, (), _>(
            tonic::Request::new(()),
            "/nope.v1.Nothing/Call".parse().unwrap(),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn deadlines_become_deadline_exceeded() {
    let mut cfg = ServerConfig::default();
    cfg.request_timeout = Duration::from_millis(200);
    let server = start(cfg).await;
    let mut notes = NotesServiceClient::new(common::channel(server.addr).await);

    // The server's own request timeout.
    let err = notes
        .get_note(GetNoteRequest {
            id: "slow-3000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert_eq!(err.message(), "request deadline exceeded");

    let ok = notes
        .get_note(GetNoteRequest {
            id: "slow-10".into(),
        })
        .await
        .unwrap();
    assert_eq!(ok.into_inner().id, "slow-10");
    server.stop().await.unwrap();

    // The client's shorter grpc-timeout wins over the server's 5 s. A raw HTTP/2 request,
    // because tonic's client enforces the deadline itself and would race the server.
    let mut cfg = ServerConfig::default();
    cfg.request_timeout = Duration::from_secs(5);
    let server = start(cfg).await;
    let mut h2 = common::h2(server.addr).await;
    let mut request = grpc_web_request(
        "/notes.v1.NotesService/GetNote",
        &GetNoteRequest {
            id: "slow-3000".into(),
        },
        "application/grpc",
    );
    *request.uri_mut() = server
        .url("/notes.v1.NotesService/GetNote")
        .parse()
        .unwrap();
    request
        .headers_mut()
        .insert("te", "trailers".parse().unwrap());
    request
        .headers_mut()
        .insert("grpc-timeout", "50m".parse().unwrap());
    let started = std::time::Instant::now();
    let res = Reply::from(h2.send_request(request).await.unwrap()).await;
    assert_eq!(res.header("grpc-status"), Some("4"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn panicking_rpc_is_internal_and_the_server_lives() {
    let server = start(ServerConfig::default()).await;
    let mut notes = NotesServiceClient::new(common::channel(server.addr).await);
    let err = notes
        .create_note(CreateNoteRequest {
            title: "panic".into(),
            body: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    let ok = notes
        .get_note(GetNoteRequest { id: "1".into() })
        .await
        .unwrap();
    assert_eq!(ok.into_inner().id, "1");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn concurrency_limit_is_unavailable_for_grpc() {
    let mut cfg = ServerConfig::default();
    cfg.concurrency_limit = Some(1);
    let server = start(cfg).await;
    let mut notes = NotesServiceClient::new(common::channel(server.addr).await);
    let mut slow = notes.clone();
    let first = tokio::spawn(async move {
        slow.get_note(GetNoteRequest {
            id: "slow-500".into(),
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = notes
        .get_note(GetNoteRequest { id: "1".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(first.await.unwrap().is_ok());
    server.stop().await.unwrap();
}

/// The service names a reflection server lists, asked through the `$version` protocol
/// (`v1` and `v1alpha` have the same messages in different generated modules).
macro_rules! reflection_services {
    ($version:ident, $addr:expr) => {{
        use tonic_reflection::pb::$version::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new(common::channel($addr).await);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        let res = stream.next().await.unwrap().unwrap();
        match res.message_response.unwrap() {
            MessageResponse::ListServicesResponse(list) => list
                .service
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<String>>(),
            other => panic!("unexpected reflection answer {other:?}"),
        }
    }};
}

#[tokio::test]
async fn reflection_lists_services_v1_and_v1alpha() {
    let server = start(ServerConfig::default()).await;
    let v1 = reflection_services!(v1, server.addr);
    assert!(v1.contains(&"notes.v1.NotesService".to_owned()), "{v1:?}");
    assert!(
        v1.contains(&"grpc.reflection.v1.ServerReflection".to_owned()),
        "{v1:?}"
    );
    let v1alpha = reflection_services!(v1alpha, server.addr);
    assert!(
        v1alpha.contains(&"notes.v1.NotesService".to_owned()),
        "{v1alpha:?}"
    );
    server.stop().await.unwrap();

    // No descriptor set: no reflection.
    let server = TestServer::start(Server::builder().grpc_service(notes_server())).await;
    let mut client =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            common::channel(server.addr).await,
        );
    let err = client
        .server_reflection_info(tokio_stream::iter(Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_descriptor_set_fails_bind() {
    let err = Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .file_descriptor_set(b"\xff\xff not a descriptor set")
        .bind()
        .await
        .unwrap_err();
    assert!(
        matches!(err, core_backend_server::Error::Reflection(_)),
        "{err}"
    );
}

/// A gRPC(-Web) request: one data frame with the message.
fn grpc_web_request(
    path: &str,
    msg: &impl Message,
    content_type: &str,
) -> http::Request<Full<Bytes>> {
    let payload = msg.encode_to_vec();
    let mut body = BytesMut::new();
    body.put_u8(0);
    body.put_u32(u32::try_from(payload.len()).unwrap());
    body.put_slice(&payload);
    req("POST", path)
        .header("content-type", content_type)
        .header("x-grpc-web", "1")
        .body(Full::new(body.freeze()))
        .unwrap()
}

/// Splits a gRPC-Web response body into its data message and its trailers.
fn parse_grpc_web(mut body: Bytes) -> (Option<Bytes>, String) {
    let mut data = None;
    let mut trailers = String::new();
    while body.has_remaining() {
        let flag = body.get_u8();
        let len = body.get_u32() as usize;
        let frame = body.split_to(len);
        if flag & 0x80 == 0 {
            data = Some(frame);
        } else {
            trailers = String::from_utf8(frame.to_vec()).unwrap();
        }
    }
    (data, trailers)
}

#[tokio::test]
async fn grpc_web_over_http1_when_enabled() {
    let mut cfg = ServerConfig::default();
    cfg.grpc_web = true;
    let server = start(cfg).await;
    let res = send(
        server.addr,
        grpc_web_request(
            "/notes.v1.NotesService/GetNote",
            &GetNoteRequest { id: "42".into() },
            "application/grpc-web+proto",
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.header("content-type"),
        Some("application/grpc-web+proto")
    );
    let (data, trailers) = parse_grpc_web(res.body.clone());
    let note = Note::decode(data.unwrap()).unwrap();
    assert_eq!(note.id, "42");
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // Errors arrive as gRPC-Web statuses.
    let res = send(
        server.addr,
        grpc_web_request(
            "/notes.v1.NotesService/GetNote",
            &GetNoteRequest {
                id: "missing".into(),
            },
            "application/grpc-web+proto",
        ),
    )
    .await;
    // tonic answers errors trailers-only, so the status is in the headers.
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("grpc-status"), Some("5"), "NOT_FOUND expected");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_web_off_by_default() {
    let server = start(ServerConfig::default()).await;
    let res = send(
        server.addr,
        grpc_web_request(
            "/notes.v1.NotesService/GetNote",
            &GetNoteRequest { id: "42".into() },
            "application/grpc-web+proto",
        ),
    )
    .await;
    // Not gRPC then: the HTTP router has no such route.
    res.problem(StatusCode::NOT_FOUND);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_web_timeout_keeps_the_grpc_web_content_type() {
    let mut cfg = ServerConfig::default();
    cfg.grpc_web = true;
    cfg.request_timeout = Duration::from_millis(100);
    let server = start(cfg).await;
    let res: Reply = send(
        server.addr,
        grpc_web_request(
            "/notes.v1.NotesService/GetNote",
            &GetNoteRequest {
                id: "slow-2000".into(),
            },
            "application/grpc-web+proto",
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("grpc-status"), Some("4"));
    assert_eq!(
        res.header("content-type"),
        Some("application/grpc-web+proto")
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_routes_merge_with_single_services() {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let routes = tonic::service::Routes::new(health);
    let server = TestServer::start(
        Server::builder()
            .grpc_service(notes_server())
            .grpc_routes(routes)
            .grpc_routes(tonic::service::Routes::default()),
    )
    .await;
    let channel = common::channel(server.addr).await;
    let note = NotesServiceClient::new(channel.clone())
        .get_note(GetNoteRequest { id: "3".into() })
        .await
        .unwrap();
    assert_eq!(note.into_inner().id, "3");
    let res = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(res.into_inner().status(), ServingStatus::Serving);
    server.stop().await.unwrap();
}
