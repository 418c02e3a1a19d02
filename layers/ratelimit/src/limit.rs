//! [`Limit`]: a named quota applied per key, and [`QuotaResolver`] for a quota per key.

use std::fmt;
use std::sync::Arc;

use crate::{ClientIp, KeyExtractor, Quota, RateLimitKey, RequestParts};

/// Chooses the quota for a key, e.g. by the client's plan. `None` keeps the limit's default
/// quota.
///
/// Implemented for closures:
///
/// ```
/// use core_backend_ratelimit::{Limit, Quota, RateLimitKey, RequestParts};
///
/// let limit = Limit::new("per-second", Quota::per_second(10)).quota_for(
///     |_key: &RateLimitKey, req: &RequestParts<'_>| match req.headers.get("x-plan")?.to_str().ok()? {
///         "pro" => Some(Quota::per_second(100).burst(200)),
///         _ => None,
///     },
/// );
/// # let _ = limit;
/// ```
pub trait QuotaResolver: Send + Sync + 'static {
    /// The quota for `key` on this request, or `None` for the default.
    fn resolve(&self, key: &RateLimitKey, req: &RequestParts<'_>) -> Option<Quota>;
}

impl<F> QuotaResolver for F
where
    F: Fn(&RateLimitKey, &RequestParts<'_>) -> Option<Quota> + Send + Sync + 'static,
{
    fn resolve(&self, key: &RateLimitKey, req: &RequestParts<'_>) -> Option<Quota> {
        self(key, req)
    }
}

/// A named quota counted per key. The name is the `RateLimit-Policy` identifier and part of
/// the store key, so two limits on the same key never share state (and two layers with a limit
/// of the same name on the same store do: that is how instances share a limit).
#[derive(Clone)]
pub struct Limit {
    pub(crate) name: Arc<str>,
    pub(crate) quota: Quota,
    pub(crate) key: Arc<dyn KeyExtractor>,
    pub(crate) resolver: Option<Arc<dyn QuotaResolver>>,
}

impl fmt::Debug for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limit")
            .field("name", &self.name)
            .field("quota", &self.quota)
            .field("per_key_quota", &self.resolver.is_some())
            .finish()
    }
}

impl Limit {
    /// A limit named `name` enforcing `quota` per client IP ([`ClientIp::new`]).
    pub fn new(name: impl Into<Arc<str>>, quota: Quota) -> Self {
        Self {
            name: name.into(),
            quota,
            key: Arc::new(ClientIp::new()),
            resolver: None,
        }
    }

    /// What the limit is counted per.
    ///
    /// Defaults to [`ClientIp::new()`] (the socket peer, no trusted proxy).
    pub fn key(mut self, key: impl KeyExtractor) -> Self {
        self.key = Arc::new(key);
        self
    }

    /// A quota per key (per plan, per tenant).
    ///
    /// Defaults to the same quota for every key.
    pub fn quota_for(mut self, resolver: impl QuotaResolver) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// The limit's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The default quota.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    pub(crate) fn quota_of(&self, key: &RateLimitKey, req: &RequestParts<'_>) -> Quota {
        self.resolver
            .as_ref()
            .and_then(|r| r.resolve(key, req))
            .unwrap_or(self.quota)
    }
}
