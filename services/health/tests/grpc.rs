//! `grpc.health.v1.Health` on a real socket with a tonic client.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use core_backend_health::pb::HealthCheckRequest;
use core_backend_health::pb::health_check_response::ServingStatus;
use core_backend_health::pb::health_client::HealthClient;
use core_backend_health::{Criticality, HealthRegistry};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(10);

async fn serve(registry: &HealthRegistry) -> HealthClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let service = registry.grpc_server();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

fn req(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

fn toggled(registry: &HealthRegistry, name: &str, criticality: Criticality) -> Arc<AtomicBool> {
    let up = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&up);
    registry.register(name, criticality, move || {
        let up = flag.load(Ordering::SeqCst);
        async move { if up { Ok(()) } else { Err("down") } }
    });
    up
}

#[tokio::test]
async fn check_per_service() {
    let registry = HealthRegistry::builder().cache_ttl(Duration::ZERO).build();
    let db = toggled(&registry, "db", Criticality::Critical);
    let search = toggled(&registry, "search", Criticality::NonCritical);
    registry.grpc_service("notes.v1.NotesService");
    registry.grpc_service_checks("search.v1.Search", ["search"]);
    registry.grpc_service_checks("broken.v1.Broken", ["no-such-check"]);
    let mut client = serve(&registry).await;

    let status = |r: tonic::Response<core_backend_health::pb::HealthCheckResponse>| {
        ServingStatus::try_from(r.into_inner().status).unwrap()
    };
    assert_eq!(
        status(client.check(req("")).await.unwrap()),
        ServingStatus::Serving
    );
    assert_eq!(
        status(client.check(req("notes.v1.NotesService")).await.unwrap()),
        ServingStatus::Serving
    );
    assert_eq!(
        status(client.check(req("search.v1.Search")).await.unwrap()),
        ServingStatus::Serving
    );
    assert_eq!(
        status(client.check(req("broken.v1.Broken")).await.unwrap()),
        ServingStatus::NotServing
    );

    // A non-critical check: overall stays SERVING, the service mapped to it does not.
    search.store(false, Ordering::SeqCst);
    assert_eq!(
        status(client.check(req("")).await.unwrap()),
        ServingStatus::Serving
    );
    assert_eq!(
        status(client.check(req("search.v1.Search")).await.unwrap()),
        ServingStatus::NotServing
    );

    // A critical check: overall and services following it go NOT_SERVING.
    db.store(false, Ordering::SeqCst);
    assert_eq!(
        status(client.check(req("")).await.unwrap()),
        ServingStatus::NotServing
    );
    assert_eq!(
        status(client.check(req("notes.v1.NotesService")).await.unwrap()),
        ServingStatus::NotServing
    );

    let err = client.check(req("unknown.v1.Service")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().contains("unknown.v1.Service"));

    // Shutdown: everything known is NOT_SERVING.
    db.store(true, Ordering::SeqCst);
    search.store(true, Ordering::SeqCst);
    registry.begin_shutdown();
    for service in ["", "notes.v1.NotesService", "search.v1.Search"] {
        assert_eq!(
            status(client.check(req(service)).await.unwrap()),
            ServingStatus::NotServing
        );
    }
}

#[tokio::test]
async fn watch_sees_serving_then_not_serving_on_shutdown() {
    // A long interval: the shutdown must be pushed, not found by polling.
    let registry = HealthRegistry::builder()
        .watch_interval(Duration::from_secs(3600))
        .build();
    toggled(&registry, "db", Criticality::Critical);
    registry.grpc_service("notes.v1.NotesService");
    let mut client = serve(&registry).await;

    let mut overall = client.watch(req("")).await.unwrap().into_inner();
    let mut notes = client
        .watch(req("notes.v1.NotesService"))
        .await
        .unwrap()
        .into_inner();
    for stream in [&mut overall, &mut notes] {
        let first = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(first.status(), ServingStatus::Serving);
    }
    registry.begin_shutdown();
    for stream in [&mut overall, &mut notes] {
        let next = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(next.status(), ServingStatus::NotServing);
    }
}

#[tokio::test]
async fn watch_follows_check_changes_and_unknown_services() {
    let registry = HealthRegistry::builder()
        .cache_ttl(Duration::ZERO)
        .watch_interval(Duration::from_millis(20))
        .build();
    let db = toggled(&registry, "db", Criticality::Critical);
    let mut client = serve(&registry).await;

    let mut overall = client.watch(req("")).await.unwrap().into_inner();
    let first = tokio::time::timeout(WAIT, overall.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    db.store(false, Ordering::SeqCst);
    let next = tokio::time::timeout(WAIT, overall.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    db.store(true, Ordering::SeqCst);
    let next = tokio::time::timeout(WAIT, overall.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::Serving);

    // Unknown: SERVICE_UNKNOWN, stream stays open, and the status arrives once declared.
    let mut later = client
        .watch(req("late.v1.Late"))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(WAIT, later.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.status(), ServingStatus::ServiceUnknown);
    registry.grpc_service("late.v1.Late");
    let next = tokio::time::timeout(WAIT, later.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::Serving);
}
