//! [`ResponseCacheLayer`].

use std::{sync::Arc, time::Duration};

use tower_layer::Layer;

use super::{ResponseCache, ResponseCacheConfig, store::Shared};

/// Applies [`ResponseCache`] to a service; every service made from one layer (and its clones)
/// shares one store.
///
/// ```
/// use std::time::Duration;
/// use core_backend_cache::ResponseCacheLayer;
///
/// let layer = ResponseCacheLayer::builder()
///     .max_body_bytes(256 * 1024)
///     .default_ttl(Duration::from_secs(5))
///     .build();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct ResponseCacheLayer {
    shared: Arc<Shared>,
}

impl Default for ResponseCacheLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseCacheLayer {
    /// A layer with the [`ResponseCacheConfig`] defaults.
    pub fn new() -> Self {
        Self::from_config(ResponseCacheConfig::default())
    }

    /// A layer with `config`.
    pub fn from_config(config: ResponseCacheConfig) -> Self {
        Self {
            shared: Arc::new(Shared::new(config)),
        }
    }

    /// A builder starting from the defaults.
    pub fn builder() -> ResponseCacheLayerBuilder {
        ResponseCacheLayerBuilder {
            config: ResponseCacheConfig::default(),
        }
    }

    /// Drops every stored variant of `uri` (as `host` + path and query, e.g. `"example.com/v1/notes/1"`;
    /// without a host, just the path and query).
    pub async fn invalidate(&self, uri: &str) {
        self.shared.invalidate(uri).await;
    }
}

impl<S> Layer<S> for ResponseCacheLayer {
    type Service = ResponseCache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResponseCache::from_shared(inner, Arc::clone(&self.shared))
    }
}

/// Builds a [`ResponseCacheLayer`]; the same settings come from [`ResponseCacheConfig`].
#[derive(Debug, Clone)]
pub struct ResponseCacheLayerBuilder {
    config: ResponseCacheConfig,
}

impl ResponseCacheLayerBuilder {
    /// Value of the `cache` metric label. Defaults to `"http"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Upper bound on the bytes of all stored responses. Defaults to 64 MiB.
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.config.max_bytes = n;
        self
    }

    /// Largest body buffered, tagged and stored; larger ones stream through. Defaults to 1 MiB.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.config.max_body_bytes = n;
        self
    }

    /// Freshness for `200` responses without `max-age` / `s-maxage`. Defaults to none (not stored).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.config.default_ttl = Some(ttl);
        self
    }

    /// Compute strong `ETag`s for responses that have none. Defaults to `true`.
    pub fn etag(mut self, on: bool) -> Self {
        self.config.etag = on;
        self
    }

    /// Most `Vary` variants kept per URI. Defaults to `16`.
    pub fn max_variants(mut self, n: usize) -> Self {
        self.config.max_variants = n;
        self
    }

    /// Builds the layer (and its store).
    pub fn build(self) -> ResponseCacheLayer {
        ResponseCacheLayer::from_config(self.config)
    }
}
