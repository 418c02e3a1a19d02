//! Randomness for ids.
//!
//! # Why a thread-local CSPRNG and not the OS per id, or a fast non-cryptographic generator?
//!
//! Random (v4) UUIDs are routinely used as unguessable tokens (password-reset links, object
//! URLs), so their bits must come from a cryptographically secure generator. Asking the OS for
//! 16 bytes per id (`getrandom`, what the `uuid` crate does by default) costs a system call,
//! several hundred nanoseconds. A fast non-cryptographic generator (wyrand, xorshift) is cheap
//! but predictable from a few outputs. We use `rand`'s [`ThreadRng`](rand::rngs::ThreadRng):
//! ChaCha12 per thread, seeded from the OS, reseeded from the OS every 64 KiB of output. It is
//! a CSPRNG and costs a few nanoseconds per id. It is not reseeded on `fork()`: a process that
//! forks after generating ids should only generate ids in one of the two copies, or exec.

use rand::RngCore;

/// 128 random bits from the thread's CSPRNG.
#[inline]
pub(crate) fn random_u128() -> u128 {
    let mut rng = rand::rng();
    (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
}
