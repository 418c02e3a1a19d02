//! The generator trait.

use std::sync::Arc;

use crate::error::GenerateError;

/// Something that makes ids.
///
/// Implemented by [`UuidV4Generator`](crate::UuidV4Generator),
/// [`UuidV7Generator`](crate::UuidV7Generator), [`UlidGenerator`](crate::UlidGenerator),
/// [`Snowflake`](crate::Snowflake) and [`AnyIdGenerator`](crate::AnyIdGenerator) (the one chosen
/// by configuration), and by `&G`, `Arc<G>` and `Box<G>` of any of them. Code that stores new
/// records takes a `G: IdGenerator` (or an `Arc<dyn IdGenerator<Id = …>>`) so tests and
/// deployments can pick the kind.
///
/// ```
/// use core_backend_idgen::{IdGenerator, Ulid, UlidGenerator};
///
/// fn new_record_id(ids: &impl IdGenerator<Id = Ulid>) -> String {
///     ids.generate().map(|id| id.to_string()).unwrap_or_default()
/// }
///
/// assert_eq!(new_record_id(&UlidGenerator::new()).len(), 26);
/// ```
pub trait IdGenerator: Send + Sync {
    /// The id type made.
    type Id;

    /// The next id. UUID and ULID generators never fail; a [`Snowflake`](crate::Snowflake)
    /// fails when its clock cannot be trusted (see [`GenerateError`]).
    fn generate(&self) -> Result<Self::Id, GenerateError>;
}

impl<G: IdGenerator + ?Sized> IdGenerator for &G {
    type Id = G::Id;

    fn generate(&self) -> Result<Self::Id, GenerateError> {
        (**self).generate()
    }
}

impl<G: IdGenerator + ?Sized> IdGenerator for Arc<G> {
    type Id = G::Id;

    fn generate(&self) -> Result<Self::Id, GenerateError> {
        (**self).generate()
    }
}

impl<G: IdGenerator + ?Sized> IdGenerator for Box<G> {
    type Id = G::Id;

    fn generate(&self) -> Result<Self::Id, GenerateError> {
        (**self).generate()
    }
}

// The trait must stay object-safe.
const _: Option<&dyn IdGenerator<Id = crate::Ulid>> = None;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ulid, UlidGenerator, UuidV4Generator};

    fn version_of(ids: &impl IdGenerator<Id = crate::Uuid>) -> u8 {
        ids.generate().map(|id| id.version()).unwrap_or_default()
    }

    #[test]
    fn forwarding_impls() {
        let v4 = UuidV4Generator::new();
        assert_eq!(version_of(&&v4), 4);
        assert_eq!(version_of(&Arc::new(v4)), 4);
        assert_eq!(version_of(&Box::new(v4)), 4);
        let dynamic: Arc<dyn IdGenerator<Id = Ulid>> = Arc::new(UlidGenerator::new());
        let a = dynamic.generate().unwrap_or_default();
        let b = dynamic.generate().unwrap_or_default();
        assert!(a < b);
    }
}
