use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::algorithm::{Aimd, Gradient2, LimitAlgorithm};
use super::classify::DefaultClassifier;
use super::service::{AdaptiveConcurrency, Shared};
use crate::config::{AdaptiveConfig, AlgorithmKind};

/// Applies an [`AdaptiveConcurrency`] limit: calls are admitted while fewer than the current
/// limit are in flight, others are rejected at once with [`Overloaded`](crate::Overloaded);
/// the limit follows each call's latency and outcome through a
/// [`LimitAlgorithm`](super::LimitAlgorithm).
///
/// All services made by one layer share one limit.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use core_backend_worker::BoxError;
/// use core_backend_worker::adaptive::{AdaptiveConcurrencyLayer, Gradient2, HttpClassifier};
/// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let adaptive = AdaptiveConcurrencyLayer::builder()
///     .algorithm(Gradient2::builder().initial_limit(20).min_limit(5).max_limit(500).build())
///     .classifier(HttpClassifier)
///     .build();
///
/// let mut svc = ServiceBuilder::new().layer(adaptive.clone()).service(service_fn(
///     |_req: http::Request<()>| async { Ok::<_, BoxError>(http::Response::new(())) },
/// ));
/// svc.ready().await?.call(http::Request::new(())).await?;
/// assert_eq!(adaptive.limit(), 20);
/// # Ok(())
/// # }
/// ```
pub struct AdaptiveConcurrencyLayer<C = DefaultClassifier> {
    shared: Arc<Shared<C>>,
}

impl<C> Clone for AdaptiveConcurrencyLayer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> fmt::Debug for AdaptiveConcurrencyLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveConcurrencyLayer")
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// Builds an [`AdaptiveConcurrencyLayer`]; from [`AdaptiveConcurrencyLayer::builder`].
pub struct AdaptiveConcurrencyLayerBuilder<C> {
    algorithm: Box<dyn LimitAlgorithm>,
    classifier: C,
    retry_after: Duration,
    name: String,
}

impl<C> fmt::Debug for AdaptiveConcurrencyLayerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveConcurrencyLayerBuilder")
            .field("initial_limit", &self.algorithm.initial_limit())
            .field("retry_after", &self.retry_after)
            .field("name", &self.name)
            .finish()
    }
}

impl<C> AdaptiveConcurrencyLayerBuilder<C> {
    /// The limit algorithm. Defaults to [`Gradient2::default`].
    pub fn algorithm(mut self, algorithm: impl LimitAlgorithm) -> Self {
        self.algorithm = Box::new(algorithm);
        self
    }

    /// Which outcomes count as drops. Defaults to [`DefaultClassifier`] (errors only).
    pub fn classifier<C2>(self, classifier: C2) -> AdaptiveConcurrencyLayerBuilder<C2> {
        AdaptiveConcurrencyLayerBuilder {
            algorithm: self.algorithm,
            classifier,
            retry_after: self.retry_after,
            name: self.name,
        }
    }

    /// The `Retry-After` hint carried by a rejection. Defaults to 1 second.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Value of the `limiter` label on the layer's metrics. Defaults to `"default"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Builds the layer.
    pub fn build(self) -> AdaptiveConcurrencyLayer<C> {
        AdaptiveConcurrencyLayer {
            shared: Arc::new(Shared::new(
                self.algorithm,
                self.classifier,
                self.retry_after,
                &self.name,
            )),
        }
    }
}

impl AdaptiveConcurrencyLayer {
    /// A builder with [`Gradient2::default`] and the [`DefaultClassifier`].
    pub fn builder() -> AdaptiveConcurrencyLayerBuilder<DefaultClassifier> {
        AdaptiveConcurrencyLayerBuilder {
            algorithm: Box::new(Gradient2::default()),
            classifier: DefaultClassifier,
            retry_after: Duration::from_secs(1),
            name: "default".to_owned(),
        }
    }

    /// A layer built from an [`AdaptiveConfig`], with the [`DefaultClassifier`] (use
    /// [`AdaptiveConcurrencyLayer::builder_from_config`] to choose another).
    pub fn from_config(config: &AdaptiveConfig) -> Self {
        Self::builder_from_config(config).build()
    }

    /// A builder preset from an [`AdaptiveConfig`].
    pub fn builder_from_config(
        config: &AdaptiveConfig,
    ) -> AdaptiveConcurrencyLayerBuilder<DefaultClassifier> {
        let algorithm: Box<dyn LimitAlgorithm> = match config.algorithm {
            AlgorithmKind::Aimd => Box::new(
                Aimd::builder()
                    .initial_limit(config.initial_limit)
                    .min_limit(config.min_limit)
                    .max_limit(config.max_limit)
                    .backoff_ratio(config.backoff_ratio)
                    .latency_threshold(config.latency_threshold)
                    .build(),
            ),
            AlgorithmKind::Gradient2 => Box::new(
                Gradient2::builder()
                    .initial_limit(config.initial_limit)
                    .min_limit(config.min_limit)
                    .max_limit(config.max_limit)
                    .rtt_tolerance(config.rtt_tolerance)
                    .smoothing(config.smoothing)
                    .long_window(config.long_window)
                    .queue_size(config.queue_size)
                    .build(),
            ),
        };
        Self::builder()
            .algorithm(algorithm)
            .retry_after(config.retry_after)
    }
}

impl<C> AdaptiveConcurrencyLayer<C> {
    /// The current limit (also the gauge `core_backend.worker.adaptive.limit`).
    pub fn limit(&self) -> usize {
        self.shared.limit()
    }

    /// Calls admitted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }
}

impl<S, C> Layer<S> for AdaptiveConcurrencyLayer<C> {
    type Service = AdaptiveConcurrency<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveConcurrency::with_shared(inner, Arc::clone(&self.shared))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::adaptive::HttpClassifier;

    #[test]
    fn from_config_builds_either_algorithm() {
        let mut config = AdaptiveConfig {
            initial_limit: 30,
            min_limit: 5,
            max_limit: 40,
            ..AdaptiveConfig::default()
        };
        let gradient = AdaptiveConcurrencyLayer::from_config(&config);
        assert_eq!(gradient.limit(), 30);
        assert_eq!(gradient.in_flight(), 0);
        config.algorithm = AlgorithmKind::Aimd;
        config.initial_limit = 100;
        let aimd = AdaptiveConcurrencyLayer::from_config(&config);
        assert_eq!(
            aimd.limit(),
            40,
            "the initial limit is clamped to the maximum"
        );
        let debug = format!("{aimd:?}");
        assert!(debug.contains("limit: 40"), "{debug}");
    }

    #[test]
    fn builder_setters_and_debug() {
        let builder = AdaptiveConcurrencyLayer::builder_from_config(&AdaptiveConfig::default())
            .retry_after(Duration::from_secs(7))
            .name("db");
        let debug = format!("{builder:?}");
        assert!(
            debug.contains("initial_limit: 20") && debug.contains("\"db\""),
            "{debug}"
        );
        let layer = builder.classifier(HttpClassifier).build();
        let clone = layer.clone();
        assert_eq!(clone.limit(), 20);
    }
}
