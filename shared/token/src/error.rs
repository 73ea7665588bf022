//! The crate's error types: one for keys, one for issuing, one for verifying.

use thiserror::Error;

/// Why a token was rejected.
///
/// Every variant is a client error: the token is not acceptable. Callers map all of them to
/// the same answer (401 for an access token, `invalid_grant` for a refresh token); the
/// variant exists for logs, metrics and tests.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The token is longer than [`crate::MAX_TOKEN_BYTES`]; rejected before any parsing.
    #[error("token too large")]
    TooLarge,
    /// The token is not three dot-separated segments.
    #[error("malformed token")]
    Malformed,
    /// A segment is not unpadded, canonical base64url.
    #[error("invalid base64url in token")]
    Base64,
    /// The header or the claims are not the JSON object expected.
    #[error("invalid json in token")]
    Json,
    /// The header names the `none` algorithm (an unsigned token).
    #[error("unsigned token (alg none)")]
    AlgNone,
    /// The header's `alg` is missing or not one this crate verifies.
    #[error("unsupported algorithm")]
    UnsupportedAlg,
    /// The header's `alg` is not the algorithm of the key named by `kid`.
    #[error("algorithm does not match the key")]
    AlgMismatch,
    /// The header has no `kid`.
    #[error("missing kid")]
    MissingKid,
    /// The header's `kid` names no key this verifier holds.
    #[error("unknown kid")]
    UnknownKid,
    /// The header's `typ` is missing or not the token type this verifier accepts.
    #[error("wrong token type")]
    WrongType,
    /// The header has a `crit` parameter; no extension is understood, so it is refused.
    #[error("critical header parameter not understood")]
    CritHeader,
    /// The signature does not verify with the key named by `kid`.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is at or before now, beyond the leeway.
    #[error("token expired")]
    Expired,
    /// `nbf` is after now, beyond the leeway.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is after now, beyond the leeway: a token cannot be issued in the future.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is not the expected issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` neither is nor contains the expected audience.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent; the claim's name.
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// A claim has the wrong type (for example a non-integer `exp`); the claim's name.
    #[error("invalid claim {0}")]
    InvalidClaim(&'static str),
}

/// Why keys could not be loaded, derived, generated or read from a JWKS.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The root secret is shorter than [`crate::MIN_ROOT_SECRET_BYTES`].
    #[error("root secret too short: {len} bytes, need at least {min}")]
    RootTooShort {
        /// Length of the root secret that was given, in bytes.
        len: usize,
        /// The minimum length, in bytes.
        min: usize,
    },
    /// The secret value looks like JSON but is not the expected object.
    #[error("secret value is not valid json: {0}")]
    SecretJson(String),
    /// RS256 was selected but the current secret version holds no RSA key.
    #[error("rs256 needs an rsa private key in the secret value")]
    MissingRsaKey,
    /// The RSA key is not a PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) block.
    #[error("invalid pem: {0}")]
    Pem(&'static str),
    /// The RSA key was rejected by the crypto library, or is smaller than 2048 bits.
    #[error("invalid rsa key: {0}")]
    InvalidRsaKey(String),
    /// A key could not be derived or loaded (should not happen with a valid root secret).
    #[error("key derivation failed: {0}")]
    Derivation(&'static str),
    /// Key generation failed in the crypto library.
    #[error("key generation failed")]
    Generation,
    /// The JWKS document is not valid JSON of the expected shape.
    #[error("invalid jwks: {0}")]
    JwksJson(String),
    /// A JWK has a `kty`, `alg`, `crv` or `use` this crate does not verify with.
    #[error("unsupported jwk: {0}")]
    UnsupportedJwk(String),
    /// A JWK lacks a parameter its key type needs; the parameter's name.
    #[error("jwk missing parameter {0}")]
    MissingJwkParam(&'static str),
    /// A JWK parameter is not valid for its key type; the parameter's name.
    #[error("jwk parameter {0} is invalid")]
    InvalidJwkParam(&'static str),
    /// A JWK carries private key material (`d`, `p`, `q`, ...), which a JWKS must never hold.
    #[error("jwk contains private key material")]
    PrivateJwk,
    /// Two JWKs share one `kid`.
    #[error("duplicate kid {0}")]
    DuplicateKid(String),
    /// The JWKS holds no key, so nothing could ever verify.
    #[error("jwks has no keys")]
    NoKeys,
}

/// Why a token could not be issued.
#[derive(Debug, Error)]
pub enum TokenError {
    /// The claims could not be serialised.
    #[error("claims could not be serialised: {0}")]
    Json(String),
    /// The crypto library failed to sign.
    #[error("signing failed")]
    Signing,
    /// The token would exceed [`crate::MAX_TOKEN_BYTES`], so no verifier would accept it.
    #[error("token would exceed {max} bytes", max = crate::limits::MAX_TOKEN_BYTES)]
    TooLarge,
}
