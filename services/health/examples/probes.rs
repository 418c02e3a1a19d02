//! Serves `/livez`, `/readyz`, `/healthz` and `grpc.health.v1` on two loopback ports.
//!
//! `cargo run -p core-backend-health --example probes`, then
//! `curl -i localhost:<port>/healthz`. Ctrl-C begins shutdown: readiness fails for two
//! seconds (watch `/readyz` turn 503), then the process exits.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use core_backend_health::{CheckOptions, Criticality, Details, HealthRegistry};

#[tokio::main]
async fn main() {
    let health = HealthRegistry::builder()
        .cache_ttl(Duration::from_secs(1))
        .build();
    health.register_with(
        "clock",
        CheckOptions::new(Criticality::Critical).component_type("system"),
        || async {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(Details::new().observed(now.as_secs(), "s"))
        },
    );
    health.register("flaky", Criticality::NonCritical, || async {
        if fastrand_bit() {
            Ok(())
        } else {
            Err("coin landed tails")
        }
    });
    health.grpc_service("example.v1.Example");

    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening on http://{}", http.local_addr().unwrap());
    println!("grpc health on http://{}", grpc.local_addr().unwrap());

    let app: axum::Router = health.router();
    tokio::spawn(async move { axum::serve(http, app).await.unwrap() });
    let service = health.grpc_server();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(grpc))
            .await
            .unwrap();
    });

    tokio::signal::ctrl_c().await.unwrap();
    health.begin_shutdown();
    println!("shutting down: /readyz now 503, gRPC NOT_SERVING");
    tokio::time::sleep(Duration::from_secs(2)).await;
}

fn fastrand_bit() -> bool {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(true, |d| d.subsec_nanos().is_multiple_of(2))
}
