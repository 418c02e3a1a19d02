//! One accepted connection: the per-connection hyper service and the task that drives it.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use axum::{body::Body, extract::ConnectInfo, response::Response};
use futures_util::future::BoxFuture;
use http::Request;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::Watcher},
};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::TcpConnectInfo;
use tower::{ServiceExt, util::Oneshot};
use tower_service::Service;

use crate::{metrics, protocol::Protocol, service::InnerService};

/// Length of the HTTP/2 connection preface. A connection that delivered this many bytes (or a
/// request) is past protocol detection, where hyper's own timeouts take over.
const PREFACE_LEN: usize = 24;

/// The hyper service of one connection: adds connection info to each request and calls the
/// shared stack.
#[derive(Clone)]
pub(crate) struct ConnService {
    svc: InnerService,
    local: SocketAddr,
    remote: SocketAddr,
    started: Arc<AtomicBool>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = ConnFuture;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        self.started.store(true, Ordering::Relaxed);
        // For axum's `ConnectInfo<SocketAddr>` extractor and, on gRPC requests only (each
        // extension costs an allocation), tonic's `Request::remote_addr`.
        let grpc = Protocol::of(&req).is_grpc();
        let ext = req.extensions_mut();
        ext.insert(ConnectInfo(self.remote));
        if grpc {
            ext.insert(TcpConnectInfo {
                local_addr: Some(self.local),
                remote_addr: Some(self.remote),
            });
        }
        let req = req.map(Body::new);
        let mut svc = self.svc.clone();
        // The stack never waits in `poll_ready` (the concurrency limit sheds instead), so check
        // readiness in place and return the small call future; fall back to waiting properly
        // if a user layer is not ready.
        let noop = &mut Context::from_waker(Waker::noop());
        match svc.poll_ready(noop) {
            Poll::Ready(Ok(())) => ConnFuture::Called(svc.call(req)),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => ConnFuture::Waiting(Box::pin(svc.oneshot(req))),
        }
    }
}

/// Response future of [`ConnService`].
pub(crate) enum ConnFuture {
    Called(BoxFuture<'static, Result<Response, Infallible>>),
    Waiting(Pin<Box<Oneshot<InnerService, Request<Body>>>>),
}

impl Future for ConnFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both variants are boxed, so the enum is `Unpin`.
        match self.get_mut() {
            Self::Called(fut) => fut.as_mut().poll(cx),
            Self::Waiting(fut) => fut.as_mut().poll(cx),
        }
    }
}

/// Settings shared by all connection tasks.
pub(crate) struct ConnSettings {
    pub(crate) http: auto::Builder<TokioExecutor>,
    /// Time to get past protocol detection; `None` waits forever.
    pub(crate) first_request_timeout: Option<Duration>,
}

/// Serves `io` until the client closes it, it fails, or graceful shutdown completes it.
pub(crate) async fn drive<I>(
    io: I,
    settings: Arc<ConnSettings>,
    svc: InnerService,
    local: SocketAddr,
    remote: SocketAddr,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let started = Arc::new(AtomicBool::new(false));
    let io = StartWatch {
        io,
        read: 0,
        started: started.clone(),
    };
    let svc = ConnService {
        svc,
        local,
        remote,
        started: started.clone(),
    };
    let conn = settings
        .http
        .serve_connection_with_upgrades(TokioIo::new(io), svc);
    let conn = watcher.watch(conn);
    tokio::pin!(conn);
    // hyper's `header_read_timeout` guards HTTP/1 request heads, but nothing guards the protocol
    // detection before it, nor the HTTP/2 preface: a client that connects and sends nothing (or a
    // few bytes) would hold the connection forever. The timer is dropped once the connection
    // started, so it costs nothing afterwards.
    let mut first_request = settings
        .first_request_timeout
        .map(|limit| Box::pin(tokio::time::sleep(limit)));
    let result = std::future::poll_fn(|cx| {
        if let Poll::Ready(res) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(res));
        }
        if let Some(timer) = &mut first_request {
            if started.load(Ordering::Relaxed) {
                first_request = None;
            } else if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    })
    .await;
    let Some(result) = result else {
        metrics::rejection("header_timeout");
        tracing::debug!(%remote, "no request within the header read timeout; closing");
        return;
    };
    if let Err(err) = result {
        let timeout = err
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout);
        if timeout {
            metrics::rejection("header_timeout");
            tracing::debug!(%remote, "request head not received in time; connection closed");
        } else {
            tracing::debug!(%remote, error = %err, "connection ended with an error");
        }
    }
}

pin_project! {
    /// Marks the connection as started once the HTTP/2 preface length has been read.
    struct StartWatch<I> {
        #[pin]
        io: I,
        read: usize,
        started: Arc<AtomicBool>,
    }
}

impl<I: AsyncRead> AsyncRead for StartWatch<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let res = this.io.poll_read(cx, buf);
        if *this.read < PREFACE_LEN {
            *this.read += buf.filled().len() - before;
            if *this.read >= PREFACE_LEN {
                this.started.store(true, Ordering::Relaxed);
            }
        }
        res
    }
}

impl<I: AsyncWrite> AsyncWrite for StartWatch<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
