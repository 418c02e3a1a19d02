//! Logs, traces and Prometheus metrics for an axum app in a few lines: `init` once, the HTTP server
//! layer on the router, and `/metrics` beside it.
//!
//! ```text
//! LOG_FORMAT=json cargo run -p core-backend-observability --example traced
//! curl -s localhost:8081/v1/items/7 -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
//! curl -s localhost:8081/metrics | grep http_server_request_duration_seconds_count
//! ```

use axum::{Router, extract::Path, routing::get};
use core_backend_observability::{HttpServerLayer, ObservabilityConfig, init};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // OTEL_SERVICE_NAME, LOG_FORMAT, RUST_LOG (and OTEL_EXPORTER_OTLP_ENDPOINT with `--features otlp`).
    let telemetry = init(ObservabilityConfig::from_env()?)?;
    let app = Router::new()
        .route(
            "/v1/items/{id}",
            get(|Path(id): Path<u32>| async move {
                // Carries trace_id / span_id of the request span.
                tracing::info!(id, "serving item");
                format!("item {id}\n")
            }),
        )
        // `Router::layer` so the layer sees axum's MatchedPath: metrics get `/v1/items/{id}`.
        .layer(HttpServerLayer::new())
        .merge(telemetry.metrics_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
