//! The measured alternative to our JWS code: issuing and verifying through `jsonwebtoken`
//! (aws_lc_rs backend), with every check Tessera makes wrapped around it.
//!
//! It exists so that the decision recorded in the architecture notes ("our JWS or
//! jsonwebtoken") can be re-measured (bench `token`, the `*-jsonwebtoken` rows) and so that
//! the measured path is known to be complete: `tests/jsonwebtoken_path.rs` runs the rejection
//! cases through it and requires the same `VerifyError` as `AccessVerifier`.
//!
//! What is ours and what is jsonwebtoken's, in verification order:
//! 1. ours: the size limit and the three-segment split (jsonwebtoken splits with `rsplitn`,
//!    so `a.b.c.d` would reach its header parser as header `a.b`);
//! 2. ours: the header (`crit`, `alg` none, `alg`, `typ`, `kid` -> key -> `alg` pin), with
//!    the same byte-identical fast path as ours: jsonwebtoken maps neither `none` nor an
//!    unknown `alg` nor `crit` to anything we could tell apart, and has no `typ` or `kid`
//!    checks at all;
//! 3. ours: the signature length (ours refuses a wrong length as `BadSignature` before
//!    decoding it, jsonwebtoken would call it `Base64` when it also has a bad character);
//! 4. jsonwebtoken: `decode` (it parses the header again, twice, rebuilds the verifier from
//!    the `DecodingKey`, checks the signature, then decodes and deserialises the payload,
//!    twice) with its `Validation` turned off (no algorithms but the key's, no required
//!    claims, no `exp`/`nbf`, which it would read from the wall clock and accept as floats,
//!    no `aud`);
//! 5. ours: the claims, read by jsonwebtoken's deserialisation into our own owned fields,
//!    then presence, integer types, `exp`/`nbf`/`iat` against `now`, `iss`, `aud`;
//! 6. ours, on a rejection only: jsonwebtoken's own claims pass (which runs even with every
//!    validation off) turns an object- or array-valued `exp`, `nbf` or `sub` into a JSON
//!    error where ours says which claim is invalid, so the payload is read again.
// A bench or test helper that cannot set up should stop loudly.
// Each of the bench and the test uses only part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use tessera_token::{
    AccessClaims, Algorithm, MAX_LEEWAY_SECS, MAX_TOKEN_BYTES, TokenError, VerifyError,
    VerifyPolicy,
};

/// jsonwebtoken's name for one of our algorithms.
pub fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::Hs256 => jsonwebtoken::Algorithm::HS256,
    }
}

fn from_jose(s: &str) -> Option<Algorithm> {
    Algorithm::ALL.into_iter().find(|a| a.as_str() == s)
}

/// The header segment Tessera issues for a key, as ours computes it.
pub fn issued_header(alg: Algorithm, kid: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{kid}"}}"#))
}

/// One verification key: jsonwebtoken's `DecodingKey` and `Validation`, built once.
pub struct Key {
    kid: String,
    alg: Algorithm,
    sig_len: usize,
    issued_header: String,
    decoding: DecodingKey,
    validation: Validation,
}

impl Key {
    /// A key with its `Validation` set to check nothing but the signature.
    pub fn new(kid: &str, alg: Algorithm, sig_len: usize, decoding: DecodingKey) -> Self {
        let mut validation = Validation::new(jwt_alg(alg));
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        Self {
            kid: kid.to_owned(),
            alg,
            sig_len,
            issued_header: issued_header(alg, kid),
            decoding,
            validation,
        }
    }
}

/// The access verifier, jsonwebtoken inside.
pub struct JwtAccessVerifier {
    keys: Vec<Key>,
    issuer: String,
    audience: String,
    leeway: i64,
}

impl JwtAccessVerifier {
    /// A verifier for these keys and this policy (leeway clamped as ours clamps it).
    pub fn new(keys: Vec<Key>, policy: &VerifyPolicy) -> Self {
        Self {
            keys,
            issuer: policy.issuer.clone(),
            audience: policy.audience.clone(),
            leeway: i64::try_from(policy.leeway_secs.min(MAX_LEEWAY_SECS)).unwrap(),
        }
    }

    /// A verifier for the keys of a published JWKS, as `AccessVerifier::from_jwks`.
    pub fn from_jwks(jwks: &str, policy: &VerifyPolicy) -> Self {
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks).unwrap();
        let keys = set
            .keys
            .iter()
            .map(|jwk| {
                let kid = jwk.common.key_id.clone().unwrap();
                let alg = from_jose(&jwk.common.key_algorithm.unwrap().to_string()).unwrap();
                let sig_len = match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(p) => {
                        URL_SAFE_NO_PAD.decode(&p.n).unwrap().len()
                    }
                    _ => 64,
                };
                Key::new(&kid, alg, sig_len, DecodingKey::from_jwk(jwk).unwrap())
            })
            .collect();
        Self::new(keys, policy)
    }

    /// Verifies as `AccessVerifier::verify` does, with jsonwebtoken checking the signature.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header_seg), Some(_), Some(sig_seg), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        let key = match self
            .keys
            .iter()
            .find(|k| k.issued_header.as_str() == header_seg)
        {
            Some(key) => key,
            None => self.check_header(header_seg)?,
        };
        if sig_seg.len() != (key.sig_len * 4).div_ceil(3) {
            return Err(VerifyError::BadSignature);
        }
        match jsonwebtoken::decode::<RawAccess>(token, &key.decoding, &key.validation) {
            Ok(data) => self.claims(data.claims, now),
            // jsonwebtoken always deserialises its own validation claims too, validation
            // off or not, and an `exp`, `nbf` or `sub` that is a JSON object or array
            // derails that pass into a JSON error. It checks the signature first, so a JSON
            // error with a header it can read comes from the claims of a signed token:
            // read them again to give the answer ours gives.
            Err(e)
                if matches!(e.kind(), ErrorKind::Json(_))
                    && jsonwebtoken::decode_header(token).is_ok() =>
            {
                let payload = token.split('.').nth(1).unwrap_or_default();
                let bytes = URL_SAFE_NO_PAD
                    .decode(payload)
                    .map_err(|_| VerifyError::Base64)?;
                self.claims(object(&bytes)?, now)
            }
            Err(e) => Err(map_error(e.kind())),
        }
    }

    fn check_header(&self, header_seg: &str) -> Result<&Key, VerifyError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(header_seg)
            .map_err(|_| VerifyError::Base64)?;
        let header: RawHeader = object(&bytes)?;
        if header.crit {
            return Err(VerifyError::CritHeader);
        }
        let alg = match header.alg {
            Field::Str(a) if a.eq_ignore_ascii_case("none") => return Err(VerifyError::AlgNone),
            Field::Str(a) => from_jose(&a).ok_or(VerifyError::UnsupportedAlg)?,
            Field::Missing => return Err(VerifyError::UnsupportedAlg),
            _ => return Err(VerifyError::Json),
        };
        match header.typ {
            Field::Str(t)
                if t.eq_ignore_ascii_case("at+jwt")
                    || t.eq_ignore_ascii_case("application/at+jwt") => {}
            Field::Str(_) | Field::Missing => return Err(VerifyError::WrongType),
            _ => return Err(VerifyError::Json),
        }
        let kid = match header.kid {
            Field::Str(k) => k,
            Field::Missing => return Err(VerifyError::MissingKid),
            _ => return Err(VerifyError::Json),
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(VerifyError::UnknownKid)?;
        if key.alg != alg {
            return Err(VerifyError::AlgMismatch);
        }
        Ok(key)
    }

    fn claims(&self, raw: RawAccess, now: i64) -> Result<AccessClaims, VerifyError> {
        let iss = raw.iss.string("iss")?;
        let sub = raw.sub.string("sub")?;
        let aud_ok = match &raw.aud {
            Field::Str(a) => *a == self.audience,
            Field::Strs(list) => list.contains(&self.audience),
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
        if exp <= now.saturating_sub(self.leeway) {
            return Err(VerifyError::Expired);
        }
        if nbf > now.saturating_add(self.leeway) {
            return Err(VerifyError::NotYetValid);
        }
        if iat > now.saturating_add(self.leeway) {
            return Err(VerifyError::IssuedInFuture);
        }
        if iss != self.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !aud_ok {
            return Err(VerifyError::WrongAudience);
        }
        Ok(AccessClaims {
            iss,
            sub,
            aud: self.audience.clone(),
            exp,
            iat,
            nbf,
            jti,
            client_id,
            sid,
            scope,
        })
    }
}

/// Only errors jsonwebtoken can still raise once our checks have passed are reachable.
fn map_error(kind: &ErrorKind) -> VerifyError {
    match kind {
        ErrorKind::InvalidToken => VerifyError::Malformed,
        ErrorKind::Base64(_) => VerifyError::Base64,
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => VerifyError::Json,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => VerifyError::AlgMismatch,
        _ => VerifyError::BadSignature,
    }
}

/// The signing side: jsonwebtoken's `encode` with the header and key built once.
pub struct JwtIssuer {
    header: Header,
    key: EncodingKey,
}

impl JwtIssuer {
    /// An issuer writing the header ours writes, member order aside: jsonwebtoken puts
    /// `typ` first, so verifying its tokens misses our byte-identical header fast path.
    pub fn new(alg: Algorithm, kid: &str, key: EncodingKey) -> Self {
        let mut header = Header::new(jwt_alg(alg));
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(kid.to_owned());
        Self { header, key }
    }

    /// Issues as `KeySet::issue_access` does, size limit included.
    pub fn issue<C: Serialize>(&self, claims: &C) -> Result<String, TokenError> {
        let token = jsonwebtoken::encode(&self.header, claims, &self.key)
            .map_err(|_| TokenError::Signing)?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        Ok(token)
    }
}

/// A JSON member: absent, or its JSON type. Owned, because jsonwebtoken deserialises
/// with `DeserializeOwned` from a buffer it drops before returning.
#[derive(Default)]
enum Field {
    #[default]
    Missing,
    Str(String),
    Int(i64),
    Strs(Vec<String>),
    Other,
}

impl Field {
    fn string(self, name: &'static str) -> Result<String, VerifyError> {
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

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(Field::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Field, E> {
        Ok(Field::Str(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
        Ok(Field::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
        Ok(i64::try_from(v).map_or(Field::Other, Field::Int))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Field, E> {
        Ok(Field::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field, E> {
        Ok(Field::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
        let mut strs = Vec::new();
        let mut all_strings = true;
        while let Some(item) = seq.next_element::<Field>()? {
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
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

/// A JSON object only: serde would map an array onto a derived struct too.
fn object<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, VerifyError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes).map_err(|_| VerifyError::Json),
        _ => Err(VerifyError::Json),
    }
}

#[derive(Deserialize)]
struct RawHeader {
    #[serde(default)]
    alg: Field,
    #[serde(default)]
    typ: Field,
    #[serde(default)]
    kid: Field,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// The access claims as read, before any check. Deserialised from a JSON object only,
/// member by member, refusing a duplicate of any member we read (as ours does).
#[derive(Default)]
struct RawAccess {
    iss: Field,
    sub: Field,
    aud: Field,
    exp: Field,
    iat: Field,
    nbf: Field,
    jti: Field,
    client_id: Field,
    sid: Field,
    scope: Field,
}

enum Name {
    Iss,
    Sub,
    Aud,
    Exp,
    Iat,
    Nbf,
    Jti,
    ClientId,
    Sid,
    Scope,
    Other,
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
                Ok(match v {
                    "iss" => Name::Iss,
                    "sub" => Name::Sub,
                    "aud" => Name::Aud,
                    "exp" => Name::Exp,
                    "iat" => Name::Iat,
                    "nbf" => Name::Nbf,
                    "jti" => Name::Jti,
                    "client_id" => Name::ClientId,
                    "sid" => Name::Sid,
                    "scope" => Name::Scope,
                    _ => Name::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

impl<'de> Deserialize<'de> for RawAccess {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawAccess;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a json object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAccess, A::Error> {
                let mut raw = RawAccess::default();
                while let Some(name) = map.next_key::<Name>()? {
                    let (slot, name) = match name {
                        Name::Iss => (&mut raw.iss, "iss"),
                        Name::Sub => (&mut raw.sub, "sub"),
                        Name::Aud => (&mut raw.aud, "aud"),
                        Name::Exp => (&mut raw.exp, "exp"),
                        Name::Iat => (&mut raw.iat, "iat"),
                        Name::Nbf => (&mut raw.nbf, "nbf"),
                        Name::Jti => (&mut raw.jti, "jti"),
                        Name::ClientId => (&mut raw.client_id, "client_id"),
                        Name::Sid => (&mut raw.sid, "sid"),
                        Name::Scope => (&mut raw.scope, "scope"),
                        Name::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    if !matches!(slot, Field::Missing) {
                        return Err(de::Error::duplicate_field(name));
                    }
                    *slot = map.next_value()?;
                }
                Ok(raw)
            }
        }
        d.deserialize_map(V)
    }
}
