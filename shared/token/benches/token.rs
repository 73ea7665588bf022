//! Issue and verify cost per algorithm: the bare primitive as the floor, our JWS code, and
//! `jsonwebtoken` (aws_lc_rs backend) with our checks around it, in one group per algorithm
//! so that every ratio compares numbers measured in the same run.
//!
//! Over the same realistic access token, each group measures:
//! - `raw`: the verification primitive alone on the signing input, its key parsed once
//!   (HMAC-SHA256 recompute + constant-time compare, Ed25519, P-256 ECDSA, RSA-2048
//!   PKCS#1 v1.5);
//! - `verify`: `AccessVerifier::verify`, the whole pipeline;
//! - `verify-jsonwebtoken`: the same checks with `jsonwebtoken::decode` inside
//!   (`support/jsonwebtoken_path.rs`, `DecodingKey` built once);
//! - `verify-jsonwebtoken-bare`: `jsonwebtoken::decode` alone, every validation off: what
//!   jsonwebtoken costs before any of our checks;
//! - `sign-raw`: the signing primitive alone on the signing input, its key parsed once;
//! - `issue`: `KeySet::issue_access`;
//! - `issue-jsonwebtoken`: `jsonwebtoken::encode`, `EncodingKey` and header built once.
//!
//! `raw`, `verify` and `issue` keep their names: `scripts/bench` reads them.
// A benchmark that cannot set up should stop loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/jsonwebtoken_path.rs"]
mod jsonwebtoken_path;

use std::hint::black_box;

use aws_lc_rs::hkdf;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
use jsonwebtoken_path::{JwtAccessVerifier, JwtIssuer, Key};
use tessera_token::keys::{LABEL_ACCESS_EDDSA, LABEL_ACCESS_ES256, LABEL_ACCESS_HS256};
use tessera_token::{AccessClaims, Algorithm, KeySet, SecretValue, VerifyPolicy};

const ROOT: &str = "bench-root-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "https://api.example.com";

fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISSUER.to_owned(),
        sub: "2b3f6c0e9d6a4c1f8e7d6c5b4a39281706f5e4d3".to_owned(),
        aud: AUDIENCE.to_owned(),
        exp: NOW + 900,
        iat: NOW,
        nbf: NOW,
        jti: "kL3v9Qm2xZ8pR4tY6wB1nA".to_owned(),
        client_id: "tessera".to_owned(),
        sid: "Hq7sD2fG5jK8lZ1xC4vB6n".to_owned(),
        scope: "openid profile read:orders write:orders".to_owned(),
    }
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// HKDF-SHA256 as `tessera_token::keys` documents it: no salt, the root's bytes, a label.
fn derive(label: &str) -> [u8; 32] {
    struct Len;
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            32
        }
    }
    let mut k = [0u8; 32];
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(ROOT.as_bytes());
    prk.expand(&[label.as_bytes()], Len)
        .and_then(|okm| okm.fill(&mut k))
        .unwrap();
    k
}

/// The private key of the bench's key set, re-derived, and the public key, parsed once.
enum Raw {
    Es256(EcdsaKeyPair, ParsedPublicKey),
    EdDsa(Ed25519KeyPair, ParsedPublicKey),
    Rs256(RsaKeyPair, ParsedPublicKey),
    Hs256(Box<hmac::Key>),
}

impl Raw {
    fn new(alg: Algorithm, secret: &SecretValue) -> Self {
        match alg {
            Algorithm::Es256 => {
                // RFC 5915 ECPrivateKey around the derived scalar (counter 0 is valid for
                // this root; the key set would have retried otherwise and `raw` would fail).
                let mut der = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
                der.extend_from_slice(&derive(LABEL_ACCESS_ES256));
                der.extend_from_slice(&[
                    0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                ]);
                let kp = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .unwrap();
                let pk = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public(&kp)).unwrap();
                Self::Es256(kp, pk)
            }
            Algorithm::EdDsa => {
                let kp = Ed25519KeyPair::from_seed_unchecked(&derive(LABEL_ACCESS_EDDSA)).unwrap();
                let pk = ParsedPublicKey::new(&ED25519, public(&kp)).unwrap();
                Self::EdDsa(kp, pk)
            }
            Algorithm::Rs256 => {
                let kp = RsaKeyPair::from_pkcs8(&rsa_der(secret)).unwrap();
                let pk = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public(&kp)).unwrap();
                Self::Rs256(kp, pk)
            }
            Algorithm::Hs256 => {
                let key = hmac::Key::new(hmac::HMAC_SHA256, &derive(LABEL_ACCESS_HS256));
                Self::Hs256(Box::new(key))
            }
        }
    }

    fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Hs256(k) => hmac::verify(k, input, sig).is_ok(),
            Self::Es256(_, pk) | Self::EdDsa(_, pk) | Self::Rs256(_, pk) => {
                pk.verify_sig(input, sig).is_ok()
            }
        }
    }

    /// Signs; the signature's first byte keeps the result observable.
    fn sign(&self, input: &[u8]) -> u8 {
        match self {
            Self::Es256(kp, _) => kp.sign(&SystemRandom::new(), input).unwrap().as_ref()[0],
            Self::EdDsa(kp, _) => kp.sign(input).as_ref()[0],
            Self::Rs256(kp, _) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut sig)
                    .unwrap();
                sig[0]
            }
            Self::Hs256(k) => hmac::sign(k, input).as_ref()[0],
        }
    }

    /// jsonwebtoken's signing key for the same private key.
    fn encoding_key(&self, secret: &SecretValue) -> EncodingKey {
        match self {
            Self::Es256(kp, _) => EncodingKey::from_ec_der(kp.to_pkcs8v1().unwrap().as_ref()),
            Self::EdDsa(kp, _) => EncodingKey::from_ed_der(kp.to_pkcs8v1().unwrap().as_ref()),
            Self::Rs256(..) => EncodingKey::from_rsa_pem(rsa_pem(secret).as_bytes()).unwrap(),
            Self::Hs256(_) => EncodingKey::from_secret(&derive(LABEL_ACCESS_HS256)),
        }
    }
}

fn public<K: KeyPair>(kp: &K) -> Vec<u8> {
    kp.public_key().as_ref().to_vec()
}

fn rsa_pem(secret: &SecretValue) -> String {
    let json: serde_json::Value = serde_json::from_str(secret.expose_secret()).unwrap();
    json["rsa_private_key_pem"].as_str().unwrap().to_owned()
}

fn rsa_der(secret: &SecretValue) -> Vec<u8> {
    let body: String = rsa_pem(secret)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

/// jsonwebtoken's verification key for the key set's current access key, built once.
fn decoding_key(ks: &KeySet) -> (DecodingKey, usize) {
    if ks.algorithm() == Algorithm::Hs256 {
        return (DecodingKey::from_secret(&derive(LABEL_ACCESS_HS256)), 32);
    }
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(serde_json::to_value(ks.jwks()).unwrap()).unwrap();
    let jwk = set.find(ks.current_kid().as_str()).unwrap();
    let sig_len = match &jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(p) => unb64(&p.n).len(),
        _ => 64,
    };
    (DecodingKey::from_jwk(jwk).unwrap(), sig_len)
}

fn bench(c: &mut Criterion) {
    let rsa = SecretValue::generate_with_rsa().unwrap();
    let policy = VerifyPolicy::new(ISSUER, AUDIENCE);
    for alg in Algorithm::ALL {
        let secret = if alg == Algorithm::Rs256 {
            rsa.clone()
        } else {
            SecretValue::new(ROOT)
        };
        let ks = KeySet::from_secrets(alg, &secret, &[]).unwrap();
        let verifier = ks.access_verifier(policy.clone());
        let claims = claims();
        let token = ks.issue_access(&claims).unwrap().expose_secret().to_owned();
        assert_eq!(verifier.verify(&token, NOW), Ok(claims.clone()));

        let (input, sig_b64) = token.rsplit_once('.').unwrap();
        let sig = unb64(sig_b64);
        let raw = Raw::new(alg, &secret);
        assert!(raw.verify(input.as_bytes(), &sig), "{alg}: raw key");

        let kid = ks.current_kid().as_str();
        let (decoding, sig_len) = decoding_key(&ks);
        let jwt_verifier =
            JwtAccessVerifier::new(vec![Key::new(kid, alg, sig_len, decoding.clone())], &policy);
        assert_eq!(jwt_verifier.verify(&token, NOW), Ok(claims.clone()));
        let mut bare = Validation::new(jsonwebtoken_path::jwt_alg(alg));
        bare.required_spec_claims.clear();
        bare.validate_exp = false;
        bare.validate_aud = false;
        assert!(jsonwebtoken::decode::<serde::de::IgnoredAny>(&token, &decoding, &bare).is_ok());
        let jwt_issuer = JwtIssuer::new(alg, kid, raw.encoding_key(&secret));
        let jwt_token = jwt_issuer.issue(&claims).unwrap();
        assert_eq!(verifier.verify(&jwt_token, NOW), Ok(claims.clone()));

        let mut group = c.benchmark_group(alg.as_str());
        group.bench_function("raw", |b| {
            b.iter(|| raw.verify(black_box(input.as_bytes()), black_box(&sig)))
        });
        group.bench_function("verify", |b| {
            b.iter(|| verifier.verify(black_box(&token), black_box(NOW)))
        });
        group.bench_function("verify-jsonwebtoken", |b| {
            b.iter(|| jwt_verifier.verify(black_box(&token), black_box(NOW)))
        });
        group.bench_function("verify-jsonwebtoken-bare", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde::de::IgnoredAny>(black_box(&token), &decoding, &bare)
            })
        });
        group.bench_function("sign-raw", |b| {
            b.iter(|| raw.sign(black_box(input.as_bytes())))
        });
        group.bench_function("issue", |b| b.iter(|| ks.issue_access(black_box(&claims))));
        group.bench_function("issue-jsonwebtoken", |b| {
            b.iter(|| jwt_issuer.issue(black_box(&claims)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
