//! [`RateLimitLayer`], [`ClientRateLimitLayer`] and their builder.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::service::{ClientRateLimit, RateLimit, Shared};
use crate::{
    Clock, Limit, MemoryStore, MonotonicClock, OnStoreError, RateLimitStore, RequestParts,
};

/// Paths never limited by default: health and metrics endpoints, gRPC health.
pub const DEFAULT_EXEMPT_PATHS: &[&str] = &[
    "/livez",
    "/readyz",
    "/healthz",
    "/metrics",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
];

/// Applies [`RateLimit`] to a server-side service (axum router, tonic server, hyper service).
///
/// Denied requests get `429 Too Many Requests` with `Retry-After`, the IETF `RateLimit-Policy`
/// and `RateLimit` fields and an RFC 9457 problem+json body; requests whose `content-type` is
/// `application/grpc*` get a gRPC `RESOURCE_EXHAUSTED` status with `retry-after` metadata.
/// Admitted responses carry `RateLimit-Policy` and `RateLimit` too.
#[derive(Clone)]
pub struct RateLimitLayer {
    pub(crate) shared: Arc<Shared>,
}

/// Applies [`ClientRateLimit`] to a client (hyper-util, tonic channel, the httpclient): a
/// denied call fails with [`RateLimited`](crate::RateLimited) before anything is sent.
#[derive(Clone)]
pub struct ClientRateLimitLayer {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limits", &self.shared.limits)
            .finish()
    }
}

impl fmt::Debug for ClientRateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRateLimitLayer")
            .field("limits", &self.shared.limits)
            .finish()
    }
}

impl RateLimitLayer {
    /// A builder; add at least one [`Limit`].
    pub fn builder() -> RateLimitLayerBuilder {
        RateLimitLayerBuilder::default()
    }

    /// A layer with one limit and every other setting at its default.
    pub fn new(limit: Limit) -> Self {
        Self::builder().limit(limit).build()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::from_shared(inner, self.shared.clone())
    }
}

impl<S> Layer<S> for ClientRateLimitLayer {
    type Service = ClientRateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientRateLimit::from_shared(inner, self.shared.clone())
    }
}

pub(crate) type ExemptFn = Arc<dyn Fn(&RequestParts<'_>) -> bool + Send + Sync>;

/// Builds a [`RateLimitLayer`] or a [`ClientRateLimitLayer`].
///
/// ```
/// use core_backend_ratelimit::{ClientIp, Limit, OnStoreError, Quota, RateLimitLayer};
///
/// let layer = RateLimitLayer::builder()
///     .limit(Limit::new("per-second", Quota::per_second(10).burst(20)).key(ClientIp::new()))
///     .limit(Limit::new("per-day", Quota::per_day(10_000)).key(ClientIp::new()))
///     .on_store_error(OnStoreError::FailClosed)
///     .exempt_path("/version")
///     .build();
/// # let _ = layer;
/// ```
pub struct RateLimitLayerBuilder {
    limits: Vec<Limit>,
    store: Option<Arc<dyn RateLimitStore>>,
    clock: Option<Arc<dyn Clock>>,
    on_store_error: OnStoreError,
    exempt_paths: Vec<String>,
    exempt: Option<ExemptFn>,
}

impl fmt::Debug for RateLimitLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayerBuilder")
            .field("limits", &self.limits)
            .field("on_store_error", &self.on_store_error)
            .field("exempt_paths", &self.exempt_paths)
            .finish()
    }
}

impl Default for RateLimitLayerBuilder {
    fn default() -> Self {
        Self {
            limits: Vec::new(),
            store: None,
            clock: None,
            on_store_error: OnStoreError::default(),
            exempt_paths: DEFAULT_EXEMPT_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            exempt: None,
        }
    }
}

impl RateLimitLayerBuilder {
    /// Adds a limit. Every limit that applies to a request must admit it; they are checked in
    /// the order added and checking stops at the first denial (limits before it were charged).
    ///
    /// Defaults to no limit (everything admitted).
    pub fn limit(mut self, limit: Limit) -> Self {
        self.limits.push(limit);
        self
    }

    /// Where the state lives.
    ///
    /// Defaults to a fresh [`MemoryStore`].
    pub fn store(mut self, store: impl RateLimitStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The clock passed to the store.
    ///
    /// Defaults to [`MonotonicClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Admit or refuse requests when the store fails.
    ///
    /// Defaults to [`OnStoreError::FailOpen`].
    pub fn on_store_error(mut self, policy: OnStoreError) -> Self {
        self.on_store_error = policy;
        self
    }

    /// Adds an exact path that is never limited.
    ///
    /// Defaults to [`DEFAULT_EXEMPT_PATHS`].
    pub fn exempt_path(mut self, path: impl Into<String>) -> Self {
        self.exempt_paths.push(path.into());
        self
    }

    /// Replaces the exact paths that are never limited.
    ///
    /// Defaults to [`DEFAULT_EXEMPT_PATHS`].
    pub fn exempt_paths<I: IntoIterator<Item = P>, P: Into<String>>(mut self, paths: I) -> Self {
        self.exempt_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Requests for which `predicate` is true are never limited (in addition to the exempt
    /// paths).
    ///
    /// Defaults to none.
    pub fn exempt<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&RequestParts<'_>) -> bool + Send + Sync + 'static,
    {
        self.exempt = Some(Arc::new(predicate));
        self
    }

    fn shared(self) -> Arc<Shared> {
        Arc::new(Shared {
            limits: self.limits,
            store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
            clock: self
                .clock
                .unwrap_or_else(|| Arc::new(MonotonicClock::new())),
            on_store_error: self.on_store_error,
            exempt_paths: self.exempt_paths,
            exempt: self.exempt,
        })
    }

    /// A server-side layer.
    pub fn build(self) -> RateLimitLayer {
        RateLimitLayer {
            shared: self.shared(),
        }
    }

    /// A client-side layer.
    pub fn build_client(self) -> ClientRateLimitLayer {
        ClientRateLimitLayer {
            shared: self.shared(),
        }
    }
}
