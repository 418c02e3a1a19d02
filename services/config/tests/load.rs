//! Loading behaviour on real files in a temporary directory.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use core_backend_config::{
    ConfigError, ConfigLoader, ConfigSource, DumpFormat, ErrorKind, Secret, ValidationErrors,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
struct Server {
    addr: SocketAddr,
    port: u16,
    #[serde(with = "core_backend_config::duration")]
    timeout: Duration,
    name: String,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            addr: "0.0.0.0:8080".parse().unwrap(),
            port: 1,
            timeout: Duration::from_secs(30),
            name: "default".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
struct Database {
    url: String,
    password: Secret,
    api_key: String,
    max_connections: u32,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
struct ApiConfig {
    server: Server,
    database: Database,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn loader() -> ConfigLoader<ApiConfig> {
    ConfigLoader::new()
        .env_prefix("API")
        .file_from_env("API_CONFIG")
}

/// The error of loading `path` with no environment variables.
fn file_error(path: &Path) -> ConfigError {
    loader()
        .file(path)
        .env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap_err()
}

#[test]
fn defaults_only() {
    let c = loader()
        .env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap();
    assert_eq!(c.server, Server::default());
}

#[test]
fn every_layer_overrides_the_one_below() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(
        dir.path(),
        "base.toml",
        "[server]\nname = \"base\"\nport = 2\ntimeout = \"5s\"\n[database]\nmax_connections = 3\n",
    );
    let yaml = write(
        dir.path(),
        "more.yaml",
        "server:\n  port: 3\n  name: yaml\n",
    );
    let json = write(
        dir.path(),
        "named.json",
        r#"{ "server": { "name": "json", "timeout": 7 } }"#,
    );
    let c = loader()
        .file(&base)
        .file(&yaml)
        .file(dir.path().join("absent.toml"))
        .env_vars([
            ("API_CONFIG", json.to_str().unwrap()),
            ("API_SERVER__ADDR", "127.0.0.1:0"),
            ("API_SERVER__NAME", "env"),
            ("API_DATABASE__MAX_CONNECTIONS", "9"),
        ])
        .set("server.name", "override")
        .load()
        .unwrap();
    // defaults: untouched key
    assert_eq!(c.database.url, "");
    // base file < yaml file
    assert_eq!(c.server.port, 3);
    // yaml file < file named by API_CONFIG
    assert_eq!(c.server.timeout, Duration::from_secs(7));
    // files < env (string "9" becomes a number because the field is one)
    assert_eq!(c.database.max_connections, 9);
    assert_eq!(c.server.addr, "127.0.0.1:0".parse().unwrap());
    // env < override
    assert_eq!(c.server.name, "override");
}

#[test]
fn env_error_names_key_var_expected_and_found() {
    let err = loader()
        .env_vars([("API_SERVER__ADDR", "nope")])
        .load()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidValue);
    assert_eq!(err.key.as_deref(), Some("server.addr"));
    assert_eq!(
        err.source,
        Some(ConfigSource::Env {
            var: "API_SERVER__ADDR".into()
        })
    );
    assert_eq!(
        err.expected.as_deref(),
        Some("a socket address like 127.0.0.1:8080")
    );
    assert_eq!(err.found.as_deref(), Some("\"nope\""));
    assert_eq!(
        err.to_string(),
        "invalid value for `server.addr` from env var API_SERVER__ADDR: expected a socket address like 127.0.0.1:8080, found \"nope\""
    );

    let err = loader()
        .env_vars([("API_SERVER__PORT", "70000")])
        .load()
        .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("server.port"));
    assert_eq!(
        err.expected.as_deref(),
        Some("an integer between 0 and 65535")
    );
    assert_eq!(err.found.as_deref(), Some("70000"));

    let err = loader()
        .env_vars([("API_SERVER__TIMEOUT", "soon")])
        .load()
        .unwrap_err();
    assert_eq!(
        err.source,
        Some(ConfigSource::Env {
            var: "API_SERVER__TIMEOUT".into()
        })
    );
    assert!(err.to_string().contains("a duration like"), "{err}");
}

#[test]
fn file_value_error_names_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "api.toml",
        "# settings\n[database]\nurl = \"x\"\n\n[server]\nname = \"a\"\naddr = \"localhost\"\n",
    );
    let err = file_error(&path);
    assert_eq!(err.key.as_deref(), Some("server.addr"));
    assert_eq!(
        err.source,
        Some(ConfigSource::File {
            path: path.clone(),
            line: Some(7),
            column: None
        })
    );
    assert_eq!(
        err.to_string(),
        format!(
            "invalid value for `server.addr` from file {}:7: expected a socket address like 127.0.0.1:8080, found \"localhost\"",
            path.display()
        )
    );

    let yaml = write(dir.path(), "api.yaml", "server:\n  port: many\n");
    let err = file_error(&yaml);
    assert_eq!(
        err.source,
        Some(ConfigSource::File {
            path: yaml,
            line: Some(2),
            column: None
        })
    );
    assert_eq!(err.found.as_deref(), Some("\"many\""));

    let json = write(
        dir.path(),
        "api.json",
        "{\n \"server\": {\n  \"port\": true\n }\n}\n",
    );
    let err = file_error(&json);
    assert_eq!(
        err.source,
        Some(ConfigSource::File {
            path: json,
            line: Some(3),
            column: None
        })
    );
    assert_eq!(err.found.as_deref(), Some("true"));
}

#[test]
fn syntax_errors_report_parser_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, line) in [
        ("bad.toml", "[server]\nport = 1\nname = \n", 3),
        (
            "bad.json",
            "{\n  \"server\": {\n    \"port\": 1,\n  }\n}",
            4,
        ),
        ("bad.yaml", "server:\n  port: 1\n name: [x\n", 3),
    ] {
        let path = write(dir.path(), name, text);
        let err = file_error(&path);
        assert_eq!(err.kind, ErrorKind::Syntax, "{name}: {err}");
        let Some(ConfigSource::File {
            path: p,
            line: Some(l),
            column: Some(_),
        }) = &err.source
        else {
            panic!("{name}: no position in {err:?}");
        };
        assert_eq!(p, &path);
        assert_eq!(*l, line, "{name}: {err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("syntax error in file {}:{line}:", path.display())),
            "{shown}"
        );
        assert!(!shown.contains('\n'), "{shown}");
    }
}

#[test]
fn missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.toml");
    // Optional: fine.
    loader()
        .file(&absent)
        .env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap();
    // Required: error.
    let err = loader()
        .required_file(&absent)
        .env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::FileNotFound);
    // Named by API_CONFIG: explicit, so an error that says so.
    let err = loader()
        .env_vars([("API_CONFIG", absent.to_str().unwrap())])
        .load()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::FileNotFound);
    assert!(err.to_string().contains("named by API_CONFIG"), "{err}");
    // Empty API_CONFIG: no file layer.
    loader().env_vars([("API_CONFIG", "")]).load().unwrap();
    // Unknown extension.
    let ini = write(dir.path(), "api.ini", "x=1");
    let err = file_error(&ini);
    assert_eq!(err.kind, ErrorKind::File);
    assert!(err.to_string().contains(".toml"), "{err}");
}

#[test]
fn missing_and_unknown_keys() {
    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        #[serde(default)]
        port: u16,
    }
    let err = ConfigLoader::<Strict>::new()
        .env_prefix("APP")
        .env_vars([("APP_PROT", "1")])
        .load()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownKey);
    assert_eq!(err.key.as_deref(), Some("prot"));
    assert_eq!(
        err.source,
        Some(ConfigSource::Env {
            var: "APP_PROT".into()
        })
    );
    assert_eq!(err.expected.as_deref(), Some("one of `port`"));

    #[derive(Debug, Serialize, Deserialize)]
    struct Needs {
        db: Db,
    }
    #[derive(Debug, Serialize, Deserialize)]
    struct Db {
        // An empty default is not written out, so no layer provides the key.
        #[serde(skip_serializing_if = "String::is_empty")]
        url: String,
    }
    impl Default for Needs {
        fn default() -> Self {
            Self {
                db: Db { url: String::new() },
            }
        }
    }
    let err = ConfigLoader::<Needs>::new()
        .env_prefix("APP")
        .env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::MissingKey);
    assert_eq!(err.key.as_deref(), Some("db.url"));
    assert!(err.to_string().contains("APP_DB__URL"), "{err}");
}

#[test]
fn validation_errors_name_key_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "api.toml", "[server]\nport = 0\n");
    let err = loader()
        .file(&path)
        .env_vars([("API_DATABASE__MAX_CONNECTIONS", "0")])
        .validate(|c: &ApiConfig| {
            let mut errors = ValidationErrors::new();
            if c.server.port == 0 {
                errors.add("server.port", "a non-zero port");
            }
            if c.database.max_connections == 0 {
                errors.add("database.max_connections", "at least 1 connection");
            }
            errors.into_result()
        })
        .load()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Validation);
    assert_eq!(err.count(), 2);
    assert_eq!(
        err.to_string(),
        format!(
            "invalid value for `server.port` from file {}:2: expected a non-zero port, found 0 (and 1 more error)",
            path.display()
        )
    );
    let second = &err.related[0];
    assert_eq!(
        second.source,
        Some(ConfigSource::Env {
            var: "API_DATABASE__MAX_CONNECTIONS".into()
        })
    );
    assert_eq!(second.found.as_deref(), Some("\"0\""));
}

#[test]
fn secrets_are_redacted_everywhere() {
    let loader = loader().env_vars([
        ("API_DATABASE__PASSWORD", "hunter2"),
        ("API_DATABASE__API_KEY", "k-123"),
        ("API_DATABASE__URL", "postgres://db"),
    ]);
    let c = loader.load().unwrap();
    assert_eq!(c.database.password.expose_secret(), "hunter2");
    assert!(!format!("{c:?}").contains("hunter2"));
    for format in [DumpFormat::Toml, DumpFormat::Json] {
        let dump = loader.dump(&c, format).unwrap();
        assert!(
            !dump.contains("hunter2") && !dump.contains("k-123"),
            "{dump}"
        );
        assert!(
            dump.contains("[REDACTED]") && dump.contains("postgres://db"),
            "{dump}"
        );
    }
    let explained = loader.explain().unwrap();
    let pw = explained.get("database.password").unwrap();
    assert_eq!(pw.value, "\"[REDACTED]\"");
    assert_eq!(
        pw.source,
        ConfigSource::Env {
            var: "API_DATABASE__PASSWORD".into()
        }
    );
    assert_eq!(
        explained.get("server.port").unwrap().source,
        ConfigSource::Default
    );
    let text = explained.to_string();
    assert!(
        text.contains("database.url = \"postgres://db\"  # env var API_DATABASE__URL"),
        "{text}"
    );
    assert!(!text.contains("hunter2"));

    // Secrets never leak through error messages either.
    let err = loader
        .clone()
        .set("database.api_key", serde_json::json!([1]))
        .load()
        .unwrap_err();
    assert!(err.to_string().contains("[REDACTED]"), "{err}");

    // The sensitive words are configurable.
    let open = loader.clone().sensitive_keys(["password"]);
    let dump = open.dump(&c, DumpFormat::Json).unwrap();
    assert!(
        dump.contains("k-123") && !dump.contains("hunter2"),
        "{dump}"
    );
}

#[test]
fn override_errors_are_reported() {
    let err = loader()
        .env_vars(Vec::<(String, String)>::new())
        .set("server..x", 1)
        .load()
        .unwrap_err();
    assert_eq!(err.source, Some(ConfigSource::Override));
    let err = loader()
        .env_vars(Vec::<(String, String)>::new())
        .set("server.port", "x")
        .load()
        .unwrap_err();
    assert_eq!(err.source, Some(ConfigSource::Override));
    assert_eq!(err.key.as_deref(), Some("server.port"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_env_values_never_panic(key in "[A-Za-z_]{0,12}(__[A-Za-z_]{0,8}){0,3}", value in "\\PC{0,40}") {
        let name = format!("API_{key}");
        let result = loader().env_vars([(name, value)]).load();
        if let Err(e) = result {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn arbitrary_file_contents_never_panic(text in "\\PC{0,200}", ext in prop::sample::select(vec!["toml", "yaml", "json"])) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &format!("c.{ext}"), &text);
        if let Err(e) = loader().file(&path).env_vars(Vec::<(String, String)>::new()).load() {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn structured_file_contents_never_panic(
        lines in prop::collection::vec("(\\[server\\]|\\[database\\]|port = [0-9a-z\"]{1,6}|addr = \"[0-9.:a-z]{0,16}\"|max_connections = -?[0-9]{1,12}|timeout = \"[0-9a-z.]{0,6}\")", 0..8)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "c.toml", &lines.join("\n"));
        if let Err(e) = loader().file(&path).env_vars(Vec::<(String, String)>::new()).load() {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn deeply_nested_files_are_errors_not_stack_overflows() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 100_000;
    // Bigger than the 4 MiB limit: refused without being parsed.
    let big = write(
        dir.path(),
        "big.toml",
        &format!("a = \"{}\"", "x".repeat(5 << 20)),
    );
    let err = file_error(&big);
    assert_eq!(err.kind, ErrorKind::File);
    assert!(err.to_string().contains("larger than 4 MiB"), "{err}");
    for (name, text) in [
        (
            "deep.toml",
            format!("a = {}{}", "[".repeat(depth), "]".repeat(depth)),
        ),
        (
            "deep2.toml",
            format!("a = {}{}", "{b = ".repeat(depth), "}".repeat(depth)),
        ),
        (
            "deep.json",
            format!("{{\"a\": {}{}}}", "[".repeat(depth), "]".repeat(depth)),
        ),
        (
            "deep.yaml",
            format!("a: {}{}", "[".repeat(depth), "]".repeat(depth)),
        ),
    ] {
        let path = write(dir.path(), name, &text);
        let result = loader()
            .file(&path)
            .env_vars(Vec::<(String, String)>::new())
            .load();
        assert!(result.is_err(), "{name} must be rejected");
    }
}

#[test]
fn types_without_serialize_load_without_a_defaults_layer() {
    #[derive(Debug, Deserialize)]
    struct Plain {
        #[serde(default = "default_port")]
        port: u16,
        name: String,
    }
    fn default_port() -> u16 {
        7
    }
    let c: Plain = ConfigLoader::without_defaults()
        .env_prefix("APP")
        .env_vars([("APP_NAME", "x")])
        .load()
        .unwrap();
    assert_eq!((c.port, c.name.as_str()), (7, "x"));
    let err = ConfigLoader::<Plain>::without_defaults()
        .env_prefix("APP")
        .env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::MissingKey);
    assert_eq!(err.key.as_deref(), Some("name"));
    assert!(err.to_string().contains("APP_NAME"), "{err}");
}
