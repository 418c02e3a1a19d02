//! The `google/api` proto sources the annotations need, for users who compile their protos
//! with protox (or protoc) and do not vendor them.
//!
//! ```
//! use core_backend_gateway::protos;
//!
//! let dir = std::env::temp_dir().join(format!("gateway-protos-{}", std::process::id()));
//! protos::write_to(&dir)?;
//! assert!(dir.join("google/api/http.proto").exists());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::path::Path;

/// `google/api/http.proto`: the `HttpRule` message.
pub const GOOGLE_API_HTTP: &str = include_str!("../protos/google/api/http.proto");

/// `google/api/annotations.proto`: the `google.api.http` method option (field 72295728).
pub const GOOGLE_API_ANNOTATIONS: &str = include_str!("../protos/google/api/annotations.proto");

/// Writes `google/api/http.proto` and `google/api/annotations.proto` under `include_dir`,
/// so it can be passed as an include path to protox or protoc.
pub fn write_to(include_dir: &Path) -> std::io::Result<()> {
    let dir = include_dir.join("google").join("api");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("http.proto"), GOOGLE_API_HTTP)?;
    std::fs::write(dir.join("annotations.proto"), GOOGLE_API_ANNOTATIONS)
}
