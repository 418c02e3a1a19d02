use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use tower::ServiceExt as _;

use crate::test_support::{drain, full, value, with_recorder};
use crate::{HttpClientLayer, TraceContext, TraceParent};

const DURATION: &str = "http_client_request_duration_seconds_count";

fn echo_traceparent(
    status: StatusCode,
) -> impl tower::Service<
    Request<()>,
    Response = Response<http_body_util::Full<bytes::Bytes>>,
    Error = Infallible,
    Future: Send,
> + Clone {
    tower::service_fn(move |req: Request<()>| async move {
        let header = req
            .headers()
            .get("traceparent")
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        let mut response = Response::new(http_body_util::Full::new(bytes::Bytes::from(header)));
        *response.status_mut() = status;
        Ok(response)
    })
}

#[test]
fn records_server_address_and_injects_traceparent() {
    let (sent, text) = with_recorder(|_| async {
        let client = tower::ServiceBuilder::new()
            .layer(HttpClientLayer::new())
            .service(echo_traceparent(StatusCode::OK));
        let response = client
            .oneshot(
                Request::get("http://api.local:8080/v1/notes/7")
                    .body(())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        String::from_utf8(drain(response.into_body()).await.to_vec()).expect("utf-8")
    });
    let parent: TraceParent = sent.parse().expect("a valid traceparent was sent");
    assert!(parent.sampled());
    let labels = [
        r#"http_request_method="GET""#,
        r#"server_address="api.local""#,
        r#"server_port="8080""#,
        r#"http_response_status_code="200""#,
    ];
    assert_eq!(value(&text, DURATION, &labels), Some(1.0), "{text}");
    assert!(!text.contains("/v1/notes/7"), "{text}");
}

#[test]
fn inside_a_served_request_the_trace_is_continued() {
    let parent = TraceContext::new_root();
    let (sent, _) = with_recorder(|_| {
        let parent = parent.clone();
        async move {
            let client = tower::ServiceBuilder::new()
                .layer(HttpClientLayer::new())
                .service(echo_traceparent(StatusCode::OK));
            let call = client.oneshot(Request::get("http://callee/").body(()).expect("request"));
            // Poll the call the way the server layer polls a handler.
            let mut response = std::pin::pin!(call);
            let response =
                std::future::poll_fn(|cx| parent.scope(|| response.as_mut().poll(cx))).await;
            let body = drain(response.expect("infallible").into_body()).await;
            String::from_utf8(body.to_vec()).expect("utf-8")
        }
    });
    let sent: TraceParent = sent.parse().expect("valid");
    assert_eq!(sent.trace_id, parent.trace_id);
    assert_ne!(
        sent.parent_id, parent.span_id,
        "the client span is a new child"
    );
}

#[test]
fn failures_carry_error_type_and_propagation_can_be_off() {
    let (sent, text) = with_recorder(|_| async {
        let client = tower::ServiceBuilder::new()
            .layer(HttpClientLayer::new().propagate(false))
            .service(echo_traceparent(StatusCode::SERVICE_UNAVAILABLE));
        let response = client
            .oneshot(Request::get("http://callee/").body(()).expect("request"))
            .await
            .expect("infallible");
        let sent = drain(response.into_body()).await;

        let failing = tower::service_fn(|_req: Request<()>| async {
            Err::<Response<http_body_util::Full<bytes::Bytes>>, _>("refused")
        });
        let mut client = super::HttpClient::new(failing, HttpClientLayer::default());
        let _ = client.get_ref();
        let _ = client.get_mut();
        let result = client
            .oneshot(Request::post("http://callee/").body(()).expect("request"))
            .await;
        assert_eq!(result.err(), Some("refused"));
        sent
    });
    assert!(sent.is_empty(), "no traceparent when propagation is off");
    assert_eq!(
        value(
            &text,
            DURATION,
            &[r#"http_response_status_code="503""#, r#"error_type="503""#]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            DURATION,
            &[r#"http_request_method="POST""#, r#"error_type="_OTHER""#]
        ),
        Some(1.0),
        "{text}"
    );
    let _ = full("unused");
}
