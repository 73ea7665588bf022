//! Verification: one pinned pipeline for access and refresh tokens.
//!
//! Order, so that nothing from the token is trusted before its signature is checked:
//! size; three segments; header (base64url, JSON, `crit`, `alg`, `typ`, `kid`, the key's
//! own algorithm); signature; then the claims (base64url, JSON, presence and types, `exp`,
//! `nbf`, `iat`, `iss`, `aud`).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::ParsedPublicKey;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::b64;
use crate::claims::{AccessClaims, RefreshClaims};
use crate::error::{KeyError, VerifyError};
use crate::{Algorithm, MAX_TOKEN_BYTES};

/// The clock-skew allowance used unless a policy says otherwise, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// The largest leeway a verifier applies; larger policy values are clamped to it.
pub const MAX_LEEWAY_SECS: u64 = 60;

/// The largest signature any key has: RSA-8192, the largest modulus a JWKS may bring.
const MAX_SIG_BYTES: usize = 1024;

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

/// A verification key, parsed once, pinned to one algorithm.
#[derive(Clone)]
pub(crate) struct VerifyKey {
    kid: Box<str>,
    alg: Algorithm,
    kind: VerifyKind,
    /// The exact header segment Tessera issues for this key. A token whose header is
    /// byte-identical was fully checked here once, so verification skips decoding it.
    issued_header: Box<str>,
}

/// The header segment Tessera issues: `{"alg","typ","kid"}`, base64url. Every value is a
/// fixed name or base64url, so no JSON escaping is needed.
pub(crate) fn issued_header(alg: Algorithm, typ: Typ, kid: &str) -> String {
    let typ = match typ {
        Typ::Access => crate::keys::ACCESS_TYP,
        Typ::Refresh => crate::keys::REFRESH_TYP,
    };
    b64::encode(format!(r#"{{"alg":"{alg}","typ":"{typ}","kid":"{kid}"}}"#).as_bytes())
}

#[derive(Clone)]
pub(crate) enum VerifyKind {
    Hmac(Box<hmac::Key>),
    Public {
        key: ParsedPublicKey,
        sig_len: usize,
    },
}

impl VerifyKey {
    pub(crate) fn new(kid: &str, alg: Algorithm, kind: VerifyKind, typ: Typ) -> Self {
        Self {
            kid: kid.into(),
            alg,
            kind,
            issued_header: issued_header(alg, typ, kid).into(),
        }
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The HMAC key, for an HS256 key.
    pub(crate) fn hmac_key(&self) -> Option<&hmac::Key> {
        match &self.kind {
            VerifyKind::Hmac(key) => Some(key),
            VerifyKind::Public { .. } => None,
        }
    }

    pub(crate) fn issued_header(&self) -> &str {
        &self.issued_header
    }

    fn sig_len(&self) -> usize {
        match &self.kind {
            VerifyKind::Hmac(_) => 32,
            VerifyKind::Public { sig_len, .. } => *sig_len,
        }
    }

    fn verify(&self, input: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
        match &self.kind {
            // Constant-time comparison of the recomputed tag.
            VerifyKind::Hmac(k) => hmac::verify(k, input, sig),
            VerifyKind::Public { key, .. } => key.verify_sig(input, sig),
        }
        .map_err(|_| VerifyError::BadSignature)
    }
}

/// Which `typ` a verifier accepts.
#[derive(Clone, Copy)]
pub(crate) enum Typ {
    Access,
    Refresh,
}

impl Typ {
    fn accepts(self, typ: &str) -> bool {
        // Media types compare case-insensitively (RFC 7515 §4.1.9); RFC 9068 allows the
        // full `application/at+jwt` form too.
        match self {
            Self::Access => {
                typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
            }
            Self::Refresh => typ.eq_ignore_ascii_case("rt+jwt"),
        }
    }
}

/// A JSON member as the verifier sees it: absent, or its JSON type with borrowed text.
#[derive(Default)]
enum Field<'a> {
    #[default]
    Missing,
    Str(Cow<'a, str>),
    Int(i64),
    Strs(Vec<Cow<'a, str>>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor(std::marker::PhantomData))
    }
}

struct FieldVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
    type Value = Field<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Field::Other, Field::Int))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut strs = Vec::new();
        let mut all_strings = true;
        while let Some(item) = seq.next_element::<Field<'a>>()? {
            match item {
                Field::Str(s) if all_strings => strs.push(s),
                _ => all_strings = false,
            }
        }
        Ok(if all_strings {
            Field::Strs(strs)
        } else {
            Field::Other
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

impl<'a> Field<'a> {
    fn string(self, name: &'static str) -> Result<Cow<'a, str>, VerifyError> {
        match self {
            Self::Str(s) => Ok(s),
            Self::Missing => Err(VerifyError::MissingClaim(name)),
            _ => Err(VerifyError::InvalidClaim(name)),
        }
    }

    fn int(&self, name: &'static str) -> Result<i64, VerifyError> {
        match self {
            Self::Int(i) => Ok(*i),
            Self::Missing => Err(VerifyError::MissingClaim(name)),
            _ => Err(VerifyError::InvalidClaim(name)),
        }
    }
}

/// Any value present, including `null`: a `crit` member of any shape is refused.
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// The JOSE header members we read; the others are ignored (never fetched or followed).
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    alg: Field<'a>,
    #[serde(borrow, default)]
    typ: Field<'a>,
    #[serde(borrow, default)]
    kid: Field<'a>,
    #[serde(default)]
    crit: Present,
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

/// Parses a JSON object (never an array, which serde would also map onto a struct).
fn json_object<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, VerifyError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes).map_err(|_| VerifyError::Json),
        _ => Err(VerifyError::Json),
    }
}

/// Checks everything up to and including the signature; returns the payload segment.
fn verify_signature<'t>(
    keys: &[VerifyKey],
    token: &'t str,
    typ: Typ,
) -> Result<&'t [u8], VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::TooLarge);
    }
    let bytes = token.as_bytes();
    let (d1, d2) = split_dots(bytes).ok_or(VerifyError::Malformed)?;
    let header_seg = &bytes[..d1];
    let payload_seg = &bytes[d1 + 1..d2];
    let sig_seg = &bytes[d2 + 1..];

    let key = match keys
        .iter()
        .find(|k| k.issued_header().as_bytes() == header_seg)
    {
        Some(key) => key,
        None => check_header(keys, header_seg, typ)?,
    };

    // A signature of the wrong length cannot verify: refuse it before decoding.
    if sig_seg.len() != (key.sig_len() * 4).div_ceil(3) {
        return Err(VerifyError::BadSignature);
    }
    let mut sig = [0u8; MAX_SIG_BYTES];
    let sig_len = match b64::decode_slice(sig_seg, &mut sig) {
        Ok(n) => n,
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            return Err(VerifyError::BadSignature);
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => return Err(VerifyError::Base64),
    };
    if sig_len != key.sig_len() {
        return Err(VerifyError::BadSignature);
    }
    key.verify(&bytes[..d2], &sig[..sig_len])?;
    Ok(payload_seg)
}

/// Decodes a segment into `stack` when it fits (the usual case, no allocation), else
/// into `heap`.
fn decode_segment<'b>(
    seg: &[u8],
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8], VerifyError> {
    match b64::decode_slice(seg, stack) {
        Ok(n) => Ok(&stack[..n]),
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            *heap = b64::decode(seg).map_err(|_| VerifyError::Base64)?;
            Ok(heap)
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => Err(VerifyError::Base64),
    }
}

/// The full header check, for headers not byte-identical to one we issue.
pub(crate) fn check_header<'k>(
    keys: &'k [VerifyKey],
    header_seg: &[u8],
    typ: Typ,
) -> Result<&'k VerifyKey, VerifyError> {
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let header_bytes = decode_segment(header_seg, &mut stack, &mut heap)?;
    let header: Header<'_> = json_object(header_bytes)?;
    if header.crit.0 {
        return Err(VerifyError::CritHeader);
    }
    let alg = match &header.alg {
        Field::Str(a) if a.eq_ignore_ascii_case("none") => return Err(VerifyError::AlgNone),
        Field::Str(a) => Algorithm::from_jose(a).ok_or(VerifyError::UnsupportedAlg)?,
        Field::Missing => return Err(VerifyError::UnsupportedAlg),
        _ => return Err(VerifyError::Json),
    };
    match &header.typ {
        Field::Str(t) if typ.accepts(t) => {}
        Field::Str(_) | Field::Missing => return Err(VerifyError::WrongType),
        _ => return Err(VerifyError::Json),
    }
    let kid = match &header.kid {
        Field::Str(k) => k,
        Field::Missing => return Err(VerifyError::MissingKid),
        _ => return Err(VerifyError::Json),
    };
    let key = keys
        .iter()
        .find(|k| *k.kid == **kid)
        .ok_or(VerifyError::UnknownKid)?;
    // The key decides the algorithm; the header only has to agree.
    if key.alg != alg {
        return Err(VerifyError::AlgMismatch);
    }
    Ok(key)
}

/// The positions of the two dots of a compact JWS; `None` unless there are exactly two.
///
/// Found from both ends (the header and signature are short); the long payload between
/// them is only checked for a stray dot, 32 bytes at a time in a form the compiler
/// vectorises. This runs on every request, and a byte-at-a-time scan was a visible cost.
fn split_dots(bytes: &[u8]) -> Option<(usize, usize)> {
    let d2 = bytes.iter().rposition(|b| *b == b'.')?;
    let d1 = bytes[..d2].iter().position(|b| *b == b'.')?;
    if has_dot(&bytes[d1 + 1..d2]) {
        return None;
    }
    Some((d1, d2))
}

fn has_dot(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(32);
    for chunk in &mut chunks {
        if chunk.iter().fold(0u8, |acc, b| acc | u8::from(*b == b'.')) != 0 {
            return true;
        }
    }
    chunks.remainder().contains(&b'.')
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
        Ok(Self::from_keys(crate::jwks::parse_jwks(jwks_json)?, policy))
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
        self.keys.iter().any(|k| *k.kid == *kid)
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
