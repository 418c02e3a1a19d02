//! Turning typed values into bytes and back.

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use crate::CacheError;

/// Encodes and decodes values stored through a [`TypedCache`](crate::TypedCache).
///
/// [`JsonCodec`] is the default; implement this for MessagePack, bincode, protobuf…
pub trait Codec: Send + Sync + 'static {
    /// Encodes `value`.
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CacheError>;
    /// Decodes bytes written by [`Codec::encode`].
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CacheError>;
}

/// JSON through `serde_json`: readable in `redis-cli`, portable across languages.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CacheError> {
        serde_json::to_vec(value).map_err(CacheError::codec)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CacheError> {
        serde_json::from_slice(bytes).map_err(CacheError::codec)
    }
}

/// Helper so codecs can hand back `Bytes` without another copy.
pub(crate) fn encode_to_bytes<K: Codec, T: Serialize>(
    codec: &K,
    value: &T,
) -> Result<Bytes, CacheError> {
    codec.encode(value).map(Bytes::from)
}
