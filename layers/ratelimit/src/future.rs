//! Response futures of [`RateLimit`](crate::RateLimit) and
//! [`ClientRateLimit`](crate::ClientRateLimit).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::RateLimitBody;
use crate::headers::HeaderBlock;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

pin_project! {
    /// Response future of [`RateLimit`](crate::RateLimit).
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        // Admitted: the inner service was called; its response gets the RateLimit fields.
        Called { #[pin] future: F, headers: Option<HeaderBlock> },
        // Refused before the inner service was called.
        Rejected { response: Option<Response<RateLimitBody<B>>> },
        // A remote store is deciding; the ready inner service waits inside.
        Checking { future: Boxed<Response<RateLimitBody<B>>, E> },
    }
}

impl<F, B, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.kind {
            Kind::Called { .. } => "Called",
            Kind::Rejected { .. } => "Rejected",
            Kind::Checking { .. } => "Checking",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn called(future: F, headers: Option<HeaderBlock>) -> Self {
        Self {
            kind: Kind::Called { future, headers },
        }
    }

    pub(crate) fn rejected(response: Response<RateLimitBody<B>>) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn checking(future: Boxed<Response<RateLimitBody<B>>, E>) -> Self {
        Self {
            kind: Kind::Checking { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<RateLimitBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { future, headers } => {
                // Wait for the inner response, then stamp the RateLimit fields on it.
                let response = ready!(future.poll(cx))?;
                let mut response = response.map(RateLimitBody::inner);
                if let Some(headers) = headers.take() {
                    headers.apply(response.headers_mut());
                }
                Poll::Ready(Ok(response))
            }
            // The rejection was built in `call`; hand it out once.
            KindProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after completion"),
            },
            // Store check and inner call, boxed together.
            KindProj::Checking { future } => future.as_mut().poll(cx),
        }
    }
}

pin_project! {
    /// Response future of [`ClientRateLimit`](crate::ClientRateLimit).
    pub struct ClientResponseFuture<F, T> {
        #[pin]
        kind: ClientKind<F, T>,
    }
}

pin_project! {
    #[project = ClientKindProj]
    enum ClientKind<F, T> {
        Called { #[pin] future: F },
        Failed { error: Option<BoxError> },
        Checking { future: Boxed<T, BoxError> },
    }
}

impl<F, T> std::fmt::Debug for ClientResponseFuture<F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.kind {
            ClientKind::Called { .. } => "Called",
            ClientKind::Failed { .. } => "Failed",
            ClientKind::Checking { .. } => "Checking",
        };
        f.debug_struct("ClientResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, T> ClientResponseFuture<F, T> {
    pub(crate) fn called(future: F) -> Self {
        Self {
            kind: ClientKind::Called { future },
        }
    }

    pub(crate) fn failed(error: BoxError) -> Self {
        Self {
            kind: ClientKind::Failed { error: Some(error) },
        }
    }

    pub(crate) fn checking(future: Boxed<T, BoxError>) -> Self {
        Self {
            kind: ClientKind::Checking { future },
        }
    }
}

impl<F, T, E> Future for ClientResponseFuture<F, T>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            // Admitted: forward the inner result.
            ClientKindProj::Called { future } => future.poll(cx).map_err(Into::into),
            // Refused in `call`: hand out the error once.
            ClientKindProj::Failed { error } => match error.take() {
                Some(error) => Poll::Ready(Err(error)),
                None => panic!("ClientResponseFuture polled after completion"),
            },
            // Store check and inner call, boxed together.
            ClientKindProj::Checking { future } => future.as_mut().poll(cx),
        }
    }
}
