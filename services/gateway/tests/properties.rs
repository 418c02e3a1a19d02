//! Property tests: the template parser and matcher never panic and agree with the templates
//! they are given; JSON → proto → JSON through the gateway is the identity on random messages.

mod common;

use std::fmt::Write as _;

use axum::body::Body;
use core_backend_gateway::{Gateway, PathTemplate};
use http_body_util::BodyExt;
use proptest::prelude::*;
use prost_reflect::{DynamicMessage, MapKey, SerializeOptions, Value};
use tower::ServiceExt;

// ---------------------------------------------------------------- templates

#[derive(Debug, Clone)]
enum Seg {
    Lit(String),
    Star,
    /// A variable: field name and its sub-pattern (`None` = `{name}`); each element is
    /// `Some(literal)` or `None` for `*`.
    Var(String, Option<Vec<Option<String>>>),
}

#[derive(Debug, Clone)]
struct Gen {
    segs: Vec<Seg>,
    /// Trailing `**` (`Some(Some(name))` = `{name=**}`, `Some(None)` = bare `**`).
    #[allow(clippy::option_option)] // none / bare `**` / `{name=**}`
    tail: Option<Option<String>>,
    verb: Option<String>,
}

fn literal() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._~é|^-]{1,6}"
}

fn seg() -> impl Strategy<Value = Seg> {
    prop_oneof![
        literal().prop_map(Seg::Lit),
        Just(Seg::Star),
        (
            "[a-z][a-z0-9_]{0,5}",
            proptest::option::of(proptest::collection::vec(
                proptest::option::of(literal()),
                1..4
            ))
        )
            .prop_map(|(n, p)| Seg::Var(n, p)),
    ]
}

fn gen_template() -> impl Strategy<Value = Gen> {
    (
        proptest::collection::vec(seg(), 1..6),
        proptest::option::of(proptest::option::of("[a-z][a-z0-9_]{0,5}")),
        proptest::option::of("[a-zA-Z][a-zA-Z0-9]{0,6}"),
    )
        .prop_map(|(segs, tail, verb)| {
            // Variable names must be unique: suffix them with their position.
            let mut n = 0;
            let mut rename = |name: String| {
                n += 1;
                format!("{name}{n}")
            };
            let segs = segs
                .into_iter()
                .map(|s| match s {
                    Seg::Var(name, p) => Seg::Var(rename(name), p),
                    other => other,
                })
                .collect();
            let tail = tail.map(|t| t.map(&mut rename));
            Gen { segs, tail, verb }
        })
}

impl Gen {
    fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.segs {
            out.push('/');
            match s {
                Seg::Lit(l) => out.push_str(l),
                Seg::Star => out.push('*'),
                Seg::Var(n, None) => write!(out, "{{{n}}}").unwrap_or(()),
                Seg::Var(n, Some(parts)) => {
                    let parts: Vec<&str> =
                        parts.iter().map(|p| p.as_deref().unwrap_or("*")).collect();
                    write!(out, "{{{n}={}}}", parts.join("/")).unwrap_or(());
                }
            }
        }
        match &self.tail {
            Some(Some(n)) => write!(out, "/{{{n}=**}}").unwrap_or(()),
            Some(None) => out.push_str("/**"),
            None => {}
        }
        if let Some(v) = &self.verb {
            write!(out, ":{v}").unwrap_or(());
        }
        out
    }

    fn var_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .segs
            .iter()
            .filter_map(|s| {
                if let Seg::Var(n, _) = s {
                    Some(n.clone())
                } else {
                    None
                }
            })
            .collect();
        if let Some(Some(n)) = &self.tail {
            names.push(n.clone());
        }
        names
    }
}

/// Percent-encodes everything but unreserved characters (so `/` and `:` are encoded).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").unwrap_or(());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics(s in "\\PC{0,40}") {
        let _ = PathTemplate::parse(&s);
    }

    #[test]
    fn parser_never_panics_on_template_alphabet(s in "[/{}*=:.a-z0-9%]{0,40}") {
        if let Ok(t) = PathTemplate::parse(&s) {
            prop_assert_eq!(t.as_str(), s.as_str());
            let _ = t.axum_path();
        }
    }

    #[test]
    fn matcher_never_panics(t in "[/{}*=:.a-z]{1,30}", p in "[/a-z%0-9:.]{0,40}") {
        if let Ok(t) = PathTemplate::parse(&t) {
            let _ = t.match_path(&p);
        }
    }

    #[test]
    fn generated_templates_parse_and_round_trip(g in gen_template()) {
        let text = g.render();
        let t = PathTemplate::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(t.to_string(), text.clone());
        let names: Vec<String> = t.field_paths().map(|p| p.join(".")).collect();
        prop_assert_eq!(names, g.var_names());
        prop_assert_eq!(t.verb(), g.verb.as_deref());
        let axum = t.axum_path();
        prop_assert!(axum.starts_with('/'));
        // Parsing is deterministic: the same text gives the same template.
        prop_assert_eq!(PathTemplate::parse(&text).ok(), Some(t));
    }

    #[test]
    fn matcher_agrees_with_generated_paths(
        g in gen_template(),
        values in proptest::collection::vec("\\PC{1,8}", 40),
        tail_len in 0usize..4,
    ) {
        let t = PathTemplate::parse(&g.render()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut values = values.into_iter();
        let mut next = || values.next().unwrap_or_else(|| "v".to_owned());
        let mut path = String::new();
        let mut expected = Vec::new();
        for s in &g.segs {
            match s {
                Seg::Lit(l) => write!(path, "/{}", encode(l)).unwrap_or(()),
                Seg::Star => write!(path, "/{}", encode(&next())).unwrap_or(()),
                Seg::Var(_, None) => {
                    let v = next();
                    write!(path, "/{}", encode(&v)).unwrap_or(());
                    expected.push(v);
                }
                Seg::Var(_, Some(parts)) => {
                    let mut captured = Vec::new();
                    for p in parts {
                        let raw = p.as_deref().map_or_else(|| encode(&next()), encode);
                        write!(path, "/{raw}").unwrap_or(());
                        // Multi-segment: decoded except `%2F`.
                        captured.push(percent_decode_keep_slash(&raw));
                    }
                    if parts.len() == 1 && parts[0].is_none() {
                        expected.push(captured.join("/").replace("%2F", "/"));
                    } else {
                        expected.push(captured.join("/"));
                    }
                }
            }
        }
        if let Some(var) = &g.tail {
            let mut captured = Vec::new();
            for _ in 0..tail_len {
                let raw = encode(&next());
                write!(path, "/{raw}").unwrap_or(());
                captured.push(percent_decode_keep_slash(&raw));
            }
            if var.is_some() {
                expected.push(captured.join("/"));
            }
        }
        if let Some(v) = &g.verb {
            write!(path, ":{v}").unwrap_or(());
        }
        let got = t.match_path(&path);
        prop_assert!(got.is_some(), "{} did not match {}", path, t);

        // axum routes the same path to the template's route (a catch-all cannot be empty).
        let empty_tail = g.tail.is_some() && tail_len == 0;
        if !empty_tail {
            let router: axum::Router =
                axum::Router::new().route(&t.axum_path(), axum::routing::get(|| async { "hit" }));
            let request = http::Request::get(&path).body(Body::empty()).expect("valid URI");
            let status = runtime().block_on(router.oneshot(request)).expect("infallible").status();
            prop_assert_eq!(status, 200, "axum route {} did not route {}", t.axum_path(), path);
        }
        let got: Vec<String> = got.unwrap_or_default().into_iter().map(|(_, v)| v).collect();
        prop_assert_eq!(got, expected, "path {}", path);

        // Changing one literal segment breaks the match.
        if let Some(Seg::Lit(l)) = g.segs.first() {
            let l = encode(l);
            let broken = path.replacen(&format!("/{l}"), &format!("/{l}X"), 1);
            prop_assert!(t.match_path(&broken).is_none(), "{} matched {}", broken, t);
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fn percent_decode_keep_slash(raw: &str) -> String {
    raw.split("%2F")
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join("%2F")
}

// ---------------------------------------------------------------- transcoder

#[derive(Debug, Clone)]
struct Random {
    name: String,
    big: i64,
    ubig: u64,
    small: i32,
    flag: bool,
    ratio: f64,
    color: i32,
    tags: Vec<String>,
    nums: Vec<i32>,
    inner: Option<(String, i32, i32)>,
    at: Option<(i64, i32)>,
    ttl: Option<(i64, i32)>,
    maybe: Option<i32>,
    choice: Option<Result<String, i32>>,
    counts: Vec<(String, i32)>,
    blob: Vec<u8>,
    colors: Vec<i32>,
    fl: f32,
    by_id: Vec<(i64, String)>,
    signed_small: i32,
    fixed: u64,
}

fn random() -> impl Strategy<Value = Random> {
    let a = (
        "\\PC{0,12}",
        any::<i64>(),
        any::<u64>(),
        any::<i32>(),
        any::<bool>(),
        -1e300f64..1e300,
        0i32..4,
        proptest::collection::vec("\\PC{0,6}", 0..4),
        proptest::collection::vec(any::<i32>(), 0..4),
        proptest::option::of(("\\PC{0,6}", any::<i32>(), 0i32..4)),
    );
    let b = (
        proptest::option::of((0i64..253_402_300_799, 0i32..1_000_000_000)),
        proptest::option::of((0i64..315_576_000_000, 0i32..1_000_000_000)),
        proptest::option::of(any::<i32>()),
        proptest::option::of(prop_oneof![
            "\\PC{0,6}".prop_map(Ok),
            any::<i32>().prop_map(Err)
        ]),
        proptest::collection::vec(("[a-z]{1,4}", any::<i32>()), 0..3),
        proptest::collection::vec(any::<u8>(), 0..12),
        proptest::collection::vec(0i32..4, 0..4),
        -1e30f32..1e30,
        proptest::collection::vec((any::<i64>(), "\\PC{0,4}"), 0..3),
        any::<i32>(),
        any::<u64>(),
    );
    (a, b).prop_map(|(a, b)| Random {
        name: a.0,
        big: a.1,
        ubig: a.2,
        small: a.3,
        flag: a.4,
        ratio: a.5,
        color: a.6,
        tags: a.7,
        nums: a.8,
        inner: a.9,
        at: b.0,
        ttl: b.1,
        maybe: b.2,
        choice: b.3,
        counts: b.4,
        blob: b.5,
        colors: b.6,
        fl: b.7,
        by_id: b.8,
        signed_small: b.9,
        fixed: b.10,
    })
}

fn to_message(pool: &prost_reflect::DescriptorPool, r: &Random) -> DynamicMessage {
    let desc = pool
        .get_message_by_name("gwtest.v1.Kitchen")
        .expect("Kitchen");
    let inner_desc = pool.get_message_by_name("gwtest.v1.Inner").expect("Inner");
    let msg = |name: &str, fields: Vec<(&str, Value)>| {
        let mut m = DynamicMessage::new(pool.get_message_by_name(name).expect("wkt"));
        for (k, v) in fields {
            m.set_field_by_name(k, v);
        }
        Value::Message(m)
    };
    let inner = |name: &str, count: i32, color: i32| {
        let mut m = DynamicMessage::new(inner_desc.clone());
        m.set_field_by_name("name", Value::String(name.to_owned()));
        m.set_field_by_name("count", Value::I32(count));
        m.set_field_by_name("color", Value::EnumNumber(color));
        Value::Message(m)
    };
    let mut m = DynamicMessage::new(desc);
    m.set_field_by_name("name", Value::String(r.name.clone()));
    m.set_field_by_name("big", Value::I64(r.big));
    m.set_field_by_name("ubig", Value::U64(r.ubig));
    m.set_field_by_name("small", Value::I32(r.small));
    m.set_field_by_name("flag", Value::Bool(r.flag));
    m.set_field_by_name("ratio", Value::F64(r.ratio));
    m.set_field_by_name("color", Value::EnumNumber(r.color));
    m.set_field_by_name(
        "tags",
        Value::List(r.tags.iter().cloned().map(Value::String).collect()),
    );
    m.set_field_by_name(
        "nums",
        Value::List(r.nums.iter().copied().map(Value::I32).collect()),
    );
    if let Some((n, c, col)) = &r.inner {
        m.set_field_by_name("inner", inner(n, *c, *col));
    }
    if let Some((s, n)) = r.at {
        m.set_field_by_name(
            "at",
            msg(
                "google.protobuf.Timestamp",
                vec![("seconds", Value::I64(s)), ("nanos", Value::I32(n))],
            ),
        );
    }
    if let Some((s, n)) = r.ttl {
        m.set_field_by_name(
            "ttl",
            msg(
                "google.protobuf.Duration",
                vec![("seconds", Value::I64(s)), ("nanos", Value::I32(n))],
            ),
        );
    }
    if let Some(v) = r.maybe {
        m.set_field_by_name(
            "maybe",
            msg("google.protobuf.Int32Value", vec![("value", Value::I32(v))]),
        );
    }
    match &r.choice {
        Some(Ok(t)) => m.set_field_by_name("text", Value::String(t.clone())),
        Some(Err(n)) => m.set_field_by_name("number", Value::I32(*n)),
        None => {}
    }
    m.set_field_by_name(
        "counts",
        Value::Map(
            r.counts
                .iter()
                .map(|(k, v)| (MapKey::String(k.clone()), Value::I32(*v)))
                .collect(),
        ),
    );
    m.set_field_by_name("blob", Value::Bytes(r.blob.clone().into()));
    m.set_field_by_name(
        "colors",
        Value::List(r.colors.iter().copied().map(Value::EnumNumber).collect()),
    );
    m.set_field_by_name("fl", Value::F32(r.fl));
    m.set_field_by_name(
        "by_id",
        Value::Map(
            r.by_id
                .iter()
                .map(|(k, n)| (MapKey::I64(*k), inner(n, 0, 0)))
                .collect(),
        ),
    );
    m.set_field_by_name("signed_small", Value::I32(r.signed_small));
    m.set_field_by_name("fixed", Value::U64(r.fixed));
    m
}

/// The reference JSON, written as text (as the gateway does: `f32` values print with `f32`
/// precision) and read back.
fn json_of(m: &DynamicMessage, proto_names: bool) -> serde_json::Value {
    let mut out = serde_json::Serializer::new(Vec::new());
    m.serialize_with_options(
        &mut out,
        &SerializeOptions::new().use_proto_field_name(proto_names),
    )
    .expect("serializes");
    serde_json::from_slice(&out.into_inner()).expect("valid JSON")
}

#[test]
fn json_round_trips_through_the_gateway() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let pool = common::kitchen_pool();
    let camel: axum::Router = Gateway::builder(common::kitchen_descriptor_set())
        .build(common::KitchenService::new(pool.clone()))
        .expect("builds")
        .into_router();
    let snake: axum::Router = Gateway::builder(common::kitchen_descriptor_set())
        .use_proto_names(true)
        .build(common::KitchenService::new(pool.clone()))
        .expect("builds")
        .into_router();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(128));
    runner
        .run(&(random(), any::<bool>()), |(r, proto_names)| {
            let message = to_message(&pool, &r);
            let sent = json_of(&message, proto_names);
            let router = if proto_names {
                snake.clone()
            } else {
                camel.clone()
            };
            let body = serde_json::to_vec(&sent).expect("json");
            let received: serde_json::Value = rt.block_on(async move {
                let request = http::Request::post("/v1/echo")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .expect("request");
                let response = router.oneshot(request).await.expect("infallible");
                assert_eq!(response.status(), 200);
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                serde_json::from_slice(&bytes).expect("json")
            });
            prop_assert_eq!(&received, &sent);
            // And back into the same message.
            let decoded = DynamicMessage::deserialize(message.descriptor(), received)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Compare after a binary round trip, which drops explicitly set default values.
            let normalize = |m: &DynamicMessage| {
                DynamicMessage::decode(m.descriptor(), m.encode_to_vec().as_slice())
                    .expect("decodes")
            };
            prop_assert_eq!(normalize(&decoded), normalize(&message));
            Ok(())
        })
        .expect("round trip holds");
}

use prost::Message as _;
use prost_reflect::ReflectMessage as _;
