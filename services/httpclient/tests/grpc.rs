//! The client as a tonic transport: gRPC over h2c, with user layers in the stack.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use core_backend_httpclient::HttpClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn tonic_client_over_the_http_client() {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(
            "notes.v1.NotesService",
            tonic_health::ServingStatus::Serving,
        )
        .await;
    let router = tonic::service::Routes::new(health).into_axum_router();
    let addr = common::serve(router).await;

    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let client = HttpClient::builder()
        .http2_prior_knowledge(true)
        .layer(tower::limit::ConcurrencyLimitLayer::new(8))
        .layer(tower::layer::layer_fn(move |inner| {
            let counter = counter.clone();
            tower::util::MapRequest::new(inner, move |request: http::Request<_>| {
                counter.fetch_add(1, Ordering::SeqCst);
                request
            })
        }))
        .build()
        .expect("client");
    let origin = format!("http://{addr}").parse().expect("origin");
    let mut grpc = HealthClient::with_origin(client, origin);

    let response = grpc
        .check(HealthCheckRequest {
            service: "notes.v1.NotesService".into(),
        })
        .await
        .expect("check");
    assert_eq!(response.into_inner().status(), ServingStatus::Serving);
    let status = grpc
        .check(HealthCheckRequest {
            service: "unknown".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
