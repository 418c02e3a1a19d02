//! The registry: named checks, cached and single-flight runs, readiness and liveness.

use std::collections::HashMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use std::future::Ready;

use futures_util::future::{BoxFuture, Either, FutureExt, Shared, join_all};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::check::{CheckFailure, Criticality, Details, HealthCheck};
use crate::time::rfc3339;

/// Health status per draft-inadarei-api-health-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Healthy.
    Pass,
    /// Healthy, with a problem worth a look (a non-critical check failed).
    Warn,
    /// Unhealthy.
    Fail,
}

impl Status {
    /// `"pass"`, `"warn"` or `"fail"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }

    /// Value of the `core_backend.health.status` gauge: 1 pass, 0.5 warn, 0 fail.
    fn gauge(self) -> f64 {
        match self {
            Self::Pass => 1.0,
            Self::Warn => 0.5,
            Self::Fail => 0.0,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-check settings for [`HealthRegistry::register_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CheckOptions {
    /// Critical or not.
    pub criticality: Criticality,
    /// Time limit of one run; `None` takes the registry default.
    pub timeout: Option<Duration>,
    /// How long a result is reused; `None` takes the registry default.
    pub ttl: Option<Duration>,
    /// `componentType` in `/healthz` (`"datastore"`, `"component"`, `"system"`).
    pub component_type: Option<String>,
}

impl CheckOptions {
    /// Options with the registry's defaults.
    pub fn new(criticality: Criticality) -> Self {
        Self {
            criticality,
            timeout: None,
            ttl: None,
            component_type: None,
        }
    }

    /// Time limit of one run. Defaults to the registry's
    /// [`default_timeout`](HealthRegistryBuilder::default_timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long a result is reused. Defaults to the registry's
    /// [`cache_ttl`](HealthRegistryBuilder::cache_ttl).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// `componentType` shown in `/healthz`. Defaults to none.
    pub fn component_type(mut self, component_type: impl Into<String>) -> Self {
        self.component_type = Some(component_type.into());
        self
    }
}

/// The result of one run of one check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Name the check was registered under.
    pub name: String,
    /// `pass`; on failure `fail` if critical, `warn` otherwise.
    pub status: Status,
    /// How the check was registered.
    pub criticality: Criticality,
    /// `componentType`, if registered with one.
    pub component_type: Option<String>,
    /// Output and observed value.
    pub details: Details,
    /// When the run started.
    pub time: SystemTime,
    /// How long it took.
    pub duration: Duration,
}

impl CheckReport {
    /// Whether the check itself succeeded (status `pass`).
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("status".into(), json!(self.status.as_str()));
        if let Some(t) = &self.component_type {
            obj.insert("componentType".into(), json!(t));
        }
        if let Some(v) = &self.details.observed_value {
            obj.insert("observedValue".into(), v.clone());
        }
        if let Some(u) = &self.details.observed_unit {
            obj.insert("observedUnit".into(), json!(u));
        }
        if let Some(o) = &self.details.output {
            obj.insert("output".into(), json!(o));
        }
        obj.insert("time".into(), json!(rfc3339(self.time)));
        obj.insert(
            "duration_ms".into(),
            json!(self.duration.as_secs_f64() * 1000.0),
        );
        Value::Object(obj)
    }
}

/// Every check's latest result and the overall status.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HealthReport {
    /// `fail` if a critical check failed or shutdown began, `warn` if a non-critical one
    /// failed, `pass` otherwise.
    pub status: Status,
    /// One report per check, in registration order.
    pub checks: Vec<CheckReport>,
    /// Whether [`HealthRegistry::begin_shutdown`] was called.
    pub shutting_down: bool,
}

impl HealthReport {
    /// The report for `name`.
    pub fn check(&self, name: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The `application/health+json` document:
    /// `{"status": "pass", "checks": {"db": [{"status": "pass", "time": "…", …}]}}`.
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("status".into(), json!(self.status.as_str()));
        if self.shutting_down {
            doc.insert("output".into(), json!("shutting down"));
        }
        let checks: Map<String, Value> = self
            .checks
            .iter()
            .map(|c| (c.name.clone(), Value::Array(vec![c.to_json()])))
            .collect();
        doc.insert("checks".into(), Value::Object(checks));
        Value::Object(doc)
    }
}

/// Whether the service should receive traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// Ready: every critical check passes and shutdown has not begun.
    pub ready: bool,
    /// Why not, when not ready: `"shutting down"` or `"db: connection refused"` entries.
    pub reasons: Vec<String>,
}

// Reports are shared behind an `Arc` so that a cache hit costs a reference count, not a copy.
type SharedRun = Shared<BoxFuture<'static, Arc<CheckReport>>>;

#[derive(Default)]
struct EntryState {
    cached: Option<(Arc<CheckReport>, Instant)>,
    in_flight: Option<SharedRun>,
}

struct Entry {
    name: String,
    criticality: Criticality,
    timeout: Duration,
    ttl: Duration,
    component_type: Option<String>,
    check: Box<dyn HealthCheck>,
    state: Mutex<EntryState>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the state half-written (every update is a
    // single assignment), so a poisoned lock is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Entry {
    /// The cached result if fresh, else the running run, else a new run.
    fn report(self: &Arc<Self>) -> Either<Ready<Arc<CheckReport>>, SharedRun> {
        let mut state = lock(&self.state);
        if let Some((report, at)) = &state.cached
            && at.elapsed() < self.ttl
        {
            return Either::Left(std::future::ready(Arc::clone(report)));
        }
        if let Some(run) = &state.in_flight {
            return Either::Right(run.clone());
        }
        // Spawned so that a prober that gives up (client disconnect) does not cancel the run
        // the others are waiting for, and so the result lands in the cache either way.
        let entry = Arc::clone(self);
        let handle = tokio::spawn(async move {
            let report = Arc::new(entry.execute().await);
            let mut state = lock(&entry.state);
            let previous = state.cached.as_ref().map(|(r, _)| r.status);
            if previous != Some(report.status) {
                if report.passed() {
                    tracing::info!(check = %entry.name, status = %report.status, "health check status changed");
                } else {
                    tracing::warn!(
                        check = %entry.name,
                        status = %report.status,
                        output = report.details.output.as_deref().unwrap_or(""),
                        "health check status changed"
                    );
                }
            }
            state.cached = Some((Arc::clone(&report), Instant::now()));
            state.in_flight = None;
            report
        });
        let name = self.name.clone();
        let criticality = self.criticality;
        let component_type = self.component_type.clone();
        let run = async move {
            handle.await.unwrap_or_else(|e| {
                Arc::new(CheckReport {
                    name,
                    status: failed_status(criticality),
                    criticality,
                    component_type,
                    details: Details::new().output(format!("check task ended: {e}")),
                    time: SystemTime::now(),
                    duration: Duration::ZERO,
                })
            })
        }
        .boxed()
        .shared();
        state.in_flight = Some(run.clone());
        Either::Right(run)
    }

    async fn execute(&self) -> CheckReport {
        let time = SystemTime::now();
        let started = Instant::now();
        let run = AssertUnwindSafe(self.check.check()).catch_unwind();
        let outcome = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(result)) => result,
            Ok(Err(_panic)) => Err(CheckFailure::new("check panicked")),
            Err(_elapsed) => Err(CheckFailure::new(format!(
                "timed out after {:?}",
                self.timeout
            ))),
        };
        let duration = started.elapsed();
        let (status, details) = match outcome {
            Ok(details) => (Status::Pass, details),
            Err(failure) => (failed_status(self.criticality), failure.into_details()),
        };
        let labels = [("check", self.name.clone())];
        metrics::histogram!("core_backend.health.check_duration", &labels)
            .record(duration.as_secs_f64());
        metrics::gauge!("core_backend.health.status", &labels).set(status.gauge());
        CheckReport {
            name: self.name.clone(),
            status,
            criticality: self.criticality,
            component_type: self.component_type.clone(),
            details,
            time,
            duration,
        }
    }
}

fn failed_status(criticality: Criticality) -> Status {
    match criticality {
        Criticality::Critical => Status::Fail,
        Criticality::NonCritical => Status::Warn,
    }
}

#[derive(Debug, Clone)]
pub(crate) enum GrpcTarget {
    Overall,
    Checks(Vec<String>),
}

struct Inner {
    default_timeout: Duration,
    default_ttl: Duration,
    pub(crate) watch_interval: Duration,
    checks: RwLock<Vec<Arc<Entry>>>,
    grpc_services: RwLock<HashMap<String, GrpcTarget>>,
    shutdown: watch::Sender<bool>,
    alive: AtomicBool,
}

/// A registry of named health checks, shared by the HTTP and gRPC handlers.
///
/// Cheap to clone (an `Arc`). See the [crate docs](crate) for a complete example.
#[derive(Clone)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRegistry")
            .field("checks", &self.check_names())
            .field("default_timeout", &self.inner.default_timeout)
            .field("cache_ttl", &self.inner.default_ttl)
            .field("shutting_down", &self.is_shutting_down())
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl Default for HealthRegistry {
    fn default() -> Self {
        Self::builder().build()
    }
}

/// Builds a [`HealthRegistry`].
#[derive(Debug, Clone)]
pub struct HealthRegistryBuilder {
    default_timeout: Duration,
    cache_ttl: Duration,
    watch_interval: Duration,
}

impl HealthRegistryBuilder {
    /// Time limit of one check run; a check that takes longer fails with
    /// "timed out after …".
    ///
    /// Defaults to 2 seconds.
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// How long a check result is reused before the check runs again, so that frequent
    /// probes (and several probers) do not hammer a database.
    ///
    /// Defaults to 1 second.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How often a gRPC `Watch` stream re-evaluates its service (through the cache); a
    /// shutdown is pushed at once regardless.
    ///
    /// Defaults to 1 second.
    pub fn watch_interval(mut self, interval: Duration) -> Self {
        self.watch_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Builds the registry.
    pub fn build(self) -> HealthRegistry {
        HealthRegistry {
            inner: Arc::new(Inner {
                default_timeout: self.default_timeout,
                default_ttl: self.cache_ttl,
                watch_interval: self.watch_interval,
                checks: RwLock::new(Vec::new()),
                grpc_services: RwLock::new(HashMap::new()),
                shutdown: watch::Sender::new(false),
                alive: AtomicBool::new(true),
            }),
        }
    }
}

impl HealthRegistry {
    /// A builder with the defaults: 2 s timeout, 1 s cache TTL, 1 s watch interval.
    pub fn builder() -> HealthRegistryBuilder {
        HealthRegistryBuilder {
            default_timeout: Duration::from_secs(2),
            cache_ttl: Duration::from_secs(1),
            watch_interval: Duration::from_secs(1),
        }
    }

    /// Registers a check with the registry's default timeout and TTL. A check registered
    /// under an existing name replaces it.
    pub fn register(
        &self,
        name: impl Into<String>,
        criticality: Criticality,
        check: impl HealthCheck,
    ) -> &Self {
        self.register_with(name, CheckOptions::new(criticality), check)
    }

    /// Registers a check with its own options.
    pub fn register_with(
        &self,
        name: impl Into<String>,
        options: CheckOptions,
        check: impl HealthCheck,
    ) -> &Self {
        let entry = Arc::new(Entry {
            name: name.into(),
            criticality: options.criticality,
            timeout: options.timeout.unwrap_or(self.inner.default_timeout),
            ttl: options.ttl.unwrap_or(self.inner.default_ttl),
            component_type: options.component_type,
            check: Box::new(check),
            state: Mutex::new(EntryState::default()),
        });
        let mut checks = self
            .inner
            .checks
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match checks.iter_mut().find(|e| e.name == entry.name) {
            Some(existing) => *existing = entry,
            None => checks.push(entry),
        }
        self
    }

    /// Names of the registered checks, in registration order.
    pub fn check_names(&self) -> Vec<String> {
        self.entries().iter().map(|e| e.name.clone()).collect()
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.inner
            .checks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Declares a gRPC service name whose status follows overall readiness (the status of
    /// service `""`).
    pub fn grpc_service(&self, service: impl Into<String>) -> &Self {
        self.grpc_services_mut()
            .insert(service.into(), GrpcTarget::Overall);
        self
    }

    /// Declares a gRPC service name whose status is `SERVING` when every named check passes
    /// (whatever its criticality) and shutdown has not begun. A name with no registered
    /// check counts as failing.
    pub fn grpc_service_checks<I, S>(&self, service: impl Into<String>, checks: I) -> &Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let checks = checks.into_iter().map(Into::into).collect();
        self.grpc_services_mut()
            .insert(service.into(), GrpcTarget::Checks(checks));
        self
    }

    fn grpc_services_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, GrpcTarget>> {
        self.inner
            .grpc_services
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn grpc_target(&self, service: &str) -> Option<GrpcTarget> {
        if service.is_empty() {
            return Some(GrpcTarget::Overall);
        }
        self.inner
            .grpc_services
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service)
            .cloned()
    }

    pub(crate) fn watch_interval(&self) -> Duration {
        self.inner.watch_interval
    }

    /// Readiness starts failing (`/readyz` 503, every gRPC service `NOT_SERVING`, pushed to
    /// `Watch` streams at once) so load balancers stop sending traffic while in-flight
    /// requests drain. Call it first thing when shutdown starts. Irreversible.
    pub fn begin_shutdown(&self) {
        if !self.inner.shutdown.send_replace(true) {
            tracing::info!("shutdown began: readiness now failing");
        }
    }

    /// Whether [`begin_shutdown`](Self::begin_shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    pub(crate) fn subscribe_shutdown(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Marks the process alive or dead for `/livez`. Mark it dead only when restarting is
    /// the cure (a deadlock detected, a corrupted state), never because a dependency is
    /// down: that is readiness's job.
    pub fn set_alive(&self, alive: bool) {
        self.inner.alive.store(alive, Ordering::Release);
    }

    /// Whether `/livez` answers 200.
    pub fn is_alive(&self) -> bool {
        self.inner.alive.load(Ordering::Acquire)
    }

    /// Runs (or takes from cache) every check concurrently.
    pub async fn check_all(&self) -> HealthReport {
        let entries = self.entries();
        let checks: Vec<CheckReport> = join_all(entries.iter().map(Entry::report))
            .await
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect();
        let shutting_down = self.is_shutting_down();
        let worst = checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Pass);
        let status = if shutting_down { Status::Fail } else { worst };
        HealthReport {
            status,
            checks,
            shutting_down,
        }
    }

    /// Runs (or takes from cache) the critical checks and tells whether the service is ready.
    pub async fn readiness(&self) -> Readiness {
        let critical: Vec<Arc<Entry>> = self
            .entries()
            .into_iter()
            .filter(|e| e.criticality == Criticality::Critical)
            .collect();
        let mut reasons = Vec::new();
        if self.is_shutting_down() {
            reasons.push("shutting down".to_owned());
        } else {
            for report in join_all(critical.iter().map(Entry::report)).await {
                if !report.passed() {
                    let output = report.details.output.as_deref().unwrap_or("failed");
                    reasons.push(format!("{}: {output}", report.name));
                }
            }
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }

    /// Whether every check in `names` passes (a name with no check counts as failing).
    pub(crate) async fn checks_pass(&self, names: &[String]) -> bool {
        let entries = self.entries();
        let mut runs = Vec::with_capacity(names.len());
        for name in names {
            match entries.iter().find(|e| &e.name == name) {
                Some(entry) => runs.push(entry.report()),
                None => return false,
            }
        }
        join_all(runs).await.iter().all(|r| r.passed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting(
        calls: &Arc<AtomicUsize>,
        delay: Duration,
        ok: bool,
    ) -> impl Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static {
        let calls = Arc::clone(calls);
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(delay).await;
                if ok { Ok(()) } else { Err("down".to_owned()) }
            }
            .boxed()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn results_are_cached_for_the_ttl() {
        let calls = Arc::new(AtomicUsize::new(0));
        let registry = HealthRegistry::builder()
            .cache_ttl(Duration::from_secs(1))
            .build();
        registry.register(
            "db",
            Criticality::Critical,
            counting(&calls, Duration::ZERO, true),
        );
        registry.check_all().await;
        registry.check_all().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(999)).await;
        registry.check_all().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(2)).await;
        let report = registry.check_all().await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(report.status, Status::Pass);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_probes_share_one_run() {
        let calls = Arc::new(AtomicUsize::new(0));
        let registry = HealthRegistry::builder().cache_ttl(Duration::ZERO).build();
        registry.register(
            "db",
            Criticality::Critical,
            counting(&calls, Duration::from_millis(100), true),
        );
        let probes = (0..10).map(|_| {
            let r = registry.clone();
            tokio::spawn(async move { r.check_all().await })
        });
        let reports = join_all(probes).await;
        assert!(
            reports
                .iter()
                .all(|r| r.as_ref().unwrap().status == Status::Pass)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // With a zero TTL the next probe runs the check again.
        registry.check_all().await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_does_not_cancel_the_shared_run() {
        let calls = Arc::new(AtomicUsize::new(0));
        let registry = HealthRegistry::builder()
            .cache_ttl(Duration::from_secs(5))
            .build();
        registry.register(
            "db",
            Criticality::Critical,
            counting(&calls, Duration::from_millis(100), true),
        );
        // The first prober gives up half-way (a client disconnect drops its future).
        let first = tokio::time::timeout(Duration::from_millis(50), registry.check_all()).await;
        assert!(first.is_err());
        // The run went on and its result lands in the cache: the next probe reuses it.
        tokio::time::advance(Duration::from_millis(60)).await;
        let report = registry.check_all().await;
        assert_eq!(report.status, Status::Pass);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_check_times_out() {
        let calls = Arc::new(AtomicUsize::new(0));
        let registry = HealthRegistry::builder()
            .default_timeout(Duration::from_millis(500))
            .build();
        registry.register(
            "slow",
            Criticality::Critical,
            counting(&calls, Duration::from_secs(60), true),
        );
        let started = Instant::now();
        let report = registry.check_all().await;
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        let slow = report.check("slow").unwrap();
        assert_eq!(slow.status, Status::Fail);
        assert_eq!(
            slow.details.output.as_deref(),
            Some("timed out after 500ms")
        );
        assert!(!registry.readiness().await.ready);
    }

    #[tokio::test(start_paused = true)]
    async fn per_check_options_override_defaults() {
        let calls = Arc::new(AtomicUsize::new(0));
        let registry = HealthRegistry::default();
        registry.register_with(
            "q",
            CheckOptions::new(Criticality::NonCritical)
                .timeout(Duration::from_millis(10))
                .ttl(Duration::from_secs(30))
                .component_type("component"),
            counting(&calls, Duration::from_millis(20), true),
        );
        let report = registry.check_all().await;
        assert_eq!(report.status, Status::Warn);
        assert_eq!(
            report.checks[0].component_type.as_deref(),
            Some("component")
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        registry.check_all().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn criticality_decides_fail_or_warn_and_readiness() {
        let calls = Arc::new(AtomicUsize::new(0));
        let registry = HealthRegistry::default();
        registry.register(
            "cache",
            Criticality::NonCritical,
            counting(&calls, Duration::ZERO, false),
        );
        let report = registry.check_all().await;
        assert_eq!(report.status, Status::Warn);
        assert!(registry.readiness().await.ready);
        registry.register(
            "db",
            Criticality::Critical,
            counting(&calls, Duration::ZERO, false),
        );
        assert_eq!(registry.check_all().await.status, Status::Fail);
        let readiness = registry.readiness().await;
        assert!(!readiness.ready);
        assert_eq!(readiness.reasons, vec!["db: down".to_owned()]);
        assert_eq!(registry.check_names(), ["cache", "db"]);
    }

    #[tokio::test(start_paused = true)]
    async fn panicking_check_fails_and_does_not_wedge_the_cache() {
        let registry = HealthRegistry::builder().cache_ttl(Duration::ZERO).build();
        registry.register("boom", Criticality::Critical, || async {
            let buggy = std::hint::black_box(true);
            assert!(!buggy, "bug in check");
            Ok::<(), String>(())
        });
        for _ in 0..2 {
            let report = registry.check_all().await;
            assert_eq!(
                report.checks[0].details.output.as_deref(),
                Some("check panicked")
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_and_liveness() {
        let registry = HealthRegistry::default();
        assert!(registry.readiness().await.ready);
        assert!(registry.is_alive());
        registry.begin_shutdown();
        registry.begin_shutdown();
        let readiness = registry.readiness().await;
        assert_eq!(readiness.reasons, vec!["shutting down".to_owned()]);
        assert_eq!(registry.check_all().await.status, Status::Fail);
        assert!(registry.is_alive());
        registry.set_alive(false);
        assert!(!registry.is_alive());
        assert!(format!("{registry:?}").contains("shutting_down: true"));
    }

    #[tokio::test(start_paused = true)]
    async fn json_document_shape() {
        let registry = HealthRegistry::default();
        registry.register_with(
            "db",
            CheckOptions::new(Criticality::Critical).component_type("datastore"),
            || async { Ok::<_, String>(Details::new().observed(3, "ms").output("ok")) },
        );
        let doc = registry.check_all().await.to_json();
        assert_eq!(doc["status"], "pass");
        let db = &doc["checks"]["db"][0];
        assert_eq!(db["status"], "pass");
        assert_eq!(db["componentType"], "datastore");
        assert_eq!(db["observedValue"], 3);
        assert_eq!(db["observedUnit"], "ms");
        assert_eq!(db["output"], "ok");
        assert!(db["time"].as_str().unwrap().ends_with('Z'));
        assert!(db["duration_ms"].is_number());
    }
}
