//! End-to-end tests of the flagship (`examples/api`): the real binary on `127.0.0.1:0`, real HTTP
//! and gRPC clients, the contract of DESIGN.md.

#![allow(clippy::unwrap_used)]

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use core_backend_example_proto::notes_v1::{
    CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest,
    notes_service_client::NotesServiceClient,
};
use serde_json::{Value, json};
use support::{Api, grpc_channel, http};

/// The status of a GET of `url`.
async fn status(client: &reqwest::Client, url: String) -> reqwest::StatusCode {
    client.get(url).send().await.unwrap().status()
}

/// Checks that `resp` is an RFC 9457 problem with `status`; returns its headers and body.
async fn expect_problem(
    resp: reqwest::Response,
    status: u16,
) -> (reqwest::header::HeaderMap, Value) {
    let (resp_status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(resp_status, status, "status, body: {body}");
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct:?}"
    );
    assert_eq!(body["status"], json!(status), "problem body {body}");
    assert!(body["title"].is_string(), "problem body {body}");
    (headers, body)
}

#[tokio::test]
async fn rest_and_grpc_return_the_same_note() {
    let api = Api::start(&[]);
    let client = http();

    let created = client
        .post(api.url("/v1/notes"))
        .json(&json!({"title": "first", "body": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["title"], "first");
    assert!(created["createdAt"].is_string(), "{created}");

    let mut grpc = NotesServiceClient::new(grpc_channel(&api).await);
    let note = grpc
        .get_note(GetNoteRequest { id: id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(note.id, id);
    assert_eq!(note.title, "first");
    assert_eq!(note.body, "hello");

    // Created over gRPC, read over REST.
    let second = grpc
        .create_note(CreateNoteRequest {
            title: "second".into(),
            body: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let rest: Value = client
        .get(api.url(&format!("/v1/notes/{}", second.id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["id"], second.id.as_str());
    assert_eq!(rest["title"], "second");

    // Listing: newest first, over both protocols.
    let list: Value = client
        .get(api.url("/v1/notes?pageSize=10"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![second.id.as_str(), id.as_str()]);
    let grpc_list = grpc
        .list_notes(ListNotesRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc_list.notes.len(), 1);
    assert_eq!(grpc_list.notes[0].id, second.id);
    assert_eq!(grpc_list.next_page_token, second.id);

    // Delete over REST; gRPC then says NOT_FOUND and REST 404 problem+json.
    let deleted = client
        .delete(api.url(&format!("/v1/notes/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let err = grpc
        .get_note(GetNoteRequest { id: id.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let missing = client
        .get(api.url(&format!("/v1/notes/{id}")))
        .send()
        .await
        .unwrap();
    expect_problem(missing, 404).await;

    let err = grpc
        .delete_note(DeleteNoteRequest { id })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn validation_errors_are_400_and_invalid_argument() {
    let api = Api::start(&[]);
    let resp = http()
        .post(api.url("/v1/notes"))
        .json(&json!({"title": "", "body": "x"}))
        .send()
        .await
        .unwrap();
    expect_problem(resp, 400).await;

    let long = "x".repeat(201);
    let mut grpc = NotesServiceClient::new(grpc_channel(&api).await);
    let err = grpc
        .create_note(CreateNoteRequest {
            title: long,
            body: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn bad_input_gets_clear_http_errors() {
    let api = Api::start(&[("API_SERVER__BODY_LIMIT", "65536")]);
    let client = http();

    // Malformed JSON: 400 saying where it broke.
    let resp = client
        .post(api.url("/v1/notes"))
        .header("content-type", "application/json")
        .body("{\"title\": \"x\",")
        .send()
        .await
        .unwrap();
    let (_, body) = expect_problem(resp, 400).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("column"),
        "{body}"
    );

    // Unknown route.
    let resp = client.get(api.url("/no/such/route")).send().await.unwrap();
    expect_problem(resp, 404).await;

    // Wrong content type.
    let resp = client
        .post(api.url("/v1/notes"))
        .header("content-type", "text/plain")
        .body("title=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);

    // Oversized body.
    let big = json!({"title": "big", "body": "y".repeat(100_000)}).to_string();
    let resp = client
        .post(api.url("/v1/notes"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn slow_loris_connection_is_closed_after_header_timeout() {
    let api = Api::start(&[("API_SERVER__HEADER_READ_TIMEOUT", "1s")]);
    let mut stream = TcpStream::connect(api.addr).unwrap();
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    // The server must end the connection (EOF or reset) on its own, well before our 10 s read timeout.
    let outcome = stream.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(8),
        "connection still open after {waited:?}: {outcome:?}"
    );
    assert!(
        waited >= Duration::from_millis(900),
        "closed too early: {waited:?}"
    );
}

#[tokio::test]
async fn health_endpoints_follow_the_contract() {
    let api = Api::start(&[]);
    let client = http();
    assert_eq!(status(&client, api.url("/livez")).await, 200);
    assert_eq!(status(&client, api.url("/readyz")).await, 200);
    let resp = client.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/health+json"), "{ct}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "pass", "{body}");
    assert!(body["checks"].is_object(), "{body}");

    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let channel = grpc_channel(&api).await;
    let mut health = HealthClient::new(channel);
    for service in ["", "notes.v1.NotesService"] {
        let resp = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.status(), ServingStatus::Serving, "service {service:?}");
    }
    let err = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().expect("first status");
    assert_eq!(first.status(), ServingStatus::Serving);
}

#[tokio::test]
async fn metrics_expose_route_templates_not_raw_paths() {
    let api = Api::start(&[]);
    let client = http();
    let created: Value = client
        .post(api.url("/v1/notes"))
        .json(&json!({"title": "m", "body": ""}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let resp = client
            .get(api.url(&format!("/v1/notes/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = client.get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(&id), "raw path leaked into metrics");
    let samples = support::parse_prometheus(&text).expect("valid Prometheus text exposition");
    let found = samples.iter().any(|s| {
        s.name == "http_server_request_duration_seconds_count"
            && s.label("http_route") == Some("/v1/notes/{id}")
            && s.label("http_request_method") == Some("GET")
            && s.label("http_response_status_code") == Some("200")
            && s.value >= 3.0
    });
    assert!(
        samples
            .iter()
            .all(|s| s.label("http_route").is_none_or(|r| !r.contains(&id))),
        "raw path used as route label"
    );
    assert!(found, "no duration sample for /v1/notes/{{id}} in:\n{text}");
}

#[test]
fn sigterm_drains_a_request_in_flight_then_exits_zero() {
    let mut api = Api::start(&[("API_SERVER__SHUTDOWN_TIMEOUT", "10s")]);
    let body = br#"{"title": "in flight", "body": "sent in two halves"}"#;
    let (first, second) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(api.addr).unwrap();
    write!(
        stream,
        "POST /v1/notes HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(first).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    api.terminate();
    std::thread::sleep(Duration::from_millis(300));
    // New connections are refused (or closed) while draining; the request in flight goes on.
    stream.write_all(second).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight request did not complete: {response:?}"
    );
    assert!(response.contains("in flight"), "{response}");

    let status = api
        .wait_exit(Duration::from_secs(15))
        .expect("exited after SIGTERM");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn config_error_names_key_and_source() {
    let Err(err) = Api::try_start(&[("API_SERVER__ADDR", "not-an-address")]) else {
        panic!("started with a bad address");
    };
    assert!(err.contains("server.addr"), "{err}");
    assert!(err.contains("API_SERVER__ADDR"), "{err}");
}

#[test]
fn config_file_syntax_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.toml");
    std::fs::write(
        &path,
        "[server]\naddr = \"127.0.0.1:0\"\nbody_limit = = 3\n",
    )
    .unwrap();
    let Err(err) = Api::try_start(&[("API_CONFIG", path.to_str().unwrap())]) else {
        panic!("started with a broken config file");
    };
    assert!(err.contains("api.toml"), "{err}");
    assert!(err.contains('3'), "line number missing: {err}");
}

#[tokio::test]
async fn grpc_reflection_lists_the_services() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let api = Api::start(&[]);
    let mut client = ServerReflectionClient::new(grpc_channel(&api).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().expect("a response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "notes.v1.NotesService"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );
}

#[tokio::test]
async fn readiness_fails_once_shutdown_starts() {
    // With a grace period the server keeps answering after SIGTERM while readiness is red.
    let mut api = Api::start(&[("API_SERVER__SHUTDOWN_GRACE", "2s")]);
    let client = http();
    assert_eq!(status(&client, api.url("/readyz")).await, 200);
    api.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resp = client.get(api.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(status(&client, api.url("/livez")).await, 200);
    let status = tokio::task::spawn_blocking(move || api.wait_exit(Duration::from_secs(15)))
        .await
        .unwrap()
        .expect("exited");
    assert!(status.success());
}

#[tokio::test]
async fn api_is_rate_limited_per_client_but_probes_are_not() {
    let api = Api::start(&[
        ("API_RATELIMIT__PER_SECOND", "1"),
        ("API_RATELIMIT__BURST", "2"),
    ]);
    let client = http();
    for _ in 0..2 {
        let resp = client.get(api.url("/v1/notes")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("ratelimit-policy"), "{resp:?}");
    }
    let resp = client.get(api.url("/v1/notes")).send().await.unwrap();
    let (headers, _) = expect_problem(resp, 429).await;
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert!(headers.contains_key("ratelimit"), "{headers:?}");

    // gRPC shares the client's budget and answers RESOURCE_EXHAUSTED.
    let mut grpc = NotesServiceClient::new(grpc_channel(&api).await);
    let err = grpc
        .list_notes(ListNotesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);

    // Probes and metrics are never limited.
    for path in ["/livez", "/readyz", "/healthz", "/metrics"] {
        for _ in 0..5 {
            let resp = client.get(api.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
        }
    }
}

#[tokio::test]
async fn two_instances_share_the_limit_through_redis() {
    let Some(url) = support::backend_url("REDIS_URL") else {
        return;
    };
    let prefix = format!("e2e-{}", std::process::id());
    let env = [
        ("API_RATELIMIT__PER_SECOND", "1"),
        ("API_RATELIMIT__BURST", "3"),
        ("API_REDIS__URL", url.as_str()),
        ("API_REDIS__KEY_PREFIX", prefix.as_str()),
    ];
    let a = Api::start(&env);
    let b = Api::start(&env);
    let client = http();
    let mut statuses = Vec::new();
    for i in 0..4 {
        let api = if i % 2 == 0 { &a } else { &b };
        statuses.push(status(&client, api.url("/v1/notes")).await.as_u16());
    }
    // Three allowed in total across both instances, the fourth refused.
    assert_eq!(statuses, vec![200, 200, 200, 429]);
}

#[tokio::test]
async fn invalid_grpc_frames_get_an_error_status_not_a_hang() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::{client::legacy::Client, rt::TokioExecutor};

    let api = Api::start(&[]);
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let cases: [(&str, &[u8]); 4] = [
        ("length prefix beyond the body", &[0, 0, 0, 0, 100, 1, 2, 3]),
        (
            "compressed flag without grpc-encoding",
            &[1, 0, 0, 0, 2, 0x0a, 0x00],
        ),
        (
            "bytes that are no protobuf message",
            &[0, 0, 0, 0, 3, 0xff, 0xff, 0xff],
        ),
        ("truncated frame header", &[0, 0]),
    ];
    for (case, frame) in cases {
        let request = http::Request::post(api.url("/notes.v1.NotesService/GetNote"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(bytes::Bytes::from_static(frame)))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
            .await
            .unwrap_or_else(|_| panic!("{case}: no answer within 10 s"))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let status = if let Some(status) = response.headers().get("grpc-status") {
            status.to_str().unwrap().to_owned()
        } else {
            let collected =
                tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
                    .await
                    .unwrap_or_else(|_| panic!("{case}: body never ended"))
                    .unwrap();
            collected
                .trailers()
                .and_then(|t| t.get("grpc-status"))
                .unwrap_or_else(|| panic!("{case}: no grpc-status"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_ne!(status, "0", "{case}: accepted as OK");
    }
    // The server is unharmed.
    let mut grpc = NotesServiceClient::new(grpc_channel(&api).await);
    grpc.list_notes(ListNotesRequest::default()).await.unwrap();
}
