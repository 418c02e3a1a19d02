//! State-transition events.

use std::sync::Arc;

use crate::State;

/// A breaker moved from one state to another.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateTransition {
    /// The breaker's name.
    pub name: Arc<str>,
    /// The previous state.
    pub from: State,
    /// The new state.
    pub to: State,
}

/// Called synchronously on every transition (keep it short; use
/// [`CircuitBreaker::subscribe`](crate::CircuitBreaker::subscribe) for async consumers).
///
/// Blanket-implemented for closures `Fn(&StateTransition) + Send + Sync`.
pub trait TransitionListener: Send + Sync + 'static {
    /// Handles one transition.
    fn on_transition(&self, event: &StateTransition);
}

impl<F> TransitionListener for F
where
    F: Fn(&StateTransition) + Send + Sync + 'static,
{
    fn on_transition(&self, event: &StateTransition) {
        self(event);
    }
}
