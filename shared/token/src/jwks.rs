//! JSON Web Key Sets (RFC 7517): export of the public access keys, and verifiers built
//! from a published JWKS.

use std::sync::Arc;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RsaPublicKeyComponents,
};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::algorithm::Algorithm;
use crate::b64;
use crate::error::KeyError;
use crate::jws::{Typ, VerifyKey, VerifyKind};

/// A JWK Set: `{"keys": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys, current first.
    pub keys: Vec<Jwk>,
}

/// One public signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `EC`, `OKP` or `RSA`.
    pub kty: String,
    /// Key id: the RFC 7638 thumbprint.
    pub kid: String,
    /// The one algorithm this key verifies: `ES256`, `EdDSA` or `RS256`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// Curve: `P-256` (EC) or `Ed25519` (OKP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate or OKP public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl Jwk {
    fn bare(kty: &str) -> Self {
        Self {
            kty: kty.to_owned(),
            kid: String::new(),
            alg: String::new(),
            key_use: "sig".to_owned(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        }
    }

    pub(crate) fn ec(x: String, y: String) -> Self {
        Self {
            crv: Some("P-256".to_owned()),
            x: Some(x),
            y: Some(y),
            ..Self::bare("EC")
        }
    }

    pub(crate) fn okp(x: String) -> Self {
        Self {
            crv: Some("Ed25519".to_owned()),
            x: Some(x),
            ..Self::bare("OKP")
        }
    }

    pub(crate) fn rsa(n: String, e: String) -> Self {
        Self {
            n: Some(n),
            e: Some(e),
            ..Self::bare("RSA")
        }
    }

    pub(crate) fn with_kid(self, kid: String, alg: Algorithm) -> Self {
        Self {
            kid,
            alg: alg.as_str().to_owned(),
            ..self
        }
    }

    /// The RFC 7638 canonical form: required members only, sorted, no whitespace. Every
    /// value is a fixed name or base64url, so none needs JSON escaping.
    pub(crate) fn canonical(&self) -> String {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                s(&self.crv),
                s(&self.x),
                s(&self.y)
            ),
            "OKP" => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                s(&self.crv),
                s(&self.x)
            ),
            _ => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                s(&self.e),
                s(&self.n)
            ),
        }
    }
}

/// What `from_jwks` reads: the public members, plus the private ones only to refuse them.
#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<IgnoredAny>,
    p: Option<IgnoredAny>,
    q: Option<IgnoredAny>,
    k: Option<IgnoredAny>,
}

fn param<'a>(v: &'a Option<String>, name: &'static str) -> Result<&'a str, KeyError> {
    v.as_deref().ok_or(KeyError::MissingJwkParam(name))
}

fn decode_param(v: &Option<String>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    b64::decode(param(v, name)?.as_bytes()).map_err(|_| KeyError::InvalidJwkParam(name))
}

fn parse_key(jwk: &RawJwk) -> Result<VerifyKey, KeyError> {
    if jwk.d.is_some() || jwk.p.is_some() || jwk.q.is_some() || jwk.k.is_some() {
        return Err(KeyError::PrivateJwk);
    }
    let kty = param(&jwk.kty, "kty")?;
    let kid = param(&jwk.kid, "kid")?;
    let alg_name = param(&jwk.alg, "alg")?;
    if let Some(u) = jwk.key_use.as_deref()
        && u != "sig"
    {
        return Err(KeyError::UnsupportedJwk(format!("use {u}")));
    }
    let alg = Algorithm::from_jose(alg_name)
        .filter(|a| *a != Algorithm::Hs256)
        .ok_or_else(|| KeyError::UnsupportedJwk(format!("alg {alg_name}")))?;
    let kind = match (kty, alg) {
        ("EC", Algorithm::Es256) => {
            let crv = param(&jwk.crv, "crv")?;
            if crv != "P-256" {
                return Err(KeyError::UnsupportedJwk(format!("crv {crv}")));
            }
            let x = decode_param(&jwk.x, "x")?;
            let y = decode_param(&jwk.y, "y")?;
            if x.len() != 32 {
                return Err(KeyError::InvalidJwkParam("x"));
            }
            if y.len() != 32 {
                return Err(KeyError::InvalidJwkParam("y"));
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .map_err(|_| KeyError::InvalidJwkParam("x"))?;
            VerifyKind::Public { key, sig_len: 64 }
        }
        ("OKP", Algorithm::EdDsa) => {
            let crv = param(&jwk.crv, "crv")?;
            if crv != "Ed25519" {
                return Err(KeyError::UnsupportedJwk(format!("crv {crv}")));
            }
            let x = decode_param(&jwk.x, "x")?;
            if x.len() != 32 {
                return Err(KeyError::InvalidJwkParam("x"));
            }
            let key =
                ParsedPublicKey::new(&ED25519, &x).map_err(|_| KeyError::InvalidJwkParam("x"))?;
            VerifyKind::Public { key, sig_len: 64 }
        }
        ("RSA", Algorithm::Rs256) => {
            let n = decode_param(&jwk.n, "n")?;
            let e = decode_param(&jwk.e, "e")?;
            if n.first().is_none_or(|b| *b == 0) || n.len() < 256 || n.len() > 1024 {
                return Err(KeyError::InvalidJwkParam("n"));
            }
            if e.first().is_none_or(|b| *b == 0) || e.len() > 8 {
                return Err(KeyError::InvalidJwkParam("e"));
            }
            let key = RsaPublicKeyComponents { n: &n, e: &e }
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .map_err(|_| KeyError::InvalidJwkParam("n"))?;
            VerifyKind::Public {
                key,
                sig_len: n.len(),
            }
        }
        ("EC" | "OKP" | "RSA", _) => {
            return Err(KeyError::UnsupportedJwk(format!(
                "alg {alg_name} for kty {kty}"
            )));
        }
        _ => return Err(KeyError::UnsupportedJwk(format!("kty {kty}"))),
    };
    Ok(VerifyKey::new(kid, alg, kind, Typ::Access))
}

/// Parses a JWKS document into verify keys.
pub(crate) fn parse_jwks(json: &str) -> Result<Arc<[VerifyKey]>, KeyError> {
    let raw: RawJwks = serde_json::from_str(json).map_err(|e| KeyError::JwksJson(e.to_string()))?;
    let mut keys: Vec<VerifyKey> = Vec::with_capacity(raw.keys.len());
    for jwk in &raw.keys {
        let key = parse_key(jwk)?;
        if keys.iter().any(|k| k.kid() == key.kid()) {
            return Err(KeyError::DuplicateKid(key.kid().to_owned()));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(KeyError::NoKeys);
    }
    Ok(keys.into())
}
