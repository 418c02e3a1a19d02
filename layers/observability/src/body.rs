//! The response body wrapper that records a request's duration when its body ends, and reads
//! gRPC trailers on the way.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use metrics::Label;
use pin_project_lite::pin_project;
use tracing::Span;

use crate::semconv;

/// Which of the four layers recorded a request; picks metric names and failure rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    HttpServer,
    HttpClient,
    GrpcServer,
    GrpcClient,
}

impl Kind {
    fn duration_metric(self) -> &'static str {
        match self {
            Self::HttpServer => semconv::HTTP_SERVER_REQUEST_DURATION,
            Self::HttpClient => semconv::HTTP_CLIENT_REQUEST_DURATION,
            Self::GrpcServer => semconv::RPC_SERVER_DURATION,
            Self::GrpcClient => semconv::RPC_CLIENT_DURATION,
        }
    }

    fn is_grpc(self) -> bool {
        matches!(self, Self::GrpcServer | Self::GrpcClient)
    }

    /// Whether the outcome counts as an error of the span, per the conventions: servers own
    /// 5xx and the server-fault gRPC codes, clients see every 4xx/5xx and non-OK code.
    fn is_error(self, http_status: Option<u16>, grpc_status: Option<i32>) -> bool {
        match self {
            Self::HttpServer => http_status.is_none_or(|s| s >= 500),
            Self::HttpClient => http_status.is_none_or(|s| s >= 400),
            Self::GrpcServer => grpc_status.is_none_or(|c| matches!(c, 2 | 4 | 12 | 13 | 14 | 15)),
            Self::GrpcClient => grpc_status != Some(0),
        }
    }
}

/// Attributes known when the request starts.
#[derive(Debug, Default)]
pub(crate) struct Attributes {
    pub(crate) method: Option<&'static str>,
    pub(crate) route: Option<String>,
    pub(crate) scheme: Option<&'static str>,
    pub(crate) server: Option<(String, Option<u16>)>,
    pub(crate) rpc: Option<(String, String)>,
}

/// One request in flight. Records its metrics exactly once: when [`Completion::finish`] runs
/// or, failing that, when it is dropped (the body was abandoned or the request cancelled).
#[derive(Debug)]
pub(crate) struct Completion {
    kind: Kind,
    start: Instant,
    attributes: Attributes,
    active: Option<metrics::Gauge>,
    http_status: Option<u16>,
    grpc_status: Option<i32>,
    transport_error: bool,
    recorded: bool,
    span: Span,
}

impl Completion {
    pub(crate) fn start(kind: Kind, attributes: Attributes, span: Span) -> Self {
        let active = (kind == Kind::HttpServer).then(|| {
            let mut labels = Vec::with_capacity(2);
            if let Some(method) = attributes.method {
                labels.push(Label::new(semconv::HTTP_REQUEST_METHOD, method));
            }
            if let Some(scheme) = attributes.scheme {
                labels.push(Label::new(semconv::URL_SCHEME, scheme));
            }
            // Keep the handle: the decrement then needs no second registry lookup.
            let gauge = metrics::gauge!(semconv::HTTP_SERVER_ACTIVE_REQUESTS, labels);
            gauge.increment(1.0);
            gauge
        });
        Self {
            kind,
            start: Instant::now(),
            attributes,
            active,
            http_status: None,
            grpc_status: None,
            transport_error: false,
            recorded: false,
            span,
        }
    }

    /// Notes the response head: its status and, for a trailers-only gRPC response, the
    /// `grpc-status` header.
    pub(crate) fn on_response<B>(&mut self, response: &http::Response<B>) {
        let status = response.status().as_u16();
        self.http_status = Some(status);
        self.span.record(semconv::HTTP_RESPONSE_STATUS_CODE, status);
        if self.kind.is_grpc() {
            if let Some(code) = semconv::grpc_status(response.headers()) {
                self.grpc_status = Some(code);
            } else if !response.status().is_success() {
                // gRPC over a non-200 response: map it the way gRPC clients do.
                self.grpc_status = Some(http_status_to_grpc(status));
            }
        }
    }

    /// Notes the trailers, where a gRPC status normally arrives.
    pub(crate) fn on_trailers(&mut self, trailers: &http::HeaderMap) {
        if let Some(code) = semconv::grpc_status(trailers) {
            self.grpc_status = Some(code);
        }
    }

    /// Notes that the inner service or the body failed.
    pub(crate) fn on_error(&mut self) {
        self.transport_error = true;
    }

    /// Records the request now; `end_of_stream` tells a body that ended from one abandoned.
    pub(crate) fn finish(mut self, end_of_stream: bool) {
        self.record(end_of_stream);
    }

    fn record(&mut self, end_of_stream: bool) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        if self.kind.is_grpc() && self.grpc_status.is_none() && !self.transport_error {
            // A stream that ended without any status is a protocol error (UNKNOWN); one that
            // was dropped before its end was cancelled.
            self.grpc_status = Some(if end_of_stream { 2 } else { 1 });
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        let mut labels = Vec::with_capacity(7);
        // `record` runs once, so the owned values can move into the labels.
        let attrs = &mut self.attributes;
        if let Some(method) = attrs.method {
            labels.push(Label::new(semconv::HTTP_REQUEST_METHOD, method));
        }
        if let Some(route) = attrs.route.take() {
            labels.push(Label::new(semconv::HTTP_ROUTE, route));
        }
        if let Some(scheme) = attrs.scheme {
            labels.push(Label::new(semconv::URL_SCHEME, scheme));
        }
        if let Some((address, port)) = attrs.server.take() {
            labels.push(Label::new(semconv::SERVER_ADDRESS, address));
            if let Some(port) = port {
                labels.push(Label::new(semconv::SERVER_PORT, port.to_string()));
            }
        }
        if self.kind.is_grpc() {
            labels.push(Label::new(semconv::RPC_SYSTEM, "grpc"));
            let unimplemented = self.grpc_status == Some(12);
            match attrs.rpc.take() {
                // An unknown method name is whatever the caller typed; keep it out of labels.
                Some((service, method)) if !(unimplemented && self.kind == Kind::GrpcServer) => {
                    labels.push(Label::new(semconv::RPC_SERVICE, service));
                    labels.push(Label::new(semconv::RPC_METHOD, method));
                }
                _ => {
                    labels.push(Label::new(semconv::RPC_SERVICE, semconv::OTHER));
                    labels.push(Label::new(semconv::RPC_METHOD, semconv::OTHER));
                }
            }
            if let Some(code) = self.grpc_status {
                labels.push(Label::new(
                    semconv::RPC_GRPC_STATUS_CODE,
                    grpc_code_str(code),
                ));
                self.span.record(semconv::RPC_GRPC_STATUS_CODE, code);
            }
        } else if let Some(status) = self.http_status {
            labels.push(Label::new(
                semconv::HTTP_RESPONSE_STATUS_CODE,
                status_str(status),
            ));
        }
        let is_error =
            self.transport_error || self.kind.is_error(self.http_status, self.grpc_status);
        if is_error {
            let error_type = match (self.transport_error, self.http_status) {
                (false, Some(status)) if !self.kind.is_grpc() => status_str(status),
                _ => metrics::SharedString::const_str(semconv::OTHER),
            };
            if !self.kind.is_grpc() || self.transport_error {
                labels.push(Label::new(semconv::ERROR_TYPE, error_type));
            }
            self.span.record("otel.status_code", "ERROR");
        }
        metrics::histogram!(self.kind.duration_metric(), labels).record(elapsed);
        if let Some(active) = self.active.take() {
            active.decrement(1.0);
        }
        tracing::debug!(
            parent: &self.span,
            duration_ms = elapsed * 1000.0,
            status = self.http_status,
            grpc_status = self.grpc_status,
            "request finished"
        );
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.record(false);
    }
}

/// The label value of a status code, without allocating for the common ones.
fn status_str(status: u16) -> metrics::SharedString {
    let common = match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        301 => "301",
        302 => "302",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => return metrics::SharedString::from(status.to_string()),
    };
    metrics::SharedString::const_str(common)
}

fn grpc_code_str(code: i32) -> metrics::SharedString {
    const CODES: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| CODES.get(i))
        .map_or_else(
            || metrics::SharedString::from(code.to_string()),
            |s| metrics::SharedString::const_str(s),
        )
}

fn http_status_to_grpc(status: u16) -> i32 {
    // https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => 2,
    }
}

pin_project! {
    /// A response body that records the request's metrics when it ends.
    ///
    /// The duration covers the whole exchange, up to the last frame, because a gRPC status (and
    /// the end of a streamed response) only arrive with it. A body dropped before its end is
    /// recorded as abandoned at that moment (gRPC status `CANCELLED` when no status was seen).
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        completion: Option<Completion>,
    }
}

impl<B> ObservedBody<B> {
    pub(crate) fn new(inner: B, completion: Completion) -> Self {
        Self {
            inner,
            completion: Some(completion),
        }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the body; its request is recorded now.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for ObservedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        // Pass frames through, reading trailers and noticing the end of the stream.
        match ready!(this.inner.as_mut().poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let (Some(trailers), Some(completion)) =
                    (frame.trailers_ref(), this.completion.as_mut())
                {
                    completion.on_trailers(trailers);
                }
                if this.inner.is_end_stream()
                    && let Some(completion) = this.completion.take()
                {
                    completion.finish(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => {
                if let Some(mut completion) = this.completion.take() {
                    completion.on_error();
                    completion.finish(true);
                }
                Poll::Ready(Some(Err(error)))
            }
            None => {
                if let Some(completion) = this.completion.take() {
                    completion.finish(true);
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Hands the completion to the response body, or records a failed call right away.
pub(crate) fn complete<B, E>(
    mut completion: Completion,
    result: Result<http::Response<B>, E>,
) -> Result<http::Response<ObservedBody<B>>, E> {
    match result {
        Ok(response) => {
            completion.on_response(&response);
            Ok(response.map(|body| ObservedBody::new(body, completion)))
        }
        Err(error) => {
            completion.on_error();
            completion.finish(false);
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels() {
        for status in [200, 201, 204, 404, 429, 500, 503, 418, 599] {
            assert_eq!(&*status_str(status), status.to_string());
        }
        for code in [-1, 0, 5, 16, 17] {
            assert_eq!(&*grpc_code_str(code), code.to_string());
        }
    }

    #[test]
    fn http_statuses_map_to_grpc_codes() {
        assert_eq!(http_status_to_grpc(400), 13);
        assert_eq!(http_status_to_grpc(401), 16);
        assert_eq!(http_status_to_grpc(403), 7);
        assert_eq!(http_status_to_grpc(404), 12);
        assert_eq!(http_status_to_grpc(503), 14);
        assert_eq!(http_status_to_grpc(500), 2);
    }

    #[test]
    fn a_grpc_call_answered_with_an_http_error_gets_the_mapped_code() {
        let ((), text) = crate::test_support::with_recorder(|_| async {
            let mut completion = Completion::start(
                Kind::GrpcClient,
                Attributes {
                    rpc: Some(("a.B".to_owned(), "C".to_owned())),
                    ..Attributes::default()
                },
                Span::none(),
            );
            let response = http::Response::builder()
                .status(503)
                .body(())
                .expect("response");
            completion.on_response(&response);
            completion.finish(true);
        });
        assert_eq!(
            crate::test_support::value(
                &text,
                "rpc_client_duration_seconds_count",
                &[r#"rpc_grpc_status_code="14""#]
            ),
            Some(1.0),
            "{text}"
        );
    }
}
