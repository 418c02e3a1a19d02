//! `grpc.health.v1.Health` on the registry.

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::registry::{GrpcTarget, HealthRegistry};

/// The `grpc.health.v1.Health` service backed by a [`HealthRegistry`].
///
/// Build it with [`HealthRegistry::grpc_server`]. Service `""` is overall readiness; other
/// names must be declared with [`HealthRegistry::grpc_service`] (follows readiness) or
/// [`HealthRegistry::grpc_service_checks`] (follows named checks). `Check` answers
/// `NOT_FOUND` for an unknown name; `Watch` sends `SERVICE_UNKNOWN` and keeps the stream open,
/// as the protocol asks.
#[derive(Debug, Clone)]
pub struct GrpcHealth {
    registry: HealthRegistry,
}

impl HealthRegistry {
    /// The gRPC health service, ready to add to a tonic server
    /// (`Server::builder().add_service(registry.grpc_server())`) or to the server crate.
    pub fn grpc_server(&self) -> HealthServer<GrpcHealth> {
        HealthServer::new(self.grpc_health())
    }

    /// The bare [`Health`] implementation, for wrapping or calling directly; most users want
    /// [`grpc_server`](Self::grpc_server).
    pub fn grpc_health(&self) -> GrpcHealth {
        GrpcHealth {
            registry: self.clone(),
        }
    }

    /// The serving status of gRPC `service`, or `None` if the name is unknown.
    pub async fn grpc_status(&self, service: &str) -> Option<ServingStatus> {
        let target = self.grpc_target(service)?;
        if self.is_shutting_down() {
            return Some(ServingStatus::NotServing);
        }
        let serving = match target {
            GrpcTarget::Overall => self.readiness().await.ready,
            GrpcTarget::Checks(names) => self.checks_pass(&names).await,
        };
        Some(if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        })
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status.into(),
    }
}

/// Stream of `Watch` responses.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for GrpcHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        match self.registry.grpc_status(&service).await {
            Some(status) => Ok(Response::new(response(status))),
            None => Err(Status::not_found(format!("unknown service {service:?}"))),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.into_inner().service;
        let registry = self.registry.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut shutdown = registry.subscribe_shutdown();
            let mut ticker = tokio::time::interval(registry.watch_interval());
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            let mut last = None;
            let mut shutdown_seen = false;
            loop {
                let status = registry
                    .grpc_status(&service)
                    .await
                    .unwrap_or(ServingStatus::ServiceUnknown);
                if last != Some(status) {
                    if tx.send(Ok(response(status))).await.is_err() {
                        return;
                    }
                    last = Some(status);
                }
                tokio::select! {
                    () = tx.closed() => return,
                    _ = ticker.tick() => {}
                    changed = shutdown.changed(), if !shutdown_seen => {
                        // Shutdown is one-way; after it (or if the registry is gone) only the
                        // ticker drives this loop.
                        shutdown_seen = changed.is_err() || *shutdown.borrow_and_update();
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
