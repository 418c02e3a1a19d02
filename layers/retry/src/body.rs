//! Buffering request bodies so they can be replayed.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request};
use http_body::{Body, Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;

use crate::replay::ReplayableBody;

/// A request body that is either buffered whole (replayable) or streamed (sent once).
///
/// Produced by [`BufferRequestBody`]. A body whose size is at most the limit is read into
/// memory before the first attempt and can be sent any number of times. A larger body, or one
/// that failed while being read, is passed on as a stream — the bytes already read are sent
/// first, then the rest, then any read error — and [`try_clone_body`](ReplayableBody::try_clone_body)
/// returns `None`, so the request is sent exactly once.
pub struct ReplayBody<B: Body> {
    kind: Kind<B>,
}

enum Kind<B: Body> {
    Buffered {
        data: Option<Bytes>,
        trailers: Option<HeaderMap>,
    },
    Streaming {
        prefix: Option<Bytes>,
        rest: Option<B>,
    },
    Failed {
        prefix: Option<Bytes>,
        // Boxed so the body stays `Unpin` whatever the error type.
        error: Option<Box<B::Error>>,
    },
}

impl<B: Body> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Buffered { .. } => "buffered",
            Kind::Streaming { .. } => "streaming",
            Kind::Failed { .. } => "failed",
        };
        f.debug_struct("ReplayBody").field("kind", &kind).finish()
    }
}

impl<B: Body> ReplayBody<B> {
    /// A replayable body holding `data`.
    pub fn buffered(data: Bytes) -> Self {
        Self {
            kind: Kind::Buffered {
                data: Some(data),
                trailers: None,
            },
        }
    }

    /// A body streamed from `body`, sent once.
    pub fn streaming(body: B) -> Self {
        Self {
            kind: Kind::Streaming {
                prefix: None,
                rest: Some(body),
            },
        }
    }

    /// Whether the body was buffered whole (and so can be replayed).
    pub fn is_buffered(&self) -> bool {
        matches!(self.kind, Kind::Buffered { .. })
    }
}

impl<B: Body> ReplayableBody for ReplayBody<B> {
    fn try_clone_body(&self) -> Option<Self> {
        match &self.kind {
            Kind::Buffered { data, trailers } => Some(Self {
                kind: Kind::Buffered {
                    data: data.clone(),
                    trailers: trailers.clone(),
                },
            }),
            Kind::Streaming { .. } | Kind::Failed { .. } => None,
        }
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Buffered { data, trailers } => {
                if let Some(data) = data.take().filter(|d| !d.is_empty()) {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
            }
            Kind::Streaming { prefix, rest } => {
                if let Some(prefix) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                match rest {
                    Some(body) => Pin::new(body).poll_frame(cx),
                    None => Poll::Ready(None),
                }
            }
            Kind::Failed { prefix, error } => {
                if let Some(prefix) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                Poll::Ready(error.take().map(|e| Err(*e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Buffered { data, trailers } => {
                data.as_ref().is_none_or(Bytes::is_empty) && trailers.is_none()
            }
            Kind::Streaming { prefix, rest } => {
                prefix.is_none() && rest.as_ref().is_none_or(B::is_end_stream)
            }
            Kind::Failed { prefix, error } => prefix.is_none() && error.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Streaming { prefix, rest } => {
                let p = prefix.as_ref().map_or(0, |d| d.len() as u64);
                let mut hint = rest
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), B::size_hint);
                hint.set_lower(hint.lower().saturating_add(p));
                if let Some(upper) = hint.upper() {
                    hint.set_upper(upper.saturating_add(p));
                }
                hint
            }
            Kind::Failed { prefix, .. } => {
                SizeHint::with_exact(prefix.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// Layer that reads request bodies of at most `limit` bytes into memory, so that
/// [`HttpReplay`](crate::HttpReplay) can replay them. See [`BufferRequestBody`].
#[derive(Debug, Clone, Copy)]
pub struct BufferRequestBodyLayer {
    limit: usize,
}

impl BufferRequestBodyLayer {
    /// Buffers bodies of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for BufferRequestBodyLayer {
    type Service = BufferRequestBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BufferRequestBody::new(inner, self.limit)
    }
}

/// Turns `Request<B>` into `Request<ReplayBody<B>>`, buffering bodies up to a limit.
///
/// Put it *above* the retry layer; below the retry layer, map the body back to what the
/// transport wants (for a tonic `Channel`: `req.map(tonic::body::Body::new)`). A body whose
/// `size_hint` already exceeds the limit is not read at all; a body that turns out larger
/// while reading is streamed on (bytes read so far first), and such a request is sent once.
#[derive(Debug, Clone)]
pub struct BufferRequestBody<S> {
    inner: S,
    limit: usize,
}

impl<S> BufferRequestBody<S> {
    /// Wraps `inner`, buffering bodies of at most `limit` bytes.
    pub fn new(inner: S, limit: usize) -> Self {
        Self { inner, limit }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for BufferRequestBody<S>
where
    S: Service<Request<ReplayBody<B>>> + Clone,
    B: Body<Data = Bytes> + Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BufferFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The ready service goes into the future; a fresh clone stays behind.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = req.into_parts();
        let too_big = body
            .size_hint()
            .lower()
            .checked_sub(self.limit as u64)
            .is_some_and(|over| over > 0);
        let state = if too_big {
            let req = Request::from_parts(parts, ReplayBody::streaming(body));
            let mut inner = inner;
            State::Calling {
                future: inner.call(req),
            }
        } else {
            State::Reading {
                inner: Some(inner),
                parts: Some(parts),
                body: Some(body),
                buf: BytesMut::new(),
                trailers: None,
            }
        };
        BufferFuture {
            state,
            limit: self.limit,
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`BufferRequestBody`].
    pub struct BufferFuture<S: Service<Request<ReplayBody<B>>>, B: Body> {
        #[pin]
        state: State<S, B>,
        limit: usize,
    }
}

impl<S: Service<Request<ReplayBody<B>>>, B: Body> fmt::Debug for BufferFuture<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferFuture")
            .field("limit", &self.limit)
            .finish()
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S: Service<Request<ReplayBody<B>>>, B: Body> {
        Reading {
            inner: Option<S>,
            parts: Option<http::request::Parts>,
            body: Option<B>,
            buf: BytesMut,
            trailers: Option<HeaderMap>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
    }
}

impl<S, B> Future for BufferFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>>,
    B: Body<Data = Bytes> + Unpin,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let replay = match this.state.as_mut().project() {
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Reading {
                    body,
                    buf,
                    trailers,
                    ..
                } => {
                    let Some(b) = body.as_mut() else {
                        unreachable_state();
                        return Poll::Pending;
                    };
                    // Read the next frame; stop at the end, at an error or past the limit.
                    let outcome = if b.is_end_stream() {
                        None
                    } else {
                        ready!(Pin::new(b).poll_frame(cx))
                    };
                    match outcome {
                        Some(Ok(frame)) => match frame.into_data() {
                            Ok(data) => {
                                buf.extend_from_slice(&data);
                                if buf.len() <= *this.limit {
                                    continue;
                                }
                                ReplayBody {
                                    kind: Kind::Streaming {
                                        prefix: Some(std::mem::take(buf).freeze()),
                                        rest: body.take(),
                                    },
                                }
                            }
                            Err(frame) => {
                                if let Ok(t) = frame.into_trailers() {
                                    trailers.get_or_insert_with(HeaderMap::new).extend(t);
                                }
                                continue;
                            }
                        },
                        Some(Err(error)) => ReplayBody {
                            kind: Kind::Failed {
                                prefix: Some(std::mem::take(buf).freeze())
                                    .filter(|b| !b.is_empty()),
                                error: Some(Box::new(error)),
                            },
                        },
                        None => ReplayBody {
                            kind: Kind::Buffered {
                                data: Some(std::mem::take(buf).freeze()),
                                trailers: trailers.take(),
                            },
                        },
                    }
                }
            };
            let StateProj::Reading { inner, parts, .. } = this.state.as_mut().project() else {
                unreachable_state();
                return Poll::Pending;
            };
            let (Some(mut svc), Some(parts)) = (inner.take(), parts.take()) else {
                unreachable_state();
                return Poll::Pending;
            };
            // The service was made ready by `poll_ready` before `call`.
            let future = svc.call(Request::from_parts(parts, replay));
            this.state.set(State::Calling { future });
        }
    }
}

#[cold]
fn unreachable_state() {
    debug_assert!(false, "BufferFuture polled in an impossible state");
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    async fn run(
        limit: usize,
        body: impl Body<Data = Bytes, Error = std::convert::Infallible> + Unpin + Send + 'static,
    ) -> (bool, Bytes) {
        let svc = tower::service_fn(|req: Request<ReplayBody<_>>| async move {
            let buffered = req.body().is_buffered();
            let cloned = req.body().try_clone_body().is_some();
            assert_eq!(buffered, cloned);
            let bytes = req.into_body().collect().await?.to_bytes();
            Ok::<_, std::convert::Infallible>((buffered, bytes))
        });
        let mut svc = BufferRequestBodyLayer::new(limit).layer(svc);
        tower::ServiceExt::ready(&mut svc).await.unwrap();
        svc.call(Request::new(body)).await.unwrap()
    }

    type Chunks = StreamBody<
        futures_util::stream::Iter<
            std::vec::IntoIter<Result<Frame<Bytes>, std::convert::Infallible>>,
        >,
    >;

    fn chunks(parts: &[&'static str]) -> Chunks {
        let frames: Vec<_> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn small_bodies_are_buffered() {
        assert_eq!(
            run(10, chunks(&["ab", "cd"])).await,
            (true, Bytes::from("abcd"))
        );
        assert_eq!(
            run(4, chunks(&["ab", "cd"])).await,
            (true, Bytes::from("abcd"))
        );
        assert_eq!(run(0, chunks(&[])).await, (true, Bytes::new()));
    }

    #[tokio::test]
    async fn large_bodies_stream_whole() {
        assert_eq!(
            run(3, chunks(&["ab", "cd", "ef"])).await,
            (false, Bytes::from("abcdef"))
        );
        // size_hint says too big: not read at all, still delivered whole.
        assert_eq!(
            run(3, Full::new(Bytes::from("abcdef"))).await,
            (false, Bytes::from("abcdef"))
        );
    }

    #[tokio::test]
    async fn read_errors_reach_the_service() {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from("ab"))),
            Err(std::io::Error::other("boom")),
        ];
        let body = StreamBody::new(futures_util::stream::iter(frames));
        let svc = tower::service_fn(|req: Request<ReplayBody<_>>| async move {
            assert!(req.body().try_clone_body().is_none());
            Ok::<_, std::convert::Infallible>(
                req.into_body()
                    .collect()
                    .await
                    .map(|_| ())
                    .map_err(|e: std::io::Error| e.to_string()),
            )
        });
        let mut svc = BufferRequestBody::new(svc, 100);
        tower::ServiceExt::ready(&mut svc).await.unwrap();
        assert_eq!(
            svc.call(Request::new(body)).await.unwrap(),
            Err("boom".into())
        );
    }
}
