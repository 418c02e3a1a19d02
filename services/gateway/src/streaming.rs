//! Server-streaming methods as newline-delimited JSON, in grpc-gateway's shape:
//! one `{"result": <message>}` line per message, and a final `{"error": <google.rpc.Status>}`
//! line when the stream ends with a non-OK status.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Frame;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{Value, json};
use tonic::Code;

use crate::grpc;
use crate::rule::Binding;
use crate::status::code_name;
use crate::transcode::{JsonOptions, render_response};

/// Takes one complete gRPC frame off the front of `buffer`.
pub(crate) fn next_frame(buffer: &mut BytesMut) -> Result<Option<Bytes>, String> {
    if buffer.len() < 5 {
        return Ok(None);
    }
    if buffer[0] != 0 {
        return Err("compressed gRPC message (the gateway does not negotiate compression)".into());
    }
    let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if buffer.len() - 5 < len {
        return Ok(None);
    }
    buffer.advance(5);
    Ok(Some(buffer.split_to(len).freeze()))
}

/// The `{"error": …}` line: `google.rpc.Status` in JSON, plus the status name.
pub(crate) fn error_line(code: Code, message: &str, details: Vec<Value>) -> Bytes {
    let line = json!({
        "error": {
            "code": code as i32,
            "status": code_name(code),
            "message": message,
            "details": details,
        }
    });
    let mut out = serde_json::to_vec(&line).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// Response body turning a stream of gRPC frames into NDJSON lines.
pub(crate) struct NdjsonBody {
    inner: Option<Body>,
    buffer: BytesMut,
    binding: Arc<Binding>,
    json: JsonOptions,
    pool: DescriptorPool,
    trailers: HeaderMap,
    done: bool,
}

impl NdjsonBody {
    pub(crate) fn new(
        inner: Body,
        binding: Arc<Binding>,
        json: JsonOptions,
        pool: DescriptorPool,
    ) -> Self {
        Self {
            inner: Some(inner),
            buffer: BytesMut::new(),
            binding,
            json,
            pool,
            trailers: HeaderMap::new(),
            done: false,
        }
    }

    fn render(&self, message: Bytes) -> Result<Bytes, String> {
        let output = self.binding.output();
        let decoded = DynamicMessage::decode(output.clone(), message).map_err(|e| {
            format!(
                "a streamed message does not decode as `{}`: {e}",
                output.full_name()
            )
        })?;
        let rendered = render_response(&self.binding, &self.json, &decoded)?;
        let mut line = Vec::with_capacity(rendered.len() + 12);
        line.extend_from_slice(b"{\"result\":");
        line.extend_from_slice(&rendered);
        line.extend_from_slice(b"}\n");
        Ok(Bytes::from(line))
    }

    fn finish(&mut self) -> Option<Bytes> {
        self.done = true;
        if !self.buffer.is_empty() {
            return Some(error_line(
                Code::Internal,
                "truncated gRPC frame at end of stream",
                Vec::new(),
            ));
        }
        let reply = grpc::reply(std::mem::take(&mut self.trailers), None);
        if reply.code == Code::Ok {
            return None;
        }
        let details = reply
            .details
            .as_ref()
            .and_then(|v| crate::details::decode(v.as_bytes(), &self.pool))
            .map(|d| d.details)
            .unwrap_or_default();
        Some(error_line(reply.code, &reply.message, details))
    }
}

impl http_body::Body for NdjsonBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            // A complete message in the buffer becomes one line.
            match next_frame(&mut this.buffer) {
                Ok(Some(message)) => {
                    let line = this.render(message).unwrap_or_else(|e| {
                        this.done = true;
                        error_line(Code::Internal, &e, Vec::new())
                    });
                    return Poll::Ready(Some(Ok(Frame::data(line))));
                }
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Ok(Frame::data(error_line(
                        Code::Internal,
                        &e,
                        Vec::new(),
                    )))));
                }
                Ok(None) => {}
            }
            // Otherwise read more of the gRPC body; at its end, report the status.
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(this.finish().map(|line| Ok(Frame::data(line))));
            };
            match ready!(Pin::new(inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.buffer.extend_from_slice(&data),
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            this.trailers.extend(trailers);
                        }
                    }
                },
                Some(Err(e)) => {
                    this.done = true;
                    let line = error_line(
                        Code::Unavailable,
                        &format!("reading the gRPC response failed: {e}"),
                        Vec::new(),
                    );
                    return Poll::Ready(Some(Ok(Frame::data(line))));
                }
                None => this.inner = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_from_a_growing_buffer() {
        let mut buffer = BytesMut::from(&[0u8, 0, 0, 0, 2, b'h'][..]);
        assert_eq!(next_frame(&mut buffer), Ok(None));
        buffer.extend_from_slice(&[b'i', 0, 0, 0, 0, 0, 0]);
        assert_eq!(next_frame(&mut buffer), Ok(Some(Bytes::from_static(b"hi"))));
        assert_eq!(next_frame(&mut buffer), Ok(Some(Bytes::new())));
        assert_eq!(buffer.len(), 1);
        let mut compressed = BytesMut::from(&[1u8, 0, 0, 0, 0][..]);
        assert!(next_frame(&mut compressed).is_err());
    }

    #[test]
    fn error_lines_are_google_rpc_status() {
        let line = error_line(Code::NotFound, "gone", Vec::new());
        assert!(line.ends_with(b"\n"));
        let v: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(
            v,
            json!({"error": {"code": 5, "status": "NOT_FOUND", "message": "gone", "details": []}})
        );
    }
}
