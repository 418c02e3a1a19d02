use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tower_layer::Layer;

use super::service::{Bulkhead, Shared};
use crate::config::BulkheadConfig;

/// Applies a [`Bulkhead`] to a service: at most `max_concurrent_calls` calls run at once, a
/// caller waits at most `max_wait` for a slot, then gets [`Overloaded`](crate::Overloaded).
///
/// Every service this layer produces (and every clone of them) shares one set of slots, so one
/// `BulkheadLayer` on an axum `Router` bounds the whole router, not each route.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use core_backend_worker::{BoxError, Overloaded, bulkhead::BulkheadLayer};
/// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let bulkhead = BulkheadLayer::builder()
///     .max_concurrent_calls(1)
///     .max_wait(Duration::from_millis(50))
///     .build();
///
/// let svc = ServiceBuilder::new()
///     .layer(bulkhead)
///     .service(service_fn(|x: u32| async move { Ok::<_, BoxError>(x + 1) }));
///
/// let mut first = svc.clone();
/// let mut second = svc.clone();
/// // `first` takes the only slot in `poll_ready` and keeps it until its call completes.
/// first.ready().await?;
/// // `second` waits 50 ms for it, then is turned away with a typed error.
/// let err = second.ready().await.unwrap_err();
/// let overloaded = err.downcast_ref::<Overloaded>().expect("typed rejection");
/// assert_eq!(overloaded.retry_after(), Duration::from_secs(1));
///
/// assert_eq!(first.call(1).await?, 2);
/// assert_eq!(second.ready().await?.call(2).await?, 3);
/// # Ok(())
/// # }
/// ```
///
/// # Differences from [`tower::limit::ConcurrencyLimit`]
///
/// - A caller does not wait forever for a slot: after `max_wait` its `poll_ready` fails with
///   [`Overloaded`](crate::Overloaded) (`max_wait` of zero rejects at once when full).
/// - Slots are shared by every service the layer makes (tower's
///   `GlobalConcurrencyLimitLayer` behaviour), which is what a bulkhead around one dependency
///   needs.
/// - Rejections are counted in `core_backend.worker.bulkhead.rejected`.
///
/// [`tower::limit::ConcurrencyLimit`]: https://docs.rs/tower/latest/tower/limit/struct.ConcurrencyLimit.html
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    semaphore: Arc<Semaphore>,
    shared: Arc<Shared>,
}

/// Builds a [`BulkheadLayer`]; from [`BulkheadLayer::builder`].
#[derive(Debug, Clone)]
pub struct BulkheadLayerBuilder {
    config: BulkheadConfig,
    name: String,
}

impl BulkheadLayerBuilder {
    /// Calls admitted at the same time (at least 1). Defaults to `25`.
    pub fn max_concurrent_calls(mut self, max: usize) -> Self {
        self.config.max_concurrent_calls = max.max(1);
        self
    }

    /// Longest a caller waits in `poll_ready` for a free slot before it is rejected with
    /// [`Overloaded`](crate::Overloaded). Defaults to zero (reject at once when full).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = max_wait;
        self
    }

    /// The `Retry-After` hint carried by a rejection. Defaults to 1 second.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.config.retry_after = retry_after;
        self
    }

    /// Value of the `bulkhead` label on the layer's metrics. Defaults to `"default"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Builds the layer.
    pub fn build(self) -> BulkheadLayer {
        let permits = self
            .config
            .max_concurrent_calls
            .clamp(1, Semaphore::MAX_PERMITS);
        BulkheadLayer {
            semaphore: Arc::new(Semaphore::new(permits)),
            shared: Arc::new(Shared::new(&self.config, &self.name)),
        }
    }
}

impl BulkheadLayer {
    /// A layer admitting `max_concurrent_calls` at once, callers waiting at most `max_wait`.
    pub fn new(max_concurrent_calls: usize, max_wait: Duration) -> Self {
        Self::builder()
            .max_concurrent_calls(max_concurrent_calls)
            .max_wait(max_wait)
            .build()
    }

    /// A builder with the defaults of [`BulkheadConfig`].
    pub fn builder() -> BulkheadLayerBuilder {
        BulkheadLayerBuilder {
            config: BulkheadConfig::default(),
            name: "default".to_owned(),
        }
    }

    /// A layer built from a [`BulkheadConfig`].
    pub fn from_config(config: &BulkheadConfig) -> Self {
        BulkheadLayerBuilder {
            config: config.clone(),
            name: "default".to_owned(),
        }
        .build()
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = Bulkhead<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Bulkhead::with_shared(inner, Arc::clone(&self.semaphore), Arc::clone(&self.shared))
    }
}
