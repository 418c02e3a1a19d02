use tower_layer::Layer;

use super::GrpcServer;

/// Applies [`GrpcServer`] to a service: OpenTelemetry spans and `rpc.server.duration` for each
/// gRPC call, continuing the caller's W3C trace context.
#[derive(Debug, Clone)]
pub struct GrpcServerLayer {
    pub(super) trust_remote_parent: bool,
}

impl GrpcServerLayer {
    /// A layer with the default settings.
    pub fn new() -> Self {
        Self {
            trust_remote_parent: true,
        }
    }

    /// Whether to continue the trace named by the call's `traceparent` metadata.
    ///
    /// Defaults to `true`.
    pub fn trust_remote_parent(mut self, trust: bool) -> Self {
        self.trust_remote_parent = trust;
        self
    }
}

impl Default for GrpcServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for GrpcServerLayer {
    type Service = GrpcServer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcServer::new(inner, self.clone())
    }
}
