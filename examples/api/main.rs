//! The flagship: a multi-tenant-ready "notes" service on one port — gRPC `notes.v1.NotesService`,
//! the same methods as REST/JSON through the gateway, health, metrics, reflection, graceful
//! shutdown — on embedded defaults (no server needed).
//!
//! ```text
//! cargo run --example api
//! API_SERVER__ADDR=127.0.0.1:0 API_OBSERVABILITY__LOG_FORMAT=json cargo run --example api
//! API_CONFIG=api.toml cargo run --example api
//! ```
//!
//! Settings: built-in defaults < the TOML/YAML/JSON file named by `API_CONFIG` < `API_<SECTION>__<KEY>`.

mod notes;
mod settings;

use std::process::ExitCode;

use core_backend::{
    app::App,
    health::Criticality,
    observability,
    redis::{Redis, ratelimit::RedisRateLimitStore},
};
use core_backend_example_proto::{
    FILE_DESCRIPTOR_SET, notes_v1::notes_service_server::NotesServiceServer,
};

use crate::notes::{NoteStore, Notes};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("api: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), core_backend::BoxError> {
    let settings = settings::load()?;
    let telemetry = observability::init(settings.observability.clone())?;

    // Per-client rate limit on the API; with `API_REDIS__URL` the counts live in Redis and are
    // shared by every instance. Health probes and `/metrics` are exempt.
    let mut limits = settings.ratelimit.builder();
    if let Some(redis) = &settings.redis {
        limits = limits.store(RedisRateLimitStore::new(&Redis::connect_lazy(redis)?));
    }

    let store = NoteStore::default();
    let probe = store.clone();
    let app = App::builder(settings.server.clone())
        .metrics(telemetry.prometheus_handle())
        .grpc_service(NotesServiceServer::new(Notes::new(store)))
        .rest_gateway(FILE_DESCRIPTOR_SET)
        .health_check("notes-store", Criticality::Critical, move || {
            let probe = probe.clone();
            async move {
                probe.len().await;
                Ok::<_, std::convert::Infallible>(())
            }
        })
        .layer(limits.build())
        .bind()
        .await?;

    println!("listening on http://{}", app.local_addr());
    app.serve().await?;
    tracing::info!("drained, exiting");
    telemetry.shutdown()?;
    Ok(())
}
