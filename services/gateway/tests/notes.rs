//! The gateway in front of the generated tonic `NotesServiceServer`, with the same service
//! also served as gRPC on the same port: REST and a tonic client see the same data.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::MatchedPath;
use common::{HttpClient, serve};
use core_backend_example_proto::FILE_DESCRIPTOR_SET;
use core_backend_example_proto::notes_v1::notes_service_client::NotesServiceClient;
use core_backend_example_proto::notes_v1::notes_service_server::{
    NotesService, NotesServiceServer,
};
use core_backend_example_proto::notes_v1::{
    CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest, ListNotesResponse, Note,
};
use core_backend_gateway::Gateway;
use serde_json::json;
use tonic::{Request, Response, Status};

#[derive(Default, Clone)]
struct Notes {
    store: Arc<Mutex<BTreeMap<String, Note>>>,
}

#[tonic::async_trait]
impl NotesService for Notes {
    async fn create_note(&self, r: Request<CreateNoteRequest>) -> Result<Response<Note>, Status> {
        let tenant = r
            .metadata()
            .get("x-tenant-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let r = r.into_inner();
        if r.title.is_empty() || r.title.chars().count() > 200 {
            return Err(Status::invalid_argument(
                "title must be 1 to 200 characters",
            ));
        }
        let mut store = self.store.lock().expect("lock");
        let id = format!("n{}", store.len() + 1);
        let note = Note {
            id: id.clone(),
            title: r.title,
            body: tenant.map_or(r.body.clone(), |t| format!("{}|{t}", r.body)),
            created_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
        };
        store.insert(id, note.clone());
        Ok(Response::new(note))
    }

    async fn get_note(&self, r: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
        let id = r.into_inner().id;
        let store = self.store.lock().expect("lock");
        store
            .get(&id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("note {id} not found")))
    }

    async fn list_notes(
        &self,
        r: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesResponse>, Status> {
        let size = usize::try_from(r.into_inner().page_size).unwrap_or(0);
        let store = self.store.lock().expect("lock");
        let notes = store
            .values()
            .rev()
            .take(if size == 0 { 50 } else { size })
            .cloned()
            .collect();
        Ok(Response::new(ListNotesResponse {
            notes,
            next_page_token: String::new(),
        }))
    }

    async fn delete_note(&self, r: Request<DeleteNoteRequest>) -> Result<Response<()>, Status> {
        let id = r.into_inner().id;
        match self.store.lock().expect("lock").remove(&id) {
            Some(_) => Ok(Response::new(())),
            None => Err(Status::not_found(format!("note {id} not found"))),
        }
    }
}

/// One port: REST through the gateway, gRPC directly; a middleware echoes `MatchedPath`.
async fn start() -> (
    HttpClient,
    NotesServiceClient<tonic::transport::Channel>,
    Gateway,
) {
    let grpc = NotesServiceServer::new(Notes::default());
    let gateway = Gateway::builder(FILE_DESCRIPTOR_SET)
        .build(grpc.clone())
        .expect("builds");
    let described = Gateway::builder(FILE_DESCRIPTOR_SET)
        .service("notes.v1.NotesService")
        .build(grpc.clone())
        .expect("builds");
    let router = axum::Router::new()
        .merge(gateway)
        .route_layer(axum::middleware::map_response(
            |matched: Option<MatchedPath>, mut response: axum::response::Response| async move {
                if let Some(m) = matched
                    && let Ok(v) = http::HeaderValue::from_str(m.as_str())
                {
                    response.headers_mut().insert("x-matched-path", v);
                }
                response
            },
        ))
        .route_service("/notes.v1.NotesService/{*method}", grpc);
    let addr = serve(router).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connects");
    (
        HttpClient::new(addr),
        NotesServiceClient::new(channel),
        described,
    )
}

#[tokio::test]
async fn rest_and_grpc_return_the_same_note() {
    let (http, mut grpc, _) = start().await;
    let r = http
        .send(
            "POST",
            "/v1/notes",
            &[
                ("content-type", "application/json"),
                ("x-tenant-id", "acme"),
            ],
            r#"{"title": "hello", "body": "world"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.headers["x-matched-path"], "/v1/notes");
    let created = r.json();
    assert_eq!(
        created,
        json!({ "id": "n1", "title": "hello", "body": "world|acme", "createdAt": "2023-11-14T22:13:20Z" })
    );

    let via_grpc = grpc
        .get_note(GetNoteRequest { id: "n1".into() })
        .await
        .expect("grpc get")
        .into_inner();
    let r = http.get("/v1/notes/n1").await;
    assert_eq!(r.headers["x-matched-path"], "/v1/notes/{id}");
    let via_rest = r.json();
    assert_eq!(via_rest["id"], via_grpc.id);
    assert_eq!(via_rest["title"], via_grpc.title);
    assert_eq!(via_rest["body"], via_grpc.body);
    assert_eq!(via_rest, created);

    let listed = http.get("/v1/notes?page_size=10").await.json();
    assert_eq!(listed, json!({ "notes": [created] }));
    let listed = http.get("/v1/notes?pageSize=10").await.json();
    assert_eq!(listed["notes"][0]["id"], "n1");
    let via_grpc = grpc
        .list_notes(ListNotesRequest {
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .expect("grpc list")
        .into_inner();
    assert_eq!(via_grpc.notes.len(), 1);

    let r = http
        .send("DELETE", "/v1/notes/n1", &[], bytes::Bytes::new())
        .await;
    assert_eq!((r.status.as_u16(), r.json()), (200, json!({})));
    let status = grpc
        .get_note(GetNoteRequest { id: "n1".into() })
        .await
        .expect_err("gone");
    assert_eq!(status.code(), tonic::Code::NotFound);
    let r = http.get("/v1/notes/n1").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type(), "application/problem+json");
    assert_eq!(
        r.json(),
        json!({
            "type": "about:blank", "title": "Not Found", "status": 404,
            "detail": "note n1 not found", "grpc_code": 5, "grpc_status": "NOT_FOUND"
        })
    );
}

#[tokio::test]
async fn invalid_input_from_the_service_and_the_gateway() {
    let (http, _, _) = start().await;
    let r = http
        .post_json("POST", "/v1/notes", r#"{"title": ""}"#)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["detail"], "title must be 1 to 200 characters");
    let r = http.post_json("POST", "/v1/notes", r#"{"title": 5}"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"][0]["field"], "title");
    let r = http
        .send("PUT", "/v1/notes/x", &[], bytes::Bytes::new())
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, DELETE");
    assert_eq!(http.get("/v1/other").await.status, 404);
}

#[tokio::test]
async fn routes_describe_the_matched_paths() {
    let (_, _, gateway) = start().await;
    let routes: Vec<(String, String, String, String)> = gateway
        .routes()
        .iter()
        .map(|r| {
            (
                r.http_method.to_string(),
                r.template.clone(),
                r.matched_path.clone(),
                r.grpc_method.clone(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned())
    };
    assert_eq!(
        routes,
        vec![
            s(
                "POST",
                "/v1/notes",
                "/v1/notes",
                "notes.v1.NotesService/CreateNote"
            ),
            s(
                "GET",
                "/v1/notes/{id}",
                "/v1/notes/{id}",
                "notes.v1.NotesService/GetNote"
            ),
            s(
                "GET",
                "/v1/notes",
                "/v1/notes",
                "notes.v1.NotesService/ListNotes"
            ),
            s(
                "DELETE",
                "/v1/notes/{id}",
                "/v1/notes/{id}",
                "notes.v1.NotesService/DeleteNote"
            ),
        ]
    );
}

#[tokio::test]
async fn grpc_tonic_routes_work_as_the_inner_service() {
    let routes = tonic::service::Routes::new(NotesServiceServer::new(Notes::default()));
    let gateway = Gateway::builder(FILE_DESCRIPTOR_SET)
        .build(routes)
        .expect("builds");
    let http = HttpClient::new(serve(gateway.into_router()).await);
    let r = http
        .post_json("POST", "/v1/notes", r#"{"title": "t"}"#)
        .await;
    assert_eq!(r.json()["id"], "n1");
}
