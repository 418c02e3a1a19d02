use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use metrics::{Counter, Gauge};
use tokio::time::Instant;
use tower_service::Service;

use super::algorithm::{LimitAlgorithm, Sample};
use super::classify::ClassifyDrop;
use super::future::ResponseFuture;
use crate::BoxError;
use crate::error::Overloaded;

pub(crate) struct Shared<C> {
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    algorithm: Mutex<Box<dyn LimitAlgorithm>>,
    pub(super) classifier: C,
    retry_after: Duration,
    limit_gauge: Gauge,
    in_flight_gauge: Gauge,
    rejected: Counter,
}

impl<C> Shared<C> {
    pub(crate) fn new(
        algorithm: Box<dyn LimitAlgorithm>,
        classifier: C,
        retry_after: Duration,
        name: &str,
    ) -> Self {
        let labels = [("limiter", name.to_owned())];
        let limit = algorithm.initial_limit().max(1);
        let limit_gauge = metrics::gauge!("core_backend.worker.adaptive.limit", &labels);
        limit_gauge.set(limit as f64);
        Self {
            limit: AtomicUsize::new(limit),
            in_flight: AtomicUsize::new(0),
            algorithm: Mutex::new(algorithm),
            classifier,
            retry_after,
            limit_gauge,
            in_flight_gauge: metrics::gauge!("core_backend.worker.adaptive.in_flight", &labels),
            rejected: metrics::counter!("core_backend.worker.adaptive.rejected", &labels),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// One admitted call's share of the limit, released on drop.
pub(crate) struct Permit<C> {
    shared: Arc<Shared<C>>,
    in_flight: usize,
}

impl<C> Permit<C> {
    fn try_acquire(shared: &Arc<Shared<C>>) -> Option<Self> {
        let mut current = shared.in_flight.load(Ordering::Relaxed);
        loop {
            if current >= shared.limit.load(Ordering::Acquire) {
                return None;
            }
            match shared.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    shared.in_flight_gauge.increment(1.0);
                    return Some(Self {
                        shared: Arc::clone(shared),
                        in_flight: current + 1,
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }

    pub(super) fn classifier(&self) -> &C {
        &self.shared.classifier
    }

    /// Feeds the finished call to the algorithm; the permit is released when `self` drops.
    pub(super) fn record(self, rtt: Duration, dropped: bool) {
        let sample = Sample::new(rtt, self.in_flight, dropped);
        let new_limit = {
            let mut algorithm = self
                .shared
                .algorithm
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            algorithm.update(&sample).max(1)
        };
        let old = self.shared.limit.swap(new_limit, Ordering::AcqRel);
        if old != new_limit {
            self.shared.limit_gauge.set(new_limit as f64);
            tracing::trace!(
                old,
                new = new_limit,
                ?rtt,
                dropped,
                "adaptive limit changed"
            );
        }
    }
}

impl<C> Drop for Permit<C> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.shared.in_flight_gauge.decrement(1.0);
    }
}

/// Admits calls while fewer than the adaptive limit are in flight; see
/// [`AdaptiveConcurrencyLayer`](super::AdaptiveConcurrencyLayer).
///
/// The share of the limit is taken in `poll_ready` (or the call is rejected there with
/// [`Overloaded`]), and given back when the response future completes (feeding its latency
/// and outcome to the algorithm) or is dropped (no sample, as a cancelled call says nothing
/// about the backend).
pub struct AdaptiveConcurrency<S, C = super::DefaultClassifier> {
    inner: S,
    shared: Arc<Shared<C>>,
    permit: Option<Permit<C>>,
}

impl<S: fmt::Debug, C> fmt::Debug for AdaptiveConcurrency<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveConcurrency")
            .field("inner", &self.inner)
            .field("limit", &self.shared.limit())
            .field("in_flight", &self.shared.in_flight())
            .field("has_permit", &self.permit.is_some())
            .finish()
    }
}

impl<S> AdaptiveConcurrency<S> {
    /// Wraps `inner` with its own limit driven by `algorithm`, errors counting as drops.
    ///
    /// To share one limit between several services, or to choose the classifier, build an
    /// [`AdaptiveConcurrencyLayer`](super::AdaptiveConcurrencyLayer).
    pub fn new(inner: S, algorithm: impl LimitAlgorithm) -> Self {
        Self::with_shared(
            inner,
            Arc::new(Shared::new(
                Box::new(algorithm),
                super::DefaultClassifier,
                Duration::from_secs(1),
                "default",
            )),
        )
    }
}

impl<S, C> AdaptiveConcurrency<S, C> {
    pub(crate) fn with_shared(inner: S, shared: Arc<Shared<C>>) -> Self {
        Self {
            inner,
            shared,
            permit: None,
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.shared.limit()
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

impl<S, C, Req> Service<Req> for AdaptiveConcurrency<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: ClassifyDrop<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.permit.is_none() {
            let Some(permit) = Permit::try_acquire(&self.shared) else {
                self.shared.rejected.increment(1);
                tracing::debug!(
                    limit = self.shared.limit(),
                    "adaptive limit reached, call rejected"
                );
                return Poll::Ready(Err(Box::new(Overloaded::new(self.shared.retry_after))));
            };
            self.permit = Some(permit);
        }
        // Our share is held; the inner service must be ready too.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let permit = self
            .permit
            .take()
            .expect("adaptive limit reached; poll_ready must be called first");
        ResponseFuture::new(self.inner.call(req), permit, Instant::now())
    }
}

impl<S: Clone, C> Clone for AdaptiveConcurrency<S, C> {
    fn clone(&self) -> Self {
        // A clone has not been polled ready: it must take its own share of the limit in
        // `poll_ready` rather than copy (and double-spend) this one's.
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            permit: None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::ignored_unit_patterns)]
mod tests {
    use super::*;
    use crate::adaptive::{AdaptiveConcurrencyLayer, Aimd, HttpClassifier};
    use std::sync::atomic::AtomicU64;
    use tokio_test::{assert_ready, assert_ready_ok};
    use tower_layer::Layer;
    use tower_test::mock;

    fn aimd_layer(initial: usize) -> AdaptiveConcurrencyLayer {
        AdaptiveConcurrencyLayer::builder()
            .algorithm(
                Aimd::builder()
                    .initial_limit(initial)
                    .max_limit(initial + 5)
                    .latency_threshold(Duration::from_millis(500))
                    .backoff_ratio(0.5)
                    .build(),
            )
            .retry_after(Duration::from_secs(3))
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn rejects_over_limit_and_grows_on_success() {
        let l = aimd_layer(2);
        let (mut a, mut ha) = mock::spawn_layer::<(), (), _>(l.clone());
        let (mut b, mut hb) = mock::spawn_layer::<(), (), _>(l.clone());
        let (mut c, mut hc) = mock::spawn_layer::<(), (), _>(l.clone());
        ha.allow(5);
        hb.allow(5);
        hc.allow(5);
        assert_ready_ok!(a.poll_ready());
        assert_ready_ok!(b.poll_ready());
        let err = assert_ready!(c.poll_ready()).unwrap_err();
        assert_eq!(
            err.downcast_ref::<Overloaded>().unwrap().retry_after(),
            Duration::from_secs(3)
        );
        assert_eq!(l.in_flight(), 2);

        let fut = a.call(());
        tokio::time::advance(Duration::from_millis(10)).await;
        let (_, send) = ha.next_request().await.unwrap();
        send.send_response(());
        fut.await.unwrap();
        assert_eq!(
            l.limit(),
            3,
            "a fast success at full use grows the limit by one"
        );
        assert_eq!(l.in_flight(), 1);
        assert_ready_ok!(c.poll_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn errors_and_slow_calls_shrink_the_limit() {
        let l = aimd_layer(4);
        let (mut svc, mut h) = mock::spawn_layer::<(), (), _>(l.clone());
        h.allow(10);
        assert_ready_ok!(svc.poll_ready());
        let fut = svc.call(());
        let (_, send) = h.next_request().await.unwrap();
        send.send_error(std::io::Error::other("backend down"));
        assert!(fut.await.is_err());
        assert_eq!(l.limit(), 2);

        assert_ready_ok!(svc.poll_ready());
        let fut = svc.call(());
        tokio::time::advance(Duration::from_secs(1)).await;
        let (_, send) = h.next_request().await.unwrap();
        send.send_response(());
        fut.await.unwrap();
        assert_eq!(l.limit(), 1, "a call over the latency threshold is a drop");
        assert!(format!("{l:?}").contains("limit: 1"));
    }

    #[tokio::test(start_paused = true)]
    async fn http_classifier_counts_503_as_drop() {
        let l = AdaptiveConcurrencyLayer::builder()
            .algorithm(Aimd::builder().initial_limit(10).backoff_ratio(0.5).build())
            .classifier(HttpClassifier)
            .build();
        let (mut svc, mut h) = mock::spawn_layer::<(), http::Response<()>, _>(l.clone());
        h.allow(1);
        assert_ready_ok!(svc.poll_ready());
        let fut = svc.call(());
        let (_, send) = h.next_request().await.unwrap();
        let mut resp = http::Response::new(());
        *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        send.send_response(resp);
        fut.await.unwrap();
        assert_eq!(l.limit(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn no_permit_without_poll_ready_and_clone_drops_permit() {
        let l = aimd_layer(1);
        let (inner, mut h) = mock::pair::<(), ()>();
        h.allow(1);
        let mut svc = l.layer(inner);
        assert_eq!(l.in_flight(), 0, "building a service takes nothing");
        let mut task = tokio_test::task::spawn(());
        task.enter(|cx, _| assert!(svc.poll_ready(cx).is_ready()));
        assert_eq!(l.in_flight(), 1);
        let mut clone = svc.clone();
        assert!(clone.permit.is_none());
        assert_eq!(l.in_flight(), 1, "cloning takes no share");
        task.enter(|cx, _| assert!(matches!(clone.poll_ready(cx), Poll::Ready(Err(_)))));
        drop(svc);
        assert_eq!(
            l.in_flight(),
            0,
            "dropping a ready service gives its share back"
        );
        assert!(format!("{clone:?}").contains("has_permit: false"));
    }

    /// Drives `clients` closed-loop callers through the layer for `rounds` calls each,
    /// against a backend whose latency grows with its concurrency (10 ms + 2 ms per call in
    /// flight beyond 8, a queueing model); returns the limit after each finished call.
    async fn drive(layer: AdaptiveConcurrencyLayer, clients: usize, rounds: usize) -> Vec<usize> {
        drive_with(layer, clients, rounds, Arc::new(AtomicU64::new(10))).await
    }

    async fn drive_with(
        layer: AdaptiveConcurrencyLayer,
        clients: usize,
        rounds: usize,
        base_ms: Arc<AtomicU64>,
    ) -> Vec<usize> {
        use std::sync::atomic::AtomicUsize;
        use tower::ServiceExt;
        let inside = Arc::new(AtomicUsize::new(0));
        let backend = {
            let inside = Arc::clone(&inside);
            tower::service_fn(move |()| {
                let inside = Arc::clone(&inside);
                let base = base_ms.load(Ordering::SeqCst);
                async move {
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    let latency = base + 2 * n.saturating_sub(8) as u64;
                    tokio::time::sleep(Duration::from_millis(latency)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(())
                }
            })
        };
        let svc = layer.layer(backend);
        let limits = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (svc, limits, layer) = (svc.clone(), Arc::clone(&limits), layer.clone());
                tokio::spawn(async move {
                    for _ in 0..rounds {
                        if svc.clone().oneshot(()).await.is_err() {
                            // Shed: back off a little, as a client honouring Retry-After would.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        limits.lock().unwrap().push(layer.limit());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        limits.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn gradient2_grows_then_sheds_when_latency_jumps() {
        let layer = AdaptiveConcurrencyLayer::builder()
            .algorithm(
                crate::adaptive::Gradient2::builder()
                    .initial_limit(4)
                    .max_limit(100)
                    .build(),
            )
            .build();
        let base = Arc::new(AtomicU64::new(10));
        let limits = drive_with(layer.clone(), 40, 30, Arc::clone(&base)).await;
        let grown = *limits.last().unwrap();
        assert!(grown > 20, "grew while latency was steady: {grown}");
        // The backend degrades: 20x slower. The short-term RTT jumps above the long-term
        // average and the limit is cut long before the average catches up.
        base.store(200, Ordering::SeqCst);
        let limits = drive_with(layer.clone(), 40, 3, base).await;
        let last = *limits.last().unwrap();
        assert!(last < grown / 2, "{grown} -> {last}");
        assert!(last >= 1);
        assert_eq!(layer.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn aimd_settles_under_latency_threshold() {
        let layer = AdaptiveConcurrencyLayer::builder()
            .algorithm(
                Aimd::builder()
                    .initial_limit(4)
                    .max_limit(100)
                    .latency_threshold(Duration::from_millis(30))
                    .build(),
            )
            .build();
        let limits = drive(layer.clone(), 40, 60).await;
        let peak = *limits.iter().max().unwrap();
        let last = *limits.last().unwrap();
        // Latency crosses 30 ms at 18 in flight: the limit saw-tooths around there.
        assert!(peak > 8, "{peak}");
        assert!(peak < 40, "{peak}");
        assert!((8..=30).contains(&last), "{last}");
    }

    #[tokio::test(start_paused = true)]
    async fn standalone_service_and_accessors() {
        use tower::ServiceExt;
        let mut svc = AdaptiveConcurrency::new(
            tower::service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }),
            Aimd::builder().initial_limit(2).build(),
        );
        assert_eq!(svc.limit(), 2);
        assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
        let _ = svc.get_ref();
        let _ = svc.get_mut();
        let _inner = svc.into_inner();
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_call_releases_without_sample() {
        let l = aimd_layer(3);
        let (mut svc, mut h) = mock::spawn_layer::<(), (), _>(l.clone());
        h.allow(1);
        assert_ready_ok!(svc.poll_ready());
        let fut = svc.call(());
        assert_eq!(l.in_flight(), 1);
        drop(fut);
        assert_eq!(l.in_flight(), 0);
        assert_eq!(l.limit(), 3);
    }
}
