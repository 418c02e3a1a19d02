//! Linking request spans to the W3C trace context: extraction on servers, injection on clients.
//!
//! Without the `otlp` feature the ids are ours (parsed or random) and are recorded on the span as
//! `trace_id` / `span_id` so that every log line inside it carries them. With `otlp` the span is
//! also made a child of the remote parent in OpenTelemetry, and the ids OpenTelemetry assigned
//! are used, so logs, exported spans and propagated headers agree.

use http::HeaderMap;
#[cfg(feature = "otlp")]
use http::HeaderValue;
use tracing::Span;

use crate::trace_context::{SpanId, TraceContext};

/// The context of a server span: child of the caller's `traceparent` when `trust_remote` and it
/// is valid, else the root of a new trace.
pub(crate) fn server_context(span: &Span, headers: &HeaderMap, trust_remote: bool) -> TraceContext {
    let remote = if trust_remote {
        TraceContext::extract(headers)
    } else {
        None
    };
    #[cfg(feature = "otlp")]
    if let Some(cx) = otel::server_context(span, remote.as_ref()) {
        return record(span, cx);
    }
    let cx = match remote {
        Some((parent, state)) => TraceContext::child_of(&parent, SpanId::random(), state),
        None => TraceContext::new_root(),
    };
    record(span, cx)
}

/// The context of a client span: a child of the span current when the call is made (or of the
/// request being served), else the root of a new trace.
pub(crate) fn client_context(span: &Span) -> TraceContext {
    #[cfg(feature = "otlp")]
    if let Some(cx) = otel::client_context(span) {
        return record(span, cx);
    }
    let cx = match TraceContext::current() {
        Some(parent) => TraceContext {
            span_id: SpanId::random(),
            ..parent
        },
        None => TraceContext::new_root(),
    };
    record(span, cx)
}

/// Writes `traceparent` (naming the client span as parent) and `tracestate` into outgoing headers.
pub(crate) fn inject(headers: &mut HeaderMap, cx: &TraceContext) {
    headers.insert(
        "traceparent",
        cx.traceparent_for(cx.span_id).to_header_value(),
    );
    match &cx.tracestate {
        Some(state) => {
            headers.insert("tracestate", state.clone());
        }
        None => {
            headers.remove("tracestate");
        }
    }
}

fn record(span: &Span, cx: TraceContext) -> TraceContext {
    span.record("trace_id", tracing::field::display(cx.trace_id));
    span.record("span_id", tracing::field::display(cx.span_id));
    cx
}

#[cfg(feature = "otlp")]
mod otel {
    use opentelemetry::trace::{
        SpanContext, SpanId as OtelSpanId, TraceContextExt as _, TraceFlags,
        TraceId as OtelTraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    use super::{HeaderValue, Span, TraceContext};
    use crate::trace_context::{SpanId, TraceId, TraceParent};

    pub(super) fn server_context(
        span: &Span,
        remote: Option<&(TraceParent, Option<HeaderValue>)>,
    ) -> Option<TraceContext> {
        if let Some((parent, state)) = remote {
            let trace_state = state
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<TraceState>().ok())
                .unwrap_or_default();
            let remote = SpanContext::new(
                OtelTraceId::from_bytes(parent.trace_id.to_bytes()),
                OtelSpanId::from_bytes(parent.parent_id.to_bytes()),
                TraceFlags::new(parent.flags),
                true,
                trace_state,
            );
            let parent_cx = opentelemetry::Context::new().with_remote_span_context(remote);
            // Fails only when no OpenTelemetry layer sees this span; the fallback handles that.
            let _ = span.set_parent(parent_cx);
        }
        let mut cx = own_context(span)?;
        cx.tracestate = remote.and_then(|(_, state)| state.clone());
        Some(cx)
    }

    pub(super) fn client_context(span: &Span) -> Option<TraceContext> {
        let mut cx = own_context(span)?;
        cx.tracestate = TraceContext::current().and_then(|c| c.tracestate);
        Some(cx)
    }

    fn own_context(span: &Span) -> Option<TraceContext> {
        let otel_cx = span.context();
        let sc = otel_cx.span().span_context().clone();
        if !sc.is_valid() {
            return None;
        }
        Some(TraceContext {
            trace_id: TraceId::from_bytes(sc.trace_id().to_bytes())?,
            span_id: SpanId::from_bytes(sc.span_id().to_bytes())?,
            flags: sc.trace_flags().to_u8(),
            tracestate: None,
        })
    }
}
