//! Randomness from the operating system's CSPRNG: random ids and token ids.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::b64;

/// Fills `buf` from the operating system's CSPRNG.
///
/// AWS-LC itself aborts the process when its entropy source fails; we do the same rather
/// than hand out an id or a key that might be predictable. There is no sensible fallback.
pub(crate) fn fill_random(buf: &mut [u8]) {
    if SystemRandom::new().fill(buf).is_err() {
        std::process::abort();
    }
}

/// 128 random bits, base64url without padding (22 characters).
///
/// For session ids, user ids and token ids: unguessable, URL-safe, fixed length.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    b64::encode(&bytes)
}

/// A token id (`jti`): 128 random bits, or derived (see [`crate::KeySet::successor_jti`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Jti(String);

impl Jti {
    /// A fresh random id (128 bits, base64url).
    pub fn random() -> Self {
        Self(random_id())
    }

    pub(crate) fn from_string(s: String) -> Self {
        Self(s)
    }

    /// The id as it appears in the `jti` claim.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string, for a claims struct.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Jti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
