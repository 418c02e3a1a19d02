//! An adaptive concurrency limit: the number of calls admitted at once follows the measured
//! latency and drops of the protected service, as in Netflix's
//! [concurrency-limits](https://github.com/Netflix/concurrency-limits).
//!
//! See [`AdaptiveConcurrencyLayer`] for wiring, [`Aimd`] and [`Gradient2`] for the algorithms,
//! and [`ClassifyDrop`] for what counts as a drop.
//!
//! # Why an adaptive limit?
//!
//! A fixed limit (a [`Bulkhead`](crate::bulkhead::Bulkhead)) must be chosen in advance, and
//! the right value moves with the backend's load, deployment size and data. By Little's law
//! the concurrency a service sustains is `throughput × latency`; beyond it, extra calls only
//! queue, latency grows and timeouts cascade. An adaptive limit finds that point online, the
//! way TCP congestion control finds a link's capacity: it grows while calls are fast and
//! succeed, and shrinks when latency rises (queueing, [`Gradient2`]) or calls fail
//! ([`Aimd`]). Calls over the limit are rejected at once with
//! [`Overloaded`](crate::Overloaded) (load shedding), which keeps latency low for the admitted
//! ones and tells clients to back off instead of piling on.
//!
//! # References
//!
//! - Netflix Technology Blog, *Performance Under Load* (2018), and the
//!   `com.netflix.concurrency.limits.limit` package (`AIMDLimit`, `Gradient2Limit`).
//! - V. Jacobson, *Congestion Avoidance and Control*, SIGCOMM 1988 (AIMD).
//! - J. D. C. Little, *A Proof for the Queuing Formula L = λW*, 1961.

mod algorithm;
mod classify;
mod future;
mod layer;
mod service;

pub use self::algorithm::{Aimd, AimdBuilder, Gradient2, Gradient2Builder, LimitAlgorithm, Sample};
pub use self::classify::{ClassifyDrop, DefaultClassifier, HttpClassifier};
pub use self::future::ResponseFuture;
pub use self::layer::{AdaptiveConcurrencyLayer, AdaptiveConcurrencyLayerBuilder};
pub use self::service::AdaptiveConcurrency;
