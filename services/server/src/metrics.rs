//! Names and helpers of the metrics the server emits through the `metrics` facade.
//!
//! HTTP request metrics (durations, statuses, routes) belong to the observability layer; the server
//! only reports what the observability layer cannot see: connections, rejections it produced itself,
//! and shutdowns.

/// Gauge: connections currently open.
pub const CONNECTIONS_ACTIVE: &str = "core_backend.server.connections.active";
/// Counter: connections accepted.
pub const CONNECTIONS_ACCEPTED: &str = "core_backend.server.connections.accepted";
/// Counter: connections closed by force when the shutdown deadline passed.
pub const CONNECTIONS_FORCE_CLOSED: &str = "core_backend.server.connections.force_closed";
/// Counter: times the accept loop waited because `max_connections` connections were open.
pub const CONNECTIONS_THROTTLED: &str = "core_backend.server.connections.throttled";
/// Counter: errors of `accept(2)` other than per-connection ones (e.g. `EMFILE`).
pub const ACCEPT_ERRORS: &str = "core_backend.server.accept_errors";
/// Counter: requests or connections the server refused, labelled `reason`: `timeout`,
/// `overloaded`, `body_limit`, `panic`, `internal`, `header_timeout`, `tls_handshake`.
pub const REJECTIONS: &str = "core_backend.server.rejections";
/// Counter: graceful shutdowns started.
pub const SHUTDOWNS: &str = "core_backend.server.shutdowns";
/// Histogram: seconds from the shutdown signal until the server returned.
pub const SHUTDOWN_DURATION: &str = "core_backend.server.shutdown.duration";

pub(crate) fn rejection(reason: &'static str) {
    metrics::counter!(REJECTIONS, "reason" => reason).increment(1);
}

/// Keeps `core_backend.server.connections.active` right even when a connection task is aborted.
pub(crate) struct ActiveConnection(());

impl ActiveConnection {
    pub(crate) fn open() -> Self {
        metrics::counter!(CONNECTIONS_ACCEPTED).increment(1);
        metrics::gauge!(CONNECTIONS_ACTIVE).increment(1.0);
        Self(())
    }
}

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        metrics::gauge!(CONNECTIONS_ACTIVE).decrement(1.0);
    }
}
