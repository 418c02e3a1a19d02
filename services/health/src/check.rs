//! The check trait and what a check reports.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

/// The future a [`HealthCheck`] returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send + 'static>>;

/// What a check run produces: details on success, a [`CheckFailure`] otherwise.
pub type CheckResult = Result<Details, CheckFailure>;

/// One health check: ping a database, look at a queue's depth, call a dependency.
///
/// Closures returning futures implement it, as long as the future resolves to
/// `Result<T, E>` with `T: Into<Details>` (`()`, a `String` output or [`Details`]) and
/// `E: Display` (the failure's output):
///
/// ```
/// use core_backend_health::{Criticality, Details, HealthRegistry};
///
/// let registry = HealthRegistry::builder().build();
/// registry.register("db", Criticality::Critical, || async {
///     // pool.acquire().await.map(|_| ()).map_err(|e| e.to_string())
///     Ok::<_, String>(())
/// });
/// registry.register("queue", Criticality::NonCritical, || async {
///     let depth = 17;
///     Ok::<_, std::io::Error>(Details::new().observed(depth, "messages"))
/// });
/// ```
///
/// Implement the trait directly to keep state or to report details on failure:
///
/// ```
/// use core_backend_health::{CheckFailure, CheckFuture, Details, HealthCheck};
///
/// struct DiskSpace { min_free_bytes: u64 }
///
/// impl HealthCheck for DiskSpace {
///     fn check(&self) -> CheckFuture {
///         let min = self.min_free_bytes;
///         Box::pin(async move {
///             let free = 5_000_000_u64; // statvfs(...)
///             let details = Details::new().observed(free, "bytes");
///             if free < min {
///                 Err(CheckFailure::new("disk almost full").with_details(details))
///             } else {
///                 Ok(details)
///             }
///         })
///     }
/// }
/// ```
pub trait HealthCheck: Send + Sync + 'static {
    /// Runs the check once. The registry bounds it with a timeout, caches its result and
    /// never runs it twice at the same time.
    fn check(&self) -> CheckFuture;
}

impl<F, Fut, T, E> HealthCheck for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Into<Details>,
    E: fmt::Display,
{
    fn check(&self) -> CheckFuture {
        let fut = self();
        Box::pin(async move {
            fut.await
                .map(Into::into)
                .map_err(|e| CheckFailure::new(e.to_string()))
        })
    }
}

/// Whether a failing check makes the service unready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Criticality {
    /// Failure → status `fail`, `/readyz` 503, gRPC `NOT_SERVING`.
    Critical,
    /// Failure → status `warn`; the service stays ready.
    NonCritical,
}

/// Extra information a check reports, shown in `/healthz`.
///
/// Field names follow draft-inadarei-api-health-check (`output`, `observedValue`,
/// `observedUnit`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Details {
    /// Free text; for a failure, why it failed.
    pub output: Option<String>,
    /// A measured value (`17`, `0.93`, `"v14.2"`).
    pub observed_value: Option<serde_json::Value>,
    /// Unit of [`observed_value`](Details::observed_value) (`"ms"`, `"messages"`, `"percent"`).
    pub observed_unit: Option<String>,
}

impl Details {
    /// No details.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the output text.
    pub fn output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// Sets the observed value and its unit.
    pub fn observed(
        mut self,
        value: impl Into<serde_json::Value>,
        unit: impl Into<String>,
    ) -> Self {
        self.observed_value = Some(value.into());
        self.observed_unit = Some(unit.into());
        self
    }
}

impl From<()> for Details {
    fn from((): ()) -> Self {
        Self::default()
    }
}

impl From<String> for Details {
    fn from(output: String) -> Self {
        Self::new().output(output)
    }
}

impl From<&str> for Details {
    fn from(output: &str) -> Self {
        Self::new().output(output)
    }
}

/// A failed check: why, and optionally what was observed.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckFailure {
    details: Details,
}

impl CheckFailure {
    /// A failure with `message` as its output.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            details: Details::new().output(message),
        }
    }

    /// Adds an observed value (keeps the message unless `details` has its own output).
    pub fn with_details(mut self, details: Details) -> Self {
        let output = details.output.or(self.details.output.take());
        self.details = Details { output, ..details };
        self
    }

    /// The failure message.
    pub fn message(&self) -> &str {
        self.details.output.as_deref().unwrap_or("")
    }

    /// The details, output included.
    pub fn details(&self) -> &Details {
        &self.details
    }

    pub(crate) fn into_details(self) -> Details {
        self.details
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for CheckFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closures_are_checks() {
        let ok = || async { Ok::<_, String>(()) };
        assert_eq!(ok.check().await, Ok(Details::new()));
        let text = || async { Ok::<_, String>("fine") };
        assert_eq!(text.check().await.unwrap().output.as_deref(), Some("fine"));
        let bad = || async { Err::<(), _>(std::io::Error::other("refused")) };
        assert_eq!(bad.check().await.unwrap_err().message(), "refused");
    }

    #[test]
    fn failure_details_keep_message() {
        let f = CheckFailure::new("slow").with_details(Details::new().observed(9, "ms"));
        assert_eq!(f.message(), "slow");
        assert_eq!(f.details().observed_unit.as_deref(), Some("ms"));
        assert_eq!(f.to_string(), "slow");
        let f = CheckFailure::new("x").with_details(Details::new().output("y"));
        assert_eq!(f.into_details().output.as_deref(), Some("y"));
    }
}
