//! A ready server stack: the packages of the foundation assembled the way a service needs them.
//!
//! [`App`] puts on one port, behind one [`core_backend_server::Server`]:
//!
//! - your gRPC services, each wrapped in the gRPC server observability layer
//!   (`rpc.server.duration`, trace context) and declared to the health registry;
//! - a REST/JSON gateway derived from their `google.api.http` annotations
//!   ([`App::rest_gateway`], [`core_backend_gateway`]);
//! - your axum routes, the probes `/livez`, `/readyz`, `/healthz` and `/metrics`, all wrapped in the
//!   HTTP server observability layer (`http.server.request.duration` labelled by route template);
//! - `grpc.health.v1.Health` and gRPC server reflection;
//! - graceful shutdown that turns readiness off before it drains.
//!
//! ```no_run
//! use core_backend::app::App;
//! use core_backend::health::Criticality;
//! # use core_backend_example_proto::{FILE_DESCRIPTOR_SET, notes_v1::notes_service_server::*};
//! # use core_backend_example_proto::notes_v1::*;
//! # use tonic::{Request, Response, Status};
//! # struct Notes;
//! # #[tonic::async_trait]
//! # impl NotesService for Notes {
//! #     async fn create_note(&self, _: Request<CreateNoteRequest>) -> Result<Response<Note>, Status> { Err(Status::unimplemented("")) }
//! #     async fn get_note(&self, _: Request<GetNoteRequest>) -> Result<Response<Note>, Status> { Err(Status::unimplemented("")) }
//! #     async fn list_notes(&self, _: Request<ListNotesRequest>) -> Result<Response<ListNotesResponse>, Status> { Err(Status::unimplemented("")) }
//! #     async fn delete_note(&self, _: Request<DeleteNoteRequest>) -> Result<Response<()>, Status> { Err(Status::unimplemented("")) }
//! # }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), core_backend::BoxError> {
//! let telemetry = core_backend::observability::init(Default::default())?;
//! let app = App::builder(core_backend::server::ServerConfig::default())
//!     .metrics(telemetry.prometheus_handle())
//!     .grpc_service(NotesServiceServer::new(Notes))
//!     .rest_gateway(FILE_DESCRIPTOR_SET)
//!     .health_check("database", Criticality::Critical, || async { Ok::<_, std::io::Error>(()) })
//!     .bind()
//!     .await?;
//! println!("listening on http://{}", app.local_addr());
//! app.serve().await?; // until SIGTERM / Ctrl-C, then drain
//! # Ok(())
//! # }
//! ```

use std::{convert::Infallible, net::SocketAddr};

use axum::{Router, response::IntoResponse};
use core_backend_gateway::Gateway;
use core_backend_health::{Criticality, HealthCheck, HealthRegistry};
use core_backend_observability::{GrpcServerLayer, HttpServerLayer, PrometheusHandle};
use core_backend_server::{BoundServer, InnerService, Server, ServerBuilder, ServerConfig};
use tonic::server::NamedService;
use tower::{BoxError, Layer, Service};

/// Entry point of the preset; see the [module docs](self).
#[derive(Debug)]
pub struct App(());

impl App {
    /// Starts a builder with the server's settings.
    pub fn builder(config: ServerConfig) -> AppBuilder {
        AppBuilder {
            server: Server::builder().config(config),
            health: HealthRegistry::builder().build(),
            http: Router::new(),
            grpc: None,
            grpc_names: Vec::new(),
            gateways: Vec::new(),
            descriptor_sets: vec![tonic_health::pb::FILE_DESCRIPTOR_SET],
            metrics: None,
        }
    }
}

/// Builder of an [`App`]; each method documents its default.
#[must_use]
pub struct AppBuilder {
    server: ServerBuilder,
    health: HealthRegistry,
    http: Router,
    grpc: Option<tonic::service::Routes>,
    grpc_names: Vec<&'static str>,
    gateways: Vec<&'static [u8]>,
    descriptor_sets: Vec<&'static [u8]>,
    metrics: Option<PrometheusHandle>,
}

impl std::fmt::Debug for AppBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppBuilder")
            .field("grpc_services", &self.grpc_names)
            .field("gateways", &self.gateways.len())
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

impl AppBuilder {
    /// Uses this health registry (to share it with code that registers checks elsewhere).
    /// Defaults to a new registry with the health crate's defaults.
    pub fn health(mut self, registry: HealthRegistry) -> Self {
        self.health = registry;
        self
    }

    /// Registers a health check with the app's registry. Critical checks decide readiness.
    /// Defaults to no checks.
    pub fn health_check(
        self,
        name: impl Into<String>,
        criticality: Criticality,
        check: impl HealthCheck,
    ) -> Self {
        self.health.register(name, criticality, check);
        self
    }

    /// Serves `GET /metrics` from this Prometheus handle (from
    /// [`Telemetry::prometheus_handle`](core_backend_observability::Telemetry::prometheus_handle)).
    /// Defaults to no `/metrics` route.
    pub fn metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Adds HTTP routes (merged; see [`ServerBuilder::router`]). Defaults to none.
    pub fn router(mut self, router: Router) -> Self {
        self.http = std::mem::take(&mut self.http).merge(router);
        self
    }

    /// Adds a gRPC service and declares its name to the health registry (its
    /// `grpc.health.v1` status follows overall readiness). Defaults to none.
    pub fn grpc_service<S>(mut self, svc: S) -> Self
    where
        S: Service<http::Request<tonic::body::Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        self.health.grpc_service(S::NAME);
        self.grpc_names.push(S::NAME);
        self.grpc = Some(match self.grpc.take() {
            Some(routes) => routes.add_service(svc),
            None => tonic::service::Routes::new(svc),
        });
        self
    }

    /// Serves the `google.api.http` bindings found in this encoded `FileDescriptorSet` as REST/JSON,
    /// transcoded into the gRPC services added with [`grpc_service`](Self::grpc_service), and
    /// serves gRPC reflection for it. Defaults to no gateway.
    pub fn rest_gateway(mut self, file_descriptor_set: &'static [u8]) -> Self {
        self.gateways.push(file_descriptor_set);
        self.descriptor_sets.push(file_descriptor_set);
        self
    }

    /// Serves gRPC reflection for this encoded `FileDescriptorSet` (no REST gateway).
    /// Defaults to reflection of `grpc.health.v1` and every gateway's set.
    pub fn reflection(mut self, file_descriptor_set: &'static [u8]) -> Self {
        self.descriptor_sets.push(file_descriptor_set);
        self
    }

    /// Wraps the whole service (HTTP and gRPC) in a tower layer; see [`ServerBuilder::layer`].
    /// Defaults to no extra layers.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<InnerService> + Send + 'static,
        L::Service: Service<http::Request<axum::body::Body>> + Clone + Send + 'static,
        <L::Service as Service<http::Request<axum::body::Body>>>::Response: IntoResponse + 'static,
        <L::Service as Service<http::Request<axum::body::Body>>>::Error: Into<BoxError> + 'static,
        <L::Service as Service<http::Request<axum::body::Body>>>::Future: Send + 'static,
    {
        self.server = self.server.layer(layer);
        self
    }

    /// The health registry, e.g. to register checks after building.
    pub fn health_registry(&self) -> &HealthRegistry {
        &self.health
    }

    /// Assembles the stack and binds the listener.
    pub async fn bind(self) -> Result<BoundApp, BoxError> {
        let Self {
            mut server,
            health,
            mut http,
            grpc,
            grpc_names: _,
            gateways,
            descriptor_sets,
            metrics,
        } = self;

        let grpc = grpc.map_or_else(
            || tonic::service::Routes::new(health.grpc_server()),
            |routes| routes.add_service(health.grpc_server()),
        );
        for set in gateways {
            let gateway = Gateway::builder(set).build(grpc.clone())?;
            http = http.merge(Router::from(gateway));
        }
        http = http.merge(health.router());
        if let Some(handle) = metrics {
            http = http.merge(core_backend_observability::metrics_router(handle));
        }
        let http = http.layer(HttpServerLayer::new());
        let grpc =
            tonic::service::Routes::from(grpc.into_axum_router().layer(GrpcServerLayer::new()));

        server = server.router(http).grpc_routes(grpc);
        for set in descriptor_sets {
            server = server.file_descriptor_set(set);
        }
        let registry = health.clone();
        let bound = server
            .on_shutdown(move || registry.begin_shutdown())
            .bind()
            .await?;
        Ok(BoundApp {
            server: bound,
            health,
        })
    }
}

/// An [`App`] with its listener bound; nothing is served until [`serve`](Self::serve).
#[derive(Debug)]
pub struct BoundApp {
    server: BoundServer,
    health: HealthRegistry,
}

impl BoundApp {
    /// The address actually bound (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The health registry serving `/readyz` and `grpc.health.v1`.
    pub fn health(&self) -> &HealthRegistry {
        &self.health
    }

    /// Serves until SIGTERM or Ctrl-C, then turns readiness off, drains in-flight requests up to the
    /// configured deadline and returns.
    pub async fn serve(self) -> Result<(), BoxError> {
        self.server.serve().await.map_err(Into::into)
    }

    /// Serves until `signal` completes, then shuts down as [`serve`](Self::serve) does.
    pub async fn serve_with_shutdown<F>(self, signal: F) -> Result<(), BoxError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.server
            .serve_with_shutdown(signal)
            .await
            .map_err(Into::into)
    }
}
