//! The smallest useful server: one axum route and the standard gRPC health service on one port,
//! with the production defaults (timeouts, body limit, request id, problem+json errors, graceful
//! shutdown on SIGTERM / Ctrl-C).
//!
//! ```text
//! cargo run -p core-backend-server --example hello
//! curl -i localhost:8080/hello
//! ```

use axum::{Router, routing::get};
use core_backend_server::{Server, ServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SERVER_ADDR, SERVER_REQUEST_TIMEOUT, … override the defaults.
    let config = ServerConfig::from_env()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    let server = Server::builder()
        .config(config)
        .router(Router::new().route("/hello", get(|| async { "hello\n" })))
        .grpc_service(health)
        .on_shutdown(move || {
            // Tell gRPC health clients first; the server then stops accepting and drains.
            tokio::spawn(async move {
                reporter
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
            });
        })
        .bind()
        .await?;
    println!("listening on http://{}", server.local_addr());
    server.serve().await?;
    Ok(())
}
