//! Compiles `proto/` with protox (pure Rust; no `protoc` needed) and generates the tonic code.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // `google/api/{http,annotations}.proto` come from the gateway crate, which ships them.
    let mut compiler = protox::Compiler::new(["proto", "../../services/gateway/protos"])?;
    compiler
        .include_imports(true)
        .open_file("notes/v1/notes.proto")?;
    // Encode from protox's own descriptors: a round trip through `prost_types` would drop
    // custom options such as `google.api.http`, which the REST gateway reads.
    let descriptor_path = out.join("notes_descriptor.bin");
    std::fs::write(&descriptor_path, compiler.encode_file_descriptor_set())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=../../services/gateway/protos");
    Ok(())
}
