//! The breaker in its three positions, on real loopback sockets: on an axum router, around a
//! hyper-util client calling a flaky upstream, and around a tonic client.
#![allow(missing_docs, clippy::unwrap_used)]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State as AxState, http::StatusCode, routing::get};
use bytes::Bytes;
use core_backend_circuitbreaker::{
    CircuitBreaker, CircuitBreakerLayer, CircuitOpen, GrpcClassifier, State,
};
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tower::{Layer, ServiceBuilder, ServiceExt};

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get_req(addr: SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap()
}

// ---------------------------------------------------------------- (a) on an axum router

#[derive(Clone)]
struct Backend {
    healthy: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

async fn handler(AxState(b): AxState<Backend>) -> (StatusCode, &'static str) {
    b.hits.fetch_add(1, Ordering::SeqCst);
    if b.healthy.load(Ordering::SeqCst) {
        (StatusCode::OK, "fine")
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "database down")
    }
}

#[tokio::test]
async fn axum_router_answers_503_problem_json_then_recovers() {
    let backend = Backend {
        healthy: Arc::new(AtomicBool::new(false)),
        hits: Arc::new(AtomicUsize::new(0)),
    };
    let breaker = CircuitBreaker::builder()
        .name("notes-db")
        .count_based_window(4)
        .minimum_number_of_calls(4)
        .wait_duration_in_open(Duration::from_secs(1))
        .permitted_calls_in_half_open(1)
        .build();
    let app = Router::new()
        .route("/notes", get(handler))
        .with_state(backend.clone())
        .layer(CircuitBreakerLayer::new(breaker.clone()).http_responses());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    for _ in 0..4 {
        let res = client().request(get_req(addr, "/notes")).await.unwrap();
        assert_eq!(res.status(), 500);
    }
    assert_eq!(breaker.state(), State::Open);

    let res = client().request(get_req(addr, "/notes")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["status"], 503);
    assert!(body["detail"].as_str().unwrap().contains("notes-db"));
    assert_eq!(
        backend.hits.load(Ordering::SeqCst),
        4,
        "handler not called while open"
    );

    backend.healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let res = client().request(get_req(addr, "/notes")).await.unwrap();
    assert_eq!(res.status(), 200, "probe admitted");
    assert_eq!(breaker.state(), State::Closed);
}

// ------------------------------------------- (b) around a hyper-util client, flaky upstream

#[derive(Clone, Copy)]
enum Mode {
    Error500,
    Reset,
    Slow(u64),
}

async fn upstream(mode: Mode) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            h.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let reply: &[u8] = match mode {
                    Mode::Error500 => {
                        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    }
                    Mode::Reset => b"HTTP/1.1 2",
                    Mode::Slow(ms) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    }
                };
                let _ = sock.write_all(reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, hits)
}

fn small_breaker() -> CircuitBreaker {
    CircuitBreaker::builder()
        .name("upstream")
        .count_based_window(5)
        .minimum_number_of_calls(3)
        .failure_rate_threshold(50.0)
        .slow_call_duration(Duration::from_millis(100))
        .slow_call_rate_threshold(60.0)
        .wait_duration_in_open(Duration::from_secs(30))
        .build()
}

async fn trip_and_check(mode: Mode) {
    let (addr, hits) = upstream(mode).await;
    let breaker = small_breaker();
    let svc = CircuitBreakerLayer::new(breaker.clone()).layer(client());
    for _ in 0..3 {
        let _ = svc.clone().oneshot(get_req(addr, "/")).await;
    }
    assert_eq!(breaker.state(), State::Open);
    let err = svc.clone().oneshot(get_req(addr, "/")).await.unwrap_err();
    let open = err
        .downcast_ref::<CircuitOpen>()
        .expect("typed CircuitOpen");
    assert!(open.retry_after > Duration::from_secs(29));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "no request reached the upstream while open"
    );
}

#[tokio::test]
async fn client_trips_on_5xx() {
    trip_and_check(Mode::Error500).await;
}

#[tokio::test]
async fn client_trips_on_connection_resets() {
    trip_and_check(Mode::Reset).await;
}

#[tokio::test]
async fn client_trips_on_slow_calls() {
    trip_and_check(Mode::Slow(150)).await;
}

#[tokio::test]
async fn client_trips_on_timeouts() {
    let (addr, hits) = upstream(Mode::Slow(2_000)).await;
    let breaker = small_breaker();
    let svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .timeout(Duration::from_millis(50))
        .service(client());
    for _ in 0..3 {
        let err = svc.clone().oneshot(get_req(addr, "/")).await.unwrap_err();
        assert!(err.is::<tower::timeout::error::Elapsed>());
    }
    assert_eq!(breaker.state(), State::Open);
    let err = svc.oneshot(get_req(addr, "/")).await.unwrap_err();
    assert!(err.is::<CircuitOpen>());
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

// ------------------------------------------------------------ (c) around a tonic client

mod grpc {
    use super::*;
    use core_backend_example_proto::notes_v1::{
        CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest, ListNotesResponse,
        Note,
        notes_service_client::NotesServiceClient,
        notes_service_server::{NotesService, NotesServiceServer},
    };
    use tonic::{Code, Status};

    struct Flaky {
        failures: usize,
        calls: Arc<AtomicUsize>,
    }

    #[tonic::async_trait]
    impl NotesService for Flaky {
        async fn create_note(
            &self,
            _: tonic::Request<CreateNoteRequest>,
        ) -> Result<tonic::Response<Note>, Status> {
            Err(Status::invalid_argument("title is required"))
        }
        async fn get_note(
            &self,
            req: tonic::Request<GetNoteRequest>,
        ) -> Result<tonic::Response<Note>, Status> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.failures {
                return Err(Status::unavailable("backend restarting"));
            }
            Ok(tonic::Response::new(Note {
                id: req.into_inner().id,
                ..Note::default()
            }))
        }
        async fn list_notes(
            &self,
            _: tonic::Request<ListNotesRequest>,
        ) -> Result<tonic::Response<ListNotesResponse>, Status> {
            Ok(tonic::Response::new(ListNotesResponse::default()))
        }
        async fn delete_note(
            &self,
            _: tonic::Request<DeleteNoteRequest>,
        ) -> Result<tonic::Response<()>, Status> {
            Ok(tonic::Response::new(()))
        }
    }

    /// A loopback listener's address and its accepted connections.
    async fn incoming() -> (
        SocketAddr,
        impl futures_util::Stream<Item = std::io::Result<tokio::net::TcpStream>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = futures_util::stream::unfold(listener, |l| async move {
            let next = l.accept().await.map(|(s, _)| s);
            Some((next, l))
        });
        (addr, incoming)
    }

    async fn serve(failures: usize) -> (SocketAddr, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let svc = NotesServiceServer::new(Flaky {
            failures,
            calls: calls.clone(),
        });
        let (addr, incoming) = incoming().await;
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        (addr, calls)
    }

    #[tokio::test]
    async fn unavailable_trips_and_client_sees_unavailable() {
        let (addr, calls) = serve(100).await;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let breaker = CircuitBreaker::builder()
            .name("notes")
            .count_based_window(4)
            .minimum_number_of_calls(4)
            .wait_duration_in_open(Duration::from_secs(1))
            .permitted_calls_in_half_open(1)
            .build();
        let svc = CircuitBreakerLayer::new(breaker.clone())
            .classifier(GrpcClassifier)
            .grpc_responses()
            .layer(channel);
        let mut c = NotesServiceClient::new(svc);

        // INVALID_ARGUMENT is the caller's fault: it never trips the breaker.
        for _ in 0..6 {
            let e = c
                .create_note(CreateNoteRequest::default())
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument);
        }
        assert_eq!(breaker.state(), State::Closed);

        // The window holds 4 successes; 2 failures make 50 %.
        for _ in 0..2 {
            let e = c
                .get_note(GetNoteRequest { id: "1".into() })
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::Unavailable);
            assert_eq!(e.message(), "backend restarting");
        }
        assert_eq!(breaker.state(), State::Open);
        let e = c
            .get_note(GetNoteRequest { id: "1".into() })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
        assert_eq!(e.message(), "circuit open");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "refused locally");

        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let _ = c.get_note(GetNoteRequest { id: "1".into() }).await;
        assert_eq!(breaker.state(), State::Open, "failed probe re-opens");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn breaker_on_tonic_server_side() {
        // The same layer on the server: refused calls never reach the service.
        let calls = Arc::new(AtomicUsize::new(0));
        let breaker = CircuitBreaker::builder().build();
        breaker.transition_to_forced_open();
        let svc = NotesServiceServer::new(Flaky {
            failures: 0,
            calls: calls.clone(),
        });
        let (addr, incoming) = incoming().await;
        let layer = CircuitBreakerLayer::new(breaker.clone())
            .classifier(GrpcClassifier)
            .grpc_responses();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(svc)
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = NotesServiceClient::new(channel);
        let e = c
            .get_note(GetNoteRequest { id: "1".into() })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        breaker.transition_to_closed();
        let note = c.get_note(GetNoteRequest { id: "7".into() }).await.unwrap();
        assert_eq!(note.into_inner().id, "7");
    }
}
