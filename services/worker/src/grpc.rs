//! gRPC client support (feature `tonic`): a rejection as `tonic::Status::unavailable`.
//!
//! A tonic client turns a transport error into a `Status` by looking for a `Status` in the
//! error; a bare [`Overloaded`] would become `UNKNOWN`. Map the layer's errors with
//! [`overloaded_to_status`] so the caller sees `UNAVAILABLE` (with `grpc-retry-pushback-ms`
//! metadata, and the [`Overloaded`] as the status' source):
//!
//! ```
//! use std::time::Duration;
//! use core_backend_worker::{bulkhead::BulkheadLayer, grpc::overloaded_to_status};
//! use tower::ServiceBuilder;
//!
//! let stack = ServiceBuilder::new()
//!     .map_err(overloaded_to_status)
//!     .layer(BulkheadLayer::new(8, Duration::from_millis(20)));
//! // let client = NotesServiceClient::new(stack.service(channel));
//! # drop(stack);
//! ```

use std::sync::Arc;

use crate::BoxError;
use crate::error::Overloaded;

impl From<Overloaded> for tonic::Status {
    fn from(overloaded: Overloaded) -> Self {
        let mut status = tonic::Status::unavailable("service overloaded");
        let ms = u64::try_from(overloaded.retry_after().as_millis()).unwrap_or(u64::MAX);
        status
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", ms.into());
        status.set_source(Arc::new(overloaded));
        status
    }
}

/// Replaces an [`Overloaded`] error by a `tonic::Status` with code `UNAVAILABLE`; any other
/// error is returned unchanged.
pub fn overloaded_to_status(err: BoxError) -> BoxError {
    match err.downcast::<Overloaded>() {
        Ok(overloaded) => Box::new(tonic::Status::from(*overloaded)),
        Err(other) => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::ignored_unit_patterns)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn overloaded_maps_to_unavailable() {
        let err: BoxError = Box::new(Overloaded::new(Duration::from_millis(300)));
        let mapped = overloaded_to_status(err);
        let status = mapped.downcast_ref::<tonic::Status>().unwrap();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(
            status.metadata().get("grpc-retry-pushback-ms").unwrap(),
            "300"
        );
        let source = std::error::Error::source(status).unwrap();
        assert!(source.downcast_ref::<Overloaded>().is_some());
        let other = overloaded_to_status("nope".into());
        assert_eq!(other.to_string(), "nope");
    }
}
