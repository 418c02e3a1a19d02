//! [`CircuitBreakerBuilder`].

use std::{sync::Arc, time::Duration};

use crate::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerLayer, SlidingWindowType,
    event::TransitionListener,
};

/// Builds a [`CircuitBreaker`] (or directly a [`CircuitBreakerLayer`]); every default is
/// resilience4j's.
#[derive(Clone)]
pub struct CircuitBreakerBuilder {
    config: CircuitBreakerConfig,
    listeners: Vec<Arc<dyn TransitionListener>>,
}

impl std::fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("config", &self.config)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl CircuitBreakerBuilder {
    /// A builder with the defaults of [`CircuitBreakerConfig`].
    pub fn new() -> Self {
        Self::from_config(CircuitBreakerConfig::default())
    }

    /// A builder starting from `config`.
    pub fn from_config(config: CircuitBreakerConfig) -> Self {
        Self {
            config,
            listeners: Vec::new(),
        }
    }

    /// Name for metrics, events and logs. Defaults to `"default"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Failure rate (percent) that opens the breaker. Defaults to 50.
    pub fn failure_rate_threshold(mut self, percent: f32) -> Self {
        self.config.failure_rate_threshold = percent;
        self
    }

    /// Slow-call rate (percent) that opens the breaker. Defaults to 100.
    pub fn slow_call_rate_threshold(mut self, percent: f32) -> Self {
        self.config.slow_call_rate_threshold = percent;
        self
    }

    /// Duration from which a call is slow. Defaults to 60 s.
    pub fn slow_call_duration(mut self, duration: Duration) -> Self {
        self.config.slow_call_duration = duration;
        self
    }

    /// Count-based window over the last `calls` calls. Defaults to count-based, 100 calls.
    pub fn count_based_window(mut self, calls: u32) -> Self {
        self.config.sliding_window_type = SlidingWindowType::CountBased;
        self.config.sliding_window_size = calls;
        self
    }

    /// Time-based window over the last `seconds` seconds. Defaults to count-based, 100 calls.
    pub fn time_based_window(mut self, seconds: u32) -> Self {
        self.config.sliding_window_type = SlidingWindowType::TimeBased;
        self.config.sliding_window_size = seconds;
        self
    }

    /// Calls needed before rates are evaluated. Defaults to 100.
    pub fn minimum_number_of_calls(mut self, calls: u32) -> Self {
        self.config.minimum_number_of_calls = calls;
        self
    }

    /// Time spent open before probing. Defaults to 60 s.
    pub fn wait_duration_in_open(mut self, wait: Duration) -> Self {
        self.config.wait_duration_in_open = wait;
        self
    }

    /// Grows the open wait by `multiplier` each time the breaker re-opens from half-open, up
    /// to `max`. Defaults to a constant wait (multiplier 1, max 10 min).
    pub fn exponential_wait(mut self, multiplier: f64, max: Duration) -> Self {
        self.config.wait_duration_multiplier = multiplier;
        self.config.max_wait_duration_in_open = max;
        self
    }

    /// Probe calls admitted in half-open (1–1023). Defaults to 10.
    pub fn permitted_calls_in_half_open(mut self, calls: u32) -> Self {
        self.config.permitted_calls_in_half_open = calls;
        self
    }

    /// Adds a listener called on every state transition. Defaults to none.
    pub fn on_transition(mut self, listener: impl TransitionListener) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Builds the breaker.
    pub fn build(self) -> CircuitBreaker {
        CircuitBreaker::with_listeners(&self.config, self.listeners)
    }

    /// Builds a layer around a new breaker (default classifier, error on open).
    pub fn build_layer(self) -> CircuitBreakerLayer {
        CircuitBreakerLayer::new(self.build())
    }
}
