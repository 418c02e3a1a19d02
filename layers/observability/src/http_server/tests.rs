use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use tower::ServiceExt as _;

use crate::test_support::{drain, full, series, value, with_recorder};
use crate::{HttpServerLayer, TraceContext};

const DURATION: &str = "http_server_request_duration_seconds_count";

fn app() -> Router {
    Router::new()
        .route("/v1/notes/{id}", get(|| async { "note" }))
        .route(
            "/trace",
            get(|req: Request<Body>| async move {
                let from_extension = req.extensions().get::<TraceContext>().cloned();
                let current = TraceContext::current();
                assert_eq!(from_extension, current, "extension and task-local agree");
                current
                    .map(|cx| format!("{} {}", cx.trace_id, cx.span_id))
                    .unwrap_or_default()
            }),
        )
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(HttpServerLayer::new())
}

fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

async fn send(app: Router, req: Request<Body>) -> (StatusCode, String) {
    let response = app.oneshot(req).await.expect("infallible");
    let status = response.status();
    let body = drain(response.into_body()).await;
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

#[test]
fn records_the_route_template_not_the_path() {
    let ((status, body), text) = with_recorder(|_| send(app(), get_request("/v1/notes/42")));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "note");
    let labels = [
        r#"http_request_method="GET""#,
        r#"http_route="/v1/notes/{id}""#,
        r#"http_response_status_code="200""#,
        r#"url_scheme="http""#,
    ];
    assert_eq!(value(&text, DURATION, &labels), Some(1.0), "{text}");
    assert!(!text.contains("/v1/notes/42"), "raw path leaked: {text}");
    assert!(
        text.contains("# TYPE http_server_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        series(&text, "http_server_request_duration_seconds_bucket")
            .iter()
            .any(|l| l.contains(r#"le="0.005""#)),
        "{text}"
    );
    assert_eq!(
        value(&text, "http_server_active_requests", &[]),
        Some(0.0),
        "{text}"
    );
}

#[test]
fn unmatched_requests_have_no_route_label() {
    let ((status, _), text) = with_recorder(|_| send(app(), get_request("/no/such/path")));
    assert_eq!(status, StatusCode::NOT_FOUND);
    let lines = series(&text, DURATION);
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains(r#"http_response_status_code="404""#),
        "{text}"
    );
    assert!(!lines[0].contains("http_route"), "{text}");
    assert!(!text.contains("/no/such/path"), "{text}");
}

#[test]
fn server_errors_carry_error_type_and_unknown_methods_are_folded() {
    let ((), text) = with_recorder(|_| async {
        send(app(), get_request("/boom")).await;
        let brew = Request::builder()
            .method(http::Method::from_bytes(b"BREW").expect("token"))
            .uri("/v1/notes/1")
            .body(Body::empty())
            .expect("request");
        send(app(), brew).await;
    });
    assert_eq!(
        value(
            &text,
            DURATION,
            &[r#"http_response_status_code="500""#, r#"error_type="500""#]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, DURATION, &[r#"http_request_method="_OTHER""#]),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("BREW"), "{text}");
}

#[test]
fn counts_active_requests_while_the_handler_runs() {
    let (seen, text) = with_recorder(|handle| async move {
        let app = Router::new()
            .route(
                "/slow",
                get(move || {
                    let handle = handle.clone();
                    async move { handle.render() }
                }),
            )
            .layer(HttpServerLayer::new());
        send(app, get_request("/slow")).await.1
    });
    assert_eq!(
        value(
            &seen,
            "http_server_active_requests",
            &[r#"http_request_method="GET""#]
        ),
        Some(1.0),
        "{seen}"
    );
    assert_eq!(
        value(&text, "http_server_active_requests", &[]),
        Some(0.0),
        "{text}"
    );
}

#[test]
fn continues_the_callers_trace() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let ((_, body), _) = with_recorder(|_| {
        send(
            app(),
            Request::get("/trace")
                .header("traceparent", traceparent)
                .body(Body::empty())
                .expect("request"),
        )
    });
    let (trace_id, span_id) = body.split_once(' ').expect("two ids");
    assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(
        span_id, "00f067aa0ba902b7",
        "our span is a child, not the parent"
    );
    assert_eq!(span_id.len(), 16);
}

#[test]
fn starts_a_new_trace_for_invalid_or_untrusted_parents() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let ((_, invalid), _) = with_recorder(|_| {
        send(
            app(),
            Request::get("/trace")
                .header("traceparent", "00-zzzz")
                .body(Body::empty())
                .expect("request"),
        )
    });
    assert_eq!(invalid.len(), 32 + 1 + 16, "{invalid}");
    let untrusting = Router::new()
        .route(
            "/trace",
            get(|| async {
                TraceContext::current()
                    .map(|cx| cx.trace_id.to_string())
                    .unwrap_or_default()
            }),
        )
        .layer(HttpServerLayer::new().trust_remote_parent(false));
    let ((_, trace_id), _) = with_recorder(|_| {
        send(
            untrusting,
            Request::get("/trace")
                .header("traceparent", traceparent)
                .body(Body::empty())
                .expect("request"),
        )
    });
    assert_eq!(trace_id.len(), 32);
    assert_ne!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[test]
fn a_dropped_body_and_an_inner_error_are_still_recorded() {
    let ((), text) = with_recorder(|_| async {
        let app = Router::new()
            .route("/big", get(|| async { "x".repeat(10) }))
            .layer(HttpServerLayer::new());
        let response = app.oneshot(get_request("/big")).await.expect("infallible");
        drop(response);

        let failing = tower::service_fn(|_req: Request<Body>| async {
            Err::<Response<crate::test_support::FrameStream>, _>("down")
        });
        let service = tower::ServiceBuilder::new()
            .layer(HttpServerLayer::new())
            .service(failing);
        let result = service.oneshot(get_request("/x")).await;
        assert_eq!(result.err(), Some("down"));
    });
    assert_eq!(
        value(&text, DURATION, &[r#"http_route="/big""#]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, DURATION, &[r#"error_type="_OTHER""#]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "http_server_active_requests", &[]),
        Some(0.0),
        "{text}"
    );
}

#[test]
fn accessors_reach_the_inner_service() {
    let inner = tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(full("ok")))
    });
    let mut service = super::HttpServer::new(inner, HttpServerLayer::default());
    let _ = service.get_ref();
    let _ = service.get_mut();
    let _ = service.into_inner();
    let _ = super::HttpServer::<()>::layer();
}
