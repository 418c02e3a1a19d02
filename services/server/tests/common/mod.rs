//! Helpers shared by the integration tests: a server on 127.0.0.1:0 and raw hyper clients.

#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use core_backend_example_proto::notes_v1::{
    self, CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest,
    ListNotesResponse, Note, notes_service_server::NotesService,
};
use core_backend_server::{Error, ServerBuilder};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{net::TcpStream, sync::oneshot, task::JoinHandle};

/// A running server and the means to stop it.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), Error>>,
}

impl TestServer {
    /// Binds `builder` on 127.0.0.1:0 and serves it until [`stop`](Self::stop).
    pub async fn start(builder: ServerBuilder) -> Self {
        let bound = builder
            .addr("127.0.0.1:0".parse().unwrap())
            .bind()
            .await
            .unwrap();
        let addr = bound.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(bound.serve_with_shutdown(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            shutdown: Some(tx),
            handle,
        }
    }

    /// Sends the shutdown signal without waiting.
    pub fn signal(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> Result<(), Error> {
        self.signal();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("server did not stop in time")
            .expect("server task panicked")
    }

    /// Waits for `serve` to return (after [`signal`](Self::signal)).
    pub async fn join(self) -> Result<(), Error> {
        self.handle.await.expect("server task panicked")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

pub type H1 = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
pub type H2 = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// An HTTP/1.1 connection.
pub async fn h1(addr: SocketAddr) -> H1 {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    send
}

/// An HTTP/2 cleartext connection with prior knowledge (h2c).
pub async fn h2(addr: SocketAddr) -> H2 {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

/// A collected response.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub version: http::Version,
    pub body: Bytes,
}

impl Reply {
    pub async fn from(res: Response<Incoming>) -> Self {
        let (parts, body) = res.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            version: parts.version,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 body with this status and returns it.
    pub fn problem(&self, status: StatusCode) -> serde_json::Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let json = self.json();
        assert_eq!(json["status"], status.as_u16());
        assert_eq!(json["type"], "about:blank");
        assert!(json["title"].is_string());
        json
    }
}

pub fn req(method: &str, uri: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost")
}

pub fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// Sends `req` on a fresh HTTP/1.1 connection.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
    let mut c = h1(addr).await;
    Reply::from(c.send_request(req).await.unwrap()).await
}

/// `GET path` on a fresh HTTP/1.1 connection.
pub async fn fetch(addr: SocketAddr, path: &str) -> Reply {
    send(addr, req("GET", path).body(empty()).unwrap()).await
}

/// A small notes.v1 service for the gRPC tests.
///
/// `GetNote`: id `missing` → NOT_FOUND, id `slow-<ms>` → sleeps, otherwise a note whose body is
/// the caller's address. `CreateNote`: title `panic` panics.
#[derive(Debug, Default, Clone)]
pub struct Notes;

#[tonic::async_trait]
impl NotesService for Notes {
    async fn create_note(
        &self,
        request: tonic::Request<CreateNoteRequest>,
    ) -> Result<tonic::Response<Note>, tonic::Status> {
        let req = request.into_inner();
        assert!(req.title != "panic", "asked to panic");
        Ok(tonic::Response::new(Note {
            id: "1".into(),
            title: req.title,
            body: req.body,
            created_at: None,
        }))
    }

    async fn get_note(
        &self,
        request: tonic::Request<GetNoteRequest>,
    ) -> Result<tonic::Response<Note>, tonic::Status> {
        let remote = request.remote_addr();
        let id = request.into_inner().id;
        if id == "missing" {
            return Err(tonic::Status::not_found("no such note"));
        }
        if let Some(ms) = id.strip_prefix("slow-") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        }
        Ok(tonic::Response::new(Note {
            id,
            title: "a note".into(),
            body: remote.map(|a| a.ip().to_string()).unwrap_or_default(),
            created_at: None,
        }))
    }

    async fn list_notes(
        &self,
        _request: tonic::Request<ListNotesRequest>,
    ) -> Result<tonic::Response<ListNotesResponse>, tonic::Status> {
        Ok(tonic::Response::new(ListNotesResponse::default()))
    }

    async fn delete_note(
        &self,
        _request: tonic::Request<DeleteNoteRequest>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        Ok(tonic::Response::new(()))
    }
}

pub fn notes_server() -> notes_v1::notes_service_server::NotesServiceServer<Notes> {
    notes_v1::notes_service_server::NotesServiceServer::new(Notes)
}

/// A tonic channel to the server.
pub async fn channel(addr: SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Sends a plain HTTP/1.1 request over raw TCP and returns whatever comes back before close.
pub async fn fetch_raw(addr: SocketAddr) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    out
}
