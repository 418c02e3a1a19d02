//! core-backend: production building blocks for Rust backends.
