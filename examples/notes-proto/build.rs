//! Compiles `proto/` with protox (pure Rust; no `protoc` needed) and generates the tonic code.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::compile(["notes/v1/notes.proto"], ["proto"])?;
    let descriptor_path = out.join("notes_descriptor.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&fds))?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
