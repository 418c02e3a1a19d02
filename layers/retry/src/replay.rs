//! Which requests may be sent again, and how they are copied.

use bytes::Bytes;
use http::{Method, Request};

/// Produces a copy of a request for a later attempt, or `None` when the request must be sent
/// only once (not idempotent, or its body can't be replayed).
///
/// Returning `None` is how a request opts out of retrying: it is sent exactly once and its
/// result, whatever it is, goes to the caller. Nothing is dropped silently.
///
/// A single-method trait with a blanket impl for closures `Fn(&Req) -> Option<Req>`.
pub trait Replay<Req> {
    /// A copy of `req` to send on the next attempt, or `None` to send it only once.
    fn replay(&self, req: &Req) -> Option<Req>;
}

impl<F, Req> Replay<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    fn replay(&self, req: &Req) -> Option<Req> {
        self(req)
    }
}

/// Replays any `Clone` request (for non-HTTP services, or when every request is safe to repeat).
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneReplay;

impl<Req: Clone> Replay<Req> for CloneReplay {
    fn replay(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// Marks a request as safe to retry whatever its method, as a request extension.
///
/// ```
/// let mut req = http::Request::post("http://example.invalid/pay").body(String::new()).unwrap();
/// req.extensions_mut().insert(core_backend_retry::Idempotent);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Idempotent;

/// Replays `http::Request<B>` when it is idempotent and its body is replayable.
///
/// A request is idempotent when its method is `GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE` or
/// `TRACE` (RFC 9110 §9.2.2), when it carries the [`Idempotent`] extension, or when it has an
/// `Idempotency-Key` header. [`HttpReplay::any_method`] drops the method check (gRPC, whose
/// calls are all `POST`, relies on the status code instead).
///
/// The body is copied with [`ReplayableBody`]; a body that can't be copied (a stream that was
/// not buffered, see [`BufferRequestBodyLayer`](crate::BufferRequestBodyLayer)) means the
/// request is sent once.
#[derive(Debug, Clone, Copy)]
pub struct HttpReplay {
    idempotent_only: bool,
}

impl Default for HttpReplay {
    fn default() -> Self {
        Self::idempotent()
    }
}

impl HttpReplay {
    /// Replays only idempotent requests (the default).
    pub fn idempotent() -> Self {
        Self {
            idempotent_only: true,
        }
    }

    /// Replays every request whose body can be replayed.
    pub fn any_method() -> Self {
        Self {
            idempotent_only: false,
        }
    }
}

/// Whether `req` is idempotent: by method, the [`Idempotent`] extension or an `Idempotency-Key`.
#[inline]
pub fn is_idempotent<B>(req: &Request<B>) -> bool {
    matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    ) || req.extensions().get::<Idempotent>().is_some()
        || req.headers().contains_key("idempotency-key")
}

impl<B: ReplayableBody> Replay<Request<B>> for HttpReplay {
    #[inline]
    fn replay(&self, req: &Request<B>) -> Option<Request<B>> {
        if self.idempotent_only && !is_idempotent(req) {
            return None;
        }
        let body = req.body().try_clone_body()?;
        let mut copy = Request::new(body);
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }
}

/// A request body that may be copyable.
///
/// Implemented for in-memory bodies (`()`, `String`, `Vec<u8>`, `Bytes`, `&'static str`,
/// `http_body_util::{Full, Empty}`) and for [`ReplayBody`](crate::ReplayBody), which is
/// copyable when it was buffered whole.
pub trait ReplayableBody: Sized {
    /// A copy of this body, or `None` when it can't be replayed.
    fn try_clone_body(&self) -> Option<Self>;
}

macro_rules! cloneable {
    ($($t:ty),*) => {$(
        impl ReplayableBody for $t {
            fn try_clone_body(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}
cloneable!(
    (),
    String,
    Vec<u8>,
    Bytes,
    &'static str,
    http_body_util::Full<Bytes>,
    http_body_util::Empty<Bytes>
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_rules() {
        let r = HttpReplay::default();
        for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"] {
            let req = Request::builder().method(m).body(()).unwrap();
            assert!(r.replay(&req).is_some(), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT"] {
            let req = Request::builder().method(m).body(()).unwrap();
            assert!(r.replay(&req).is_none(), "{m}");
            assert!(HttpReplay::any_method().replay(&req).is_some(), "{m}");
        }
        let mut post = Request::post("/").body(()).unwrap();
        post.extensions_mut().insert(Idempotent);
        assert!(r.replay(&post).is_some());
        let keyed = Request::post("/")
            .header("Idempotency-Key", "abc")
            .body(())
            .unwrap();
        assert!(r.replay(&keyed).is_some());
    }

    #[test]
    fn copy_is_faithful() {
        #[derive(Clone, Debug, PartialEq)]
        struct Tag(u8);
        let mut req = Request::put("http://h/p?q")
            .version(http::Version::HTTP_2)
            .header("x", "1")
            .body(String::from("body"))
            .unwrap();
        req.extensions_mut().insert(Tag(7));
        let copy = HttpReplay::default().replay(&req).unwrap();
        assert_eq!(copy.method(), req.method());
        assert_eq!(copy.uri(), req.uri());
        assert_eq!(copy.version(), req.version());
        assert_eq!(copy.headers(), req.headers());
        assert_eq!(copy.extensions().get::<Tag>(), Some(&Tag(7)));
        assert_eq!(copy.body(), "body");
    }
}
