//! [`Server`], [`ServerBuilder`] and [`BoundServer`]: the listener, its accept loop and graceful
//! shutdown.

use std::{
    fmt,
    future::Future,
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, body::Body, response::IntoResponse};
use http::Request;
use hyper_util::{
    rt::{TokioExecutor, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};
use tonic::server::NamedService;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    config::ServerConfig,
    conn::{self, ConnSettings},
    error::Error,
    metrics,
    service::InnerService,
    shutdown::{ShutdownHook, run_hooks, shutdown_signal},
    stack::{self, UserLayer},
};

/// Entry point: `Server::builder()`.
#[derive(Debug, Clone, Copy)]
pub struct Server(());

impl Server {
    /// A builder with [`ServerConfig::default`], no routes and no gRPC services.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// Collects the HTTP router, gRPC services, layers, hooks and configuration, then
/// [`bind`](Self::bind)s.
#[derive(Default)]
#[must_use = "a builder does nothing until `bind` is awaited"]
pub struct ServerBuilder {
    config: ServerConfig,
    router: Router,
    grpc: Option<tonic::service::Routes>,
    descriptor_sets: Vec<&'static [u8]>,
    layers: Vec<UserLayer>,
    hooks: Vec<ShutdownHook>,
    listener: Option<TcpListener>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("grpc", &self.grpc.is_some())
            .field("descriptor_sets", &self.descriptor_sets.len())
            .field("layers", &self.layers.len())
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Replaces the whole configuration. Defaults to [`ServerConfig::default`].
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the address to listen on (`127.0.0.1:0` picks a free port). Defaults to
    /// `0.0.0.0:8080`, or the configuration's `addr`.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.config.addr = addr;
        self
    }

    /// Serves on an already bound listener instead of binding `addr` (socket activation,
    /// tests). Defaults to binding `addr`.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Adds HTTP routes. Calling it again merges the routers with [`Router::merge`], so an
    /// application's routes and a REST gateway's can be given separately. Requests whose
    /// `content-type` is not gRPC go here; paths no route matches get `404` problem+json.
    /// Defaults to no routes.
    ///
    /// # Panics
    ///
    /// As [`Router::merge`]: if the routers have overlapping routes or both have a fallback.
    pub fn router(mut self, router: Router) -> Self {
        self.router = std::mem::take(&mut self.router).merge(router);
        self
    }

    /// Adds a gRPC service, such as a tonic-generated `FooServer::new(impl)` or
    /// `tonic_health`'s server. Defaults to none (gRPC requests then get `UNIMPLEMENTED`).
    pub fn grpc_service<S>(mut self, svc: S) -> Self
    where
        S: Service<Request<tonic::body::Body>, Error = std::convert::Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        self.grpc = Some(self.grpc.take().unwrap_or_default().add_service(svc));
        self
    }

    /// Adds all services of a tonic [`Routes`](tonic::service::Routes). Defaults to none.
    pub fn grpc_routes(mut self, routes: tonic::service::Routes) -> Self {
        self.grpc = Some(match self.grpc.take() {
            None => routes,
            // Both carry tonic's UNIMPLEMENTED fallback; keep one so the merge is allowed.
            Some(ours) => tonic::service::Routes::from(
                ours.into_axum_router()
                    .merge(routes.into_axum_router().reset_fallback()),
            ),
        });
        self
    }

    /// Serves gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) for the services in
    /// this encoded `FileDescriptorSet`; call again for more sets. Defaults to no reflection.
    pub fn file_descriptor_set(mut self, encoded: &'static [u8]) -> Self {
        self.descriptor_sets.push(encoded);
        self
    }

    /// Wraps the combined HTTP + gRPC service in a tower layer: observability, rate limiting,
    /// authentication… The layer sees every request that passed CORS, with the request id set,
    /// and every response, including the server's own rejections (408, 413, 503, 500 on panic).
    ///
    /// Each call wraps the previous ones, so the **last** `layer` is the **outermost**, as with
    /// [`Router::layer`]. Put several layers in one [`tower::ServiceBuilder`] to list them
    /// outermost first. Errors of the layer's service become responses: tower's `Elapsed` →
    /// 408 / `DEADLINE_EXCEEDED`, `Overloaded` → 503 / `UNAVAILABLE`, a [`Problem`] on HTTP or a
    /// [`tonic::Status`] on gRPC → itself, anything else → 500 / `INTERNAL`.
    /// Defaults to no layers.
    ///
    /// [`Problem`]: crate::Problem
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<InnerService> + Send + 'static,
        L::Service: Service<Request<Body>> + Clone + Send + 'static,
        <L::Service as Service<Request<Body>>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request<Body>>>::Error: Into<BoxError> + 'static,
        <L::Service as Service<Request<Body>>>::Future: Send + 'static,
    {
        self.layers.push(Box::new(move |inner| {
            InnerService::from_user(layer.layer(inner))
        }));
        self
    }

    /// Registers a function called once when shutdown starts, before the listener closes (e.g.
    /// to make readiness fail). Hooks run in registration order; together they get at most
    /// `shutdown_timeout`. Defaults to none.
    pub fn on_shutdown<F>(mut self, hook: F) -> Self
    where
        F: FnOnce() + Send + 'static,
    {
        self.hooks.push(Box::new(move || {
            hook();
            Box::pin(std::future::ready(()))
        }));
        self
    }

    /// Like [`on_shutdown`](Self::on_shutdown) for a hook that has to await something.
    pub fn on_shutdown_async<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.push(Box::new(move || Box::pin(hook())));
        self
    }

    /// Validates the configuration, loads TLS, assembles the service and binds the listener.
    /// The server accepts nothing until [`BoundServer::serve`] is awaited, but the port is taken,
    /// so [`BoundServer::local_addr`] can be printed first.
    pub async fn bind(self) -> Result<BoundServer, Error> {
        let Self {
            config,
            router,
            grpc,
            descriptor_sets,
            layers,
            hooks,
            listener,
        } = self;
        config.validate()?;
        let tls = tls_acceptor(&config)?;
        let mut grpc = grpc.unwrap_or_default();
        if !descriptor_sets.is_empty() {
            let reflection = || {
                descriptor_sets
                    .iter()
                    .fold(tonic_reflection::server::Builder::configure(), |b, set| {
                        b.register_encoded_file_descriptor_set(set)
                    })
            };
            grpc = grpc
                .add_service(reflection().build_v1().map_err(Error::Reflection)?)
                .add_service(reflection().build_v1alpha().map_err(Error::Reflection)?);
        }
        let service = stack::build(stack::Parts {
            config: config.clone(),
            router,
            grpc,
            layers,
        })?;
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(config.addr)
                .await
                .map_err(|source| Error::Bind {
                    addr: config.addr,
                    source,
                })?,
        };
        let local_addr = listener.local_addr().map_err(Error::LocalAddr)?;
        Ok(BoundServer {
            listener,
            local_addr,
            service,
            config,
            hooks,
            tls,
        })
    }
}

#[cfg(feature = "tls")]
type TlsAcceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type TlsAcceptor = std::convert::Infallible;

#[cfg(feature = "tls")]
fn tls_acceptor(config: &ServerConfig) -> Result<Option<TlsAcceptor>, Error> {
    config.tls.as_ref().map(crate::tls::acceptor).transpose()
}

#[cfg(not(feature = "tls"))]
fn tls_acceptor(config: &ServerConfig) -> Result<Option<TlsAcceptor>, Error> {
    match config.tls {
        None => Ok(None),
        Some(_) => Err(Error::Config(crate::config::ConfigError::new(
            "tls",
            "TLS is configured but core-backend-server was built without its `tls` feature",
        ))),
    }
}

/// A server whose listener is bound. Await [`serve`](Self::serve) to run it.
#[must_use = "a bound server accepts nothing until `serve` is awaited"]
pub struct BoundServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    service: InnerService,
    config: ServerConfig,
    hooks: Vec<ShutdownHook>,
    tls: Option<TlsAcceptor>,
}

impl fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

impl BoundServer {
    /// The address the listener is bound to, with the real port when `addr` had port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `true` when connections are served over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `SIGTERM` or `SIGINT` (see [`shutdown_signal`]), then shuts down
    /// gracefully.
    pub async fn serve(self) -> Result<(), Error> {
        self.serve_with_shutdown(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then shuts down gracefully:
    ///
    /// 1. the `on_shutdown` hooks run (in order, at most `shutdown_timeout` together) while the
    ///    server keeps serving;
    /// 2. it keeps accepting for `shutdown_grace`, so load balancers see readiness fail first;
    /// 3. the listener closes: new connections are refused;
    /// 4. open connections finish their in-flight requests (HTTP/1 closes after the current
    ///    response, HTTP/2 sends `GOAWAY`) for up to `shutdown_timeout`;
    /// 5. connections still open are closed by force, and `serve` returns.
    pub async fn serve_with_shutdown<F>(self, signal: F) -> Result<(), Error>
    where
        F: Future<Output = ()>,
    {
        let Self {
            listener,
            local_addr,
            service,
            config,
            hooks,
            tls,
        } = self;
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .keep_alive(config.http1_keep_alive)
            .header_read_timeout(non_zero(config.header_read_timeout));
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(config.http2_max_concurrent_streams)
            .keep_alive_interval(config.http2_keep_alive_interval)
            .keep_alive_timeout(config.http2_keep_alive_timeout);
        let mut acceptor = Acceptor {
            listener,
            local_addr,
            service,
            settings: Arc::new(ConnSettings {
                http,
                first_request_timeout: non_zero(config.header_read_timeout),
            }),
            tls,
            tcp_nodelay: config.tcp_nodelay,
            connection_limit: config.max_connections.map(|n| Arc::new(Semaphore::new(n))),
            graceful: GracefulShutdown::new(),
            connections: JoinSet::new(),
        };
        tracing::info!(addr = %local_addr, tls = acceptor.tls.is_some(), "server listening");

        acceptor.accept_until(signal).await;
        let started = Instant::now();
        ::metrics::counter!(metrics::SHUTDOWNS).increment(1);
        tracing::info!(
            hooks = hooks.len(),
            "shutdown started; running shutdown hooks"
        );
        acceptor
            .accept_until(run_hooks(hooks, config.shutdown_timeout))
            .await;
        if !config.shutdown_grace.is_zero() {
            tracing::info!(grace = ?config.shutdown_grace, "waiting before closing the listener");
            acceptor
                .accept_until(tokio::time::sleep(config.shutdown_grace))
                .await;
        }

        let Acceptor {
            listener,
            graceful,
            mut connections,
            ..
        } = acceptor;
        drop(listener);
        while connections.try_join_next().is_some() {}
        tracing::info!(
            connections = connections.len(),
            timeout = ?config.shutdown_timeout,
            "listener closed; draining connections"
        );
        if tokio::time::timeout(config.shutdown_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            while connections.try_join_next().is_some() {}
            let open = connections.len();
            ::metrics::counter!(metrics::CONNECTIONS_FORCE_CLOSED).increment(open as u64);
            tracing::warn!(
                connections = open,
                "shutdown timeout reached; closing connections by force"
            );
        }
        connections.abort_all();
        while connections.join_next().await.is_some() {}
        let took = started.elapsed();
        ::metrics::histogram!(metrics::SHUTDOWN_DURATION).record(took.as_secs_f64());
        tracing::info!(took = ?took, "server stopped");
        Ok(())
    }
}

fn non_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// The accept loop's state, kept across the shutdown phases in which it still accepts.
struct Acceptor {
    listener: TcpListener,
    local_addr: SocketAddr,
    service: InnerService,
    settings: Arc<ConnSettings>,
    tls: Option<TlsAcceptor>,
    tcp_nodelay: bool,
    connection_limit: Option<Arc<Semaphore>>,
    graceful: GracefulShutdown,
    connections: JoinSet<()>,
}

impl Acceptor {
    /// Accepts and spawns connections until `stop` completes.
    async fn accept_until<F: Future>(&mut self, stop: F) -> F::Output {
        tokio::pin!(stop);
        loop {
            // Take a connection slot before accepting, so that at the limit new clients wait in
            // the kernel's backlog instead of being accepted and starved.
            let permit = match &self.connection_limit {
                None => None,
                Some(limit) => {
                    if let Ok(permit) = limit.clone().try_acquire_owned() {
                        Some(permit)
                    } else {
                        ::metrics::counter!(metrics::CONNECTIONS_THROTTLED).increment(1);
                        tracing::warn!("max_connections reached; pausing accept");
                        tokio::select! {
                            biased;
                            out = &mut stop => return out,
                            permit = limit.clone().acquire_owned() => match permit {
                                Ok(permit) => Some(permit),
                                // The semaphore is never closed; try again if it ever is.
                                Err(_) => continue,
                            },
                        }
                    }
                }
            };
            let accepted = tokio::select! {
                biased;
                out = &mut stop => return out,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, remote)) => self.spawn(stream, remote, permit),
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Typically EMFILE/ENFILE: back off instead of spinning on the error.
                    ::metrics::counter!(metrics::ACCEPT_ERRORS).increment(1);
                    tracing::error!(error = %e, "accept failed; retrying in 1s");
                    tokio::select! {
                        biased;
                        out = &mut stop => return out,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
            // Reap finished tasks so the set does not grow with the server's lifetime.
            while self.connections.try_join_next().is_some() {}
        }
    }

    fn spawn(
        &mut self,
        stream: TcpStream,
        remote: SocketAddr,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        if self.tcp_nodelay
            && let Err(e) = stream.set_nodelay(true)
        {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let settings = self.settings.clone();
        let service = self.service.clone();
        let watcher = self.graceful.watcher();
        let local = self.local_addr;
        #[cfg_attr(not(feature = "tls"), allow(clippy::clone_on_copy))]
        let tls = self.tls.clone();
        self.connections.spawn(async move {
            let _permit = permit;
            let _active = metrics::ActiveConnection::open();
            match tls {
                None => conn::drive(stream, settings, service, local, remote, watcher).await,
                #[cfg(feature = "tls")]
                Some(tls) => {
                    let limit = settings
                        .first_request_timeout
                        .unwrap_or(Duration::from_secs(10));
                    match tokio::time::timeout(limit, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            conn::drive(stream, settings, service, local, remote, watcher).await;
                        }
                        Ok(Err(e)) => {
                            metrics::rejection("tls_handshake");
                            tracing::debug!(error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            metrics::rejection("tls_handshake");
                            tracing::debug!("TLS handshake timed out");
                        }
                    }
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
            }
        });
    }
}

/// Errors that concern one connection only; the listener is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
