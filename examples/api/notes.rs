//! The notes domain of the flagship: a store and the `notes.v1.NotesService` gRPC implementation.
//! The REST API is not written here: the gateway derives it from the proto's `google.api.http`
//! annotations, so both protocols run exactly this code.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use core_backend_example_proto::notes_v1::{
    CreateNoteRequest, DeleteNoteRequest, GetNoteRequest, ListNotesRequest, ListNotesResponse,
    Note, notes_service_server::NotesService,
};
use tokio::sync::RwLock;
use tonic::{Request, Response, Status};

/// Longest title, in characters.
pub(crate) const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters.
pub(crate) const MAX_BODY_CHARS: usize = 10_000;
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 500;

/// In-memory note store, ordered by id (ids are time-ordered UUIDv7, so newest last).
#[derive(Debug, Clone, Default)]
pub(crate) struct NoteStore {
    notes: Arc<RwLock<BTreeMap<String, Note>>>,
}

impl NoteStore {
    /// Number of stored notes; the readiness check reads it to prove the store answers.
    pub(crate) async fn len(&self) -> usize {
        self.notes.read().await.len()
    }
}

/// `notes.v1.NotesService` over a [`NoteStore`].
#[derive(Debug, Clone)]
pub(crate) struct Notes {
    store: NoteStore,
}

impl Notes {
    pub(crate) fn new(store: NoteStore) -> Self {
        Self { store }
    }
}

fn now() -> prost_types::Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}

fn validate(req: &CreateNoteRequest) -> Result<(), Status> {
    let title = req.title.trim();
    if title.is_empty() {
        return Err(Status::invalid_argument("title: must not be empty"));
    }
    if req.title.chars().count() > MAX_TITLE_CHARS {
        return Err(Status::invalid_argument(format!(
            "title: must be at most {MAX_TITLE_CHARS} characters"
        )));
    }
    if req.body.chars().count() > MAX_BODY_CHARS {
        return Err(Status::invalid_argument(format!(
            "body: must be at most {MAX_BODY_CHARS} characters"
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl NotesService for Notes {
    async fn create_note(
        &self,
        request: Request<CreateNoteRequest>,
    ) -> Result<Response<Note>, Status> {
        let req = request.into_inner();
        validate(&req)?;
        let note = Note {
            id: core_backend::idgen::Uuid::now_v7().to_string(),
            title: req.title,
            body: req.body,
            created_at: Some(now()),
        };
        self.store
            .notes
            .write()
            .await
            .insert(note.id.clone(), note.clone());
        tracing::info!(note.id = %note.id, "note created");
        Ok(Response::new(note))
    }

    async fn get_note(&self, request: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
        let id = request.into_inner().id;
        self.store
            .notes
            .read()
            .await
            .get(&id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("note {id:?} not found")))
    }

    async fn list_notes(
        &self,
        request: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesResponse>, Status> {
        let req = request.into_inner();
        let page_size = match usize::try_from(req.page_size) {
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(MAX_PAGE_SIZE),
            Err(_) => return Err(Status::invalid_argument("page_size: must not be negative")),
        };
        let notes = self.store.notes.read().await;
        // Newest first: walk ids backwards, starting below the page token (the last id served).
        let iter: Box<dyn Iterator<Item = &Note> + Send> = if req.page_token.is_empty() {
            Box::new(notes.values().rev())
        } else {
            Box::new(notes.range(..req.page_token.clone()).rev().map(|(_, n)| n))
        };
        let page: Vec<Note> = iter.take(page_size + 1).cloned().collect();
        let (notes, next_page_token) = if page.len() > page_size {
            let mut page = page;
            page.truncate(page_size);
            let token = page.last().map(|n| n.id.clone()).unwrap_or_default();
            (page, token)
        } else {
            (page, String::new())
        };
        Ok(Response::new(ListNotesResponse {
            notes,
            next_page_token,
        }))
    }

    async fn delete_note(
        &self,
        request: Request<DeleteNoteRequest>,
    ) -> Result<Response<()>, Status> {
        let id = request.into_inner().id;
        match self.store.notes.write().await.remove(&id) {
            Some(_) => {
                tracing::info!(note.id = %id, "note deleted");
                Ok(Response::new(()))
            }
            None => Err(Status::not_found(format!("note {id:?} not found"))),
        }
    }
}
