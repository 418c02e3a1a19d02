//! The one body type used for requests and responses inside the client stack.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::BoxError;

/// A request or response body: empty, a buffer in memory, or a stream.
///
/// Buffered bodies can be replayed ([`Body::try_clone`]), which is what lets the redirect
/// policy and retry layers send them again; streamed bodies cannot, and a redirect that
/// would need to resend one (307/308) is returned to the caller instead.
#[derive(Default)]
pub struct Body {
    kind: Kind,
}

#[derive(Default)]
enum Kind {
    #[default]
    Empty,
    Full(Option<Bytes>),
    Stream(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Wraps any [`http_body::Body`] with `Bytes` data.
    ///
    /// A value that already is a [`Body`] (or `Bytes` / `String`) is taken as it is, so it stays
    /// replayable.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut slot = Some(body);
        let any = &mut slot as &mut dyn Any;
        if let Some(Some(body)) = any.downcast_mut::<Option<Body>>().map(Option::take) {
            return body;
        }
        if let Some(Some(text)) = any.downcast_mut::<Option<String>>().map(Option::take) {
            return Self::from(text);
        }
        match slot {
            Some(body) => Self {
                kind: Kind::Stream(body.map_err(Into::into).boxed_unsync()),
            },
            None => Self::empty(),
        }
    }

    /// A copy of this body if it is held in memory; `None` for a stream.
    pub fn try_clone(&self) -> Option<Self> {
        match &self.kind {
            Kind::Empty => Some(Self::empty()),
            Kind::Full(bytes) => Some(Self {
                kind: Kind::Full(bytes.clone()),
            }),
            Kind::Stream(_) => None,
        }
    }

    /// The bytes of a body held in memory; `None` for a stream.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Empty => Some(&[]),
            Kind::Full(bytes) => Some(bytes.as_deref().unwrap_or_default()),
            Kind::Stream(_) => None,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body(Empty)"),
            Kind::Full(bytes) => {
                write!(
                    f,
                    "Body(Full({} bytes))",
                    bytes.as_ref().map_or(0, Bytes::len)
                )
            }
            Kind::Stream(_) => f.write_str("Body(Stream)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            return Self::empty();
        }
        Self {
            kind: Kind::Full(Some(bytes)),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from(Bytes::from(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self::from(Bytes::from(text))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Self::from(Bytes::from_static(bytes))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty | Kind::Full(None) => true,
            Kind::Full(Some(_)) => false,
            Kind::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty | Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Stream(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn full_bodies_replay_and_streams_do_not() {
        let body = Body::from("hello");
        let copy = body.try_clone().expect("in memory");
        assert_eq!(body.collect().await.expect("body").to_bytes(), "hello");
        assert_eq!(copy.collect().await.expect("body").to_bytes(), "hello");
        let stream = Body::new(Full::new(Bytes::from_static(b"x")));
        assert!(stream.try_clone().is_none());
        assert_eq!(stream.collect().await.expect("body").to_bytes(), "x");
    }

    #[test]
    fn new_keeps_a_body_replayable() {
        let body = Body::new(Body::from("abc"));
        assert_eq!(body.as_bytes(), Some(&b"abc"[..]));
        let body = Body::new(String::from("abc"));
        assert_eq!(body.as_bytes(), Some(&b"abc"[..]));
        assert_eq!(http_body::Body::size_hint(&Body::empty()).exact(), Some(0));
        assert_eq!(format!("{:?}", Body::from("ab")), "Body(Full(2 bytes))");
    }
}
