//! [`retry`] and [`Retrier`]: retrying plain async code, outside tower.

use std::future::Future;

use crate::{
    RetryConfig, RetryLayerBuilder,
    classify::{Classify, RetryDecision},
    policy::RetryPolicy,
    replay::CloneReplay,
};

/// Classifier that retries every error (the default of [`retry`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyError;

impl<T, E> Classify<T, E> for AnyError {
    fn classify(&self, result: &Result<T, E>) -> RetryDecision {
        if result.is_err() {
            RetryDecision::Retry
        } else {
            RetryDecision::DontRetry
        }
    }
}

/// Runs `op` until it succeeds, retrying every error with the default settings
/// ([`RetryConfig::default`]: 3 attempts, 100 ms exponential backoff with full jitter).
/// Returns the first success or the **last error**.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// let calls = AtomicU32::new(0);
/// let value = core_backend_retry::retry(|| async {
///     if calls.fetch_add(1, Ordering::Relaxed) == 0 { Err("flaky") } else { Ok(42) }
/// })
/// .await;
/// assert_eq!(value, Ok(42));
/// # }
/// ```
pub async fn retry<F, Fut, T, E>(op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Retrier::new().run(op).await
}

/// Retries async operations with the same settings as [`RetryLayer`](crate::RetryLayer).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use core_backend_retry::{Backoff, Retrier, RetryLayer};
/// use std::time::Duration;
///
/// let retrier = Retrier::from_builder(
///     RetryLayer::builder()
///         .max_attempts(5)
///         .backoff(Backoff::exponential(Duration::from_millis(1), Duration::from_millis(10))),
/// )
/// .when(|e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionRefused);
/// let result: Result<(), std::io::Error> =
///     retrier.run(|| async { Err(std::io::ErrorKind::NotFound.into()) }).await;
/// assert!(result.is_err()); // NotFound is not retried
/// # }
/// ```
#[derive(Debug)]
pub struct Retrier<C = AnyError> {
    policy: RetryPolicy<C, CloneReplay>,
}

impl<C> Clone for Retrier<C> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy.clone(),
        }
    }
}

impl Default for Retrier {
    fn default() -> Self {
        Self::new()
    }
}

impl Retrier {
    /// Default settings, every error retried.
    pub fn new() -> Self {
        Self::from_config(&RetryConfig::default())
    }

    /// Settings from `config`, every error retried.
    pub fn from_config(config: &RetryConfig) -> Self {
        Self::from_builder(RetryLayerBuilder::from_config(config))
    }

    /// Settings (backoff, attempts, elapsed limit, budget, seed) from a layer builder; every
    /// error retried.
    pub fn from_builder<C0, R0>(builder: RetryLayerBuilder<C0, R0>) -> Self {
        Self {
            policy: builder.classifier(AnyError).replay(CloneReplay).policy(),
        }
    }
}

impl<C> Retrier<C> {
    /// Retries only the errors for which `predicate` holds.
    pub fn when<F>(self, predicate: F) -> Retrier<crate::ErrorPredicate<F>> {
        self.classifier(crate::ErrorPredicate::new(predicate))
    }

    /// Uses `classifier` on each result (it may also ask to retry an `Ok`, or give a delay).
    pub fn classifier<C2>(self, classifier: C2) -> Retrier<C2> {
        Retrier {
            policy: RetryPolicy::new(self.policy.shared.settings.clone(), classifier, CloneReplay),
        }
    }

    /// Runs `op` until the classifier is satisfied or retrying stops; returns the last result.
    pub async fn run<F, Fut, T, E>(&self, mut op: F) -> Result<T, E>
    where
        C: Classify<T, E>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut state = self.policy.clone();
        state.on_first_attempt();
        loop {
            let result = op().await;
            let decision = state.shared.classifier.classify(&result);
            match state.next_delay(decision) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return result,
            }
        }
    }
}
