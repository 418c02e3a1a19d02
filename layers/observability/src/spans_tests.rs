//! The layers' spans as a subscriber sees them: names, fields, trace ids on log lines.

use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use serde_json::Value;
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::logging::{JsonFormat, TraceIdLayer};
use crate::test_support::{drain, full, grpc_body, with_recorder};
use crate::{GrpcClientLayer, GrpcServerLayer, HttpClientLayer, HttpServerLayer};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a DEBUG JSON subscriber on this thread; returns the log lines.
fn logged(f: impl FnOnce()) -> Vec<Value> {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with(TraceIdLayer)
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonFormat)
                .with_writer(move || writer.clone()),
        );
    tracing::subscriber::with_default(subscriber, f);
    let output = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
    output
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

#[test]
fn handler_logs_carry_the_request_trace_ids() {
    let lines = logged(|| {
        with_recorder(|_| async {
            let app = axum::Router::new()
                .route(
                    "/v1/notes/{id}",
                    axum::routing::get(|| async {
                        tracing::info!("handling");
                        "note"
                    }),
                )
                .layer(HttpServerLayer::new());
            let response = app
                .oneshot(
                    Request::get("/v1/notes/1")
                        .header(
                            "traceparent",
                            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                        )
                        .body(axum::body::Body::empty())
                        .expect("request"),
                )
                .await
                .expect("infallible");
            drain(response.into_body()).await;
        });
    });
    let handling = lines
        .iter()
        .find(|l| l["message"] == "handling")
        .expect("handler log line");
    assert_eq!(handling["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(handling["span"], "http.server.request");
    assert_eq!(handling["span_id"].as_str().map(str::len), Some(16));
    let finished = lines
        .iter()
        .find(|l| l["message"] == "request finished")
        .expect("completion event");
    assert_eq!(finished["status"], 200);
    assert_eq!(finished["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[test]
fn grpc_and_client_spans_are_live_under_a_subscriber() {
    let lines = logged(|| {
        with_recorder(|_| async {
            let server = tower::ServiceBuilder::new()
                .layer(GrpcServerLayer::new())
                .service(tower::service_fn(|_req: Request<()>| async {
                    tracing::info!("serving");
                    Ok::<_, Infallible>(Response::new(grpc_body("13")))
                }));
            let response = server
                .oneshot(
                    Request::post("/notes.v1.NotesService/GetNote")
                        .body(())
                        .expect("request"),
                )
                .await
                .expect("infallible");
            drain(response.into_body()).await;

            let grpc_client = tower::ServiceBuilder::new()
                .layer(GrpcClientLayer::new())
                .service(tower::service_fn(|_req: Request<()>| async {
                    Ok::<_, Infallible>(Response::new(grpc_body("0")))
                }));
            let response = grpc_client
                .oneshot(
                    Request::post("/notes.v1.NotesService/GetNote")
                        .body(())
                        .expect("request"),
                )
                .await
                .expect("infallible");
            drain(response.into_body()).await;

            let http_client = tower::ServiceBuilder::new()
                .layer(HttpClientLayer::new())
                .service(tower::service_fn(|_req: Request<()>| async {
                    tracing::info!("remote");
                    Ok::<_, Infallible>(Response::new(full("ok")))
                }));
            let response = http_client
                .oneshot(
                    Request::get("http://callee:8080/")
                        .body(())
                        .expect("request"),
                )
                .await
                .expect("infallible");
            drain(response.into_body()).await;
        });
    });
    let serving = lines
        .iter()
        .find(|l| l["message"] == "serving")
        .expect("server log");
    assert_eq!(serving["span"], "rpc.server.call");
    assert_eq!(serving["trace_id"].as_str().map(str::len), Some(32));
    let remote = lines
        .iter()
        .find(|l| l["message"] == "remote")
        .expect("client log");
    assert_eq!(remote["span"], "http.client.request");
    let finished: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "request finished")
        .collect();
    assert_eq!(finished.len(), 3, "{lines:?}");
    assert_eq!(finished[0]["grpc_status"], 13);
    assert_eq!(finished[1]["span"], "rpc.client.call");
}
