//! Starts the flagship example as a child process and talks to it over real sockets.

#![allow(dead_code, unreachable_pub)]

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// Path of the `api` example, built (or found fresh) with the same cargo features as this test
/// binary, once per test process: `cargo test --test api` alone does not build examples.
pub fn example_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/<test> -> target/<profile>/examples/api
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>");
        let features: Vec<&str> = [
            ("app", cfg!(feature = "app")),
            ("server", cfg!(feature = "server")),
            ("gateway", cfg!(feature = "gateway")),
            ("config", cfg!(feature = "config")),
            ("health", cfg!(feature = "health")),
            ("observability", cfg!(feature = "observability")),
            ("ratelimit", cfg!(feature = "ratelimit")),
            ("redis", cfg!(feature = "redis")),
            ("idgen", cfg!(feature = "idgen")),
            ("tls", cfg!(feature = "tls")),
            ("otlp", cfg!(feature = "otlp")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "--example",
            "api",
            "--no-default-features",
        ])
        .arg("--features")
        .arg(features.join(","))
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build --example api");
        assert!(status.success(), "cargo build --example api failed");
        profile_dir.join("examples").join("api")
    })
    .clone()
}

/// A running flagship; killed when dropped.
pub struct Api {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: mpsc::Receiver<String>,
    pub stdout_rest: mpsc::Receiver<String>,
}

impl Api {
    /// Starts the example on `127.0.0.1:0` with `env` on top of a clean `API_*` environment and waits
    /// for its `listening on http://…` line.
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::try_start(env).unwrap_or_else(|e| panic!("example did not start: {e}"))
    }

    /// Like [`Api::start`] but returns the collected stderr when the process exits before listening.
    pub fn try_start(env: &[(&str, &str)]) -> Result<Self, String> {
        let mut cmd = Command::new(example_binary());
        for (k, _) in std::env::vars() {
            if k.starts_with("API_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("API_SERVER__ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;

        let (err_tx, err_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        let (line_tx, line_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });

        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(line) = line_rx.recv_timeout(Duration::from_millis(100))
                && let Some(rest) = line.strip_prefix("listening on http://")
            {
                let addr = rest.trim().parse().map_err(|e| format!("{line}: {e}"))?;
                return Ok(Self {
                    child,
                    addr,
                    stderr: err_rx,
                    stdout_rest: line_rx,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                // The reader thread may still be forwarding what the process wrote before it
                // exited: take lines until it sees EOF and hangs up.
                let mut err = Vec::new();
                while let Ok(line) = err_rx.recv_timeout(Duration::from_secs(5)) {
                    err.push(line);
                }
                return Err(format!("exited with {status}: {}", err.join("\n")));
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                return Err("no `listening on` line within 60s".into());
            }
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tonic channel to the example.
pub async fn grpc_channel(api: &Api) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(api.url(""))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect gRPC")
}

/// A plain HTTP client with timeouts.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

/// One sample of the Prometheus text exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the Prometheus text exposition format (version 0.0.4) strictly: metric and label
/// names, quoted label values with `\\`, `\"` and `\n` escapes (a `}` inside a value is data),
/// a float value and an optional timestamp. Any malformed line is an error naming it.
pub fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
    fn is_name(s: &str, colon: bool) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    }
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| bad("no value"))?;
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(bad("bad metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(after) = rest.strip_prefix('{') {
            let mut chars = after.char_indices().peekable();
            loop {
                // label name up to '=' (or '}' for an empty / trailing-comma set)
                let start = chars
                    .peek()
                    .map(|&(i, _)| i)
                    .ok_or_else(|| bad("unterminated labels"))?;
                if after[start..].starts_with('}') {
                    rest = &after[start + 1..];
                    break;
                }
                let eq = after[start..]
                    .find('=')
                    .ok_or_else(|| bad("label without ="))?
                    + start;
                let key = after[start..eq].trim();
                if !is_name(key, false) {
                    return Err(bad("bad label name"));
                }
                while chars.peek().is_some_and(|&(i, _)| i <= eq) {
                    chars.next();
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(bad("label value not quoted"));
                }
                let mut value = String::new();
                loop {
                    match chars.next().map(|(_, c)| c) {
                        Some('\\') => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            _ => return Err(bad("bad escape")),
                        },
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => return Err(bad("unterminated label value")),
                    }
                }
                labels.push((key.to_owned(), value));
                match chars.next().map(|(_, c)| c) {
                    Some(',') => {}
                    Some('}') => {
                        let end = chars.peek().map_or(after.len(), |&(i, _)| i);
                        rest = &after[end..];
                        break;
                    }
                    _ => return Err(bad("expected , or }")),
                }
            }
        }
        let mut fields = rest.split_whitespace();
        let value = fields.next().ok_or_else(|| bad("no value"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| bad("bad value"))?,
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| bad("bad timestamp"))?;
        }
        if fields.next().is_some() {
            return Err(bad("trailing data"));
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(samples)
}

/// The URL in `var`, or `None` after saying the test skips; with
/// `CORE_BACKEND_REQUIRE_BACKENDS=1` a missing URL fails the test instead.
pub fn backend_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CORE_BACKEND_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "{var} is not set but CORE_BACKEND_REQUIRE_BACKENDS=1"
            );
            eprintln!("skipping: {var} is not set (run `eval \"$(scripts/backends)\"`)");
            None
        }
    }
}
