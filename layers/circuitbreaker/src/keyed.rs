//! Per-key breakers (per host, per route, …) with bounded memory.

use std::{
    collections::HashMap,
    fmt,
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use parking_lot::RwLock;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    CircuitBreaker, CircuitBreakerConfig, ClassifyFailure, DefaultHttpClassifier, ErrorOnOpen,
    future::ResponseFuture, response::OnOpen,
};

/// Picks the breaker a request belongs to.
///
/// Blanket-implemented for closures `Fn(&Req) -> K`.
pub trait KeyExtractor<Req> {
    /// The key type.
    type Key: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static;
    /// The key of `req`.
    fn key(&self, req: &Req) -> Self::Key;
}

impl<F, Req, K> KeyExtractor<Req> for F
where
    F: Fn(&Req) -> K,
    K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
{
    type Key = K;
    fn key(&self, req: &Req) -> K {
        self(req)
    }
}

/// One breaker per upstream host: the URI's `host[:port]`, else the `Host` header, else
/// `"-"`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostKey;

impl<B> KeyExtractor<http::Request<B>> for HostKey {
    type Key = String;
    fn key(&self, req: &http::Request<B>) -> String {
        if let Some(authority) = req.uri().authority() {
            return authority.as_str().to_ascii_lowercase();
        }
        req.headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or_else(|| "-".to_owned(), str::to_ascii_lowercase)
    }
}

/// One breaker per route: method and path (`"GET /v1/notes"`). For templated routes, use a
/// closure reading your router's matched-path extension instead, so `/notes/1` and `/notes/2`
/// share one breaker.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteKey;

impl<B> KeyExtractor<http::Request<B>> for RouteKey {
    type Key = String;
    fn key(&self, req: &http::Request<B>) -> String {
        format!("{} {}", req.method(), req.uri().path())
    }
}

struct Entry {
    breaker: CircuitBreaker,
    last_used: AtomicU64,
}

/// A bounded set of breakers created on demand from one configuration.
///
/// At most `max_keys` breakers are kept. When a new key arrives and the set is full, breakers
/// idle for longer than `idle_timeout` are dropped first, then the least recently used one.
/// Each breaker is named `"<name>/<key>"` in metrics and events.
pub struct KeyedCircuitBreakers<K> {
    template: CircuitBreakerConfig,
    max_keys: usize,
    idle_timeout: Duration,
    origin: Instant,
    map: RwLock<HashMap<K, Entry>>,
}

impl<K> fmt::Debug for KeyedCircuitBreakers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakers")
            .field("name", &self.template.name)
            .field("keys", &self.map.read().len())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

impl<K: Hash + Eq + Clone + fmt::Display> KeyedCircuitBreakers<K> {
    /// Breakers configured like `template`, at most `max_keys` (at least 1) of them.
    pub fn new(template: CircuitBreakerConfig, max_keys: usize, idle_timeout: Duration) -> Self {
        Self {
            template,
            max_keys: max_keys.max(1),
            idle_timeout,
            origin: Instant::now(),
            map: RwLock::new(HashMap::new()),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The breaker of `key`, created if needed.
    pub fn get(&self, key: &K) -> CircuitBreaker {
        let now = self.now();
        if let Some(e) = self.map.read().get(key) {
            e.last_used.store(now, Ordering::Relaxed);
            return e.breaker.clone();
        }
        let mut map = self.map.write();
        if let Some(e) = map.get(key) {
            return e.breaker.clone();
        }
        if map.len() >= self.max_keys {
            let idle = u64::try_from(self.idle_timeout.as_nanos()).unwrap_or(u64::MAX);
            map.retain(|_, e| now.saturating_sub(e.last_used.load(Ordering::Relaxed)) < idle);
            if map.len() >= self.max_keys
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let mut config = self.template.clone();
        config.name = format!("{}/{}", self.template.name, key);
        let breaker = CircuitBreaker::from_config(&config);
        map.insert(
            key.clone(),
            Entry {
                breaker: breaker.clone(),
                last_used: AtomicU64::new(now),
            },
        );
        breaker
    }

    /// The breaker of `key` if it exists.
    pub fn existing(&self, key: &K) -> Option<CircuitBreaker> {
        self.map.read().get(key).map(|e| e.breaker.clone())
    }

    /// Number of breakers held.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether no breaker is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Layer with one breaker per key; see [`KeyedCircuitBreakers`].
#[derive(Debug)]
pub struct KeyedCircuitBreakerLayer<
    X: KeyExtractor<Req>,
    Req,
    C = DefaultHttpClassifier,
    O = ErrorOnOpen,
> {
    breakers: Arc<KeyedCircuitBreakers<X::Key>>,
    extractor: X,
    classifier: C,
    on_open: O,
    _req: std::marker::PhantomData<fn(Req)>,
}

impl<X: KeyExtractor<Req> + Clone, Req, C: Clone, O: Clone> Clone
    for KeyedCircuitBreakerLayer<X, Req, C, O>
{
    fn clone(&self) -> Self {
        Self {
            breakers: Arc::clone(&self.breakers),
            extractor: self.extractor.clone(),
            classifier: self.classifier.clone(),
            on_open: self.on_open.clone(),
            _req: std::marker::PhantomData,
        }
    }
}

impl<X: KeyExtractor<Req>, Req> KeyedCircuitBreakerLayer<X, Req> {
    /// One breaker per `extractor` key, configured like `template`; at most `max_keys`,
    /// idle ones evicted first after `idle_timeout`.
    pub fn new(
        extractor: X,
        template: CircuitBreakerConfig,
        max_keys: usize,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            breakers: Arc::new(KeyedCircuitBreakers::new(template, max_keys, idle_timeout)),
            extractor,
            classifier: DefaultHttpClassifier,
            on_open: ErrorOnOpen,
            _req: std::marker::PhantomData,
        }
    }
}

impl<X: KeyExtractor<Req>, Req, C, O> KeyedCircuitBreakerLayer<X, Req, C, O> {
    /// The breakers.
    pub fn breakers(&self) -> &Arc<KeyedCircuitBreakers<X::Key>> {
        &self.breakers
    }

    /// Sets the failure classifier. Defaults to [`DefaultHttpClassifier`].
    pub fn classifier<C2>(self, classifier: C2) -> KeyedCircuitBreakerLayer<X, Req, C2, O> {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers,
            extractor: self.extractor,
            classifier,
            on_open: self.on_open,
            _req: std::marker::PhantomData,
        }
    }

    /// Sets what a refused call returns. Defaults to [`ErrorOnOpen`].
    pub fn on_open<O2>(self, on_open: O2) -> KeyedCircuitBreakerLayer<X, Req, C, O2> {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers,
            extractor: self.extractor,
            classifier: self.classifier,
            on_open,
            _req: std::marker::PhantomData,
        }
    }

    /// HTTP-server mode: refusals become `503` + `Retry-After` + problem+json. Defaults to
    /// error mode.
    pub fn http_responses(self) -> KeyedCircuitBreakerLayer<X, Req, C, crate::HttpOnOpen> {
        self.on_open(crate::HttpOnOpen)
    }

    /// gRPC mode: refusals become `UNAVAILABLE`. Defaults to error mode.
    pub fn grpc_responses(self) -> KeyedCircuitBreakerLayer<X, Req, C, crate::GrpcOnOpen> {
        self.on_open(crate::GrpcOnOpen)
    }
}

impl<S, X: KeyExtractor<Req> + Clone, Req, C: Clone, O: Clone> Layer<S>
    for KeyedCircuitBreakerLayer<X, Req, C, O>
{
    type Service = KeyedCircuitBreakerService<S, X, Req, C, O>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreakerService {
            inner,
            breakers: Arc::clone(&self.breakers),
            extractor: self.extractor.clone(),
            classifier: self.classifier.clone(),
            on_open: self.on_open.clone(),
        }
    }
}

/// Service of [`KeyedCircuitBreakerLayer`].
pub struct KeyedCircuitBreakerService<S, X: KeyExtractor<Req>, Req, C, O> {
    inner: S,
    breakers: Arc<KeyedCircuitBreakers<X::Key>>,
    extractor: X,
    classifier: C,
    on_open: O,
}

impl<S: fmt::Debug, X: KeyExtractor<Req>, Req, C, O> fmt::Debug
    for KeyedCircuitBreakerService<S, X, Req, C, O>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerService")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S: Clone, X: KeyExtractor<Req> + Clone, Req, C: Clone, O: Clone> Clone
    for KeyedCircuitBreakerService<S, X, Req, C, O>
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breakers: Arc::clone(&self.breakers),
            extractor: self.extractor.clone(),
            classifier: self.classifier.clone(),
            on_open: self.on_open.clone(),
        }
    }
}

impl<S, X: KeyExtractor<Req>, Req, C, O> KeyedCircuitBreakerService<S, X, Req, C, O> {
    /// The breakers.
    pub fn breakers(&self) -> &Arc<KeyedCircuitBreakers<X::Key>> {
        &self.breakers
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, X, Req, C, O> Service<Req> for KeyedCircuitBreakerService<S, X, Req, C, O>
where
    S: Service<Req>,
    X: KeyExtractor<Req>,
    C: ClassifyFailure<S::Response, S::Error> + Clone,
    O: OnOpen<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = O::Error;
    type Future = ResponseFuture<S::Future, C, O>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| self.on_open.inner_error(e))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let breaker = self.breakers.get(&self.extractor.key(&req));
        match breaker.try_acquire() {
            Ok(permit) => ResponseFuture::called(
                self.inner.call(req),
                permit,
                self.classifier.clone(),
                self.on_open.clone(),
            ),
            Err(open) => {
                ResponseFuture::rejected(open, self.classifier.clone(), self.on_open.clone())
            }
        }
    }
}
