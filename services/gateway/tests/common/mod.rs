//! Shared test fixtures: the `gwtest.v1` proto compiled at test time with protox, a
//! hand-written dynamic gRPC service, a real server on 127.0.0.1:0 and a real HTTP client.
#![allow(dead_code, unreachable_pub, clippy::missing_panics_doc)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage, Value};

/// The encoded descriptor set of `tests/proto/gwtest/v1/kitchen.proto` and its imports.
pub fn kitchen_descriptor_set() -> Vec<u8> {
    let root = env!("CARGO_MANIFEST_DIR");
    // `encode_file_descriptor_set` keeps custom options (`google.api.http`); going through
    // `prost_types::FileDescriptorSet` would drop them.
    let mut compiler =
        protox::Compiler::new([format!("{root}/tests/proto"), format!("{root}/protos")])
            .expect("include paths exist");
    compiler
        .include_imports(true)
        .open_file("gwtest/v1/kitchen.proto")
        .expect("test proto compiles");
    compiler.encode_file_descriptor_set()
}

pub fn kitchen_pool() -> DescriptorPool {
    DescriptorPool::decode(kitchen_descriptor_set().as_slice()).expect("pool decodes")
}

/// A gRPC service written against `tower::Service` directly, decoding and encoding
/// `DynamicMessage`s: it echoes requests, and `Fail` answers with the status it is asked for.
#[derive(Clone)]
pub struct KitchenService {
    pool: DescriptorPool,
}

impl KitchenService {
    pub fn new(pool: DescriptorPool) -> Self {
        Self { pool }
    }
}

/// A body with one data frame and then trailers.
pub struct DataThenTrailers {
    chunks: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for DataThenTrailers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

pub fn frame(message: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(0);
    buf.put_u32(u32::try_from(message.len()).expect("small"));
    buf.put_slice(message);
    buf.freeze()
}

fn status_only(
    code: i32,
    message: &str,
    extra: HeaderMap,
    trailers_only: bool,
) -> Response<DataThenTrailers> {
    let mut trailers = extra;
    trailers.insert("grpc-status", HeaderValue::from(code));
    let encoded = percent_encode(message);
    trailers.insert(
        "grpc-message",
        HeaderValue::from_str(&encoded).expect("ascii"),
    );
    let mut response = if trailers_only {
        let mut r = Response::new(DataThenTrailers {
            chunks: VecDeque::new(),
            trailers: None,
        });
        r.headers_mut().extend(trailers);
        r
    } else {
        Response::new(DataThenTrailers {
            chunks: VecDeque::new(),
            trailers: Some(trailers),
        })
    };
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    response
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if (0x20..0x7f).contains(&b) && b != b'%' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `google.rpc.Status` with one `BadRequest` and one `RetryInfo`, hand-encoded.
fn status_details(code: i32, message: &str) -> String {
    use base64::Engine as _;
    #[derive(Message)]
    struct FieldViolation {
        #[prost(string, tag = "1")]
        field: String,
        #[prost(string, tag = "2")]
        description: String,
    }
    #[derive(Message)]
    struct BadRequest {
        #[prost(message, repeated, tag = "1")]
        field_violations: Vec<FieldViolation>,
    }
    #[derive(Message)]
    struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        retry_delay: Option<prost_types::Duration>,
    }
    #[derive(Message)]
    struct Status {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<prost_types::Any>,
    }
    let bad = BadRequest {
        field_violations: vec![FieldViolation {
            field: "title".into(),
            description: "must not be empty".into(),
        }],
    };
    let retry = RetryInfo {
        retry_delay: Some(prost_types::Duration {
            seconds: 30,
            nanos: 0,
        }),
    };
    let status = Status {
        code,
        message: message.into(),
        details: vec![
            prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.BadRequest".into(),
                value: bad.encode_to_vec(),
            },
            prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                value: retry.encode_to_vec(),
            },
        ],
    };
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(status.encode_to_vec())
}

impl tower::Service<Request<Body>> for KitchenService {
    type Response = Response<DataThenTrailers>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let pool = self.pool.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
                return Ok(status_only(12, "bad path", HeaderMap::new(), true));
            };
            let Some(method) = pool
                .get_service_by_name(service)
                .and_then(|s| s.methods().find(|m| m.name() == method))
            else {
                return Ok(status_only(12, "unknown method", HeaderMap::new(), true));
            };
            let mut echoed = HeaderMap::new();
            for (name, value) in request.headers() {
                let n = name.as_str();
                if !matches!(n, "content-type" | "te" | "content-length")
                    && let Ok(echo) = http::HeaderName::from_bytes(format!("echo-{n}").as_bytes())
                {
                    echoed.insert(echo, value.clone());
                }
            }
            let mut body = request
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            if body.len() < 5 {
                return Ok(status_only(13, "short frame", HeaderMap::new(), true));
            }
            body.advance(5);
            let Ok(input) = DynamicMessage::decode(method.input(), body) else {
                return Ok(status_only(13, "undecodable", HeaderMap::new(), true));
            };
            let output = method.output();
            if method.is_server_streaming() {
                return Ok(stream_reply(&input, &output, &echoed));
            }
            let reply = match output.full_name() {
                "google.protobuf.Empty" => DynamicMessage::new(output),
                "gwtest.v1.Wrapper" => {
                    let mut w = DynamicMessage::new(output);
                    let tags = input
                        .get_field_by_name("tags")
                        .map(std::borrow::Cow::into_owned);
                    w.set_field_by_name("item", Value::Message(input));
                    w.set_field_by_name("method", Value::String(method.name().into()));
                    if let Some(tags) = tags {
                        w.set_field_by_name("list", tags);
                    }
                    w
                }
                _ if method.name() == "Fail" => {
                    let get =
                        |n: &str| input.get_field_by_name(n).map(std::borrow::Cow::into_owned);
                    let code = get("code").and_then(|v| v.as_i32()).unwrap_or(2);
                    let message = get("message")
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let details = get("details").and_then(|v| v.as_bool()).unwrap_or(false);
                    let trailers_only = get("trailers_only")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false);
                    let mut extra = HeaderMap::new();
                    if details {
                        extra.insert(
                            "grpc-status-details-bin",
                            HeaderValue::from_str(&status_details(code, &message)).expect("b64"),
                        );
                    }
                    if code == 8 {
                        extra.insert("retry-after", HeaderValue::from_static("7"));
                    }
                    if code == 16 {
                        extra.insert("www-authenticate", HeaderValue::from_static("Bearer"));
                    }
                    if code == 0 {
                        let mut r = Response::new(DataThenTrailers {
                            chunks: VecDeque::from([frame(
                                &DynamicMessage::new(output).encode_to_vec(),
                            )]),
                            trailers: Some({
                                let mut t = HeaderMap::new();
                                t.insert("grpc-status", HeaderValue::from_static("0"));
                                t
                            }),
                        });
                        r.headers_mut()
                            .insert("content-type", HeaderValue::from_static("application/grpc"));
                        return Ok(r);
                    }
                    return Ok(status_only(code, &message, extra, trailers_only));
                }
                _ => {
                    debug_assert_eq!(input.descriptor(), output);
                    input
                }
            };
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            trailers.insert("x-trailer-meta", HeaderValue::from_static("from-trailer"));
            let mut response = Response::new(DataThenTrailers {
                chunks: VecDeque::from([frame(&reply.encode_to_vec())]),
                trailers: Some(trailers),
            });
            response.headers_mut().extend(echoed);
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/grpc"));
            Ok(response)
        })
    }
}

/// `small` copies of the input (`number` = index), wrapped for `Wrapper` outputs, cut into
/// 3-byte chunks; NOT_FOUND in the trailers (or trailers-only when `small` is 0) if `flag`.
fn stream_reply(
    input: &DynamicMessage,
    output: &prost_reflect::MessageDescriptor,
    echoed: &HeaderMap,
) -> Response<DataThenTrailers> {
    let get = |n: &str| input.get_field_by_name(n).map(std::borrow::Cow::into_owned);
    let count = get("small").and_then(|v| v.as_i32()).unwrap_or(0);
    let fail = get("flag").and_then(|v| v.as_bool()).unwrap_or(false);
    if count == 0 && fail {
        return status_only(5, "nothing to stream", HeaderMap::new(), true);
    }
    let mut all = BytesMut::new();
    for i in 0..count {
        let mut item = input.clone();
        item.set_field_by_name("number", Value::I32(i));
        let message = if output.full_name() == "gwtest.v1.Wrapper" {
            let mut w = DynamicMessage::new(output.clone());
            w.set_field_by_name("item", Value::Message(item));
            w
        } else {
            item
        };
        all.extend_from_slice(&frame(&message.encode_to_vec()));
    }
    let all = all.freeze();
    let chunks = (0..all.len())
        .step_by(3)
        .map(|i| all.slice(i..(i + 3).min(all.len())))
        .collect();
    let mut trailers = HeaderMap::new();
    if fail {
        trailers.insert("grpc-status", HeaderValue::from_static("5"));
        trailers.insert("grpc-message", HeaderValue::from_static("stream%20broke"));
    } else {
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
    }
    let mut response = Response::new(DataThenTrailers {
        chunks,
        trailers: Some(trailers),
    });
    response.headers_mut().extend(echoed.clone());
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    response
}

/// Serves `router` on 127.0.0.1:0 (HTTP/1.1 and h2c) and returns its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    addr
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A real HTTP/1.1 client.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
}

impl HttpClient {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            addr,
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path))
            .body(Full::new(body.into()))
            .expect("request");
        for (k, v) in headers {
            request.headers_mut().append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        let response = self
            .client
            .request(request)
            .await
            .expect("request succeeds");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], Bytes::new()).await
    }

    pub async fn post_json(&self, method: &str, path: &str, json: &str) -> Reply {
        self.send(
            method,
            path,
            &[("content-type", "application/json")],
            json.to_owned(),
        )
        .await
    }
}

/// Builds the kitchen gateway with `configure`, serves it with a custom fallback and an
/// unrelated user route, and returns a client.
pub async fn kitchen_server(
    configure: impl FnOnce(core_backend_gateway::GatewayBuilder) -> core_backend_gateway::GatewayBuilder,
) -> HttpClient {
    let pool = kitchen_pool();
    let gateway = configure(core_backend_gateway::Gateway::builder(
        kitchen_descriptor_set(),
    ))
    .build(KitchenService::new(pool))
    .expect("gateway builds");
    let router = axum::Router::new()
        .route("/user/route", axum::routing::get(|| async { "user route" }))
        .merge(gateway)
        .fallback(|| async { (http::StatusCode::NOT_FOUND, "user fallback") });
    HttpClient::new(serve(router).await)
}
