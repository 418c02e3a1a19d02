use std::sync::Arc;

use tower_layer::Layer;

use super::GrpcClient;

/// Applies [`GrpcClient`] to a gRPC channel: OpenTelemetry spans and `rpc.client.duration` for
/// each call, and W3C `traceparent` injection.
#[derive(Debug, Clone)]
pub struct GrpcClientLayer {
    pub(super) propagate: bool,
    pub(super) server: Option<Arc<(String, Option<u16>)>>,
}

impl GrpcClientLayer {
    /// A layer with the default settings.
    pub fn new() -> Self {
        Self {
            propagate: true,
            server: None,
        }
    }

    /// The `server.address` / `server.port` to record. tonic's `Channel` adds the authority
    /// below this layer, so requests seen here usually carry only a path; set the endpoint's
    /// host and port here to get the attributes.
    ///
    /// Defaults to the request URI's authority when it has one, else none.
    pub fn server_address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.server = Some(Arc::new((host.into(), Some(port))));
        self
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
