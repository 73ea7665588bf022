//! The compact JWS as Tessera reads it: token types, verification keys, and every check up
//! to and including the signature.
//!
//! Order, so that nothing from the token is trusted before its signature is checked:
//! size; three segments; header (base64url, JSON, `crit`, `alg`, `typ`, `kid`, the key's
//! own algorithm); signature. The claims are read only after that, in [`crate::verify`].

use aws_lc_rs::hmac;
use aws_lc_rs::signature::ParsedPublicKey;
use serde::Deserialize;

use crate::algorithm::Algorithm;
use crate::b64;
use crate::error::VerifyError;
use crate::json::{Field, Present, decode_segment, json_object};
use crate::limits::MAX_TOKEN_BYTES;

/// The `typ` header of access tokens (RFC 9068).
pub const ACCESS_TYP: &str = "at+jwt";
/// The `typ` header of refresh tokens.
pub const REFRESH_TYP: &str = "rt+jwt";

/// The largest signature any key has: RSA-8192, the largest modulus a JWKS may bring.
const MAX_SIG_BYTES: usize = 1024;

/// Which token type a key signs and a verifier accepts.
#[derive(Clone, Copy)]
pub(crate) enum Typ {
    Access,
    Refresh,
}

impl Typ {
    /// The `typ` Tessera writes.
    pub(crate) fn header_value(self) -> &'static str {
        match self {
            Self::Access => ACCESS_TYP,
            Self::Refresh => REFRESH_TYP,
        }
    }

    fn accepts(self, typ: &str) -> bool {
        // Media types compare case-insensitively (RFC 7515 §4.1.9); RFC 9068 allows the
        // full `application/at+jwt` form too.
        match self {
            Self::Access => {
                typ.eq_ignore_ascii_case(ACCESS_TYP)
                    || typ.eq_ignore_ascii_case("application/at+jwt")
            }
            Self::Refresh => typ.eq_ignore_ascii_case(REFRESH_TYP),
        }
    }
}

/// The header segment Tessera issues: `{"alg","typ","kid"}`, base64url. Every value is a
/// fixed name or base64url, so no JSON escaping is needed.
pub(crate) fn issued_header(alg: Algorithm, typ: Typ, kid: &str) -> String {
    let typ = typ.header_value();
    b64::encode(format!(r#"{{"alg":"{alg}","typ":"{typ}","kid":"{kid}"}}"#).as_bytes())
}

/// The public half of a key (for HS256, the HMAC key itself), parsed once.
#[derive(Clone)]
pub(crate) enum VerifyKind {
    Hmac(Box<hmac::Key>),
    Public {
        key: ParsedPublicKey,
        sig_len: usize,
    },
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

/// Checks everything up to and including the signature; returns the payload segment.
pub(crate) fn verify_signature<'t>(
    keys: &[VerifyKey],
    token: &'t str,
    typ: Typ,
) -> Result<&'t [u8], VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::TooLarge);
    }
    let bytes = token.as_bytes();
    let (d1, d2) = split_dots(bytes).ok_or(VerifyError::Malformed)?;
    let segment = |range: std::ops::Range<usize>| bytes.get(range).ok_or(VerifyError::Malformed);
    let header_seg = segment(0..d1)?;
    let payload_seg = segment(d1 + 1..d2)?;
    let sig_seg = segment(d2 + 1..bytes.len())?;
    let signing_input = segment(0..d2)?;

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
    let sig = sig.get(..sig_len).ok_or(VerifyError::BadSignature)?;
    key.verify(signing_input, sig)?;
    Ok(payload_seg)
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
pub(crate) fn split_dots(bytes: &[u8]) -> Option<(usize, usize)> {
    let d2 = bytes.iter().rposition(|b| *b == b'.')?;
    let d1 = bytes.get(..d2)?.iter().position(|b| *b == b'.')?;
    if has_dot(bytes.get(d1 + 1..d2)?) {
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
