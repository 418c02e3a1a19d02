//! With the `otlp` feature: spans and metrics reach a real OTLP/HTTP receiver (a small axum
//! server on 127.0.0.1:0 that decodes the protobuf payloads), and the exported server span is a
//! child of the caller's `traceparent`.

#![cfg(feature = "otlp")]

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use core_backend_observability::{HttpClientLayer, HttpServerLayer, ObservabilityConfig, init};
use http_body_util::{BodyExt as _, Empty};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tower::ServiceExt as _;

use common::{fetch, serve};

#[derive(Debug, Clone)]
struct ReceivedSpan {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

#[derive(Default, Clone)]
struct Receiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    metrics: Arc<Mutex<Vec<String>>>,
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

async fn traces(State(receiver): State<Receiver>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("valid OTLP traces");
    let mut spans = receiver.spans.lock().expect("lock");
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(ReceivedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                });
            }
        }
    }
    ""
}

async fn metrics(State(receiver): State<Receiver>, body: Bytes) -> &'static str {
    let request = ExportMetricsServiceRequest::decode(body).expect("valid OTLP metrics");
    let mut names = receiver.metrics.lock().expect("lock");
    for resource in request.resource_metrics {
        for scope in resource.scope_metrics {
            names.extend(scope.metrics.into_iter().map(|m| m.name));
        }
    }
    ""
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_an_otlp_receiver() {
    let receiver = Receiver::default();
    let collector = Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .with_state(receiver.clone());
    let collector_addr = serve(collector).await;

    let telemetry = init(
        ObservabilityConfig::new("otlp-test")
            .log_filter("info")
            .otlp_endpoint(format!("http://{collector_addr}")),
    )
    .expect("init");
    assert!(telemetry.otlp_enabled());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/v1/notes/{id}", get(|| async { "note" }))
        .route(
            "/front",
            get(move || async move {
                // An outgoing call from inside a request: its client span is exported too.
                let client = tower::ServiceBuilder::new()
                    .layer(HttpClientLayer::new())
                    .service(common::client());
                let request = http::Request::get(format!("http://{addr}/v1/notes/9"))
                    .body(Empty::<Bytes>::new())
                    .expect("request");
                let response = client.oneshot(request).await.expect("response");
                response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes()
            }),
        )
        .layer(HttpServerLayer::new());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let (status, _, _) = fetch(
        &format!("http://{addr}/v1/notes/7"),
        &[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) = fetch(&format!("http://{addr}/front"), &[]).await;
    assert_eq!((status, body.as_str()), (200, "note"));

    // Shutdown flushes the batch span processor and the periodic metric reader; it blocks.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .expect("join")
        .expect("clean shutdown");

    let spans = receiver.spans.lock().expect("lock").clone();
    let named = |name: &str| {
        spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let notes = named("GET /v1/notes/{id}");
    assert_eq!(notes.len(), 2, "{spans:?}");
    let child = notes
        .iter()
        .find(|s| s.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736")
        .expect("the span continues the caller's trace");
    assert_eq!(child.parent_span_id, "00f067aa0ba902b7");

    // /front (server) -> GET (client) -> /v1/notes/{id} (server), one trace, linked by ids.
    let front = named("GET /front");
    assert_eq!(front.len(), 1, "{spans:?}");
    let front = &front[0];
    let client = named("GET");
    assert_eq!(client.len(), 1, "{spans:?}");
    let client = &client[0];
    assert_eq!(client.trace_id, front.trace_id);
    assert_eq!(client.parent_span_id, front.span_id);
    let downstream = notes
        .iter()
        .find(|s| s.trace_id == front.trace_id)
        .expect("the downstream server span joined the trace");
    assert_eq!(
        downstream.parent_span_id, client.span_id,
        "traceparent named the client span"
    );
    let metric_names = receiver.metrics.lock().expect("lock").clone();
    assert!(
        metric_names
            .iter()
            .any(|n| n == "http.server.request.duration"),
        "{metric_names:?}"
    );
}
