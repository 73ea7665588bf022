//! Key derivation, loading and the key set that signs tokens.
//!
//! Derivation: HKDF-SHA256 (RFC 5869) with no salt, the root secret's UTF-8 bytes as input
//! key material, and one `info` label per key:
//!
//! | key | `info` | output |
//! | --- | --- | --- |
//! | ES256 access key | `tessera access ES256` | 32-byte big-endian P-256 scalar |
//! | EdDSA access key | `tessera access EdDSA` | 32-byte Ed25519 seed |
//! | HS256 access key | `tessera access HS256` | 32-byte HMAC key |
//! | refresh key | `tessera refresh HS256` | 32-byte HMAC key |
//! | HS256 access key id | `tessera access HS256 kid` | 32 bytes, public |
//! | refresh key id | `tessera refresh HS256 kid` | 32 bytes, public |
//!
//! A P-256 scalar must lie in `[1, n)`. If the first output does not (probability about
//! 2^-32), the label followed by one counter byte (1, 2, ...) is tried next, so the result
//! is deterministic and uniform on the valid range.
//!
//! Key ids are RFC 7638 JWK thumbprints: base64url(SHA-256(canonical JWK)). An HMAC key
//! has no public part, so its kid is the thumbprint of `{"k": <derived id>, "kty": "oct"}`
//! where the id comes from its own HKDF label: it names the key version without revealing
//! anything about the key (HKDF outputs for distinct labels are independent).

use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::hkdf;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
};

use crate::algorithm::Algorithm;
use crate::b64;
use crate::claims::{AccessClaims, RefreshClaims};
use crate::error::{KeyError, TokenError};
use crate::jwks::{Jwk, Jwks};
use crate::jws::{Typ, VerifyKey, VerifyKind};
use crate::pem::load_rsa_pem;
use crate::random::Jti;
use crate::secret::{AccessToken, KeyMaterial, RefreshToken};
use crate::secret_value::{SecretParts, SecretValue};
use crate::sign::{Signer, SigningKey};
use crate::verify::{AccessVerifier, RefreshPolicy, RefreshVerifier, VerifyPolicy};

// Kept here too, where they were first published.
pub use crate::jws::{ACCESS_TYP, REFRESH_TYP};

/// HKDF label of the ES256 access key.
pub const LABEL_ACCESS_ES256: &str = "tessera access ES256";
/// HKDF label of the EdDSA access key (the Ed25519 seed).
pub const LABEL_ACCESS_EDDSA: &str = "tessera access EdDSA";
/// HKDF label of the HS256 access key.
pub const LABEL_ACCESS_HS256: &str = "tessera access HS256";
/// HKDF label of the refresh key.
pub const LABEL_REFRESH_HS256: &str = "tessera refresh HS256";
/// HKDF label of the public id behind an HS256 access key's kid.
pub const LABEL_ACCESS_HS256_KID: &str = "tessera access HS256 kid";
/// HKDF label of the public id behind the refresh key's kid.
pub const LABEL_REFRESH_HS256_KID: &str = "tessera refresh HS256 kid";

/// The order n of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// A key id: the RFC 7638 thumbprint of the key's JWK (see the module docs for HS256).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Kid(String);

impl Kid {
    /// The id as it appears in the `kid` header and the JWKS.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn thumbprint(canonical_jwk: &str) -> Self {
        Self(b64::encode(
            digest::digest(&digest::SHA256, canonical_jwk.as_bytes()).as_ref(),
        ))
    }
}

impl std::fmt::Display for Kid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct OutLen(usize);

impl hkdf::KeyType for OutLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256(salt = none, ikm = root, info) -> `len` bytes.
fn derive(root: &[u8], info: &[&[u8]], len: usize) -> Result<KeyMaterial, KeyError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(root);
    let mut out = KeyMaterial::zeroed(len);
    prk.expand(info, OutLen(len))
        .and_then(|okm| okm.fill(out.expose_secret_mut()))
        .map_err(|_| KeyError::Derivation("hkdf"))?;
    Ok(out)
}

/// Derives a P-256 scalar in `[1, n)` and loads it.
fn derive_p256(root: &[u8]) -> Result<EcdsaKeyPair, KeyError> {
    for counter in 0u8..=u8::MAX {
        let label = LABEL_ACCESS_ES256.as_bytes();
        let scalar = if counter == 0 {
            derive(root, &[label], 32)?
        } else {
            derive(root, &[label, &[counter]], 32)?
        };
        let d = scalar.expose_secret();
        if d.iter().all(|b| *b == 0) || d >= &P256_ORDER[..] {
            continue;
        }
        // RFC 5915 ECPrivateKey { version 1, privateKey, [0] prime256v1 }: the library
        // computes the public point itself.
        const PREFIX: [u8; 7] = [0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
        const CURVE: [u8; 12] = [
            0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        ];
        let mut der = KeyMaterial::zeroed(0x33);
        let bytes = PREFIX.iter().chain(d.iter()).chain(CURVE.iter());
        for (slot, byte) in der.expose_secret_mut().iter_mut().zip(bytes) {
            *slot = *byte;
        }
        return EcdsaKeyPair::from_private_key_der(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            der.expose_secret(),
        )
        .map_err(|_| KeyError::Derivation("p-256 key rejected"));
    }
    Err(KeyError::Derivation("no valid p-256 scalar"))
}

fn derive_ed25519(root: &[u8]) -> Result<Ed25519KeyPair, KeyError> {
    let seed = derive(root, &[LABEL_ACCESS_EDDSA.as_bytes()], 32)?;
    Ed25519KeyPair::from_seed_unchecked(seed.expose_secret())
        .map_err(|_| KeyError::Derivation("ed25519 seed rejected"))
}

fn derive_hmac(root: &[u8], label: &str) -> Result<hmac::Key, KeyError> {
    let k = derive(root, &[label.as_bytes()], 32)?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, k.expose_secret()))
}

fn hmac_kid(root: &[u8], kid_label: &str) -> Result<Kid, KeyError> {
    // Public by construction: not key material, so no zeroizing wrapper is needed.
    let id = derive(root, &[kid_label.as_bytes()], 32)?;
    Ok(Kid::thumbprint(&format!(
        r#"{{"k":"{}","kty":"oct"}}"#,
        b64::encode(id.expose_secret())
    )))
}

/// The keys of one secret version: the access key (private, plus its verify key and JWK)
/// and the refresh key.
struct Version {
    access_kid: Kid,
    access: SigningKey,
    access_verify: VerifyKey,
    jwk: Option<Jwk>,
    refresh_kid: Kid,
    refresh: SigningKey,
    refresh_verify: VerifyKey,
    refresh_hmac: hmac::Key,
}

fn public_key(
    alg: &'static dyn signature::VerificationAlgorithm,
    bytes: &[u8],
) -> Result<ParsedPublicKey, KeyError> {
    ParsedPublicKey::new(alg, bytes).map_err(|_| KeyError::Derivation("public key rejected"))
}

impl Version {
    fn load(alg: Algorithm, parts: &SecretParts) -> Result<Self, KeyError> {
        let ikm = parts.root();
        let (kid, signer, verify, jwk) = match alg {
            Algorithm::Es256 => {
                let kp = derive_p256(ikm)?;
                let point = kp.public_key().as_ref();
                let (x, y) = match point {
                    [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
                    _ => return Err(KeyError::Derivation("unexpected p-256 point encoding")),
                };
                let jwk = Jwk::ec(b64::encode(x), b64::encode(y));
                let kid = Kid::thumbprint(&jwk.canonical());
                let verify = VerifyKind::Public {
                    key: public_key(&ECDSA_P256_SHA256_FIXED, point)?,
                    sig_len: 64,
                };
                (kid, Signer::Es256(kp), verify, Some(jwk))
            }
            Algorithm::EdDsa => {
                let kp = derive_ed25519(ikm)?;
                let x = kp.public_key().as_ref();
                let jwk = Jwk::okp(b64::encode(x));
                let kid = Kid::thumbprint(&jwk.canonical());
                let verify = VerifyKind::Public {
                    key: public_key(&ED25519, x)?,
                    sig_len: 64,
                };
                (kid, Signer::EdDsa(kp), verify, Some(jwk))
            }
            Algorithm::Rs256 => {
                let pem = parts.rsa_pem().ok_or(KeyError::MissingRsaKey)?;
                let kp = load_rsa_pem(pem)?;
                let pk = kp.public_key();
                let n = pk.modulus().big_endian_without_leading_zero();
                let e = pk.exponent().big_endian_without_leading_zero();
                let jwk = Jwk::rsa(b64::encode(n), b64::encode(e));
                let kid = Kid::thumbprint(&jwk.canonical());
                let verify = VerifyKind::Public {
                    key: public_key(&RSA_PKCS1_2048_8192_SHA256, pk.as_ref())?,
                    sig_len: kp.public_modulus_len(),
                };
                (kid, Signer::Rs256(kp), verify, Some(jwk))
            }
            Algorithm::Hs256 => {
                let key = derive_hmac(ikm, LABEL_ACCESS_HS256)?;
                let kid = hmac_kid(ikm, LABEL_ACCESS_HS256_KID)?;
                (
                    kid,
                    Signer::Hs256(Box::new(key.clone())),
                    VerifyKind::Hmac(Box::new(key)),
                    None,
                )
            }
        };
        let jwk = jwk.map(|j| j.with_kid(kid.as_str().to_owned(), alg));
        let access_verify = VerifyKey::new(kid.as_str(), alg, verify, Typ::Access);
        let access = SigningKey::new(alg, Typ::Access, kid.as_str(), signer);

        let refresh_hmac = derive_hmac(ikm, LABEL_REFRESH_HS256)?;
        let refresh_kid = hmac_kid(ikm, LABEL_REFRESH_HS256_KID)?;
        let refresh_verify = VerifyKey::new(
            refresh_kid.as_str(),
            Algorithm::Hs256,
            VerifyKind::Hmac(Box::new(refresh_hmac.clone())),
            Typ::Refresh,
        );
        let refresh = SigningKey::new(
            Algorithm::Hs256,
            Typ::Refresh,
            refresh_kid.as_str(),
            Signer::Hs256(Box::new(refresh_hmac.clone())),
        );
        Ok(Self {
            access_kid: kid,
            access,
            access_verify,
            jwk,
            refresh_kid,
            refresh,
            refresh_verify,
            refresh_hmac,
        })
    }
}

/// Tessera's private keys: the current version signs, the current and previous versions
/// verify. Built once at start (or on a key reload); cheap to share behind an `Arc`.
pub struct KeySet {
    alg: Algorithm,
    current: Version,
    access_keys: Arc<[VerifyKey]>,
    refresh_keys: Arc<[VerifyKey]>,
    jwks: Jwks,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Kids are public; the keys are not.
        let kids: Vec<&str> = self.access_keys.iter().map(VerifyKey::kid).collect();
        f.debug_struct("KeySet")
            .field("alg", &self.alg)
            .field("access_kids", &kids)
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl KeySet {
    /// Loads the key set: `current` = AWSCURRENT / the key file's current entry, `previous` =
    /// AWSPREVIOUS / older entries, newest first.
    ///
    /// For RS256 a previous version without an RSA key is skipped: it cannot have signed
    /// RS256 tokens. A version equal to one already loaded is skipped too.
    ///
    /// # Errors
    /// A root secret under [`crate::MIN_ROOT_SECRET_BYTES`], malformed JSON, a missing or
    /// invalid RSA key in the current version, an invalid RSA key in a previous version.
    pub fn from_secrets(
        alg: Algorithm,
        current: &SecretValue,
        previous: &[SecretValue],
    ) -> Result<Self, KeyError> {
        let current = Version::load(alg, &current.parts()?)?;
        let mut access_keys = vec![current.access_verify.clone()];
        let mut refresh_keys = vec![current.refresh_verify.clone()];
        let mut jwks = Jwks { keys: Vec::new() };
        jwks.keys.extend(current.jwk.clone());
        for secret in previous {
            let parts = secret.parts()?;
            if alg == Algorithm::Rs256 && parts.rsa_pem().is_none() {
                continue;
            }
            let v = Version::load(alg, &parts)?;
            if !access_keys.iter().any(|k| k.kid() == v.access_verify.kid()) {
                access_keys.push(v.access_verify);
                jwks.keys.extend(v.jwk);
            }
            if !refresh_keys
                .iter()
                .any(|k| k.kid() == v.refresh_verify.kid())
            {
                refresh_keys.push(v.refresh_verify);
            }
        }
        Ok(Self {
            alg,
            current,
            access_keys: access_keys.into(),
            refresh_keys: refresh_keys.into(),
            jwks,
        })
    }

    /// The access token algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The kid of the current access key (the one that signs).
    pub fn current_kid(&self) -> &Kid {
        &self.current.access_kid
    }

    /// The kid of the current refresh key.
    pub fn current_refresh_kid(&self) -> &Kid {
        &self.current.refresh_kid
    }

    /// Signs an access token with the current access key. The claims are not checked:
    /// the caller sets `exp`, `aud` and the rest.
    ///
    /// # Errors
    /// [`TokenError::TooLarge`] if the token would exceed [`crate::MAX_TOKEN_BYTES`] (a huge
    /// scope), [`TokenError::Signing`] if the crypto library fails.
    pub fn issue_access(&self, claims: &AccessClaims) -> Result<AccessToken, TokenError> {
        self.current.access.sign(claims).map(AccessToken::new)
    }

    /// Signs a refresh token with the current refresh key (HS256, `typ: rt+jwt`).
    /// Deterministic: the same claims give the same token, byte for byte.
    ///
    /// # Errors
    /// As [`KeySet::issue_access`].
    pub fn issue_refresh(&self, claims: &RefreshClaims) -> Result<RefreshToken, TokenError> {
        self.current.refresh.sign(claims).map(RefreshToken::new)
    }

    /// The id of the refresh token that succeeds `presented_token` (a refresh token this set
    /// verified) whose `jti` is `presented_jti`:
    /// base64url(HMAC-SHA256(refresh key, "next" || presented_jti)) truncated to 128 bits.
    /// Deterministic, so a retried refresh can re-issue the very same successor.
    ///
    /// The refresh key is the one that signed `presented_token` (found by its header, which
    /// Tessera issues byte-identical per key), not necessarily the current one: a process
    /// that reloaded keys after a rotation still derives the successor another process
    /// derived before it, so a replay inside the grace window never forks the chain.
    pub fn successor_jti(&self, presented_token: &str, presented_jti: &str) -> Jti {
        let header = presented_token.split('.').next().unwrap_or_default();
        let key = self
            .refresh_keys
            .iter()
            .find(|k| k.issued_header() == header)
            .and_then(VerifyKey::hmac_key)
            .unwrap_or(&self.current.refresh_hmac);
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(b"next");
        ctx.update(presented_jti.as_bytes());
        let tag = ctx.sign();
        // 128 bits of the HMAC: as long as a random jti.
        let truncated: Vec<u8> = tag.as_ref().iter().take(16).copied().collect();
        Jti::from_string(b64::encode(&truncated))
    }

    /// The public access keys, current first. Empty for HS256; never the refresh keys.
    pub fn jwks(&self) -> Jwks {
        self.jwks.clone()
    }

    /// A verifier for access tokens signed by any version in this set.
    pub fn access_verifier(&self, policy: VerifyPolicy) -> AccessVerifier {
        AccessVerifier::from_keys(Arc::clone(&self.access_keys), policy)
    }

    /// A verifier for refresh tokens signed by any version in this set.
    pub fn refresh_verifier(&self, policy: RefreshPolicy) -> RefreshVerifier {
        RefreshVerifier::from_keys(Arc::clone(&self.refresh_keys), policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws::check_header;

    /// Verification skips decoding a header byte-identical to one we issue; that is only
    /// sound if the full check accepts exactly that header for exactly that key.
    #[test]
    fn issued_headers_pass_the_full_header_check() {
        let root = SecretValue::new("unit-test-root-secret-0123456789abcdef");
        let rsa = SecretValue::generate_with_rsa().unwrap();
        for alg in Algorithm::ALL {
            let secret = if alg == Algorithm::Rs256 { &rsa } else { &root };
            let ks = KeySet::from_secrets(alg, secret, &[]).unwrap();
            for (keys, typ) in [
                (&ks.access_keys, Typ::Access),
                (&ks.refresh_keys, Typ::Refresh),
            ] {
                for key in keys.iter() {
                    let found = check_header(keys, key.issued_header().as_bytes(), typ).unwrap();
                    assert!(std::ptr::eq(found, key), "{alg}");
                }
            }
            let header_seg = ks.current.access.header_b64().as_bytes();
            assert_eq!(ks.access_keys[0].issued_header().as_bytes(), header_seg);
        }
    }
}
