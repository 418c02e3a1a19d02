//! [`RetryLayer`] and its builder.

use std::time::Duration;

use tower_layer::Layer;

use crate::{
    Backoff, Jitter, RetryBudget, RetryConfig,
    classify::{DefaultHttpClassifier, GrpcClassifier},
    policy::{RetryPolicy, Settings},
    replay::HttpReplay,
    service::Retry,
};

/// Layer that retries failed requests of the wrapped service; see the [crate docs](crate).
///
/// Cheap to clone (one `Arc`).
#[derive(Debug)]
pub struct RetryLayer<C = DefaultHttpClassifier, R = HttpReplay> {
    policy: RetryPolicy<C, R>,
}

impl<C, R> Clone for RetryLayer<C, R> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy.clone(),
        }
    }
}

impl RetryLayer {
    /// A builder with production defaults: 3 attempts, 100 ms → 10 s exponential backoff with
    /// full jitter, a 20 % [`RetryBudget`], `Retry-After` honoured up to 30 s, HTTP
    /// classification and idempotent methods only.
    pub fn builder() -> RetryLayerBuilder {
        RetryLayerBuilder::from_config(&RetryConfig::default())
    }

    /// A layer built from `config` (HTTP classifier and replay).
    pub fn from_config(config: &RetryConfig) -> Self {
        RetryLayerBuilder::from_config(config).build()
    }
}

impl<C, R> RetryLayer<C, R> {
    /// The policy this layer installs.
    pub fn policy(&self) -> &RetryPolicy<C, R> {
        &self.policy
    }
}

impl<S, C, R> Layer<S> for RetryLayer<C, R> {
    type Service = Retry<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        tower::retry::Retry::new(self.policy.clone(), inner)
    }
}

/// Builder of [`RetryLayer`] (and of a bare [`RetryPolicy`]).
#[derive(Debug, Clone)]
pub struct RetryLayerBuilder<C = DefaultHttpClassifier, R = HttpReplay> {
    backoff: Backoff,
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    max_retry_after: Duration,
    clamp_retry_after: bool,
    budget: Option<RetryBudget>,
    seed: Option<u64>,
    classifier: C,
    replay: R,
}

impl RetryLayerBuilder {
    /// A builder taking its values from `config`.
    pub fn from_config(config: &RetryConfig) -> Self {
        Self {
            backoff: Backoff::exponential(config.base_delay, config.max_delay)
                .multiplier(config.multiplier)
                .jitter(config.jitter),
            max_attempts: config.max_attempts,
            max_elapsed: config.max_elapsed,
            max_retry_after: config.max_retry_after,
            clamp_retry_after: config.clamp_retry_after,
            budget: config.budget_enabled.then(|| {
                RetryBudget::new(
                    config.budget_ratio,
                    config.budget_min_per_sec,
                    config.budget_max_tokens,
                )
            }),
            seed: None,
            classifier: DefaultHttpClassifier::new(),
            replay: if config.idempotent_only {
                HttpReplay::idempotent()
            } else {
                HttpReplay::any_method()
            },
        }
    }
}

impl<C, R> RetryLayerBuilder<C, R> {
    /// Total attempts including the first (so `3` = at most 2 retries); `0` is treated as `1`.
    /// Defaults to 3.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The backoff schedule. Defaults to 100 ms × 2ⁿ capped at 10 s, full jitter.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets only the jitter of the backoff. Defaults to [`Jitter::Full`].
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.backoff = self.backoff.jitter(jitter);
        self
    }

    /// Stops retrying when the next attempt would start more than `max` after the first one
    /// started. Defaults to no limit (only `max_attempts` and the budget apply).
    pub fn max_elapsed(mut self, max: Duration) -> Self {
        self.max_elapsed = Some(max);
        self
    }

    /// The longest server-requested delay (`Retry-After`, `grpc-retry-pushback-ms`) the layer
    /// waits; a longer one ends retrying and returns that response (or, with
    /// [`clamp_retry_after`](Self::clamp_retry_after), is cut to this). Defaults to 30 s.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Whether a server delay above `max_retry_after` is cut to `max_retry_after` (`true`)
    /// instead of ending retrying (`false`). Stopping is the default because retrying before
    /// the server asked usually just earns another `503`/`429`. Defaults to `false`.
    pub fn clamp_retry_after(mut self, clamp: bool) -> Self {
        self.clamp_retry_after = clamp;
        self
    }

    /// Uses `budget` (clone it to share it with other layers). Defaults to a fresh
    /// [`RetryBudget::default`] per layer: 20 % of requests + 10/s, at most 100 tokens.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Disables the retry budget. Defaults to a budget being used.
    pub fn no_budget(mut self) -> Self {
        self.budget = None;
        self
    }

    /// Seeds the jitter so delays are reproducible (tests). Defaults to a random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the classifier. Defaults to [`DefaultHttpClassifier`].
    pub fn classifier<C2>(self, classifier: C2) -> RetryLayerBuilder<C2, R> {
        RetryLayerBuilder {
            backoff: self.backoff,
            max_attempts: self.max_attempts,
            max_elapsed: self.max_elapsed,
            max_retry_after: self.max_retry_after,
            clamp_retry_after: self.clamp_retry_after,
            budget: self.budget,
            seed: self.seed,
            classifier,
            replay: self.replay,
        }
    }

    /// Sets how requests are copied for another attempt. Defaults to
    /// [`HttpReplay::idempotent`].
    pub fn replay<R2>(self, replay: R2) -> RetryLayerBuilder<C, R2> {
        RetryLayerBuilder {
            backoff: self.backoff,
            max_attempts: self.max_attempts,
            max_elapsed: self.max_elapsed,
            max_retry_after: self.max_retry_after,
            clamp_retry_after: self.clamp_retry_after,
            budget: self.budget,
            seed: self.seed,
            classifier: self.classifier,
            replay,
        }
    }

    /// gRPC mode: [`GrpcClassifier`] and [`HttpReplay::any_method`] (every gRPC call is a
    /// `POST`; the status code decides). Defaults to HTTP mode.
    pub fn grpc(self) -> RetryLayerBuilder<GrpcClassifier, HttpReplay> {
        self.classifier(GrpcClassifier::new())
            .replay(HttpReplay::any_method())
    }

    /// The policy alone, for `tower::retry::Retry::new(policy, service)`.
    pub fn policy(self) -> RetryPolicy<C, R> {
        RetryPolicy::new(
            Settings {
                backoff: self.backoff,
                max_attempts: self.max_attempts,
                max_elapsed: self.max_elapsed,
                max_retry_after: self.max_retry_after,
                clamp_retry_after: self.clamp_retry_after,
                budget: self.budget,
                seed: self.seed,
            },
            self.classifier,
            self.replay,
        )
    }

    /// Builds the layer.
    pub fn build(self) -> RetryLayer<C, R> {
        RetryLayer {
            policy: self.policy(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http::{Request, Response};
    use tokio::time::Instant;
    use tower::{Service, ServiceExt, service_fn};

    use super::*;
    use crate::{Idempotent, Retrier};

    type Log = Arc<Mutex<Vec<Duration>>>;

    /// A service answering `script[i]` (status, extra header) on call `i`, logging call times.
    fn scripted(
        script: Vec<(u16, Option<(&'static str, &'static str)>)>,
    ) -> (
        impl Service<Request<String>, Response = Response<()>, Error = &'static str> + Clone,
        Log,
    ) {
        let log: Log = Arc::default();
        let start = Instant::now();
        let l = log.clone();
        let script = Arc::new(script);
        let svc = service_fn(move |_req: Request<String>| {
            let mut calls = l.lock().unwrap();
            let i = calls.len();
            calls.push(start.elapsed());
            let step = script.get(i).copied().unwrap_or((200, None));
            async move {
                if step.0 == 0 {
                    return Err("connection reset");
                }
                let mut r = Response::builder().status(step.0);
                if let Some((k, v)) = step.1 {
                    r = r.header(k, v);
                }
                Ok(r.body(()).unwrap())
            }
        });
        (svc, log)
    }

    fn get() -> Request<String> {
        Request::get("http://u/").body(String::new()).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn exact() -> RetryLayerBuilder {
        RetryLayer::builder()
            .backoff(Backoff::exponential(ms(100), ms(1000)).jitter(Jitter::None))
            .no_budget()
    }

    #[tokio::test(start_paused = true)]
    async fn exponential_schedule_is_exact() {
        let (svc, log) = scripted(vec![(503, None), (502, None), (0, None), (504, None)]);
        let svc = exact().max_attempts(5).build().layer(svc);
        let res = svc.oneshot(get()).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            *log.lock().unwrap(),
            vec![ms(0), ms(100), ms(300), ms(700), ms(1500)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn exhaustion_returns_last_result() {
        let (svc, log) = scripted(vec![(503, None); 10]);
        let res = exact()
            .max_attempts(3)
            .build()
            .layer(svc)
            .oneshot(get())
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(log.lock().unwrap().len(), 3);

        let (svc, log) = scripted(vec![(0, None); 10]);
        let err = exact()
            .max_attempts(2)
            .build()
            .layer(svc)
            .oneshot(get())
            .await
            .unwrap_err();
        assert_eq!(err, "connection reset");
        assert_eq!(log.lock().unwrap().len(), 2);

        let (svc, log) = scripted(vec![(503, None); 10]);
        let res = exact()
            .max_attempts(0)
            .build()
            .layer(svc)
            .oneshot(get())
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(log.lock().unwrap().len(), 1, "0 attempts means one");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_honoured_and_capped() {
        let (svc, log) = scripted(vec![
            (503, Some(("retry-after", "2"))),
            (429, Some(("retry-after", "1"))),
        ]);
        let res = exact().build().layer(svc).oneshot(get()).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(*log.lock().unwrap(), vec![ms(0), ms(2000), ms(3000)]);

        let (svc, log) = scripted(vec![(503, Some(("retry-after", "120")))]);
        let res = exact().build().layer(svc).oneshot(get()).await.unwrap();
        assert_eq!(
            res.status(),
            503,
            "longer than max_retry_after: returned as is"
        );
        assert_eq!(res.headers()["retry-after"], "120");
        assert_eq!(log.lock().unwrap().len(), 1);

        let (svc, log) = scripted(vec![(503, Some(("retry-after", "120")))]);
        let layer = exact()
            .max_retry_after(Duration::from_secs(5))
            .clamp_retry_after(true)
            .build();
        let res = layer.layer(svc).oneshot(get()).await.unwrap();
        assert_eq!(res.status(), 200, "clamped: waited 5 s and retried");
        assert_eq!(*log.lock().unwrap(), vec![ms(0), ms(5000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn only_idempotent_requests_are_retried() {
        let (svc, log) = scripted(vec![(503, None), (503, None)]);
        let post = Request::post("http://u/").body(String::from("x")).unwrap();
        let res = exact().build().layer(svc).oneshot(post).await.unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(log.lock().unwrap().len(), 1);

        let (svc, log) = scripted(vec![(503, None), (503, None)]);
        let mut post = Request::post("http://u/").body(String::from("x")).unwrap();
        post.extensions_mut().insert(Idempotent);
        let res = exact().build().layer(svc).oneshot(post).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn max_elapsed_stops_early() {
        let (svc, log) = scripted(vec![(503, None); 10]);
        let layer = RetryLayer::builder()
            .backoff(Backoff::exponential(ms(1000), ms(10_000)).jitter(Jitter::None))
            .no_budget()
            .max_attempts(10)
            .max_elapsed(ms(2500))
            .build();
        let res = layer.layer(svc).oneshot(get()).await.unwrap();
        assert_eq!(res.status(), 503);
        // 0 → 1000 → 3000 would pass 2500: stop after two attempts.
        assert_eq!(*log.lock().unwrap(), vec![ms(0), ms(1000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn budget_limits_retries_across_clones() {
        let budget = RetryBudget::new(0.0, 0, 1);
        // Starts empty (min_per_sec = 0): no retries at all.
        let (svc, log) = scripted(vec![(503, None); 10]);
        let layer = exact().max_attempts(5).budget(budget.clone()).build();
        let res = layer.layer(svc).oneshot(get()).await.unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(log.lock().unwrap().len(), 1);

        let budget = RetryBudget::new(1.0, 0, 1);
        let (svc, log) = scripted(vec![(503, None); 10]);
        let layer = exact().max_attempts(5).budget(budget.clone()).build();
        let a = layer.layer(svc.clone());
        let b = a.clone();
        // Request 1 deposits 1 token and retries once; its retry spends it.
        let _ = a.oneshot(get()).await.unwrap();
        let n1 = log.lock().unwrap().len();
        assert!(n1 >= 2, "{n1}");
        let _ = b.oneshot(get()).await.unwrap();
        let n2 = log.lock().unwrap().len() - n1;
        assert!(n2 <= n1, "clones share the bucket");
        assert!(budget.available() < 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn seeded_jitter_matches_backoff() {
        for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let backoff = Backoff::exponential(ms(100), ms(800)).jitter(jitter);
            let (svc, log) = scripted(vec![(503, None); 4]);
            let layer = RetryLayer::builder()
                .backoff(backoff)
                .no_budget()
                .seed(42)
                .max_attempts(5)
                .build();
            let res = layer.layer(svc).oneshot(get()).await.unwrap();
            assert_eq!(res.status(), 200);
            let mut expected = vec![Duration::ZERO];
            let mut prev = Duration::ZERO;
            for n in 0..4 {
                let mut rng = fastrand::Rng::with_seed(42 + u64::from(n));
                prev = backoff.delay(n, prev, &mut rng);
                // tokio's timer fires on whole milliseconds, rounding up.
                let tick = Duration::from_millis(prev.as_nanos().div_ceil(1_000_000) as u64);
                expected.push(*expected.last().unwrap() + tick);
            }
            assert_eq!(*log.lock().unwrap(), expected, "{jitter:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn grpc_mode() {
        let (svc, log) = scripted(vec![
            (200, Some(("grpc-status", "14"))),
            (200, Some(("grpc-status", "3"))),
        ]);
        let layer = exact().grpc().build();
        let res = layer
            .layer(svc)
            .oneshot(Request::post("http://u/x").body(String::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            res.headers()["grpc-status"],
            "3",
            "INVALID_ARGUMENT is final"
        );
        assert_eq!(log.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn closure_classifier() {
        let (svc, log) = scripted(vec![(500, None), (500, None)]);
        let layer = exact()
            .classifier(|r: &Result<Response<()>, &'static str>| match r {
                Ok(res) if res.status() == 500 => crate::RetryDecision::RetryAfter(ms(5)),
                _ => crate::RetryDecision::DontRetry,
            })
            .build();
        let res = layer.layer(svc).oneshot(get()).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(*log.lock().unwrap(), vec![ms(0), ms(5), ms(10)]);
    }

    #[tokio::test(start_paused = true)]
    async fn retrier_helper() {
        let start = Instant::now();
        let calls = Mutex::new(Vec::new());
        let retrier = Retrier::from_builder(exact().max_attempts(4));
        let r: Result<u32, &str> = retrier
            .run(|| async {
                let mut c = calls.lock().unwrap();
                c.push(start.elapsed());
                if c.len() < 3 { Err("again") } else { Ok(7) }
            })
            .await;
        assert_eq!(r, Ok(7));
        assert_eq!(*calls.lock().unwrap(), vec![ms(0), ms(100), ms(300)]);

        let n = Mutex::new(0);
        let r: Result<(), &str> = retrier
            .clone()
            .when(|e: &&str| *e == "retry me")
            .run(|| async {
                *n.lock().unwrap() += 1;
                Err("fatal")
            })
            .await;
        assert_eq!(r, Err("fatal"));
        assert_eq!(*n.lock().unwrap(), 1);

        let r: Result<(), &str> = crate::retry(|| async { Err("always") }).await;
        assert_eq!(r, Err("always"));
    }

    #[test]
    fn layer_is_cheap_and_configurable() {
        let layer = RetryLayer::from_config(&RetryConfig::default());
        let _ = layer.clone().policy();
        let policy = RetryLayer::builder()
            .jitter(Jitter::Equal)
            .max_retry_after(ms(1))
            .policy();
        assert_eq!(policy.shared.settings.backoff.jitter, Jitter::Equal);
        let c = RetryConfig {
            idempotent_only: false,
            budget_enabled: false,
            ..RetryConfig::default()
        };
        let p = RetryLayerBuilder::from_config(&c).policy();
        assert!(p.shared.settings.budget.is_none());
    }
}
