//! The gateway in front of a hand-written dynamic gRPC service, over real sockets: every
//! annotation feature, every JSON type, every error mapping, every bad input.

mod common;

use bytes::Bytes;
use common::{HttpClient, kitchen_server};
use serde_json::json;

async fn default_server() -> HttpClient {
    kitchen_server(|b| b).await
}

#[tokio::test]
async fn multi_segment_variable_keeps_encoded_slashes() {
    let c = default_server().await;
    let r = c.get("/v1/shelves/s1/books/b%2F2%20x").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json(), json!({ "name": "shelves/s1/books/b%2F2 x" }));
    assert_eq!(r.content_type(), "application/json");
    assert_eq!(c.get("/v1/shelves/s1/notes/b").await.status, 404);
}

#[tokio::test]
async fn single_segment_variable_is_fully_decoded() {
    let c = default_server().await;
    let r = c.get("/v1/books/a%2Fb%C3%A9").await;
    assert_eq!(r.json(), json!({ "id": "a/bé" }));
}

#[tokio::test]
async fn additional_bindings_and_verb_with_body() {
    let c = default_server().await;
    let r = c
        .post_json(
            "POST",
            "/v1/books/42:lookup",
            r#"{"small": 3, "id": "ignored"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({ "id": "42", "small": 3 }));
}

#[tokio::test]
async fn double_wildcard_captures_the_rest() {
    let c = default_server().await;
    assert_eq!(
        c.get("/v1/files/a/b/c.txt").await.json(),
        json!({ "path": "a/b/c.txt" })
    );
    assert_eq!(c.get("/v1/files/x").await.json(), json!({ "path": "x" }));
}

#[tokio::test]
async fn anonymous_wildcard_segment() {
    let c = default_server().await;
    assert_eq!(
        c.get("/v1/any/whatever/7").await.json(),
        json!({ "id": "7" })
    );
}

#[tokio::test]
async fn nested_path_fields_and_typed_conversion() {
    let c = default_server().await;
    let r = c.get("/v1/inner/bob/small/7").await;
    assert_eq!(r.json(), json!({ "inner": { "name": "bob" }, "small": 7 }));
    let r = c.get("/v1/inner/bob/small/seven").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.content_type(), "application/problem+json");
    let p = r.json();
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("small"),
        "{p}"
    );
    assert_eq!(p["errors"][0]["field"], "small");
}

#[tokio::test]
async fn body_star_with_every_json_type_and_path_override() {
    let c = default_server().await;
    let body = json!({
        "id": "overridden",
        "big": "9007199254740993",
        "ubig": 18_446_744_073_709_551_615_u64,
        "small": -5,
        "flag": true,
        "ratio": 0.25,
        "color": "BLUE",
        "tags": ["a", "b"],
        "nums": [1, "2"],
        "inner": { "name": "n", "count": 2, "color": 1 },
        "at": "2024-01-02T03:04:05.500Z",
        "ttl": "1.5s",
        "maybe": 0,
        "maybe_flag": false,
        "number": 12,
        "counts": { "a": 1 },
        "blob": "aGk=",
        "colors": ["RED", 2],
        "fl": 1.5,
        "inners": [{ "name": "x" }],
        "byId": { "5": { "name": "five" } },
        "mask": "a.b,inner.name",
        "signedSmall": -1,
        "fixed": "7"
    });
    let r = c
        .post_json("POST", "/v1/shelves/s9/kitchens", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        json!({
            "id": "s9",
            "big": "9007199254740993",
            "ubig": "18446744073709551615",
            "small": -5,
            "flag": true,
            "ratio": 0.25,
            "color": "BLUE",
            "tags": ["a", "b"],
            "nums": [1, 2],
            "inner": { "name": "n", "count": 2, "color": "RED" },
            "at": "2024-01-02T03:04:05.500Z",
            "ttl": "1.500s",
            "maybe": 0,
            "maybeFlag": false,
            "number": 12,
            "counts": { "a": 1 },
            "blob": "aGk=",
            "colors": ["RED", "GREEN"],
            "fl": 1.5,
            "inners": [{ "name": "x" }],
            "byId": { "5": { "name": "five" } },
            "mask": "a.b,inner.name",
            "signedSmall": -1,
            "fixed": "7"
        })
    );
}

#[tokio::test]
async fn body_field_and_query_for_the_rest() {
    let c = default_server().await;
    let r = c
        .post_json(
            "PATCH",
            "/v1/kitchens/k1?small=4&inner.name=ignored",
            r#"{"name": "n", "count": 2}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        json!({ "id": "k1", "small": 4, "inner": { "name": "n", "count": 2 } })
    );
    let r = c
        .post_json("PUT", "/v1/kitchens/k1/tags", r#"["a", "b"]"#)
        .await;
    assert_eq!(r.json(), json!({ "id": "k1", "tags": ["a", "b"] }));
    let r = c
        .post_json("PUT", "/v1/kitchens/k1/tags", r#"{"a": 1}"#)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"][0]["field"], "tags");
}

#[tokio::test]
async fn custom_verb_custom_method_delete_and_405() {
    let c = default_server().await;
    let r = c
        .send("POST", "/v1/kitchens/k1:archive", &[], Bytes::new())
        .await;
    assert_eq!(r.json(), json!({ "id": "k1" }));
    let r = c.send("PURGE", "/v1/kitchens/k1", &[], Bytes::new()).await;
    assert_eq!((r.status.as_u16(), r.json()), (200, json!({})));
    let r = c.send("DELETE", "/v1/kitchens/k1", &[], Bytes::new()).await;
    assert_eq!((r.status.as_u16(), r.json()), (200, json!({})));
    for method in ["GET", "POST"] {
        let r = c.send(method, "/v1/kitchens/k1", &[], Bytes::new()).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.content_type(), "application/problem+json");
        let allow = r.headers["allow"].to_str().unwrap_or_default().to_owned();
        for m in ["PATCH", "PURGE", "DELETE"] {
            assert!(allow.contains(m), "{allow}");
        }
    }
    // `k1:archive` is also a valid `{id}` for the verb-less templates, so all are allowed,
    // the verb binding (most specific) first.
    let r = c
        .send("GET", "/v1/kitchens/k1:archive", &[], Bytes::new())
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "POST, PATCH, PURGE, DELETE");
    let r = c
        .send("DELETE", "/v1/kitchens/k1:archive", &[], Bytes::new())
        .await;
    assert_eq!(r.json(), json!({}));
}

#[tokio::test]
async fn response_body_field() {
    let c = default_server().await;
    assert_eq!(
        c.get("/v1/wrapped/w1?small=2").await.json(),
        json!({ "id": "w1", "small": 2 })
    );
    assert_eq!(
        c.get("/v1/wrapped/w1/list?tags=a&tags=b").await.json(),
        json!(["a", "b"])
    );
    assert_eq!(c.get("/v1/wrapped/w1/list").await.json(), json!([]));
}

#[tokio::test]
async fn query_parameters_of_every_kind() {
    let c = default_server().await;
    let r = c
        .get(
            "/v1/echo?name=n%20m&big=-123&ubig=5&flag=true&color=2&colors=RED&colors=3&nums=1&nums=2\
             &inner.name=x&inner.color=GREEN&at=2024-01-01T00:00:00Z&ttl=3s&maybe=5&maybeFlag=false\
             &mask=a,b&ratio=1.5&signed_small=-3&fixed=10&text=hello&blob=aGk%3D&fl=NaN",
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        json!({
            "name": "n m", "big": "-123", "ubig": "5", "flag": true, "color": "GREEN",
            "colors": ["RED", "BLUE"], "nums": [1, 2], "inner": { "name": "x", "color": "GREEN" },
            "at": "2024-01-01T00:00:00Z", "ttl": "3s", "maybe": 5, "maybeFlag": false,
            "mask": "a,b", "ratio": 1.5, "signedSmall": -3, "fixed": "10", "text": "hello",
            "blob": "aGk=", "fl": "NaN"
        })
    );
}

#[tokio::test]
async fn bad_query_parameters() {
    let c = default_server().await;
    for (query, field) in [
        ("nope=1", "nope"),
        ("color=PURPLE", "color"),
        ("flag=maybe", "flag"),
        ("counts=1", "counts"),
        ("inners=1", "inners"),
        ("inner=1", "inner"),
        ("small=99999999999", "small"),
        ("at=yesterday", "at"),
    ] {
        let r = c.get(&format!("/v1/echo?{query}")).await;
        assert_eq!(
            r.status,
            400,
            "{query}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.content_type(), "application/problem+json");
        let p = r.json();
        assert_eq!(p["status"], 400);
        assert_eq!(p["grpc_status"], "INVALID_ARGUMENT");
        assert!(
            p["errors"][0]["field"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{query}: {p}"
        );
    }
    let lenient = kitchen_server(|b| b.ignore_unknown_fields(true)).await;
    let r = lenient.get("/v1/echo?nope=1&small=2").await;
    assert_eq!(r.json(), json!({ "small": 2 }));
}

#[tokio::test]
async fn malformed_json_says_where() {
    let c = default_server().await;
    let r = c
        .post_json("POST", "/v1/echo", "{\n  \"name\": \"x\",\n  oops\n}")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.content_type(), "application/problem+json");
    let p = r.json();
    assert_eq!(p["line"], 3);
    assert_eq!(p["column"], 3);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("line 3 column 3"),
        "{p}"
    );
    let r = c.post_json("POST", "/v1/echo", r#"{"name": "x""#).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn wrong_types_and_unknown_fields() {
    let c = default_server().await;
    for (body, field) in [
        (r#"{"small": "abc"}"#, "small"),
        (r#"{"inner": {"count": true}}"#, "inner.count"),
        (
            r#"{"inners": [{"name": "a"}, {"count": []}]}"#,
            "inners[1].count",
        ),
        (r#"{"color": "PURPLE"}"#, "color"),
        (r#"{"at": "not a time"}"#, "at"),
        (r#"{"nope": 1}"#, ""),
        (r#"{"big": 1.5}"#, "big"),
    ] {
        let r = c.post_json("POST", "/v1/echo", body).await;
        assert_eq!(
            r.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let p = r.json();
        assert_eq!(p["grpc_code"], 3);
        assert!(
            p["errors"][0]["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{body}: {p}"
        );
        if body.contains("nope") {
            assert!(
                p["detail"].as_str().unwrap_or_default().contains("nope"),
                "{p}"
            );
        }
    }
    let r = c.post_json("POST", "/v1/echo", "[1, 2]").await;
    assert_eq!(r.status, 400);
    let lenient = kitchen_server(|b| b.ignore_unknown_fields(true)).await;
    let r = lenient
        .post_json("POST", "/v1/echo", r#"{"nope": 1, "small": 1}"#)
        .await;
    assert_eq!(r.json(), json!({ "small": 1 }));
}

#[tokio::test]
async fn content_type_rules() {
    let c = default_server().await;
    let r = c
        .send("POST", "/v1/echo", &[("content-type", "text/plain")], "{}")
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.content_type(), "application/problem+json");
    let r = c.send("POST", "/v1/echo", &[], "{}").await;
    assert_eq!(r.status, 415);
    let r = c.send("POST", "/v1/echo", &[], Bytes::new()).await;
    assert_eq!((r.status.as_u16(), r.json()), (200, json!({})));
    let r = c
        .send(
            "POST",
            "/v1/echo",
            &[("content-type", "application/merge-patch+json")],
            r#"{"small":1}"#,
        )
        .await;
    assert_eq!(r.json(), json!({ "small": 1 }));
    let r = c
        .send(
            "POST",
            "/v1/echo",
            &[("content-type", "application/json; charset=utf-8")],
            "{}",
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let c = kitchen_server(|b| b.body_limit(64)).await;
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(100));
    let r = c.post_json("POST", "/v1/echo", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.content_type(), "application/problem+json");
    assert_eq!(r.json()["limit"], 64);
    let r = c.post_json("POST", "/v1/echo", r#"{"name": "ok"}"#).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn unknown_routes_reach_the_users_fallback() {
    let c = default_server().await;
    let r = c.get("/v2/nothing").await;
    assert_eq!(
        (r.status.as_u16(), &r.body[..]),
        (404, &b"user fallback"[..])
    );
    let r = c.send("HEAD", "/v1/books/1", &[], Bytes::new()).await;
    assert_eq!((r.status.as_u16(), r.body.len()), (200, 0));
    assert_eq!(r.content_type(), "application/json");
    let r = c.get("/user/route").await;
    assert_eq!(&r.body[..], b"user route");
}

const TABLE: [(i32, u16, &str); 16] = [
    (1, 499, "CANCELLED"),
    (2, 500, "UNKNOWN"),
    (3, 400, "INVALID_ARGUMENT"),
    (4, 504, "DEADLINE_EXCEEDED"),
    (5, 404, "NOT_FOUND"),
    (6, 409, "ALREADY_EXISTS"),
    (7, 403, "PERMISSION_DENIED"),
    (8, 429, "RESOURCE_EXHAUSTED"),
    (9, 400, "FAILED_PRECONDITION"),
    (10, 409, "ABORTED"),
    (11, 400, "OUT_OF_RANGE"),
    (12, 501, "UNIMPLEMENTED"),
    (13, 500, "INTERNAL"),
    (14, 503, "UNAVAILABLE"),
    (15, 500, "DATA_LOSS"),
    (16, 401, "UNAUTHENTICATED"),
];

#[tokio::test]
async fn every_grpc_code_maps_to_its_http_status() {
    let c = default_server().await;
    for trailers_only in [false, true] {
        for (code, status, name) in TABLE {
            let r = c
                .get(&format!(
                    "/v1/fail/{code}?message=caf%C3%A9%20100%25&trailers_only={trailers_only}"
                ))
                .await;
            assert_eq!(r.status.as_u16(), status, "{name}");
            assert_eq!(r.content_type(), "application/problem+json");
            let p = r.json();
            assert_eq!(p["status"], status);
            assert_eq!(p["grpc_code"], code);
            assert_eq!(p["grpc_status"], name);
            assert_eq!(p["detail"], "café 100%", "{name}");
            assert_eq!(p["type"], "about:blank");
            assert!(p["title"].is_string());
        }
    }
    let r = c.get("/v1/fail/8").await;
    assert_eq!(r.headers["retry-after"], "7");
    let r = c.get("/v1/fail/16").await;
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let r = c.get("/v1/fail/0").await;
    assert_eq!((r.status.as_u16(), r.json()), (200, json!({})));
}

#[tokio::test]
async fn status_details_become_problem_members() {
    let c = default_server().await;
    let r = c.get("/v1/fail/3?message=invalid&details=true").await;
    assert_eq!(r.status, 400);
    let p = r.json();
    assert_eq!(
        p["errors"],
        json!([{ "field": "title", "detail": "must not be empty" }])
    );
    assert_eq!(
        p["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(p["details"][1]["retryDelay"], "30s");
    assert_eq!(r.headers["retry-after"], "30");
    // An explicit retry-after metadata entry wins over RetryInfo.
    let r = c.get("/v1/fail/8?details=true").await;
    assert_eq!(r.headers["retry-after"], "7");
}

#[tokio::test]
async fn headers_are_forwarded_as_metadata_and_back() {
    let c = kitchen_server(|b| b.response_metadata_headers(true).forward_header("x-extra")).await;
    let r = c
        .send(
            "GET",
            "/v1/echo",
            &[
                ("authorization", "Bearer t"),
                ("x-request-id", "r1"),
                (
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                ("grpc-metadata-x-custom", "c"),
                ("x-extra", "e"),
                ("x-private", "p"),
                ("grpc-metadata-content-type", "text/evil"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, 200);
    let h = &r.headers;
    assert_eq!(h["grpc-metadata-echo-authorization"], "Bearer t");
    assert_eq!(h["grpc-metadata-echo-x-request-id"], "r1");
    assert!(h.contains_key("grpc-metadata-echo-traceparent"));
    assert_eq!(h["grpc-metadata-echo-x-custom"], "c");
    assert_eq!(h["grpc-metadata-echo-x-extra"], "e");
    assert!(!h.contains_key("grpc-metadata-echo-x-private"));
    assert_eq!(h["grpc-metadata-x-trailer-meta"], "from-trailer");
    assert_eq!(r.content_type(), "application/json");

    let plain = default_server().await;
    let r = plain
        .send(
            "GET",
            "/v1/echo",
            &[("authorization", "Bearer t")],
            Bytes::new(),
        )
        .await;
    assert!(
        !r.headers
            .keys()
            .any(|k| k.as_str().starts_with("grpc-metadata-"))
    );
    let none = kitchen_server(|b| b.clear_forward_headers().response_metadata_headers(true)).await;
    let r = none
        .send(
            "GET",
            "/v1/echo",
            &[("authorization", "Bearer t")],
            Bytes::new(),
        )
        .await;
    assert!(!r.headers.contains_key("grpc-metadata-echo-authorization"));
}

#[tokio::test]
async fn emit_defaults_and_proto_names() {
    let c = kitchen_server(|b| b.use_proto_names(true)).await;
    let r = c.get("/v1/echo?signedSmall=1&maybe_flag=true").await;
    assert_eq!(r.json(), json!({ "signed_small": 1, "maybe_flag": true }));
    let c = kitchen_server(|b| b.emit_defaults(true)).await;
    let v = c.get("/v1/echo").await.json();
    assert_eq!(v["big"], "0");
    assert_eq!(v["tags"], json!([]));
    assert_eq!(v["color"], "COLOR_UNSPECIFIED");
    assert_eq!(v["counts"], json!({}));
    assert_eq!(v["flag"], false);
}

fn ndjson(body: &[u8]) -> Vec<serde_json::Value> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is JSON"))
        .collect()
}

#[tokio::test]
async fn server_streaming_is_newline_delimited_json() {
    let c = kitchen_server(|b| b.response_metadata_headers(true)).await;
    let r = c
        .send(
            "GET",
            "/v1/stream/s1?small=3",
            &[("x-request-id", "r9")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "application/x-ndjson");
    assert_eq!(r.headers["grpc-metadata-echo-x-request-id"], "r9");
    assert_eq!(
        ndjson(&r.body),
        vec![
            json!({ "result": { "id": "s1", "small": 3, "number": 0 } }),
            json!({ "result": { "id": "s1", "small": 3, "number": 1 } }),
            json!({ "result": { "id": "s1", "small": 3, "number": 2 } }),
        ]
    );
    // An error after some messages arrives as a final error line.
    let r = c.get("/v1/stream/s1?small=2&flag=true").await;
    assert_eq!(r.status, 200);
    let lines = ndjson(&r.body);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[2],
        json!({ "error": { "code": 5, "status": "NOT_FOUND", "message": "stream broke", "details": [] } })
    );
    // An error before any message is a plain problem response.
    let r = c.get("/v1/stream/s1?flag=true").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type(), "application/problem+json");
    // An empty stream is an empty body; response_body applies to every message.
    assert!(c.get("/v1/stream/s1").await.body.is_empty());
    let r = c.get("/v1/stream/s1/items?small=2").await;
    assert_eq!(
        ndjson(&r.body),
        vec![
            json!({ "result": { "id": "s1", "small": 2, "number": 0 } }),
            json!({ "result": { "id": "s1", "small": 2, "number": 1 } }),
        ]
    );
}

#[tokio::test]
async fn client_streaming_methods_are_not_served() {
    let c = default_server().await;
    let r = c.post_json("POST", "/v1/upload", "{}").await;
    assert_eq!(
        (r.status.as_u16(), &r.body[..]),
        (404, &b"user fallback"[..])
    );
}
