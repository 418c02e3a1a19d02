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

/// Sends `req` through `svc` and reads the response body to its end.
async fn call_to_end<S, ReqBody, B>(svc: S, req: Request<ReqBody>)
where
    S: tower::Service<Request<ReqBody>, Response = Response<B>, Error = Infallible>,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = svc.oneshot(req).await.expect("infallible");
    drain(response.into_body()).await;
}

/// The first log line with this `message`.
fn line<'a>(lines: &'a [Value], message: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["message"] == message)
        .unwrap_or_else(|| panic!("no log line {message:?} in {lines:?}"))
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
            call_to_end(
                app,
                Request::get("/v1/notes/1")
                    .header(
                        "traceparent",
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    )
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await;
        });
    });
    let handling = line(&lines, "handling");
    assert_eq!(handling["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(handling["span"], "http.server.request");
    assert_eq!(handling["span_id"].as_str().map(str::len), Some(16));
    let finished = line(&lines, "request finished");
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
            call_to_end(
                server,
                Request::post("/notes.v1.NotesService/GetNote")
                    .body(())
                    .expect("request"),
            )
            .await;

            let grpc_client = tower::ServiceBuilder::new()
                .layer(GrpcClientLayer::new())
                .service(tower::service_fn(|_req: Request<()>| async {
                    Ok::<_, Infallible>(Response::new(grpc_body("0")))
                }));
            call_to_end(
                grpc_client,
                Request::post("/notes.v1.NotesService/GetNote")
                    .body(())
                    .expect("request"),
            )
            .await;

            let http_client = tower::ServiceBuilder::new()
                .layer(HttpClientLayer::new())
                .service(tower::service_fn(|_req: Request<()>| async {
                    tracing::info!("remote");
                    Ok::<_, Infallible>(Response::new(full("ok")))
                }));
            call_to_end(
                http_client,
                Request::get("http://callee:8080/")
                    .body(())
                    .expect("request"),
            )
            .await;
        });
    });
    let serving = line(&lines, "serving");
    assert_eq!(serving["span"], "rpc.server.call");
    assert_eq!(serving["trace_id"].as_str().map(str::len), Some(32));
    let remote = line(&lines, "remote");
    assert_eq!(remote["span"], "http.client.request");
    let finished: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "request finished")
        .collect();
    assert_eq!(finished.len(), 3, "{lines:?}");
    assert_eq!(finished[0]["grpc_status"], 13);
    assert_eq!(finished[1]["span"], "rpc.client.call");
}
