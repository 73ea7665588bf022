//! Helpers shared by the test binaries: key sets, claims, and a forger that signs
//! arbitrary headers and payloads with a key a verifier trusts.
// Helpers panic on setup failure: in a test that is a failed assertion, not a crash.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::LazyLock;

use aws_lc_rs::hkdf;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera_token::{
    AccessClaims, AccessVerifier, Algorithm, KeySet, RefreshClaims, RefreshPolicy, RefreshVerifier,
    SecretValue, VerifyPolicy,
};

pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "https://api.example.com";
/// A fixed "now" for every test: time is an input, never the wall clock.
pub const NOW: i64 = 1_800_000_000;

/// Two fixed root secrets, so that tests are reproducible.
pub const ROOT_A: &str = "root-secret-A-0123456789abcdefghijklmnopqrstuvwxyz";
pub const ROOT_B: &str = "root-secret-B-0123456789abcdefghijklmnopqrstuvwxyz";

/// RSA keys are slow to generate: one pair per test binary.
pub static RSA_A: LazyLock<SecretValue> =
    LazyLock::new(|| SecretValue::generate_with_rsa().expect("rsa key"));
pub static RSA_B: LazyLock<SecretValue> =
    LazyLock::new(|| SecretValue::generate_with_rsa().expect("rsa key"));

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

/// The secret of version A (or B) suitable for `alg`.
pub fn secret(alg: Algorithm, version_b: bool) -> SecretValue {
    match (alg, version_b) {
        (Algorithm::Rs256, false) => RSA_A.clone(),
        (Algorithm::Rs256, true) => RSA_B.clone(),
        (_, false) => SecretValue::new(ROOT_A),
        (_, true) => SecretValue::new(ROOT_B),
    }
}

pub fn keyset(alg: Algorithm) -> KeySet {
    KeySet::from_secrets(alg, &secret(alg, false), &[]).expect("key set")
}

pub fn policy() -> VerifyPolicy {
    VerifyPolicy::new(ISSUER, AUDIENCE)
}

pub fn refresh_policy() -> RefreshPolicy {
    RefreshPolicy::new(ISSUER)
}

pub fn access_claims() -> AccessClaims {
    AccessClaims {
        iss: ISSUER.to_owned(),
        sub: "user-7f3a".to_owned(),
        aud: AUDIENCE.to_owned(),
        exp: NOW + 900,
        iat: NOW,
        nbf: NOW,
        jti: "jti-access-1".to_owned(),
        client_id: "tessera".to_owned(),
        sid: "sid-1".to_owned(),
        scope: "read write".to_owned(),
    }
}

pub fn refresh_claims() -> RefreshClaims {
    RefreshClaims {
        iss: ISSUER.to_owned(),
        sub: "user-7f3a".to_owned(),
        sid: "sid-1".to_owned(),
        jti: "jti-refresh-1".to_owned(),
        iat: NOW,
        exp: NOW + 30 * 86_400,
    }
}

pub fn access_claims_json() -> serde_json::Value {
    serde_json::to_value(access_claims()).expect("json")
}

pub fn refresh_claims_json() -> serde_json::Value {
    serde_json::to_value(refresh_claims()).expect("json")
}

/// HKDF-SHA256 as documented in `tessera_token::keys`: no salt, root bytes, label.
pub fn derive(root: &str, label: &[u8], len: usize) -> Vec<u8> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(root.as_bytes());
    let mut out = vec![0u8; len];
    prk.expand(&[label], Len(len))
        .expect("expand")
        .fill(&mut out)
        .expect("fill");
    out
}

/// Signs `header.payload` (both raw strings, base64url-encoded here) with any signer.
pub fn assemble(header: &str, payload: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// An ES256 key the tests hold privately, published to a verifier through a JWKS.
pub struct Forger {
    pub key: EcdsaKeyPair,
    pub kid: String,
    pub jwks: String,
}

pub const FORGER_KID: &str = "test-es256";

impl Forger {
    pub fn new() -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("generate");
        let point = key.public_key().as_ref().to_vec();
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "kid": FORGER_KID, "alg": "ES256", "use": "sig", "crv": "P-256",
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        }]})
        .to_string();
        Self {
            key,
            kid: FORGER_KID.to_owned(),
            jwks,
        }
    }

    pub fn verifier(&self) -> AccessVerifier {
        AccessVerifier::from_jwks(&self.jwks, policy()).expect("verifier from jwks")
    }

    /// ES256 signature over the signing input.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        self.key
            .sign(&SystemRandom::new(), input)
            .expect("sign")
            .as_ref()
            .to_vec()
    }

    /// A token with this raw header and payload JSON, validly signed.
    pub fn token(&self, header: &str, payload: &str) -> String {
        assemble(header, payload, |m| self.sign(m))
    }

    /// The standard access header for this key.
    pub fn header(&self) -> String {
        format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{}"}}"#, self.kid)
    }

    /// A valid access token with these claims.
    pub fn access(&self, claims: &serde_json::Value) -> String {
        self.token(&self.header(), &claims.to_string())
    }
}

/// Signs as the refresh key of root A would (derived as documented), to build refresh
/// tokens with arbitrary claims.
pub fn refresh_forge(ks: &KeySet, claims: &serde_json::Value) -> String {
    let key = hmac::Key::new(
        hmac::HMAC_SHA256,
        &derive(
            ROOT_A,
            tessera_token::keys::LABEL_REFRESH_HS256.as_bytes(),
            32,
        ),
    );
    let header = format!(
        r#"{{"alg":"HS256","typ":"rt+jwt","kid":"{}"}}"#,
        ks.current_refresh_kid().as_str()
    );
    assemble(&header, &claims.to_string(), |m| {
        hmac::sign(&key, m).as_ref().to_vec()
    })
}

pub fn refresh_verifier(ks: &KeySet) -> RefreshVerifier {
    ks.refresh_verifier(refresh_policy())
}
