//! Build-time validation: every bad annotation is a typed `GatewayError`, never a panic.

mod common;

use core_backend_gateway::{Gateway, GatewayError, TemplateErrorKind};

/// Compiles one proto file (importing the shipped google/api protos) to descriptor bytes.
fn compile(source: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    core_backend_gateway::protos::write_to(dir.path()).expect("write google/api");
    std::fs::write(dir.path().join("t.proto"), source).expect("write");
    let mut compiler = protox::Compiler::new([dir.path()]).expect("compiler");
    compiler
        .include_imports(true)
        .open_file("t.proto")
        .expect("compiles");
    compiler.encode_file_descriptor_set()
}

fn proto(rpc_options: &str) -> String {
    format!(
        r#"syntax = "proto3";
package t;
import "google/api/annotations.proto";
message M {{ string id = 1; Sub sub = 2; repeated string ids = 3; map<string, string> m = 4; }}
message Sub {{ string name = 1; }}
service S {{
  rpc A(M) returns (M) {{ {rpc_options} }}
}}
"#
    )
}

fn build(source: &str) -> Result<Vec<core_backend_gateway::RouteInfo>, GatewayError> {
    let pool = common::kitchen_pool();
    Gateway::builder(compile(source))
        .build(common::KitchenService::new(pool))
        .map(|g| g.routes().to_vec())
}

#[test]
fn bad_templates_are_typed_errors() {
    let err = build(&proto(r#"option (google.api.http) = { get: "/v1/{id" };"#)).expect_err("bad");
    match err {
        GatewayError::Template { method, source } => {
            assert_eq!(method, "t.S.A");
            assert_eq!(source.kind(), &TemplateErrorKind::UnexpectedEnd);
        }
        other => panic!("unexpected {other}"),
    }
    let err = build(&proto(r#"option (google.api.http) = { get: "v1/x" };"#)).expect_err("bad");
    assert!(matches!(err, GatewayError::Template { .. }), "{err}");
}

#[test]
fn bad_field_references_are_rejected() {
    for (options, needle) in [
        (
            r#"option (google.api.http) = { get: "/v1/{nope}" };"#,
            "nope",
        ),
        (r#"option (google.api.http) = { get: "/v1/{sub}" };"#, "sub"),
        (r#"option (google.api.http) = { get: "/v1/{ids}" };"#, "ids"),
        (
            r#"option (google.api.http) = { get: "/v1/{id.x}" };"#,
            "id.x",
        ),
        (
            r#"option (google.api.http) = { post: "/v1/x" body: "nope" };"#,
            "nope",
        ),
        (
            r#"option (google.api.http) = { get: "/v1/x" response_body: "nope" };"#,
            "nope",
        ),
        (
            r#"option (google.api.http) = { custom: { kind: "BAD METHOD" path: "/v1/x" } };"#,
            "BAD",
        ),
        (r#"option (google.api.http) = { body: "*" };"#, "no pattern"),
    ] {
        let err = build(&proto(options)).expect_err(options);
        assert!(
            matches!(err, GatewayError::InvalidBinding { .. }),
            "{options}: {err}"
        );
        assert!(err.to_string().contains(needle), "{options}: {err}");
    }
    let ok = build(&proto(
        r#"option (google.api.http) = { get: "/v1/{sub.name}" };"#,
    ))
    .expect("ok");
    assert_eq!(ok[0].matched_path, "/v1/{sub.name}");
}

#[test]
fn duplicate_bindings_are_rejected() {
    let err = build(&proto(
        r#"option (google.api.http) = { get: "/v1/x" additional_bindings { get: "/v1/x" } };"#,
    ))
    .expect_err("duplicate");
    assert!(
        matches!(err, GatewayError::DuplicateBinding { .. }),
        "{err}"
    );
}

#[test]
fn pools_without_annotations_and_unknown_services() {
    let err = build(&proto("")).expect_err("nothing to serve");
    assert!(matches!(err, GatewayError::NoBindings), "{err}");
    let pool = common::kitchen_pool();
    let err = Gateway::builder(compile(&proto("")))
        .service("t.Nope")
        .build(common::KitchenService::new(pool.clone()))
        .expect_err("unknown");
    assert!(
        matches!(err, GatewayError::UnknownService(ref s) if s == "t.Nope"),
        "{err}"
    );
    let err = Gateway::builder(&b"\xff\xff not a descriptor"[..])
        .build(common::KitchenService::new(pool.clone()))
        .expect_err("garbage");
    assert!(matches!(err, GatewayError::Descriptor(_)), "{err}");
    let err = Gateway::builder(common::kitchen_descriptor_set())
        .forward_header("bad header")
        .build(common::KitchenService::new(pool))
        .expect_err("bad header");
    assert!(matches!(err, GatewayError::InvalidHeaderName(_)), "{err}");
}

#[test]
fn builder_from_pool_and_config() {
    let pool = common::kitchen_pool();
    let config: core_backend_gateway::GatewayConfig =
        serde_json::from_str(r#"{"body_limit": 10, "emit_defaults": true}"#).expect("config");
    let gateway = Gateway::builder_from_pool(pool.clone())
        .service("gwtest.v1.KitchenService")
        .config(config)
        .build(common::KitchenService::new(pool))
        .expect("builds");
    let routes = gateway.routes();
    assert!(
        routes
            .iter()
            .all(|r| r.grpc_method != "gwtest.v1.KitchenService/NotExposed")
    );
    let find = |t: &str| {
        routes
            .iter()
            .find(|r| r.template == t)
            .map(|r| r.matched_path.as_str())
    };
    assert_eq!(
        find("/v1/{name=shelves/*/books/*}"),
        Some("/v1/shelves/{name}/books/{name_2}")
    );
    assert_eq!(find("/v1/files/{path=**}"), Some("/v1/files/{*path}"));
    assert_eq!(find("/v1/kitchens/{id}:archive"), Some("/v1/kitchens/{id}"));
    assert_eq!(find("/v1/books/{id}:lookup"), Some("/v1/books/{id}"));
    assert_eq!(find("/v1/any/*/{id}"), Some("/v1/any/{_wildcard}/{id}"));
    assert_eq!(
        find("/v1/inner/{inner.name}/small/{small}"),
        Some("/v1/inner/{inner.name}/small/{small}")
    );
    assert_eq!(routes.len(), 19);
}

#[tokio::test]
async fn a_path_of_the_route_shape_that_no_template_matches_is_a_gateway_404() {
    use tower::ServiceExt;
    let pool = common::kitchen_pool();
    let router: axum::Router = Gateway::builder(compile(&proto(
        r#"option (google.api.http) = { post: "/v1/x/{id}:go" };"#,
    )))
    .build(common::KitchenService::new(pool))
    .expect("builds")
    .into_router();
    assert_eq!(
        Gateway::builder(compile(&proto(
            r#"option (google.api.http) = { post: "/v1/x/{id}:go" };"#
        )))
        .build(common::KitchenService::new(common::kitchen_pool()))
        .expect("builds")
        .routes()[0]
            .matched_path,
        "/v1/x/{id}"
    );
    let request = http::Request::post("/v1/x/5")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = router.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}
