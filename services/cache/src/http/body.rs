//! [`ResponseBody`]: the body type the response-cache layer returns.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::BoxError;

pin_project! {
    /// Body of a response that went through [`ResponseCache`](super::ResponseCache): a buffered
    /// body (cache hit, or a fresh body that fit the size limit), the inner body streamed as is,
    /// or the frames read while trying to buffer followed by the rest of a body that was too large.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Full { data: Option<Bytes> },
        Stream { #[pin] body: B },
        Partial { frames: VecDeque<Frame<Bytes>>, error: Option<BoxError>, rest: Option<Pin<Box<B>>> },
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Full { .. } => "full",
            Kind::Stream { .. } => "stream",
            Kind::Partial { .. } => "partial",
        };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn full(data: Bytes) -> Self {
        Self {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    pub(crate) fn empty() -> Self {
        Self {
            kind: Kind::Full { data: None },
        }
    }

    pub(crate) fn stream(body: B) -> Self {
        Self {
            kind: Kind::Stream { body },
        }
    }

    pub(crate) fn partial(
        frames: VecDeque<Frame<Bytes>>,
        error: Option<BoxError>,
        rest: Option<Pin<Box<B>>>,
    ) -> Self {
        Self {
            kind: Kind::Partial {
                frames,
                error,
                rest,
            },
        }
    }
}

fn to_bytes<D: Buf>(frame: Frame<D>) -> Frame<Bytes> {
    frame.map_data(|mut d| d.copy_to_bytes(d.remaining()))
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Stream { body } => Poll::Ready(
                ready!(body.poll_frame(cx)).map(|r| r.map(to_bytes).map_err(Into::into)),
            ),
            KindProj::Partial {
                frames,
                error,
                rest,
            } => {
                // First what was read while trying to buffer, then the error that stopped it, then the rest.
                if let Some(frame) = frames.pop_front() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                if let Some(err) = error.take() {
                    *rest = None;
                    return Poll::Ready(Some(Err(err)));
                }
                let Some(body) = rest.as_mut() else {
                    return Poll::Ready(None);
                };
                let next = ready!(body.as_mut().poll_frame(cx));
                if next.is_none() {
                    *rest = None;
                }
                Poll::Ready(next.map(|r| r.map(to_bytes).map_err(Into::into)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Stream { body } => body.is_end_stream(),
            Kind::Partial {
                frames,
                error,
                rest,
            } => {
                frames.is_empty()
                    && error.is_none()
                    && rest.as_ref().is_none_or(Body::is_end_stream)
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Stream { body } => body.size_hint(),
            Kind::Partial { frames, rest, .. } => {
                let buffered: u64 = frames
                    .iter()
                    .filter_map(|f| f.data_ref())
                    .map(|d| d.len() as u64)
                    .sum();
                let inner = rest
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
                // Fresh hint: lower is set while upper is unbounded, so the lower <= upper assertion holds.
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower().saturating_add(buffered));
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper.saturating_add(buffered).max(hint.lower()));
                }
                hint
            }
        }
    }
}
