//! Verification: one pinned pipeline for access and refresh tokens. [`crate::jws`] checks
//! everything up to the signature; this module then reads the claims (base64url, JSON,
//! presence and types, `exp`, `nbf`, `iat`, `iss`, `aud`).

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::claims::{AccessClaims, RefreshClaims};
use crate::error::{KeyError, VerifyError};
use crate::json::{Field, decode_segment, json_object};
use crate::jwks::parse_jwks;
use crate::jws::{Typ, VerifyKey, verify_signature};
use crate::limits::{DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS};

/// What an access token must say to be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Required `iss`, compared exactly.
    pub issuer: String,
    /// Required audience: `aud` equals it, or is an array that contains it.
    pub audience: String,
    /// Clock-skew allowance for `exp`, `nbf` and `iat`, in seconds. Default
    /// [`DEFAULT_LEEWAY_SECS`] (30); clamped to [`MAX_LEEWAY_SECS`] (60).
    pub leeway_secs: u64,
}

impl VerifyPolicy {
    /// A policy with the default leeway (30 s).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

/// What a refresh token must say to be accepted (the store then decides if it is live).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Required `iss`, compared exactly.
    pub issuer: String,
    /// Clock-skew allowance for `exp`, `nbf` and `iat`, in seconds. Default
    /// [`DEFAULT_LEEWAY_SECS`] (30); clamped to [`MAX_LEEWAY_SECS`] (60).
    pub leeway_secs: u64,
}

impl RefreshPolicy {
    /// A policy with the default leeway (30 s).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

fn leeway(secs: u64) -> i64 {
    // Clamped to 60, so the conversion cannot fail.
    i64::try_from(secs.min(MAX_LEEWAY_SECS)).unwrap_or(0)
}

#[derive(Deserialize)]
struct RawAccess<'a> {
    #[serde(borrow, default)]
    iss: Field<'a>,
    #[serde(borrow, default)]
    sub: Field<'a>,
    #[serde(borrow, default)]
    aud: Field<'a>,
    #[serde(borrow, default)]
    exp: Field<'a>,
    #[serde(borrow, default)]
    iat: Field<'a>,
    #[serde(borrow, default)]
    nbf: Field<'a>,
    #[serde(borrow, default)]
    jti: Field<'a>,
    #[serde(borrow, default)]
    client_id: Field<'a>,
    #[serde(borrow, default)]
    sid: Field<'a>,
    #[serde(borrow, default)]
    scope: Field<'a>,
}

#[derive(Deserialize)]
struct RawRefresh<'a> {
    #[serde(borrow, default)]
    iss: Field<'a>,
    #[serde(borrow, default)]
    sub: Field<'a>,
    #[serde(borrow, default)]
    sid: Field<'a>,
    #[serde(borrow, default)]
    jti: Field<'a>,
    #[serde(borrow, default)]
    iat: Field<'a>,
    #[serde(borrow, default)]
    exp: Field<'a>,
    #[serde(borrow, default)]
    nbf: Field<'a>,
}

fn check_times(
    exp: i64,
    nbf: Option<i64>,
    iat: i64,
    now: i64,
    leeway: i64,
) -> Result<(), VerifyError> {
    if exp <= now.saturating_sub(leeway) {
        return Err(VerifyError::Expired);
    }
    if let Some(nbf) = nbf
        && nbf > now.saturating_add(leeway)
    {
        return Err(VerifyError::NotYetValid);
    }
    // A refresh token has no `nbf`, so `iat` is its only claim that can show it was minted
    // ahead of our clock; no honest issuer stamps a time that has not come yet.
    if iat > now.saturating_add(leeway) {
        return Err(VerifyError::IssuedInFuture);
    }
    Ok(())
}

#[derive(Debug)]
struct AccessCheck {
    issuer: Box<str>,
    audience: Box<str>,
    leeway: i64,
}

/// Verifies access tokens: built once from a key set or a JWKS, then shared.
/// Holds public keys only (for HS256, the HMAC key). Cheap to clone.
#[derive(Clone)]
pub struct AccessVerifier {
    keys: Arc<[VerifyKey]>,
    check: Arc<AccessCheck>,
}

impl fmt::Debug for AccessVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(VerifyKey::kid).collect();
        f.debug_struct("AccessVerifier")
            .field("kids", &kids)
            .field("policy", &self.check)
            .finish()
    }
}

impl AccessVerifier {
    pub(crate) fn from_keys(keys: Arc<[VerifyKey]>, policy: VerifyPolicy) -> Self {
        Self {
            keys,
            check: Arc::new(AccessCheck {
                issuer: policy.issuer.into(),
                audience: policy.audience.into(),
                leeway: leeway(policy.leeway_secs),
            }),
        }
    }

    /// A verifier from a published JWKS document (`{"keys": [...]}`): EC P-256/ES256,
    /// OKP Ed25519/EdDSA and RSA/RS256 keys (2048 to 8192 bits).
    ///
    /// # Errors
    /// Invalid JSON, an unknown `kty`/`alg`/`crv`, a `use` other than `sig`, a missing or
    /// invalid parameter, private key members, duplicate kids, or no keys at all.
    pub fn from_jwks(jwks_json: &str, policy: VerifyPolicy) -> Result<Self, KeyError> {
        Ok(Self::from_keys(parse_jwks(jwks_json)?, policy))
    }

    /// Verifies a compact access token at `now` (unix seconds) and returns its claims.
    ///
    /// # Errors
    /// The first check that fails, as a [`VerifyError`].
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, VerifyError> {
        let payload_seg = verify_signature(&self.keys, token, Typ::Access)?;
        let mut stack = [0u8; 1024];
        let mut heap = Vec::new();
        let payload = decode_segment(payload_seg, &mut stack, &mut heap)?;
        let raw: RawAccess<'_> = json_object(payload)?;
        let iss = raw.iss.string("iss")?;
        let sub = raw.sub.string("sub")?;
        let aud_ok = match &raw.aud {
            Field::Str(a) => **a == *self.check.audience,
            Field::Strs(list) => list.iter().any(|a| **a == *self.check.audience),
            Field::Missing => return Err(VerifyError::MissingClaim("aud")),
            _ => return Err(VerifyError::InvalidClaim("aud")),
        };
        let exp = raw.exp.int("exp")?;
        let iat = raw.iat.int("iat")?;
        let nbf = raw.nbf.int("nbf")?;
        let jti = raw.jti.string("jti")?;
        let client_id = raw.client_id.string("client_id")?;
        let sid = raw.sid.string("sid")?;
        let scope = raw.scope.string("scope")?;
        check_times(exp, Some(nbf), iat, now, self.check.leeway)?;
        if *iss != *self.check.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !aud_ok {
            return Err(VerifyError::WrongAudience);
        }
        Ok(AccessClaims {
            iss: iss.into_owned(),
            sub: sub.into_owned(),
            aud: self.check.audience.to_string(),
            exp,
            iat,
            nbf,
            jti: jti.into_owned(),
            client_id: client_id.into_owned(),
            sid: sid.into_owned(),
            scope: scope.into_owned(),
        })
    }

    /// Whether this verifier holds a key with this kid. A caller that meets an unknown
    /// kid can reload its keys (rate-limited) and try again.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == kid)
    }
}

#[derive(Debug)]
struct RefreshCheck {
    issuer: Box<str>,
    leeway: i64,
}

/// Verifies refresh tokens (HS256, `typ: rt+jwt`) against the refresh keys of a key set.
/// Only the signature and claims: the store decides whether the session is live.
#[derive(Clone)]
pub struct RefreshVerifier {
    keys: Arc<[VerifyKey]>,
    check: Arc<RefreshCheck>,
}

impl fmt::Debug for RefreshVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshVerifier")
            .field("keys", &"[redacted]")
            .field("policy", &self.check)
            .finish()
    }
}

impl RefreshVerifier {
    pub(crate) fn from_keys(keys: Arc<[VerifyKey]>, policy: RefreshPolicy) -> Self {
        Self {
            keys,
            check: Arc::new(RefreshCheck {
                issuer: policy.issuer.into(),
                leeway: leeway(policy.leeway_secs),
            }),
        }
    }

    /// Verifies a compact refresh token at `now` (unix seconds) and returns its claims.
    /// An `nbf`, which Tessera never sets, is still honoured if present.
    ///
    /// # Errors
    /// The first check that fails, as a [`VerifyError`].
    pub fn verify(&self, token: &str, now: i64) -> Result<RefreshClaims, VerifyError> {
        let payload_seg = verify_signature(&self.keys, token, Typ::Refresh)?;
        let mut stack = [0u8; 1024];
        let mut heap = Vec::new();
        let payload = decode_segment(payload_seg, &mut stack, &mut heap)?;
        let raw: RawRefresh<'_> = json_object(payload)?;
        let iss = raw.iss.string("iss")?;
        let sub = raw.sub.string("sub")?;
        let sid = raw.sid.string("sid")?;
        let jti = raw.jti.string("jti")?;
        let iat = raw.iat.int("iat")?;
        let exp = raw.exp.int("exp")?;
        let nbf = match raw.nbf {
            Field::Missing => None,
            other => Some(other.int("nbf")?),
        };
        check_times(exp, nbf, iat, now, self.check.leeway)?;
        if *iss != *self.check.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        Ok(RefreshClaims {
            iss: iss.into_owned(),
            sub: sub.into_owned(),
            sid: sid.into_owned(),
            jti: jti.into_owned(),
            iat,
            exp,
        })
    }
}
