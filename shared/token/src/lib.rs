//! Tessera's tokens: the key set, claims, issuing, verification and the JWKS. No I/O.
//!
//! - Access tokens are JWTs per RFC 9068 (`typ: at+jwt`), signed with ES256 (default),
//!   EdDSA, RS256 or HS256. Refresh tokens are JWTs with `typ: rt+jwt`, always HS256 with a
//!   separate refresh key, so neither can pass for the other.
//! - Keys derive from one root secret with HKDF-SHA256 and distinct labels (see [`keys`]);
//!   an RSA key cannot be derived and comes as PEM inside the secret value. The current
//!   secret version signs; current and previous versions verify. `kid` is the RFC 7638
//!   thumbprint.
//! - Verification is pinned: the `kid` picks the key, the key fixes the algorithm, and
//!   the signature is checked before any claim is read. Size, shape, `alg`, `typ`, `crit`,
//!   `iss`, `aud`, `exp` and `nbf` are all checked; time comes in as `now` (unix seconds).
//! - All cryptography is aws-lc-rs. The JWS encoding is written here, small and
//!   allocation-light, because verification runs on every API request.
//!
//! Limits: compact JWS only (no JWE, no JSON serialisation, no `jku`/`x5u`/`jwk` header
//! keys, no `crit` extensions); the JWKS reader accepts only the key types we issue.
//! Secrets are zeroized on drop on a best-effort basis: serde and the crypto library may
//! keep short-lived copies of their own.

mod algorithm;
mod b64;
mod claims;
mod error;
mod jwks;
pub mod keys;
mod secret;
mod verify;

pub use algorithm::{Algorithm, ParseAlgorithmError};
pub use claims::{AccessClaims, RefreshClaims};
pub use error::{KeyError, TokenError, VerifyError};
pub use jwks::{Jwk, Jwks};
pub use keys::{KeySet, Kid};
pub use secret::{AccessToken, Jti, RefreshToken, SecretValue, random_id};
pub use verify::{
    AccessVerifier, DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS, RefreshPolicy, RefreshVerifier,
    VerifyPolicy,
};

/// Tokens longer than this are rejected before any parsing, and never issued.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// The shortest root secret accepted, in bytes.
pub const MIN_ROOT_SECRET_BYTES: usize = 32;
