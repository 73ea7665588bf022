//! Secret newtypes and random identifiers.
//!
//! Every type here that holds a secret prints `[redacted]` under `Debug`, has no `Display`,
//! hands its content out only through `expose_secret()`, and zeroizes its memory on drop.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use crate::b64;

const REDACTED: &str = "[redacted]";

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

/// What one Secrets Manager version (or one key-file entry) holds.
///
/// Either a plain string, which is the root secret itself (what CloudFormation's
/// `GenerateSecretString` produces), or a JSON object
/// `{"root": "...", "rsa_private_key_pem": "..."}` for RS256, whose RSA key cannot be
/// derived. The root secret's UTF-8 bytes are the HKDF input key material and must be at
/// least [`crate::MIN_ROOT_SECRET_BYTES`] long.
#[derive(Clone)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Wraps a secret string as read from Secrets Manager or a key file.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    /// A fresh random root secret: 256 bits from the OS CSPRNG, base64url (43 characters).
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(bytes.as_mut());
        Self::new(b64::encode(bytes.as_ref()))
    }

    /// A fresh random root secret plus a fresh RSA-2048 key (PKCS#8 PEM), as the JSON form.
    ///
    /// # Errors
    /// [`crate::KeyError::Generation`] if the crypto library cannot generate the key.
    pub fn generate_with_rsa() -> Result<Self, crate::KeyError> {
        let root = Self::generate();
        let pem = crate::keys::generate_rsa_pem()?;
        let json = crate::keys::secret_json(root.expose_secret(), pem.as_str())?;
        Ok(Self(json))
    }

    /// The secret string, for storing it (Secrets Manager, a key file). Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A signed access token (a compact JWS). A bearer credential: treat it as a secret.
// No PartialEq: comparing bearer tokens with `==` is not constant-time.
#[derive(Clone)]
pub struct AccessToken(Zeroizing<String>);

impl AccessToken {
    pub(crate) fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// The compact token, for the response body. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A signed refresh token (a compact JWS, HS256). A bearer credential: treat it as a secret.
#[derive(Clone)]
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    pub(crate) fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// The compact token, for the response body. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Raw private key material: a derived HMAC key, Ed25519 seed or P-256 scalar, or a
/// decoded PEM. Lives only while a key is being loaded; the crypto library keeps (and
/// clears on free) its own copy.
pub(crate) struct KeyMaterial(Zeroizing<Vec<u8>>);

impl KeyMaterial {
    pub(crate) fn zeroed(len: usize) -> Self {
        Self(Zeroizing::new(vec![0u8; len]))
    }

    pub(crate) fn from_vec(v: Vec<u8>) -> Self {
        Self(Zeroizing::new(v))
    }

    pub(crate) fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn expose_secret_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
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

/// Clears a `String` that held a secret before it is dropped.
pub(crate) fn wipe(mut s: String) {
    s.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_debug_is_redacted() {
        let k = KeyMaterial::from_vec(b"very secret key bytes".to_vec());
        assert_eq!(format!("{k:?}"), "[redacted]");
        assert_eq!(k.expose_secret(), b"very secret key bytes");
    }
}
