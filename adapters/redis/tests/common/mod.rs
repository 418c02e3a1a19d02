//! Helpers shared by the Redis adapter's integration tests.

#![allow(dead_code, unreachable_pub)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use core_backend_redis::RedisConfig;

/// Whether CI demands every backend (`CORE_BACKEND_REQUIRE_BACKENDS=1`).
pub fn require() -> bool {
    std::env::var("CORE_BACKEND_REQUIRE_BACKENDS").is_ok_and(|v| v == "1")
}

/// `REDIS_URL`, or `None` after saying the test skips (a failure when backends are required).
pub fn redis_url() -> Option<String> {
    let url = std::env::var("REDIS_URL").ok();
    if url.is_none() {
        assert!(
            !require(),
            "REDIS_URL is not set and CORE_BACKEND_REQUIRE_BACKENDS=1"
        );
        eprintln!("skipping: REDIS_URL is not set");
    }
    url
}

/// A configuration on `url` whose keys live under `prefix`.
pub fn config(url: &str, prefix: &str) -> RedisConfig {
    let mut c = RedisConfig::new(url);
    prefix.clone_into(&mut c.key_prefix);
    c
}

/// A key prefix no other test run uses.
pub fn unique_prefix() -> String {
    format!("cb-test-{:016x}", fastrand::u64(..))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a disposable redis-server on `port`; `None` when the binary is not installed.
pub async fn start_redis(port: u16) -> Option<tokio::process::Child> {
    let child = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) if require() => panic!("redis-server could not be started: {e}"),
        Err(e) => {
            eprintln!("skipping: redis-server could not be started: {e}");
            return None;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "redis-server did not start on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some(child)
}
