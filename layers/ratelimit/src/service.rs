//! [`RateLimit`] (server side) and [`ClientRateLimit`] (client side).
//!
//! # Why nothing is reserved in `poll_ready`
//!
//! Whether a request may pass depends on its key (client IP, API key, route), which is only
//! known in `call`. `poll_ready` therefore only forwards the inner service's readiness, so it
//! stays honest: a rate limiter never reports "not ready" for one client because another is
//! over its quota. A denied request leaves the inner service ready and unused, exactly as
//! if the caller had not called it yet.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower_service::Service;

use crate::error::RateLimited;
use crate::future::{ClientResponseFuture, ResponseFuture};
use crate::headers::{self, Applied, HeaderBlock, Wire};
use crate::{
    CheckFuture, Clock, Limit, OnStoreError, Quota, RateLimitBody, RateLimitStore, RequestParts,
    StoreError, StoreKey,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) struct Shared {
    pub(crate) limits: Vec<Limit>,
    pub(crate) store: Arc<dyn RateLimitStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) on_store_error: OnStoreError,
    pub(crate) exempt_paths: Vec<String>,
    pub(crate) exempt: Option<crate::layer::ExemptFn>,
}

/// What the limits decided for a request.
pub(crate) enum Outcome {
    Allowed(Option<HeaderBlock>),
    Denied {
        retry_after: Duration,
        limit: Arc<str>,
        headers: Option<HeaderBlock>,
    },
    StoreDown(StoreError),
}

pub(crate) enum Admission {
    Exempt,
    Ready(Outcome),
    Pending(Pin<Box<dyn Future<Output = Outcome> + Send>>),
}

/// Accumulates per-limit results.
struct Eval {
    applied: Vec<Applied>,
    failed_open: bool,
    on_store_error: OnStoreError,
}

impl Eval {
    /// Records one limit's result; returns the final outcome if this one settles it.
    fn record(
        &mut self,
        name: Arc<str>,
        quota: Quota,
        result: Result<crate::Decision, StoreError>,
    ) -> Option<Outcome> {
        match result {
            Ok(decision) => {
                let denied = !decision.is_allowed();
                self.applied.push(Applied {
                    name,
                    quota,
                    decision,
                });
                if denied {
                    let headers = HeaderBlock::new(&self.applied);
                    let worst = self
                        .applied
                        .pop()
                        .map(|a| (a.decision.retry_after(), a.name));
                    let (retry_after, limit) = worst.unwrap_or_default();
                    metrics::counter!("core_backend.ratelimit.decisions", "outcome" => "denied")
                        .increment(1);
                    tracing::debug!(limit = %limit, ?retry_after, "rate limited");
                    return Some(Outcome::Denied {
                        retry_after,
                        limit,
                        headers,
                    });
                }
                None
            }
            Err(error) => {
                metrics::counter!("core_backend.ratelimit.store_errors").increment(1);
                match self.on_store_error {
                    OnStoreError::FailOpen => {
                        tracing::warn!(%error, limit = %name, "rate limit store failed: admitting (fail-open)");
                        self.failed_open = true;
                        None
                    }
                    OnStoreError::FailClosed => {
                        tracing::warn!(%error, limit = %name, "rate limit store failed: refusing (fail-closed)");
                        metrics::counter!("core_backend.ratelimit.decisions", "outcome" => "fail_closed").increment(1);
                        Some(Outcome::StoreDown(error))
                    }
                }
            }
        }
    }

    fn finish(self) -> Outcome {
        let outcome = if self.failed_open {
            "fail_open"
        } else {
            "allowed"
        };
        metrics::counter!("core_backend.ratelimit.decisions", "outcome" => outcome).increment(1);
        Outcome::Allowed(HeaderBlock::new(&self.applied))
    }
}

impl Shared {
    fn is_exempt(&self, parts: &RequestParts<'_>) -> bool {
        let path = parts.uri.path();
        self.exempt_paths.iter().any(|p| p == path)
            || self.exempt.as_ref().is_some_and(|f| f(parts))
    }

    pub(crate) fn admit(&self, parts: &RequestParts<'_>) -> Admission {
        if self.is_exempt(parts) {
            return Admission::Exempt;
        }
        let now = self.clock.now();
        let mut eval = Eval {
            applied: Vec::with_capacity(self.limits.len()),
            failed_open: false,
            on_store_error: self.on_store_error,
        };
        let mut pending: Vec<(Arc<str>, Quota, CheckFuture)> = Vec::new();
        for limit in &self.limits {
            let Some(key) = limit.key.extract(parts) else {
                continue;
            };
            let quota = limit.quota_of(&key, parts);
            let mut check = self.store.check(
                StoreKey {
                    limit: &limit.name,
                    key: &key,
                },
                &quota,
                now,
            );
            match check.try_take() {
                Some(result) if pending.is_empty() => {
                    if let Some(outcome) = eval.record(limit.name.clone(), quota, result) {
                        return Admission::Ready(outcome);
                    }
                }
                Some(result) => {
                    pending.push((limit.name.clone(), quota, CheckFuture::ready(result)));
                }
                None => pending.push((limit.name.clone(), quota, check)),
            }
        }
        if pending.is_empty() {
            return Admission::Ready(eval.finish());
        }
        Admission::Pending(Box::pin(async move {
            for (name, quota, check) in pending {
                if let Some(outcome) = eval.record(name, quota, check.await) {
                    return outcome;
                }
            }
            eval.finish()
        }))
    }
}

fn wire_of<B>(req: &Request<B>) -> Wire {
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc { Wire::Grpc } else { Wire::Http }
}

/// Admit (with the fields to stamp on the response) or answer in place of the inner service.
enum Verdict<B> {
    Admit(Option<HeaderBlock>),
    Answer(Response<RateLimitBody<B>>),
}

fn respond<B>(outcome: Outcome, wire: Wire) -> Verdict<B> {
    match outcome {
        Outcome::Allowed(headers) => Verdict::Admit(headers),
        Outcome::Denied {
            retry_after,
            limit,
            headers,
        } => Verdict::Answer(headers::rejection(
            wire,
            &limit,
            retry_after,
            headers.as_ref(),
        )),
        Outcome::StoreDown(_) => Verdict::Answer(headers::store_unavailable(wire)),
    }
}

/// Rate limits requests to a server-side service; see [`RateLimitLayer`](crate::RateLimitLayer).
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limits", &self.shared.limits)
            .finish()
    }
}

impl<S> RateLimit<S> {
    /// Wraps `inner` with the limits of `layer`.
    pub fn new(inner: S, layer: &crate::RateLimitLayer) -> Self {
        Self::from_shared(inner, layer.shared.clone())
    }

    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<RateLimitBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let wire = wire_of(&req);
        match self.shared.admit(&RequestParts::new(&req)) {
            Admission::Exempt => ResponseFuture::called(self.inner.call(req), None),
            Admission::Ready(outcome) => match respond(outcome, wire) {
                Verdict::Admit(headers) => ResponseFuture::called(self.inner.call(req), headers),
                Verdict::Answer(rejection) => ResponseFuture::rejected(rejection),
            },
            Admission::Pending(check) => {
                // The ready service goes into the future; the clone stays for the next poll_ready.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::checking(Box::pin(async move {
                    match respond(check.await, wire) {
                        Verdict::Admit(headers) => {
                            ResponseFuture::called(inner.call(req), headers).await
                        }
                        Verdict::Answer(rejection) => Ok(rejection),
                    }
                }))
            }
        }
    }
}

/// Rate limits calls made through a client; see
/// [`ClientRateLimitLayer`](crate::ClientRateLimitLayer).
#[derive(Clone)]
pub struct ClientRateLimit<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ClientRateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRateLimit")
            .field("inner", &self.inner)
            .field("limits", &self.shared.limits)
            .finish()
    }
}

impl<S> ClientRateLimit<S> {
    /// Wraps `inner` with the limits of `layer`.
    pub fn new(inner: S, layer: &crate::ClientRateLimitLayer) -> Self {
        Self::from_shared(inner, layer.shared.clone())
    }

    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
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

fn client_error(outcome: Outcome) -> Option<BoxError> {
    match outcome {
        Outcome::Allowed(_) => None,
        Outcome::Denied {
            retry_after, limit, ..
        } => Some(Box::new(RateLimited::new(retry_after, limit))),
        Outcome::StoreDown(error) => Some(Box::new(error)),
    }
}

impl<S, ReqBody> Service<Request<ReqBody>> for ClientRateLimit<S>
where
    S: Service<Request<ReqBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ClientResponseFuture<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self.shared.admit(&RequestParts::new(&req)) {
            Admission::Exempt => ClientResponseFuture::called(self.inner.call(req)),
            Admission::Ready(outcome) => match client_error(outcome) {
                None => ClientResponseFuture::called(self.inner.call(req)),
                Some(error) => ClientResponseFuture::failed(error),
            },
            Admission::Pending(check) => {
                // The ready service goes into the future; the clone stays for the next poll_ready.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                ClientResponseFuture::checking(Box::pin(async move {
                    match client_error(check.await) {
                        None => inner.call(req).await.map_err(Into::into),
                        Some(error) => Err(error),
                    }
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{Request, Response};
    use tower_test::mock;

    use crate::{GlobalKey, Limit, Quota, RateLimitLayer, RateLimited};

    fn layer() -> RateLimitLayer {
        RateLimitLayer::builder()
            .limit(Limit::new("g", Quota::per_second(1).burst(2)).key(GlobalKey))
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn denies_then_recovers_as_time_passes() {
        let (mut svc, mut handle) = mock::spawn_layer::<Request<()>, Response<()>, _>(layer());
        handle.allow(10);
        let responder = tokio::spawn(async move {
            while let Some((_req, send)) = handle.next_request().await {
                send.send_response(Response::new(()));
            }
        });
        let mut statuses = Vec::new();
        for wait_ms in [0, 0, 0, 999, 1, 0] {
            tokio::time::advance(Duration::from_millis(wait_ms)).await;
            tokio_test_ready(&mut svc);
            let res = svc
                .call(Request::get("/x").body(()).unwrap())
                .await
                .unwrap();
            statuses.push(res.status().as_u16());
        }
        assert_eq!(statuses, [200, 200, 429, 429, 200, 429]);
        drop(svc);
        responder.await.unwrap();
    }

    fn tokio_test_ready<T: tower_service::Service<Request<()>>>(
        svc: &mut tower_test::mock::Spawn<T>,
    ) {
        assert!(svc.poll_ready().is_ready());
    }

    #[tokio::test]
    async fn poll_ready_is_the_inner_readiness() {
        let (mut svc, mut handle) = mock::spawn_layer::<Request<()>, Response<()>, _>(layer());
        handle.allow(0);
        assert!(svc.poll_ready().is_pending());
        handle.allow(1);
        assert!(svc.poll_ready().is_ready());
        let exempt = svc.call(Request::get("/healthz").body(()).unwrap());
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(Response::new(()));
        assert!(exempt.await.unwrap().headers().get("ratelimit").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn client_mode_error_and_debug() {
        let client_layer = RateLimitLayer::builder()
            .limit(Limit::new("c", Quota::per_minute(1)).key(GlobalKey))
            .build_client();
        assert!(format!("{client_layer:?}").contains("ClientRateLimitLayer"));
        let (mut svc, mut handle) = mock::spawn_layer::<Request<()>, Response<()>, _>(client_layer);
        handle.allow(5);
        assert!(svc.poll_ready().is_ready());
        let first = svc.call(Request::get("/").body(()).unwrap());
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(Response::new(()));
        first.await.unwrap();
        assert!(svc.poll_ready().is_ready());
        let err = svc
            .call(Request::get("/").body(()).unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            err.downcast_ref::<RateLimited>().unwrap().retry_after,
            Duration::from_secs(60)
        );
    }

    /// A store that fails at once.
    struct Broken;

    impl crate::RateLimitStore for Broken {
        fn check(&self, _: crate::StoreKey<'_>, _: &Quota, _: Duration) -> crate::CheckFuture {
            crate::CheckFuture::ready(Err(crate::StoreError::new("down")))
        }
    }

    #[test]
    fn decisions_and_store_errors_are_counted() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};

        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let limited = layer();
        let broken = RateLimitLayer::builder()
            .limit(Limit::new("g", Quota::per_second(1)).key(GlobalKey))
            .store(Broken)
            .build();
        metrics::with_local_recorder(&recorder, || {
            let req = Request::get("/x").body(()).unwrap();
            for _ in 0..3 {
                let _ = limited.shared.admit(&crate::RequestParts::new(&req));
            }
            let _ = broken.shared.admit(&crate::RequestParts::new(&req));
        });
        let mut seen = std::collections::HashMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let outcome = key
                .key()
                .labels()
                .find(|l| l.key() == "outcome")
                .map(|l| l.value().to_owned());
            if let DebugValue::Counter(n) = value {
                seen.insert((key.key().name().to_owned(), outcome), n);
            }
        }
        let decisions = |o: &str| {
            seen.get(&(
                "core_backend.ratelimit.decisions".to_owned(),
                Some(o.to_owned()),
            ))
            .copied()
        };
        assert_eq!(decisions("allowed"), Some(2));
        assert_eq!(decisions("denied"), Some(1));
        assert_eq!(decisions("fail_open"), Some(1));
        assert_eq!(
            seen.get(&("core_backend.ratelimit.store_errors".to_owned(), None))
                .copied(),
            Some(1)
        );
    }

    /// Each algorithm through the layer on tokio's paused clock, anchored at a whole second
    /// of Unix time so window edges are deterministic.
    #[tokio::test(start_paused = true)]
    async fn each_algorithm_exact_sequence_on_paused_time() {
        use crate::Algorithm;

        // (wait in ms, expected status, expected Retry-After)
        type Step = (u64, u16, &'static str);
        let cases: [(Algorithm, &[Step]); 3] = [
            // GCRA, 2/s: emission interval 500 ms, bucket of 2
            (
                Algorithm::Gcra,
                &[
                    (0, 200, ""),
                    (0, 200, ""),
                    (0, 429, "1"),
                    (499, 429, "1"),
                    (1, 200, ""),
                    (0, 429, "1"),
                ],
            ),
            // fixed window of 1 s: the count resets exactly at the edge
            (
                Algorithm::FixedWindow,
                &[
                    (0, 200, ""),
                    (0, 200, ""),
                    (0, 429, "1"),
                    (999, 429, "1"),
                    (1, 200, ""),
                    (0, 200, ""),
                    (0, 429, "1"),
                ],
            ),
            // sliding window: a full window waits for the next one plus half of it (1.5 s); at
            // the edge the previous 2 still weigh fully, half of them 500 ms later
            (
                Algorithm::SlidingWindow,
                &[
                    (0, 200, ""),
                    (0, 200, ""),
                    (0, 429, "2"),
                    (1000, 429, "1"),
                    (499, 429, "1"),
                    (1, 200, ""),
                    (0, 429, "1"),
                ],
            ),
        ];
        for (algorithm, steps) in cases {
            let start = tokio::time::Instant::now();
            let clock = move || Duration::from_secs(1_700_000_000) + start.elapsed();
            let layer = RateLimitLayer::builder()
                .limit(Limit::new("g", Quota::per_second(2).algorithm(algorithm)).key(GlobalKey))
                .clock(clock)
                .build();
            let (mut svc, mut handle) = mock::spawn_layer::<Request<()>, Response<()>, _>(layer);
            handle.allow(100);
            let responder = tokio::spawn(async move {
                while let Some((_req, send)) = handle.next_request().await {
                    send.send_response(Response::new(()));
                }
            });
            let mut statuses = Vec::new();
            for &(wait_ms, _, retry_after) in steps {
                tokio::time::advance(Duration::from_millis(wait_ms)).await;
                assert!(svc.poll_ready().is_ready());
                let res = svc
                    .call(Request::get("/x").body(()).unwrap())
                    .await
                    .unwrap();
                let header = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                assert_eq!(
                    header.as_deref().unwrap_or(""),
                    retry_after,
                    "{algorithm:?} step {}",
                    statuses.len()
                );
                statuses.push(res.status().as_u16());
            }
            let expected: Vec<u16> = steps.iter().map(|s| s.1).collect();
            assert_eq!(statuses, expected, "{algorithm:?}");
            drop(svc);
            responder.await.unwrap();
        }
    }
}
