//! The [`tower::retry::Policy`] implementation.

use std::{sync::Arc, time::Duration};

use std::pin::Pin;

use tokio::time::{Instant, Sleep};

use crate::{
    Backoff, RetryBudget,
    classify::{Classify, RetryDecision},
    replay::Replay,
};

/// Settings shared (through an `Arc`) by every clone of a policy.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) backoff: Backoff,
    pub(crate) max_attempts: u32,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) max_retry_after: Duration,
    pub(crate) clamp_retry_after: bool,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) seed: Option<u64>,
}

/// Everything a policy shares with its clones: one `Arc` increment per request.
#[derive(Debug)]
pub(crate) struct Shared<C, R> {
    pub(crate) settings: Settings,
    pub(crate) classifier: C,
    pub(crate) replay: R,
}

/// A [`tower::retry::Policy`]: classify the result with `C`, copy the request with `R`, wait
/// per [`Backoff`], give up at `max_attempts`, `max_elapsed` or an empty [`RetryBudget`].
///
/// Build it with [`RetryLayer::builder`](crate::RetryLayer::builder) (then
/// [`RetryLayerBuilder::policy`](crate::RetryLayerBuilder::policy) if you want the bare
/// policy for `tower::retry::Retry`).
///
/// When the policy gives up, the caller gets the **last attempt's result** unchanged (the
/// last `503` response, the last error): that is tower's `Retry` contract, and it keeps the
/// real cause visible. The metrics `core_backend.retry.exhausted` /
/// `core_backend.retry.budget_exhausted` and a `tracing` event record why.
///
/// Per-request state (attempt number, previous delay, start time) lives in the clone tower
/// makes for each request, so one policy serves any number of concurrent requests.
#[derive(Debug)]
pub struct RetryPolicy<C, R> {
    pub(crate) shared: Arc<Shared<C, R>>,
    attempt: u32,
    previous: Duration,
    start: Option<Instant>,
}

impl<C, R> Clone for RetryPolicy<C, R> {
    #[inline]
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            attempt: self.attempt,
            previous: self.previous,
            start: self.start,
        }
    }
}

impl<C, R> RetryPolicy<C, R> {
    pub(crate) fn new(settings: Settings, classifier: C, replay: R) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                classifier,
                replay,
            }),
            attempt: 0,
            previous: Duration::ZERO,
            start: None,
        }
    }

    /// Decides whether (and after how long) attempt `self.attempt + 1` failed transiently and
    /// should be retried. Shared by the tower policy and [`retry`](crate::retry()).
    #[inline]
    pub(crate) fn next_delay(&mut self, decision: RetryDecision) -> Option<Duration> {
        let server_delay = match decision {
            RetryDecision::DontRetry => return None,
            RetryDecision::Retry => None,
            RetryDecision::RetryAfter(d) => Some(d),
        };
        self.retry_delay(server_delay)
    }

    #[inline(never)]
    fn retry_delay(&mut self, server_delay: Option<Duration>) -> Option<Duration> {
        let s = &self.shared.settings;
        let attempts_done = self.attempt + 1;
        if attempts_done >= s.max_attempts.max(1) {
            give_up("max_attempts", attempts_done);
            return None;
        }
        let server_delay = match server_delay {
            Some(after) if after > s.max_retry_after => {
                if !s.clamp_retry_after {
                    give_up("retry_after_too_long", attempts_done);
                    return None;
                }
                Some(s.max_retry_after)
            }
            other => other,
        };
        let delay = server_delay.unwrap_or_else(|| {
            // Seeded: retry `n` draws from `seed + n`, so schedules are reproducible without
            // carrying a generator in every request's policy.
            let mut rng = match s.seed {
                Some(seed) => fastrand::Rng::with_seed(seed.wrapping_add(u64::from(self.attempt))),
                None => fastrand::Rng::new(),
            };
            s.backoff.delay(self.attempt, self.previous, &mut rng)
        });
        if let (Some(max), Some(start)) = (s.max_elapsed, self.start)
            && start.elapsed() + delay > max
        {
            give_up("max_elapsed", attempts_done);
            return None;
        }
        if let Some(budget) = &s.budget
            && !budget.withdraw()
        {
            metrics::counter!("core_backend.retry.budget_exhausted").increment(1);
            tracing::debug!(
                attempt = attempts_done,
                "retry budget exhausted, not retrying"
            );
            return None;
        }
        metrics::counter!("core_backend.retry.attempts").increment(1);
        tracing::debug!(
            attempt = attempts_done + 1,
            delay_ms = delay.as_millis() as u64,
            server_delay = server_delay.is_some(),
            "retrying"
        );
        self.attempt = attempts_done;
        self.previous = delay;
        Some(delay)
    }

    /// Called once per original request.
    #[inline]
    pub(crate) fn on_first_attempt(&mut self) {
        if let Some(budget) = &self.shared.settings.budget {
            budget.deposit();
        }
        if self.shared.settings.max_elapsed.is_some() {
            self.start = Some(Instant::now());
        }
    }
}

#[cold]
fn give_up(reason: &'static str, attempts: u32) {
    metrics::counter!("core_backend.retry.exhausted", "reason" => reason).increment(1);
    tracing::debug!(attempts, reason, "giving up retrying");
}

impl<C, R, Req, Res, E> tower::retry::Policy<Req, Res, E> for RetryPolicy<C, R>
where
    C: Classify<Res, E>,
    R: Replay<Req>,
{
    // Boxed: a `Sleep` is large and only exists when a retry happens, so the response future
    // of the common no-retry case stays small.
    type Future = Pin<Box<Sleep>>;

    #[inline]
    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        let decision = self.shared.classifier.classify(result);
        self.next_delay(decision)
            .map(|delay| Box::pin(tokio::time::sleep(delay)))
    }

    #[inline]
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        // tower calls this once before the first attempt (on the service's own policy, whose
        // state is then copied into the request's clone) and once before each retry.
        if self.attempt == 0 {
            self.on_first_attempt();
        }
        self.shared.replay.replay(req)
    }
}

#[cfg(test)]
fn _policy_is_object_safe(_: Box<dyn tower::retry::Policy<(), (), (), Future = Pin<Box<Sleep>>>>) {}
