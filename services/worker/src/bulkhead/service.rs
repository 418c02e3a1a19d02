use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use metrics::Counter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_util::sync::PollSemaphore;
use tower_service::Service;

use super::future::ResponseFuture;
use crate::BoxError;
use crate::config::BulkheadConfig;
use crate::error::Overloaded;

#[derive(Debug)]
pub(crate) struct Shared {
    max_wait: Duration,
    retry_after: Duration,
    rejected: Counter,
}

impl Shared {
    pub(crate) fn new(config: &BulkheadConfig, name: &str) -> Self {
        Self {
            max_wait: config.max_wait,
            retry_after: config.retry_after,
            rejected: metrics::counter!(
                "core_backend.worker.bulkhead.rejected",
                "bulkhead" => name.to_owned()
            ),
        }
    }
}

/// Limits the calls in flight to the inner service; see
/// [`BulkheadLayer`](super::BulkheadLayer).
///
/// A slot is taken in `poll_ready` (waiting up to the maximum wait, then failing with
/// [`Overloaded`]) and released when the response future completes or is dropped.
#[derive(Debug)]
pub struct Bulkhead<S> {
    inner: S,
    semaphore: PollSemaphore,
    permit: Option<OwnedSemaphorePermit>,
    // Armed only when a caller actually has to wait, so the fast path allocates nothing.
    wait: Option<Pin<Box<Sleep>>>,
    shared: Arc<Shared>,
}

impl<S> Bulkhead<S> {
    /// Wraps `inner` with its own bulkhead of `max_concurrent_calls` slots and `max_wait`.
    ///
    /// To share slots between several services, build one
    /// [`BulkheadLayer`](super::BulkheadLayer) and layer each with it.
    pub fn new(inner: S, max_concurrent_calls: usize, max_wait: Duration) -> Self {
        let config = BulkheadConfig {
            max_concurrent_calls,
            max_wait,
            ..BulkheadConfig::default()
        };
        Self::with_shared(
            inner,
            Arc::new(Semaphore::new(
                max_concurrent_calls.clamp(1, Semaphore::MAX_PERMITS),
            )),
            Arc::new(Shared::new(&config, "default")),
        )
    }

    pub(crate) fn with_shared(inner: S, semaphore: Arc<Semaphore>, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            semaphore: PollSemaphore::new(semaphore),
            permit: None,
            wait: None,
            shared,
        }
    }

    /// A reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// A mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for Bulkhead<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.permit.is_none() {
            match self.semaphore.poll_acquire(cx) {
                Poll::Ready(Some(permit)) => {
                    self.permit = Some(permit);
                    if self.wait.is_some() {
                        self.wait = None;
                    }
                }
                // The semaphore is never closed; treat the impossible as a rejection, not a panic.
                Poll::Ready(None) => return Poll::Ready(Err(self.reject())),
                Poll::Pending => {
                    let max_wait = self.shared.max_wait;
                    let wait = self
                        .wait
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(max_wait)));
                    if wait.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    return Poll::Ready(Err(self.reject()));
                }
            }
        }
        // A slot is held; now the inner service must be ready too.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let permit = self
            .permit
            .take()
            .expect("max concurrent calls in flight; poll_ready must be called first");
        ResponseFuture::new(self.inner.call(req), permit)
    }
}

impl<S> Bulkhead<S> {
    fn reject(&mut self) -> BoxError {
        self.wait = None;
        // Leave the semaphore's wait queue: a permit handed to an abandoned acquire would
        // sit idle in this service until it is polled again.
        self.semaphore = PollSemaphore::new(self.semaphore.clone_inner());
        self.shared.rejected.increment(1);
        tracing::debug!(max_wait = ?self.shared.max_wait, "bulkhead full, call rejected");
        Box::new(Overloaded::new(self.shared.retry_after))
    }
}

impl<S: Clone> Clone for Bulkhead<S> {
    fn clone(&self) -> Self {
        // The clone must not share this service's permit: it has not been polled ready, and a
        // copied permit would let two callers through on one slot. Like tower's
        // `ConcurrencyLimit`, it starts without a permit and acquires its own in `poll_ready`.
        Self {
            inner: self.inner.clone(),
            semaphore: self.semaphore.clone(),
            permit: None,
            wait: None,
            shared: Arc::clone(&self.shared),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::ignored_unit_patterns)]
mod tests {
    use super::*;
    use crate::bulkhead::BulkheadLayer;
    use std::time::Duration;
    use tokio::time::Instant;
    use tokio_test::{assert_pending, assert_ready, assert_ready_ok};
    use tower_layer::Layer;
    use tower_test::mock;

    fn layer(max: usize, wait_ms: u64) -> BulkheadLayer {
        BulkheadLayer::builder()
            .max_concurrent_calls(max)
            .max_wait(Duration::from_millis(wait_ms))
            .retry_after(Duration::from_secs(2))
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn admits_up_to_max_then_waits_then_rejects() {
        let l = layer(1, 100);
        let (mut svc1, mut handle) = mock::spawn_layer::<&str, &str, _>(l.clone());
        let (mut svc2, mut h2) = mock::spawn_layer::<&str, &str, _>(l.clone());
        // The mocks of two spawn_layer calls are distinct services sharing one bulkhead.
        handle.allow(10);
        h2.allow(10);

        assert_ready_ok!(svc1.poll_ready());
        let fut = svc1.call("a");
        assert_eq!(l.available(), 0);

        assert_pending!(svc2.poll_ready());
        tokio::time::advance(Duration::from_millis(50)).await;
        assert_pending!(svc2.poll_ready());
        tokio::time::advance(Duration::from_millis(60)).await;
        let err = assert_ready!(svc2.poll_ready()).unwrap_err();
        let overloaded = err.downcast_ref::<Overloaded>().expect("typed error");
        assert_eq!(overloaded.retry_after(), Duration::from_secs(2));

        // The rejected caller holds no slot and no place in the queue.
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(req, "a");
        send.send_response("A");
        assert_eq!(fut.await.unwrap(), "A");
        assert_eq!(l.available(), 1);
        assert_ready_ok!(svc2.poll_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn waiter_gets_slot_released_within_max_wait() {
        let l = layer(1, 1_000);
        let (mut svc1, mut h1) = mock::spawn_layer::<(), (), _>(l.clone());
        let (mut svc2, mut h2) = mock::spawn_layer::<(), (), _>(l.clone());
        h1.allow(1);
        h2.allow(1);
        assert_ready_ok!(svc1.poll_ready());
        let fut1 = svc1.call(());
        assert_pending!(svc2.poll_ready());
        tokio::time::advance(Duration::from_millis(300)).await;
        let (_, send) = h1.next_request().await.unwrap();
        send.send_response(());
        fut1.await.unwrap();
        assert!(svc2.is_woken());
        assert_ready_ok!(svc2.poll_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_wait_rejects_at_once() {
        let l = layer(1, 0);
        let (mut svc1, mut h1) = mock::spawn_layer::<(), (), _>(l.clone());
        let (mut svc2, _h2) = mock::spawn_layer::<(), (), _>(l.clone());
        h1.allow(1);
        assert_ready_ok!(svc1.poll_ready());
        let start = Instant::now();
        assert!(assert_ready!(svc2.poll_ready()).is_err());
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn no_permit_is_taken_before_poll_ready() {
        let l = layer(1, 0);
        let (_svc, _h) = mock::spawn_layer::<(), (), _>(l.clone());
        assert_eq!(l.available(), 1, "building a service takes no slot");
    }

    #[tokio::test(start_paused = true)]
    async fn clone_drops_permit() {
        let l = layer(1, 0);
        let (mock_svc, mut handle) = mock::pair::<(), ()>();
        handle.allow(2);
        let mut svc = tokio_test::task::spawn(());
        let mut bulkhead = l.layer(mock_svc);
        svc.enter(|cx, _| assert!(bulkhead.poll_ready(cx).is_ready()));
        assert_eq!(l.available(), 0);
        let mut clone = bulkhead.clone();
        assert!(clone.permit.is_none(), "a clone starts without a permit");
        // The clone must wait for its own slot; the original still holds one.
        svc.enter(|cx, _| assert!(matches!(clone.poll_ready(cx), Poll::Ready(Err(_)))));
        drop(bulkhead);
        assert_eq!(
            l.available(),
            1,
            "dropping a ready service releases its slot"
        );
        svc.enter(|cx, _| assert!(matches!(clone.poll_ready(cx), Poll::Ready(Ok(())))));
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_response_future_releases_slot() {
        let l = layer(1, 0);
        let (mut svc, mut h) = mock::spawn_layer::<(), (), _>(l.clone());
        h.allow(1);
        assert_ready_ok!(svc.poll_ready());
        let fut = svc.call(());
        assert_eq!(l.available(), 0);
        drop(fut);
        assert_eq!(l.available(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn inner_errors_pass_through() {
        let mut b = Bulkhead::new(
            tower::service_fn(|()| async { Err::<(), _>(std::io::Error::other("inner")) }),
            2,
            Duration::ZERO,
        );
        use tower::ServiceExt;
        let err = b.ready().await.unwrap().call(()).await.unwrap_err();
        assert_eq!(err.to_string(), "inner");
        assert!(b.get_ref().clone().ready().await.is_ok());
        let _ = b.get_mut();
        let _inner = b.into_inner();
    }
}
