//! Prints the errors a few bad inputs produce (`cargo run -p core-backend-config --example config_errors`).

use std::net::SocketAddr;

use core_backend_config::{ConfigLoader, Secret};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, Serialize)]
#[serde(default)]
struct Server {
    addr: SocketAddr,
    port: u16,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            addr: ([0, 0, 0, 0], 8080).into(),
            port: 8080,
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct Database {
    url: String,
    password: Secret,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct ApiConfig {
    server: Server,
    database: Database,
}

fn main() {
    let dir = std::env::temp_dir().join(format!(
        "core-backend-config-example-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases: [(&str, &str); 5] = [
        ("api.toml", "[server]\naddr = 127.0.0.1:8080\n"),
        ("api.toml", "[server]\nport = 8080\naddr = \"localhost\"\n"),
        ("api.yaml", "server:\n  port: -1\n"),
        ("api.json", "{ \"server\": { \"port\": 1 }, }"),
        ("api.toml", "[database]\npassword = 5\n"),
    ];
    for (name, text) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        let result = ConfigLoader::<ApiConfig>::new()
            .env_prefix("API")
            .env_vars([("API_CONFIG", path.to_str().unwrap_or_default())])
            .file_from_env("API_CONFIG")
            .load();
        match result {
            Ok(_) => println!("ok"),
            Err(e) => println!("{e}"),
        }
    }
    let loader = ConfigLoader::<ApiConfig>::new()
        .env_prefix("API")
        .env_vars([
            ("API_SERVER__ADDR", "127.0.0.1:0"),
            ("API_DATABASE__PASSWORD", "hunter2"),
        ]);
    match loader.explain() {
        Ok(explained) => print!("{explained}"),
        Err(e) => println!("{e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
