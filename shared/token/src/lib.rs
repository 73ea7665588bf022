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
//! - All cryptography is aws-lc-rs. The JWS encoding is written here rather than taken from
//!   `jsonwebtoken`: measured against the raw primitive (`benches/token.rs`), jsonwebtoken
//!   misses the verify budget for RS256 and HS256, sits at its edge for ES256 and EdDSA,
//!   and costs 1.6-2.4x ours to issue with the asymmetric algorithms, because it parses the
//!   key again on every call; and wrapped in our checks it would replace almost nothing.
//! - [`dangerous`] reads a token without verifying it, for the few callers that must.
//!
//! Modules, each importing only modules listed before it: `limits`, `algorithm`, `b64`,
//! `claims`, `secret`, `error`, `random`, `json`, `jws`, `pem`, `secret_value`, `sign`,
//! `jwks`, `verify`, `keys`, `dangerous`.
//!
//! Limits: compact JWS only (no JWE, no JSON serialisation, no `jku`/`x5u`/`jwk` header
//! keys, no `crit` extensions); the JWKS reader accepts only the key types we issue.
//! Secrets are zeroized on drop on a best-effort basis: serde and the crypto library may
//! keep short-lived copies of their own.

mod algorithm;
mod b64;
mod claims;
pub mod dangerous;
mod error;
mod json;
mod jwks;
mod jws;
pub mod keys;
mod limits;
mod pem;
mod random;
mod secret;
mod secret_value;
mod sign;
mod verify;

pub use algorithm::{Algorithm, ParseAlgorithmError};
pub use claims::{AccessClaims, RefreshClaims};
pub use dangerous::DecodeError;
pub use error::{KeyError, TokenError, VerifyError};
pub use jwks::{Jwk, Jwks};
pub use keys::{KeySet, Kid};
pub use limits::{DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS, MAX_TOKEN_BYTES, MIN_ROOT_SECRET_BYTES};
pub use random::{Jti, random_id};
pub use secret::{AccessToken, RefreshToken};
pub use secret_value::SecretValue;
pub use verify::{AccessVerifier, RefreshPolicy, RefreshVerifier, VerifyPolicy};
// For `redacted_secret!` in other crates.
#[doc(hidden)]
pub use zeroize as __zeroize;
