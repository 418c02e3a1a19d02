//! HttpServerLayer and HttpClientLayer on real sockets, with the global recorder from `init`.

mod common;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use core_backend_observability::{
    HttpClientLayer, HttpServerLayer, InitError, ObservabilityConfig, TraceContext, init,
};
use http_body_util::{BodyExt as _, Empty};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use common::{fetch, find, parse_prometheus, serve, telemetry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_route_templates_over_a_real_socket() {
    let telemetry = telemetry();
    let app = Router::new()
        .route("/v1/notes/{id}", get(|| async { "note" }))
        .route(
            "/v1/fail/{id}",
            get(|| async { (http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .layer(HttpServerLayer::new())
        .merge(telemetry.metrics_router());
    let addr = serve(app).await;

    for id in ["1", "2", "abc"] {
        let (status, _, body) = fetch(&format!("http://{addr}/v1/notes/{id}"), &[]).await;
        assert_eq!((status, body.as_str()), (200, "note"));
    }
    let (status, _, _) = fetch(&format!("http://{addr}/v1/fail/9"), &[]).await;
    assert_eq!(status, 503);

    let (status, content_type, text) = fetch(&format!("http://{addr}/metrics"), &[]).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let samples = parse_prometheus(&text);

    let ok = [
        ("http_request_method", "GET"),
        ("http_route", "/v1/notes/{id}"),
        ("http_response_status_code", "200"),
        ("url_scheme", "http"),
    ];
    let count = find(&samples, "http_server_request_duration_seconds_count", &ok);
    assert_eq!(count.len(), 1, "{text}");
    assert!((count[0].value - 3.0).abs() < f64::EPSILON, "{text}");
    let buckets = find(&samples, "http_server_request_duration_seconds_bucket", &ok);
    let bounds: Vec<&str> = buckets.iter().filter_map(|s| s.label("le")).collect();
    for le in ["0.005", "0.1", "10", "+Inf"] {
        assert!(bounds.contains(&le), "bucket {le} missing: {bounds:?}");
    }
    let failed = find(
        &samples,
        "http_server_request_duration_seconds_count",
        &[
            ("http_route", "/v1/fail/{id}"),
            ("http_response_status_code", "503"),
            ("error_type", "503"),
        ],
    );
    assert_eq!(failed.len(), 1, "{text}");
    let raw_paths = ["/v1/notes/1", "/v1/notes/2", "/v1/notes/abc", "/v1/fail/9"];
    for sample in &samples {
        if let Some(route) = sample.label("http_route") {
            assert!(
                !raw_paths.contains(&route),
                "raw path as route label: {sample:?}"
            );
        }
    }
    assert!(!text.contains("/v1/notes/abc"), "{text}");
    let active = find(
        &samples,
        "http_server_active_requests",
        &[("http_request_method", "GET")],
    );
    assert!(
        active.iter().all(|s| s.value.abs() < f64::EPSILON),
        "{active:?}"
    );
}

/// A GET of `url` with an empty body.
fn get_request(url: String) -> http::Request<Empty<Bytes>> {
    http::Request::get(url)
        .body(Empty::<Bytes>::new())
        .expect("request")
}

/// The whole body of `response`.
async fn body_bytes<B>(response: http::Response<B>) -> Bytes
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

/// Serves, behind the server layer, a `path` that answers with the trace id it runs in.
async fn serve_trace_reporter(path: &str) -> std::net::SocketAddr {
    let app = Router::new()
        .route(
            path,
            get(|| async {
                TraceContext::current()
                    .map(|cx| cx.trace_id.to_string())
                    .unwrap_or_default()
            }),
        )
        .layer(HttpServerLayer::new());
    serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_flows_from_client_to_server() {
    let _ = telemetry();
    // B reports the trace it sees.
    let back_addr = serve_trace_reporter("/back").await;

    // A calls B through the client layer from inside its handler.
    let front = Router::new()
        .route(
            "/front",
            get(move || async move {
                let mut client = ServiceBuilder::new()
                    .layer(HttpClientLayer::new())
                    .service(common::client());
                let request = get_request(format!("http://{back_addr}/back"));
                let response = client
                    .ready()
                    .await
                    .expect("ready")
                    .call(request)
                    .await
                    .expect("B answers");
                let seen_by_b = body_bytes(response).await;
                let mine = TraceContext::current().expect("in a request").trace_id;
                format!("{mine} {}", String::from_utf8_lossy(&seen_by_b))
            }),
        )
        .layer(HttpServerLayer::new());
    let front_addr = serve(front).await;

    let (status, _, body) = fetch(
        &format!("http://{front_addr}/front"),
        &[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body, "0af7651916cd43dd8448eb211c80319c 0af7651916cd43dd8448eb211c80319c",
        "A continues the caller's trace and B continues A's"
    );

    // Without a caller trace, A starts one and B still joins it.
    let (_, _, body) = fetch(&format!("http://{front_addr}/front"), &[]).await;
    let (a, b) = body.split_once(' ').expect("two ids");
    assert_eq!(a.len(), 32);
    assert_eq!(a, b);
}

#[tokio::test]
async fn client_outside_a_request_starts_a_trace_and_in_scope_continues_one() {
    let _ = telemetry();
    let addr = serve_trace_reporter("/back2").await;
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(common::client());
    let cx = TraceContext::new_root();
    let expected = cx.trace_id.to_string();
    let request = get_request(format!("http://{addr}/back2"));
    let response = cx
        .in_scope(client.clone().oneshot(request))
        .await
        .expect("response");
    let seen = body_bytes(response).await;
    assert_eq!(String::from_utf8_lossy(&seen), expected);

    let request = get_request(format!("http://{addr}/back2"));
    let response = client.oneshot(request).await.expect("response");
    let seen = body_bytes(response).await;
    assert_eq!(seen.len(), 32);
    assert_ne!(String::from_utf8_lossy(&seen), expected);
}

#[test]
fn a_second_init_is_an_error_not_a_panic() {
    let _ = telemetry();
    let error = init(ObservabilityConfig::default()).expect_err("already initialised");
    assert!(matches!(error, InitError::AlreadyInitialized), "{error}");
}
