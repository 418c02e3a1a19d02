use std::convert::Infallible;

use http::{HeaderValue, Request, Response};
use tower::ServiceExt as _;

use crate::GrpcServerLayer;
use crate::test_support::{FrameStream, drain, grpc_body, value, with_recorder};

const DURATION: &str = "rpc_server_duration_seconds_count";

async fn call(path: &str, response: impl Fn() -> Response<FrameStream>) {
    let service = tower::service_fn(move |_req: Request<()>| {
        let response = response();
        async move { Ok::<_, Infallible>(response) }
    });
    let service = tower::ServiceBuilder::new()
        .layer(GrpcServerLayer::new())
        .service(service);
    let response = service
        .oneshot(Request::post(path).body(()).expect("request"))
        .await
        .expect("infallible");
    drain(response.into_body()).await;
}

#[test]
fn status_from_trailers() {
    let ((), text) = with_recorder(|_| async {
        call("/notes.v1.NotesService/GetNote", || {
            Response::new(grpc_body("0"))
        })
        .await;
        call("/notes.v1.NotesService/GetNote", || {
            Response::new(grpc_body("5"))
        })
        .await;
    });
    let labels = |code: &'static str| {
        [
            r#"rpc_system="grpc""#,
            r#"rpc_service="notes.v1.NotesService""#,
            r#"rpc_method="GetNote""#,
            code,
        ]
    };
    assert_eq!(
        value(&text, DURATION, &labels(r#"rpc_grpc_status_code="0""#)),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, DURATION, &labels(r#"rpc_grpc_status_code="5""#)),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn status_from_a_trailers_only_response() {
    let ((), text) = with_recorder(|_| {
        call("/notes.v1.NotesService/DeleteNote", || {
            let mut response = Response::new(crate::test_support::grpc_body("0"));
            // A trailers-only response carries the status in its headers; the body's trailers
            // are ignored when they carry the same field later, so use a distinct code here.
            response
                .headers_mut()
                .insert("grpc-status", HeaderValue::from_static("7"));
            *response.body_mut() = tokio_stream_empty();
            response
        })
    });
    assert_eq!(
        value(
            &text,
            DURATION,
            &[r#"rpc_method="DeleteNote""#, r#"rpc_grpc_status_code="7""#]
        ),
        Some(1.0),
        "{text}"
    );
}

fn tokio_stream_empty() -> FrameStream {
    http_body_util::StreamBody::new(tokio_stream::iter(Vec::new()))
}

#[test]
fn unknown_methods_and_odd_paths_do_not_become_labels() {
    let ((), text) = with_recorder(|_| async {
        call("/notes.v1.NotesService/Nope", || {
            Response::new(grpc_body("12"))
        })
        .await;
        call("/%E2%9C%93/../etc", || Response::new(grpc_body("12"))).await;
    });
    assert_eq!(
        value(
            &text,
            DURATION,
            &[
                r#"rpc_service="_OTHER""#,
                r#"rpc_method="_OTHER""#,
                r#"rpc_grpc_status_code="12""#
            ]
        ),
        Some(2.0),
        "{text}"
    );
    assert!(!text.contains("Nope") && !text.contains("etc"), "{text}");
}

#[test]
fn a_stream_without_status_is_unknown_and_an_abandoned_one_cancelled() {
    let ((), text) = with_recorder(|_| async {
        call("/notes.v1.NotesService/ListNotes", || {
            Response::new(tokio_stream_empty())
        })
        .await;
        let service = tower::service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(grpc_body("0")))
        });
        let response = tower::ServiceBuilder::new()
            .layer(GrpcServerLayer::new())
            .service(service)
            .oneshot(
                Request::post("/notes.v1.NotesService/CreateNote")
                    .body(())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        drop(response);
    });
    assert_eq!(
        value(
            &text,
            DURATION,
            &[r#"rpc_method="ListNotes""#, r#"rpc_grpc_status_code="2""#]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            DURATION,
            &[r#"rpc_method="CreateNote""#, r#"rpc_grpc_status_code="1""#]
        ),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn continues_the_callers_trace() {
    let ((), _) = with_recorder(|_| async {
        let service = tower::service_fn(|req: Request<()>| async move {
            let cx = crate::TraceContext::current().expect("inside a request");
            assert_eq!(req.extensions().get::<crate::TraceContext>(), Some(&cx));
            assert_eq!(cx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(
                cx.tracestate.as_ref().map(HeaderValue::as_bytes),
                Some(&b"a=b"[..])
            );
            Ok::<_, Infallible>(Response::new(grpc_body("0")))
        });
        let mut service = super::GrpcServer::new(service, GrpcServerLayer::default());
        let _ = service.get_mut();
        let _ = service.get_ref();
        let response = service
            .oneshot(
                Request::post("/notes.v1.NotesService/GetNote")
                    .header(
                        "traceparent",
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    )
                    .header("tracestate", "a=b")
                    .body(())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        drain(response.into_body()).await;
    });
}
