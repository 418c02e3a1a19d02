use tower_layer::Layer;

use super::HttpClient;

/// Applies [`HttpClient`] to a client service: OpenTelemetry spans and
/// `http.client.request.duration` for each request, and W3C `traceparent` injection.
#[derive(Debug, Clone)]
pub struct HttpClientLayer {
    pub(super) propagate: bool,
}

impl HttpClientLayer {
    /// A layer with the default settings.
    pub fn new() -> Self {
        Self { propagate: true }
    }

    /// Whether to send `traceparent` / `tracestate`. Turn it off for calls to third parties
    /// that should not learn your trace ids.
    ///
    /// Defaults to `true`.
    pub fn propagate(mut self, propagate: bool) -> Self {
        self.propagate = propagate;
        self
    }
}

impl Default for HttpClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for HttpClientLayer {
    type Service = HttpClient<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpClient::new(inner, self.clone())
    }
}
