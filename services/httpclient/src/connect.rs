//! The connect time limit, around the whole connector (TCP connect and TLS handshake).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use tower_service::Service;

use crate::{BoxError, Error, TimeoutPhase};

/// Fails a connection attempt with [`Error::Timeout`] ([`TimeoutPhase::Connect`]).
#[derive(Debug, Clone)]
pub(crate) struct ConnectTimeout<C> {
    inner: C,
    duration: Option<Duration>,
}

impl<C> ConnectTimeout<C> {
    pub(crate) fn new(inner: C, duration: Option<Duration>) -> Self {
        Self { inner, duration }
    }
}

impl<C> Service<Uri> for ConnectTimeout<C>
where
    C: Service<Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    // hyper-util wants an `Unpin` connector future; connections are rare, so one box is fine.
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let duration = self.duration;
        Box::pin(async move {
            match duration {
                Some(duration) => match tokio::time::timeout(duration, connecting).await {
                    Ok(result) => result.map_err(Into::into),
                    Err(_) => Err(Box::new(Error::Timeout {
                        phase: TimeoutPhase::Connect,
                    }) as BoxError),
                },
                None => connecting.await.map_err(Into::into),
            }
        })
    }
}
