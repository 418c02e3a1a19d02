//! [`CircuitBreakerLayer`].

use tower_layer::Layer;

use crate::{
    CircuitBreaker, CircuitBreakerService,
    classify::DefaultHttpClassifier,
    response::{ErrorOnOpen, GrpcOnOpen, HttpOnOpen},
};

/// Layer guarding a service with a [`CircuitBreaker`].
///
/// Every service it produces shares the same breaker (clone the layer freely).
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = DefaultHttpClassifier, O = ErrorOnOpen> {
    breaker: CircuitBreaker,
    classifier: C,
    on_open: O,
}

impl CircuitBreakerLayer {
    /// A breaker builder whose [`build_layer`](crate::CircuitBreakerBuilder::build_layer)
    /// gives this layer: `CircuitBreakerLayer::builder().failure_rate_threshold(25.0).build_layer()`.
    pub fn builder() -> crate::CircuitBreakerBuilder {
        crate::CircuitBreakerBuilder::new()
    }

    /// A layer around a new breaker configured by `config`.
    pub fn from_config(config: &crate::CircuitBreakerConfig) -> Self {
        Self::new(CircuitBreaker::from_config(config))
    }

    /// A layer around `breaker`, classifying with [`DefaultHttpClassifier`] and refusing
    /// with a [`CircuitOpen`](crate::CircuitOpen) error.
    pub fn new(breaker: CircuitBreaker) -> Self {
        Self {
            breaker,
            classifier: DefaultHttpClassifier,
            on_open: ErrorOnOpen,
        }
    }
}

impl<C, O> CircuitBreakerLayer<C, O> {
    /// The breaker (for manual transitions, metrics, events).
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Sets the failure classifier. Defaults to [`DefaultHttpClassifier`].
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2, O> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
            on_open: self.on_open,
        }
    }

    /// Sets what a refused call returns. Defaults to [`ErrorOnOpen`].
    pub fn on_open<O2>(self, on_open: O2) -> CircuitBreakerLayer<C, O2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier: self.classifier,
            on_open,
        }
    }

    /// HTTP-server mode: refusals become `503` + `Retry-After` + problem+json. Defaults to
    /// error mode.
    pub fn http_responses(self) -> CircuitBreakerLayer<C, HttpOnOpen> {
        self.on_open(HttpOnOpen)
    }

    /// gRPC mode: refusals become `UNAVAILABLE`. Defaults to error mode.
    pub fn grpc_responses(self) -> CircuitBreakerLayer<C, GrpcOnOpen> {
        self.on_open(GrpcOnOpen)
    }
}

impl<S, C: Clone, O: Clone> Layer<S> for CircuitBreakerLayer<C, O> {
    type Service = CircuitBreakerService<S, C, O>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(
            inner,
            self.breaker.clone(),
            self.classifier.clone(),
            self.on_open.clone(),
        )
    }
}
