//! Issue and verify cost per algorithm, against the bare signature primitive as the floor.
//!
//! Each group measures, over the same token: `verify` (the whole pipeline: parse, header,
//! key lookup, signature, claims), `issue`, and `raw` — the primitive alone on the same
//! signing input with the key parsed once (HMAC-SHA256 sign + constant-time compare,
//! Ed25519 verify, P-256 ECDSA verify, RSA-2048 PKCS#1 v1.5 verify). verify / raw is the
//! overhead of our JWT layer.
// A benchmark that cannot set up should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use aws_lc_rs::hkdf;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use tessera_token::{AccessClaims, Algorithm, KeySet, SecretValue, VerifyPolicy};

const ROOT: &str = "bench-root-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const NOW: i64 = 1_800_000_000;

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "https://auth.example.com".to_owned(),
        sub: "2b3f6c0e9d6a4c1f8e7d6c5b4a39281706f5e4d3".to_owned(),
        aud: "https://api.example.com".to_owned(),
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
    URL_SAFE_NO_PAD.decode(s).unwrap_or_default()
}

fn hs256_key() -> hmac::Key {
    struct Len;
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            32
        }
    }
    let mut k = [0u8; 32];
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(ROOT.as_bytes());
    let filled = prk
        .expand(&[tessera_token::keys::LABEL_ACCESS_HS256.as_bytes()], Len)
        .and_then(|okm| okm.fill(&mut k));
    assert!(filled.is_ok());
    hmac::Key::new(hmac::HMAC_SHA256, &k)
}

/// The bare primitive over `input`/`sig`, with its key parsed once.
enum Raw {
    Hmac(Box<hmac::Key>),
    Public(ParsedPublicKey),
}

impl Raw {
    fn new(ks: &KeySet) -> Self {
        if ks.algorithm() == Algorithm::Hs256 {
            return Self::Hmac(Box::new(hs256_key()));
        }
        let jwk = &ks.jwks().keys[0];
        let field = |v: &Option<String>| unb64(v.as_deref().unwrap_or_default());
        let parsed = match ks.algorithm() {
            Algorithm::Es256 => {
                let mut point = vec![4u8];
                point.extend(field(&jwk.x));
                point.extend(field(&jwk.y));
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            }
            Algorithm::EdDsa => ParsedPublicKey::new(&ED25519, field(&jwk.x)),
            _ => RsaPublicKeyComponents {
                n: field(&jwk.n),
                e: field(&jwk.e),
            }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256),
        };
        match parsed {
            Ok(key) => Self::Public(key),
            Err(e) => panic!("public key: {e}"),
        }
    }

    fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Hmac(k) => hmac::verify(k, input, sig).is_ok(),
            Self::Public(k) => k.verify_sig(input, sig).is_ok(),
        }
    }
}

fn bench(c: &mut Criterion) {
    let rsa = SecretValue::generate_with_rsa();
    for alg in Algorithm::ALL {
        let secret = match (&rsa, alg) {
            (Ok(rsa), Algorithm::Rs256) => rsa.clone(),
            (Err(e), Algorithm::Rs256) => panic!("rsa: {e}"),
            _ => SecretValue::new(ROOT),
        };
        let ks = match KeySet::from_secrets(alg, &secret, &[]) {
            Ok(ks) => ks,
            Err(e) => panic!("key set: {e}"),
        };
        let verifier = ks.access_verifier(VerifyPolicy::new(
            "https://auth.example.com",
            "https://api.example.com",
        ));
        let claims = claims();
        let token = match ks.issue_access(&claims) {
            Ok(t) => t.expose_secret().to_owned(),
            Err(e) => panic!("issue: {e}"),
        };
        assert_eq!(verifier.verify(&token, NOW).ok(), Some(claims.clone()));
        let (input, sig_b64) = token.rsplit_once('.').unwrap_or_default();
        let sig = unb64(sig_b64);
        let raw = Raw::new(&ks);
        assert!(raw.verify(input.as_bytes(), &sig));

        let mut group = c.benchmark_group(alg.as_str());
        group.bench_function("verify", |b| {
            b.iter(|| verifier.verify(black_box(&token), black_box(NOW)))
        });
        group.bench_function("raw", |b| {
            b.iter(|| raw.verify(black_box(input.as_bytes()), black_box(&sig)))
        });
        group.bench_function("issue", |b| b.iter(|| ks.issue_access(black_box(&claims))));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
