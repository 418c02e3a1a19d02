//! The store of HTTP responses: per URI, a short list of variants selected by `Vary`.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use metrics::{Counter, counter};
use moka::{Expiry, future::Cache as Moka};
use tokio::time::Instant;

use super::{ResponseBody, ResponseCacheConfig, headers::EntityTag, headers::IfNoneMatch};

/// One stored response and what selects it.
pub(crate) struct StoredResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) etag: Option<EntityTag>,
    pub(crate) stored_at: Instant,
    /// `Age` the response already had when it reached us.
    pub(crate) initial_age: u64,
    pub(crate) lifetime: Duration,
    /// Request header values of the `Vary` names, as sent by the request that produced it.
    pub(crate) selecting: Vec<(HeaderName, Vec<HeaderValue>)>,
}

impl StoredResponse {
    fn age(&self, now: Instant) -> Duration {
        Duration::from_secs(self.initial_age)
            .saturating_add(now.saturating_duration_since(self.stored_at))
    }

    fn is_fresh(&self, now: Instant) -> bool {
        self.age(now) < self.lifetime
    }

    fn selected_by(&self, req: &HeaderMap) -> bool {
        self.selecting
            .iter()
            .all(|(name, values)| req.get_all(name).iter().eq(values.iter()))
    }

    fn weight(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum();
        self.body.len() + headers + 128
    }

    /// The answer to a request this entry matched: `304` when `If-None-Match` matches, else the
    /// stored response (without a body for HEAD), with `Age`.
    pub(crate) fn respond<B>(
        &self,
        method: &Method,
        inm: Option<&IfNoneMatch>,
        metrics: &HttpMetrics,
    ) -> Response<ResponseBody<B>> {
        let age = HeaderValue::from(self.age(Instant::now()).as_secs());
        if inm.is_some_and(|inm| inm.matches(self.etag.as_ref())) {
            metrics.not_modified.increment(1);
            let mut res = not_modified(&self.headers);
            res.headers_mut().insert(header::AGE, age);
            return res;
        }
        let mut res = Response::new(if method == Method::HEAD {
            ResponseBody::empty()
        } else {
            ResponseBody::full(self.body.clone())
        });
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers.clone();
        res.headers_mut().insert(header::AGE, age);
        res
    }
}

/// A `304 Not Modified` carrying the headers RFC 9110 §15.4.5 asks for.
pub(crate) fn not_modified<B>(from: &HeaderMap) -> Response<ResponseBody<B>> {
    let mut res = Response::new(ResponseBody::empty());
    *res.status_mut() = StatusCode::NOT_MODIFIED;
    for name in [
        header::ETAG,
        header::CACHE_CONTROL,
        header::VARY,
        header::DATE,
        header::EXPIRES,
        header::CONTENT_LOCATION,
    ] {
        for value in from.get_all(&name) {
            res.headers_mut().append(name.clone(), value.clone());
        }
    }
    res
}

#[derive(Clone)]
struct Variants {
    list: Arc<Vec<Arc<StoredResponse>>>,
    ttl: Duration,
}

struct VariantsExpiry;

impl Expiry<Arc<str>, Variants> for VariantsExpiry {
    fn expire_after_create(
        &self,
        _: &Arc<str>,
        v: &Variants,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.ttl)
    }

    fn expire_after_update(
        &self,
        _: &Arc<str>,
        v: &Variants,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.ttl)
    }
}

#[derive(Clone)]
pub(crate) struct HttpMetrics {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) not_modified: Counter,
}

/// State shared by every service a [`ResponseCacheLayer`](super::ResponseCacheLayer) makes.
pub(crate) struct Shared {
    store: Moka<Arc<str>, Variants>,
    pub(crate) config: ResponseCacheConfig,
    pub(crate) metrics: HttpMetrics,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("entries", &self.store.entry_count())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(config: ResponseCacheConfig) -> Self {
        let name = config.name.clone();
        let metrics = HttpMetrics {
            hits: counter!("core_backend.cache.http.hits", "cache" => name.clone()),
            misses: counter!("core_backend.cache.http.misses", "cache" => name.clone()),
            not_modified: counter!("core_backend.cache.http.not_modified", "cache" => name),
        };
        let store = Moka::builder()
            .name(&config.name)
            .max_capacity(config.max_bytes)
            .weigher(|k: &Arc<str>, v: &Variants| {
                let bytes: usize = v.list.iter().map(|r| r.weight()).sum::<usize>() + k.len();
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .expire_after(VariantsExpiry)
            .build();
        Self {
            store,
            config,
            metrics,
        }
    }

    /// A fresh stored response for this URI whose `Vary` headers match the request's.
    pub(crate) async fn lookup(&self, key: &str, req: &HeaderMap) -> Option<Arc<StoredResponse>> {
        let variants = self.store.get(key).await?;
        let now = Instant::now();
        variants
            .list
            .iter()
            .find(|r| r.is_fresh(now) && r.selected_by(req))
            .cloned()
    }

    /// Stores `response` as the variant for its selecting headers, replacing the older one and
    /// dropping stale ones; keeps at most `max_variants`, newest first.
    pub(crate) async fn insert(&self, key: &str, response: StoredResponse) {
        let now = Instant::now();
        let response = Arc::new(response);
        let mut list = vec![Arc::clone(&response)];
        if let Some(old) = self.store.get(key).await {
            list.extend(
                old.list
                    .iter()
                    .filter(|r| r.is_fresh(now) && r.selecting != response.selecting)
                    .take(self.config.max_variants.saturating_sub(1))
                    .cloned(),
            );
        }
        let ttl = list
            .iter()
            .map(|r| r.lifetime.saturating_sub(r.age(now)))
            .max()
            .unwrap_or_default()
            .min(Duration::from_secs(365 * 86_400));
        if ttl.is_zero() || self.config.max_variants == 0 {
            return;
        }
        self.store
            .insert(
                Arc::from(key),
                Variants {
                    list: Arc::new(list),
                    ttl,
                },
            )
            .await;
    }

    /// Drops every stored variant of this URI.
    pub(crate) async fn invalidate(&self, key: &str) {
        self.store.invalidate(key).await;
    }
}
