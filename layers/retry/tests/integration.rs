//! The retry layer in its three positions, on real loopback sockets: on an axum router, around
//! a hyper-util client calling a flaky upstream, and around a tonic client.
#![allow(missing_docs, clippy::unwrap_used)]

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Body, extract::State, http::StatusCode, routing::any};
use bytes::Bytes;
use core_backend_retry::{Backoff, BufferRequestBodyLayer, Jitter, ReplayBody, RetryLayer};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tower::{ServiceBuilder, ServiceExt};

fn fast() -> Backoff {
    Backoff::exponential(Duration::from_millis(5), Duration::from_millis(20)).jitter(Jitter::None)
}

// ---------------------------------------------------------------- (a) on an axum router

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

async fn flaky_handler(State(seen): State<Seen>, body: Bytes) -> (StatusCode, String) {
    let mut seen = seen.0.lock().unwrap();
    seen.push(String::from_utf8_lossy(&body).into_owned());
    if seen.len() % 3 == 0 {
        (StatusCode::OK, format!("ok after {}", seen.len()))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "busy".into())
    }
}

async fn serve_router(limit: usize) -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let inner = Router::new()
        .route("/work", any(flaky_handler))
        .with_state(seen.clone());
    let stack = ServiceBuilder::new()
        .layer(BufferRequestBodyLayer::new(limit))
        .layer(RetryLayer::builder().backoff(fast()).no_budget().build())
        .map_request(|req: Request<ReplayBody<Body>>| req.map(Body::new))
        .service(inner);
    let app = Router::new().fallback_service(stack);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn http_client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn send(addr: SocketAddr, method: &str, body: &'static str) -> (u16, String) {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}/work"))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let res = http_client().request(req).await.unwrap();
    let status = res.status().as_u16();
    let text = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&text).into_owned())
}

#[tokio::test]
async fn axum_router_retries_idempotent_requests_with_their_body() {
    let (addr, seen) = serve_router(1024).await;
    assert_eq!(
        send(addr, "PUT", "payload").await,
        (200, "ok after 3".into())
    );
    assert_eq!(
        *seen.0.lock().unwrap(),
        vec!["payload"; 3],
        "same body on every attempt"
    );
}

#[tokio::test]
async fn axum_router_sends_post_once() {
    let (addr, seen) = serve_router(1024).await;
    assert_eq!(send(addr, "POST", "order").await, (503, "busy".into()));
    assert_eq!(*seen.0.lock().unwrap(), vec!["order"]);
}

#[tokio::test]
async fn axum_router_sends_oversized_body_once_and_whole() {
    let (addr, seen) = serve_router(4).await;
    assert_eq!(
        send(addr, "PUT", "longer than four").await,
        (503, "busy".into())
    );
    assert_eq!(*seen.0.lock().unwrap(), vec!["longer than four"]);
}

// ------------------------------------------- (b) around a hyper-util client, flaky upstream

#[derive(Clone, Copy, Debug)]
enum Step {
    /// 503 with `Retry-After: n` seconds.
    Unavailable(u64),
    /// Close the socket in the middle of the status line.
    ResetBeforeHeaders,
    /// Send headers and part of the body, then close.
    ResetMidBody,
    /// Answer 200 after a delay.
    Slow(u64),
    /// Answer 200 "hello".
    Ok,
}

async fn flaky_upstream(script: Vec<Step>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let i = counter.fetch_add(1, Ordering::SeqCst);
            let step = script.get(i).copied().unwrap_or(Step::Ok);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let reply: Vec<u8> = match step {
                    Step::Unavailable(secs) => format!(
                        "HTTP/1.1 503 Service Unavailable\r\nretry-after: {secs}\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy"
                    )
                    .into_bytes(),
                    Step::ResetBeforeHeaders => b"HTTP/1.1 20".to_vec(),
                    Step::ResetMidBody => {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\npartial".to_vec()
                    }
                    Step::Slow(ms) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow".to_vec()
                    }
                    Step::Ok => {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello".to_vec()
                    }
                };
                let _ = sock.write_all(&reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, hits)
}

fn get(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/"))
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn client_honours_retry_after_from_upstream() {
    let (addr, hits) = flaky_upstream(vec![Step::Unavailable(1)]).await;
    let svc = RetryLayer::builder()
        .backoff(fast())
        .build()
        .layer_over(http_client());
    let start = Instant::now();
    let res = svc.oneshot(get(addr)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        start.elapsed()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn client_retries_connection_resets() {
    let (addr, hits) =
        flaky_upstream(vec![Step::ResetBeforeHeaders, Step::ResetBeforeHeaders]).await;
    let svc = RetryLayer::builder()
        .backoff(fast())
        .build()
        .layer_over(http_client());
    let res = svc.oneshot(get(addr)).await.unwrap();
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hello");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn client_reset_mid_body_reaches_caller() {
    // The response was already handed over when the body broke: a retry layer can't replay
    // it, and the caller sees the body error rather than a silently short body.
    let (addr, hits) = flaky_upstream(vec![Step::ResetMidBody]).await;
    let svc = RetryLayer::builder()
        .backoff(fast())
        .build()
        .layer_over(http_client());
    let res = svc.oneshot(get(addr)).await.unwrap();
    assert!(res.into_body().collect().await.is_err());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn client_retries_slow_responses_with_per_attempt_timeout() {
    let (addr, hits) = flaky_upstream(vec![Step::Slow(5_000), Step::Slow(10)]).await;
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::builder().backoff(fast()).build())
        // Generous, so the fast second attempt fits even on a loaded machine.
        .timeout(Duration::from_secs(1))
        .service(http_client());
    let res = svc.oneshot(get(addr)).await.unwrap();
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "slow");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn client_gives_up_with_last_response() {
    let (addr, hits) = flaky_upstream(vec![Step::Unavailable(0); 5]).await;
    let svc = RetryLayer::builder()
        .backoff(fast())
        .max_attempts(3)
        .build()
        .layer_over(http_client());
    let res = svc.oneshot(get(addr)).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "0");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

trait LayerOver<S> {
    type Service;
    fn layer_over(self, inner: S) -> Self::Service;
}

impl<S, L: tower::Layer<S>> LayerOver<S> for L {
    type Service = L::Service;
    fn layer_over(self, inner: S) -> L::Service {
        self.layer(inner)
    }
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
        code: Code,
        calls: Arc<AtomicUsize>,
    }

    #[tonic::async_trait]
    impl NotesService for Flaky {
        async fn create_note(
            &self,
            req: tonic::Request<CreateNoteRequest>,
        ) -> Result<tonic::Response<Note>, Status> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.failures {
                return Err(Status::new(self.code, "flaky"));
            }
            let req = req.into_inner();
            Ok(tonic::Response::new(Note {
                id: format!("n{n}"),
                title: req.title,
                body: req.body,
                ..Note::default()
            }))
        }
        async fn get_note(
            &self,
            _: tonic::Request<GetNoteRequest>,
        ) -> Result<tonic::Response<Note>, Status> {
            Err(Status::not_found("no notes here"))
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

    async fn serve(failures: usize, code: Code) -> (SocketAddr, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let svc = NotesServiceServer::new(Flaky {
            failures,
            code,
            calls: calls.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tokio_stream_from(listener);
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        (addr, calls)
    }

    fn tokio_stream_from(
        listener: TcpListener,
    ) -> impl futures_util::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
        futures_util::stream::unfold(listener, |l| async move {
            let next = l.accept().await.map(|(s, _)| s);
            Some((next, l))
        })
    }

    async fn client(
        addr: SocketAddr,
    ) -> NotesServiceClient<
        impl tonic::client::GrpcService<
            tonic::body::Body,
            Error = tonic::transport::Error,
            ResponseBody = tonic::body::Body,
        > + Clone,
    > {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let svc = ServiceBuilder::new()
            .layer(BufferRequestBodyLayer::new(64 * 1024))
            .layer(
                RetryLayer::builder()
                    .grpc()
                    .backoff(fast())
                    .max_attempts(4)
                    .build(),
            )
            .map_request(|req: Request<ReplayBody<tonic::body::Body>>| {
                req.map(tonic::body::Body::new)
            })
            .service(channel);
        NotesServiceClient::new(svc)
    }

    #[tokio::test]
    async fn unavailable_is_retried_with_the_same_message() {
        let (addr, calls) = serve(2, Code::Unavailable).await;
        let mut c = client(addr).await;
        let note = c
            .create_note(CreateNoteRequest {
                title: "t".into(),
                body: "b".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (note.id.as_str(), note.title.as_str(), note.body.as_str()),
            ("n2", "t", "b")
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn invalid_argument_is_not_retried() {
        let (addr, calls) = serve(1, Code::InvalidArgument).await;
        let mut c = client(addr).await;
        let err = c
            .create_note(CreateNoteRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn exhausted_returns_last_status() {
        let (addr, calls) = serve(10, Code::Unavailable).await;
        let mut c = client(addr).await;
        let err = c
            .create_note(CreateNoteRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
