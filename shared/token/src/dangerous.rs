//! Reading a token **without verifying it**.
//!
//! Nothing here checks a signature, a key, a type, an issuer or a time: what comes back is
//! whatever the sender wrote. Use it to decide *how* to verify (the `iat` at which to
//! verify an expired refresh token at logout), to bound what was already verified (the
//! `exp` of a token the authorizer just accepted, to cache its answer no longer), or to show
//! a token to a person (`tessera token inspect`). Never use it to decide *whether* to trust
//! a token: that is [`crate::AccessVerifier`] and [`crate::RefreshVerifier`].
//!
//! The shape is checked as strictly as verification checks it, so that a value read here is
//! the value a verifier would read: at most [`crate::MAX_TOKEN_BYTES`], exactly three
//! segments, unpadded canonical base64url, JSON objects, and no member named twice (which
//! would let a reader here and a verifier see different values).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::b64;
use crate::error::VerifyError;
use crate::json::{Field, json_object};
use crate::jws::split_dots;
use crate::limits::MAX_TOKEN_BYTES;

/// Why a token could not even be read, without verification.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The token is longer than [`crate::MAX_TOKEN_BYTES`]; refused before any parsing.
    #[error("token too large")]
    TooLarge,
    /// The token is not three dot-separated segments.
    #[error("malformed token")]
    Malformed,
    /// A segment is not unpadded, canonical base64url.
    #[error("invalid base64url in token")]
    Base64,
    /// The header or the claims are not a JSON object, or name one member twice.
    #[error("invalid json in token")]
    Json,
    /// The claim asked for is absent; the claim's name.
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// The claim asked for is not an integer that fits an `i64`; the claim's name.
    #[error("invalid claim {0}")]
    InvalidClaim(&'static str),
}

/// A token's header and claims, decoded and **not verified**.
#[derive(Clone, Debug, PartialEq)]
pub struct Unverified {
    /// The JOSE header, as the sender wrote it.
    pub header: Map<String, Value>,
    /// The claims, as the sender wrote them.
    pub claims: Map<String, Value>,
}

/// The header and the claims of a compact JWS, unverified.
///
/// # Errors
/// A token too large, not three segments, not base64url, or whose header or claims are not
/// a JSON object with distinct member names.
pub fn decode(token: &str) -> Result<Unverified, DecodeError> {
    let (header, claims) = segments(token)?;
    Ok(Unverified {
        header: object(header)?,
        claims: object(claims)?,
    })
}

/// The JOSE header of a compact JWS, unverified.
///
/// # Errors
/// As [`decode`], for the header.
pub fn header(token: &str) -> Result<Map<String, Value>, DecodeError> {
    object(segments(token)?.0)
}

/// The claims of a compact JWS, unverified.
///
/// # Errors
/// As [`decode`], for the claims.
pub fn claims(token: &str) -> Result<Map<String, Value>, DecodeError> {
    object(segments(token)?.1)
}

/// The `iat` claim, unverified, read exactly as verification reads it (an integer; a float
/// or a string is invalid).
///
/// Logout verifies an expired refresh token again "as of" this time: its signature must
/// still hold, so the `iat` that counts is one Tessera signed.
///
/// # Errors
/// As [`decode`]; [`DecodeError::MissingClaim`] or [`DecodeError::InvalidClaim`] when
/// `iat` is absent or not an integer.
pub fn iat(token: &str) -> Result<i64, DecodeError> {
    int_claim(token, "iat")
}

/// The `exp` claim, unverified, read exactly as verification reads it.
///
/// For a token that was just verified (so no later than its `exp`), to keep an answer about
/// it no longer than the token lives.
///
/// # Errors
/// As [`iat`], for `exp`.
pub fn exp(token: &str) -> Result<i64, DecodeError> {
    int_claim(token, "exp")
}

/// The decoded header and claims segments, after the checks every function here makes.
fn segments(token: &str) -> Result<(Vec<u8>, Vec<u8>), DecodeError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(DecodeError::TooLarge);
    }
    let bytes = token.as_bytes();
    let (d1, d2) = split_dots(bytes).ok_or(DecodeError::Malformed)?;
    let decode = |seg: &[u8]| b64::decode(seg).map_err(|_| DecodeError::Base64);
    let segment = |range: std::ops::Range<usize>| bytes.get(range).ok_or(DecodeError::Malformed);
    // The signature is not checked, but it must be a segment verification could read.
    decode(segment(d2 + 1..bytes.len())?)?;
    Ok((decode(segment(0..d1)?)?, decode(segment(d1 + 1..d2)?)?))
}

fn object(bytes: Vec<u8>) -> Result<Map<String, Value>, DecodeError> {
    json_object::<UniqueObject>(&bytes)
        .map(|o| o.0)
        .map_err(from_verify)
}

fn int_claim(token: &str, name: &'static str) -> Result<i64, DecodeError> {
    let (_, claims) = segments(token)?;
    let fields = object(claims)?;
    // Through the verifier's own `Field`, so that what is an integer here is one there.
    let field = match fields.get(name) {
        None => Field::Missing,
        Some(value) => Field::deserialize(value).map_err(|_| DecodeError::Json)?,
    };
    field.int(name).map_err(from_verify)
}

fn from_verify(e: VerifyError) -> DecodeError {
    match e {
        VerifyError::TooLarge => DecodeError::TooLarge,
        VerifyError::Malformed => DecodeError::Malformed,
        VerifyError::Base64 => DecodeError::Base64,
        VerifyError::MissingClaim(name) => DecodeError::MissingClaim(name),
        VerifyError::InvalidClaim(name) => DecodeError::InvalidClaim(name),
        _ => DecodeError::Json,
    }
}

/// A JSON object whose member names are distinct.
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(UniqueObjectVisitor)
    }
}

struct UniqueObjectVisitor;

impl<'de> Visitor<'de> for UniqueObjectVisitor {
    type Value = UniqueObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json object with distinct member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
        let mut map = Map::new();
        while let Some((name, value)) = access.next_entry::<String, Value>()? {
            if map.contains_key(&name) {
                return Err(de::Error::custom("duplicate member"));
            }
            map.insert(name, value);
        }
        Ok(UniqueObject(map))
    }
}
