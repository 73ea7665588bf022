//! The secret one Secrets Manager version (or one key-file entry) holds, and its JSON form.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::b64;
use crate::error::KeyError;
use crate::limits::MIN_ROOT_SECRET_BYTES;
use crate::pem;
use crate::random::fill_random;
use crate::redacted_secret;

redacted_secret! {
    /// What one Secrets Manager version (or one key-file entry) holds.
    ///
    /// Either a plain string, which is the root secret itself (what CloudFormation's
    /// `GenerateSecretString` produces), or a JSON object
    /// `{"root": "...", "rsa_private_key_pem": "..."}` for RS256, whose RSA key cannot be
    /// derived. The root secret's UTF-8 bytes are the HKDF input key material and must be
    /// at least [`crate::MIN_ROOT_SECRET_BYTES`] long.
    #[derive(Clone)]
    pub struct SecretValue(String);
    /// The secret string, for storing it (Secrets Manager, a key file).
    fn expose_secret -> &str;
}

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
    /// [`KeyError::Generation`] if the crypto library cannot generate the key.
    pub fn generate_with_rsa() -> Result<Self, KeyError> {
        let root = Self::generate();
        let pem = pem::generate_rsa_pem()?;
        let json = serde_json::to_string(&SecretJsonOut {
            root: root.expose_secret(),
            rsa_private_key_pem: pem.as_str(),
        })
        .map_err(|e| KeyError::SecretJson(e.to_string()))?;
        Ok(Self(Zeroizing::new(json)))
    }

    /// Reads the plain or the JSON form.
    ///
    /// # Errors
    /// [`KeyError::SecretJson`] for JSON that is not our object, [`KeyError::RootTooShort`]
    /// for a root under [`MIN_ROOT_SECRET_BYTES`].
    pub(crate) fn parts(&self) -> Result<SecretParts, KeyError> {
        let s = self.expose_secret();
        let plain = || SecretParts {
            root: Zeroizing::new(s.to_owned()),
            rsa_pem: None,
        };
        let parts = if s.trim_start().starts_with('{') {
            match serde_json::from_str::<SecretJson>(s) {
                Ok(parsed) => SecretParts {
                    root: Zeroizing::new(parsed.root),
                    rsa_pem: parsed.rsa_private_key_pem.map(Zeroizing::new),
                },
                // Not JSON at all: a plain secret that happens to start with `{`.
                Err(e) if e.is_syntax() || e.is_eof() => plain(),
                // JSON, but not our object (no `root`, wrong types): a mistake to report,
                // without serde's message, which may quote part of the secret.
                Err(e) => {
                    let what = if e.to_string().starts_with("missing field `root`") {
                        "missing field root"
                    } else {
                        r#"expected {"root": "...", "rsa_private_key_pem": "..."}"#
                    };
                    return Err(KeyError::SecretJson(what.to_owned()));
                }
            }
        } else {
            plain()
        };
        if parts.root.len() < MIN_ROOT_SECRET_BYTES {
            return Err(KeyError::RootTooShort {
                len: parts.root.len(),
                min: MIN_ROOT_SECRET_BYTES,
            });
        }
        Ok(parts)
    }
}

/// The JSON form as read. `root` is moved into a zeroizing wrapper straight away.
#[derive(Deserialize)]
struct SecretJson {
    root: String,
    #[serde(default)]
    rsa_private_key_pem: Option<String>,
}

/// The JSON form as written by [`SecretValue::generate_with_rsa`].
#[derive(Serialize)]
struct SecretJsonOut<'a> {
    root: &'a str,
    rsa_private_key_pem: &'a str,
}

/// The root secret and optional RSA key of one secret version.
pub(crate) struct SecretParts {
    root: Zeroizing<String>,
    rsa_pem: Option<Zeroizing<String>>,
}

impl SecretParts {
    /// The HKDF input key material.
    pub(crate) fn root(&self) -> &[u8] {
        self.root.as_bytes()
    }

    /// The RSA private key, PEM, when the secret carries one.
    pub(crate) fn rsa_pem(&self) -> Option<&str> {
        self.rsa_pem.as_deref().map(String::as_str)
    }
}
