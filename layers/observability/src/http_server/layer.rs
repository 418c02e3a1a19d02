use tower_layer::Layer;

use super::HttpServer;

/// Applies [`HttpServer`] to a service: OpenTelemetry spans and metrics for each HTTP request,
/// continuing the caller's W3C trace context.
///
/// See the [module docs](crate::http_server) for where to add it on an axum router.
#[derive(Debug, Clone)]
pub struct HttpServerLayer {
    pub(super) trust_remote_parent: bool,
}

impl HttpServerLayer {
    /// A layer with the default settings.
    pub fn new() -> Self {
        Self {
            trust_remote_parent: true,
        }
    }

    /// Whether to continue the trace named by the request's `traceparent`. Turn it off at the
    /// edge facing untrusted clients, so they cannot choose your trace ids or sampling.
    ///
    /// Defaults to `true`.
    pub fn trust_remote_parent(mut self, trust: bool) -> Self {
        self.trust_remote_parent = trust;
        self
    }
}

impl Default for HttpServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for HttpServerLayer {
    type Service = HttpServer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpServer::new(inner, self.clone())
    }
}
