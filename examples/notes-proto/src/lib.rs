//! Generated protobuf and gRPC code of the `notes.v1` API used by the `api` example and the
//! end-to-end tests, plus its encoded `FileDescriptorSet` (which the REST gateway and
//! gRPC server reflection read).

/// `notes.v1`: the notes API.
#[allow(missing_docs, unreachable_pub, clippy::pedantic)]
pub mod notes_v1 {
    tonic::include_proto!("notes.v1");
}

/// `google.api`: HTTP annotations (only needed so the descriptor set is complete).
#[allow(missing_docs, unreachable_pub, clippy::pedantic)]
pub mod google_api {
    tonic::include_proto!("google.api");
}

/// The encoded `google.protobuf.FileDescriptorSet` of `notes/v1/notes.proto` and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/notes_descriptor.bin"));

/// The proto source files, for documentation and tests.
pub const NOTES_PROTO: &str = include_str!("../proto/notes/v1/notes.proto");
