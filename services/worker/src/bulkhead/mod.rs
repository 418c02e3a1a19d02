//! A bulkhead: at most N calls in the inner service at once, callers wait for a slot at most
//! a bounded time, then are turned away with [`Overloaded`](crate::Overloaded).
//!
//! This is resilience4j's semaphore `Bulkhead` (`maxConcurrentCalls`, `maxWaitDuration`) as a
//! tower layer. See [`BulkheadLayer`].

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::{BulkheadLayer, BulkheadLayerBuilder};
pub use self::service::Bulkhead;
