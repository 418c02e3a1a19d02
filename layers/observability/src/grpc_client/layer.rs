use tower_layer::Layer;

use super::GrpcClient;

/// Applies [`GrpcClient`] to a gRPC channel: OpenTelemetry spans and `rpc.client.duration` for
/// each call, and W3C `traceparent` injection.
#[derive(Debug, Clone)]
pub struct GrpcClientLayer {
    pub(super) propagate: bool,
}

impl GrpcClientLayer {
    /// A layer with the default settings.
    pub fn new() -> Self {
        Self { propagate: true }
    }

    /// Whether to send `traceparent` / `tracestate` metadata.
    ///
    /// Defaults to `true`.
    pub fn propagate(mut self, propagate: bool) -> Self {
        self.propagate = propagate;
        self
    }
}

impl Default for GrpcClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for GrpcClientLayer {
    type Service = GrpcClient<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClient::new(inner, self.clone())
    }
}
