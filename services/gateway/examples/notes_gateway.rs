//! The notes API over REST and gRPC on one port, REST through the gateway.
//!
//! ```text
//! cargo run -p core-backend-gateway --example notes_gateway
//! curl -s -XPOST localhost:3000/v1/notes -H 'content-type: application/json' -d '{"title":"hi"}'
//! curl -s localhost:3000/v1/notes/n1
//! ```
//!
//! `GATEWAY_ADDR` sets the listen address (default `127.0.0.1:3000`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use core_backend_example_proto::FILE_DESCRIPTOR_SET;
use core_backend_example_proto::notes_v1::notes_service_server::{
    NotesService, NotesServiceServer,
};
use core_backend_example_proto::notes_v1::{
    CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest, ListNotesResponse, Note,
};
use core_backend_gateway::Gateway;
use tonic::{Request, Response, Status};

#[derive(Default)]
struct Notes(Mutex<BTreeMap<String, Note>>);

#[tonic::async_trait]
impl NotesService for Notes {
    async fn create_note(&self, r: Request<CreateNoteRequest>) -> Result<Response<Note>, Status> {
        let r = r.into_inner();
        if r.title.is_empty() {
            return Err(Status::invalid_argument("title must not be empty"));
        }
        let mut notes = self.0.lock().map_err(|_| Status::internal("poisoned"))?;
        let id = format!("n{}", notes.len() + 1);
        let note = Note {
            id: id.clone(),
            title: r.title,
            body: r.body,
            created_at: None,
        };
        notes.insert(id, note.clone());
        Ok(Response::new(note))
    }

    async fn get_note(&self, r: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
        let id = r.into_inner().id;
        let notes = self.0.lock().map_err(|_| Status::internal("poisoned"))?;
        notes
            .get(&id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no note {id}")))
    }

    async fn list_notes(
        &self,
        _: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesResponse>, Status> {
        let notes = self.0.lock().map_err(|_| Status::internal("poisoned"))?;
        Ok(Response::new(ListNotesResponse {
            notes: notes.values().rev().cloned().collect(),
            next_page_token: String::new(),
        }))
    }

    async fn delete_note(&self, r: Request<DeleteNoteRequest>) -> Result<Response<()>, Status> {
        let id = r.into_inner().id;
        let mut notes = self.0.lock().map_err(|_| Status::internal("poisoned"))?;
        notes
            .remove(&id)
            .map(|_| Response::new(()))
            .ok_or_else(|| Status::not_found(format!("no note {id}")))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let grpc = NotesServiceServer::from_arc(Arc::new(Notes::default()));
    let gateway = Gateway::builder(FILE_DESCRIPTOR_SET).build(grpc.clone())?;
    for route in gateway.routes() {
        println!(
            "{:>6} {:<20} -> {}",
            route.http_method.as_str(),
            route.template,
            route.grpc_method
        );
    }
    let app = axum::Router::new()
        .merge(gateway)
        .route_service("/notes.v1.NotesService/{*method}", grpc);
    let addr = std::env::var("GATEWAY_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
