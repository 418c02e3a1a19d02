use std::convert::Infallible;

use http::{Request, Response};
use tower::ServiceExt as _;

use crate::GrpcClientLayer;
use crate::test_support::{drain, grpc_body, value, with_recorder};

#[test]
fn records_status_from_trailers_and_injects_traceparent() {
    let ((), text) = with_recorder(|_| async {
        let channel = tower::service_fn(|req: Request<()>| async move {
            assert!(
                req.headers()
                    .get("traceparent")
                    .and_then(|v| crate::TraceParent::parse(v.as_bytes()).ok())
                    .is_some(),
                "traceparent injected"
            );
            Ok::<_, Infallible>(Response::new(grpc_body("14")))
        });
        let mut client = super::GrpcClient::new(channel, GrpcClientLayer::new().propagate(true));
        let _ = client.get_ref();
        let _ = client.get_mut();
        let response = client
            .oneshot(
                Request::post("http://127.0.0.1:50051/notes.v1.NotesService/GetNote")
                    .body(())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        drain(response.into_body()).await;
    });
    let labels = [
        r#"rpc_system="grpc""#,
        r#"rpc_service="notes.v1.NotesService""#,
        r#"rpc_method="GetNote""#,
        r#"rpc_grpc_status_code="14""#,
        r#"server_address="127.0.0.1""#,
        r#"server_port="50051""#,
    ];
    assert_eq!(
        value(&text, "rpc_client_duration_seconds_count", &labels),
        Some(1.0),
        "{text}"
    );
}
