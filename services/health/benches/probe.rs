//! Cost of a gRPC health `Check` answered from cache: ours vs tonic-health's reporter.
//!
//! `cargo bench -p core-backend-health --no-run`, then run the printed binary with `--bench`.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use core_backend_health::pb::HealthCheckRequest;
use core_backend_health::pb::health_server::Health;
use core_backend_health::{Criticality, HealthRegistry};
use criterion::{Criterion, criterion_group, criterion_main};
use tonic::Request;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let registry = HealthRegistry::builder()
        .cache_ttl(Duration::from_secs(3600))
        .build();
    for name in ["db", "cache", "queue"] {
        registry.register(name, Criticality::Critical, || async {
            Ok::<(), String>(())
        });
    }
    registry.grpc_service("notes.v1.NotesService");
    let ours = registry.grpc_health();
    // Fill the cache once.
    rt.block_on(registry.check_all());

    let (reporter, _server) = tonic_health::server::health_reporter();
    rt.block_on(reporter.set_service_status(
        "notes.v1.NotesService",
        tonic_health::ServingStatus::Serving,
    ));
    let peer = tonic_health::server::HealthService::from_health_reporter(reporter);

    let request = || {
        Request::new(HealthCheckRequest {
            service: "notes.v1.NotesService".into(),
        })
    };
    let mut group = c.benchmark_group("grpc_health_check_cached");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    group.bench_function("ours_registry_3_checks", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(ours.check(request()).await.unwrap()) });
    });
    group.bench_function("tonic_health_reporter", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(peer.check(request()).await.unwrap()) });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
