//! Calling the in-process gRPC service: framing, metadata, trailers.

use axum::body::Body;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use tonic::Code;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::error::Rejection;
use crate::status::code_from_transport_status;

/// The type-erased gRPC service the gateway calls.
pub(crate) type GrpcService = BoxCloneSyncService<Request<Body>, Response<Body>, tower::BoxError>;

/// What the gRPC service answered.
#[derive(Debug)]
pub(crate) struct GrpcReply {
    pub(crate) code: Code,
    pub(crate) message: String,
    pub(crate) details: Option<HeaderValue>,
    /// The first (and for unary calls, only) message, unframed.
    pub(crate) payload: Option<Bytes>,
    /// Response headers and trailers, merged.
    pub(crate) metadata: HeaderMap,
}

/// Prefixes `message` with the 5-byte gRPC frame header (uncompressed).
pub(crate) fn frame(message: &[u8]) -> Result<Bytes, Rejection> {
    let len = u32::try_from(message.len()).map_err(|_| Rejection::Upstream {
        code: Code::ResourceExhausted,
        message: "request message exceeds 4 GiB".into(),
    })?;
    let mut buf = BytesMut::with_capacity(message.len() + 5);
    buf.put_u8(0);
    buf.put_u32(len);
    buf.put_slice(message);
    Ok(buf.freeze())
}

/// Reads the first frame of a gRPC body.
pub(crate) fn unframe(mut body: Bytes) -> Result<Option<Bytes>, String> {
    if body.is_empty() {
        return Ok(None);
    }
    if body.len() < 5 {
        return Err("truncated gRPC frame header".into());
    }
    let compressed = body.get_u8();
    let len = body.get_u32() as usize;
    if compressed != 0 {
        return Err("compressed gRPC response (the gateway does not negotiate compression)".into());
    }
    if body.len() < len {
        return Err(format!(
            "truncated gRPC frame: {len} bytes announced, {} present",
            body.len()
        ));
    }
    Ok(Some(body.split_to(len)))
}

/// The first part of a reply: either complete (an HTTP error or a trailers-only status) or
/// headers plus a body of frames still to be read.
pub(crate) enum Started {
    Done(GrpcReply),
    Body { metadata: HeaderMap, body: Body },
}

/// Sends a call and returns once the response headers are in.
pub(crate) async fn start(
    service: &GrpcService,
    path: &str,
    message: Bytes,
    metadata: HeaderMap,
) -> Result<Started, Rejection> {
    let mut request = Request::new(Body::from(message));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|e| Rejection::Upstream {
            code: Code::Internal,
            message: e.to_string(),
        })?;
    *request.version_mut() = http::Version::HTTP_2;
    let headers = request.headers_mut();
    headers.extend(metadata);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));

    // `oneshot` drives a clone of the service to readiness before calling it.
    let response = service
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| Rejection::Upstream {
            code: Code::Unavailable,
            message: format!("gRPC service failed: {e}"),
        })?;
    let (parts, body) = response.into_parts();
    let metadata = parts.headers;
    if parts.status != StatusCode::OK {
        return Ok(Started::Done(GrpcReply {
            code: code_from_transport_status(parts.status),
            message: format!("gRPC service answered HTTP {}", parts.status),
            details: None,
            payload: None,
            metadata,
        }));
    }
    // Trailers-only responses carry the status in the headers and have no body worth reading.
    if metadata.contains_key("grpc-status") {
        return Ok(Started::Done(reply(metadata, None)));
    }
    Ok(Started::Body { metadata, body })
}

/// Sends one unary call and collects the reply.
pub(crate) async fn call(
    service: &GrpcService,
    path: &str,
    message: Bytes,
    metadata: HeaderMap,
) -> Result<GrpcReply, Rejection> {
    let (mut metadata, body) = match start(service, path, message, metadata).await? {
        Started::Done(reply) => return Ok(reply),
        Started::Body { metadata, body } => (metadata, body),
    };
    let collected = body.collect().await.map_err(|e| Rejection::Upstream {
        code: Code::Unavailable,
        message: format!("reading the gRPC response failed: {e}"),
    })?;
    if let Some(trailers) = collected.trailers() {
        metadata.extend(trailers.clone());
    }
    let payload = unframe(collected.to_bytes()).map_err(|message| Rejection::Upstream {
        code: Code::Internal,
        message,
    })?;
    Ok(reply(metadata, payload))
}

pub(crate) fn reply(mut metadata: HeaderMap, payload: Option<Bytes>) -> GrpcReply {
    let (code, message) = match metadata.get("grpc-status") {
        Some(v) => {
            let code = v
                .to_str()
                .ok()
                .and_then(|s| s.parse::<i32>().ok())
                .map_or(Code::Unknown, Code::from_i32);
            let message = metadata
                .get("grpc-message")
                .map(|m| {
                    percent_encoding::percent_decode(m.as_bytes())
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .unwrap_or_default();
            (code, message)
        }
        None => (
            Code::Unknown,
            "gRPC response carried no grpc-status".to_owned(),
        ),
    };
    let details = metadata.remove("grpc-status-details-bin");
    GrpcReply {
        code,
        message,
        details,
        payload,
        metadata,
    }
}

/// Headers that belong to HTTP or gRPC framing and never cross the gateway as metadata.
pub(crate) fn is_reserved(name: &HeaderName) -> bool {
    let n = name.as_str();
    n.starts_with("grpc-")
        || matches!(
            n,
            "content-type"
                | "content-length"
                | "content-encoding"
                | "te"
                | "host"
                | "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
                | "trailer"
                | "accept-encoding"
                | "user-agent"
                | "date"
                | "server"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let framed = frame(b"hello").expect("frames");
        assert_eq!(&framed[..5], &[0, 0, 0, 0, 5]);
        assert_eq!(unframe(framed).expect("ok").as_deref(), Some(&b"hello"[..]));
        assert_eq!(unframe(Bytes::new()).expect("ok"), None);
        assert!(unframe(Bytes::from_static(&[0, 0, 0])).is_err());
        assert!(unframe(Bytes::from_static(&[0, 0, 0, 0, 9, 1])).is_err());
        assert!(unframe(Bytes::from_static(&[1, 0, 0, 0, 1, 1])).is_err());
    }

    #[test]
    fn status_is_read_from_trailers_and_message_is_percent_decoded() {
        let mut md = HeaderMap::new();
        md.insert("grpc-status", HeaderValue::from_static("5"));
        md.insert(
            "grpc-message",
            HeaderValue::from_static("no%20such%20note%3A%20%E2%9C%93"),
        );
        let r = reply(md, None);
        assert_eq!(r.code, Code::NotFound);
        assert_eq!(r.message, "no such note: ✓");
        let mut md = HeaderMap::new();
        md.insert("grpc-status", HeaderValue::from_static("x"));
        assert_eq!(reply(md, None).code, Code::Unknown);
        assert_eq!(reply(HeaderMap::new(), None).code, Code::Unknown);
    }
}
