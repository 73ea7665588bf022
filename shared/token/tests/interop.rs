//! Interoperability with jsonwebtoken, an independent JWT implementation: our tokens
//! verify there, and tokens it signs with our (independently re-derived) keys verify here.
// Tests may unwrap: a panic here is a failed assertion (see clippy.toml), and helpers
// outside #[test] functions are not covered by that setting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use common::*;
use jsonwebtoken::jwk::{JwkSet, ThumbprintHash};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use tessera_token::keys::{
    LABEL_ACCESS_EDDSA, LABEL_ACCESS_ES256, LABEL_ACCESS_HS256, LABEL_REFRESH_HS256,
};
use tessera_token::{AccessClaims, Algorithm, KeySet, RefreshClaims};

fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::Hs256 => jsonwebtoken::Algorithm::HS256,
    }
}

/// jsonwebtoken checks `exp` against the wall clock, so these claims are anchored there.
fn claims_now() -> (AccessClaims, i64) {
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap();
    let claims = AccessClaims {
        exp: now + 900,
        iat: now,
        nbf: now,
        ..access_claims()
    };
    (claims, now)
}

/// The private key of root A, re-derived here exactly as `tessera_token::keys` documents.
fn encoding_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::Es256 => {
            let d = derive(ROOT_A, LABEL_ACCESS_ES256.as_bytes(), 32);
            let mut der = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
            der.extend_from_slice(&d);
            der.extend_from_slice(&[
                0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ]);
            let kp =
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap();
            EncodingKey::from_ec_der(kp.to_pkcs8v1().unwrap().as_ref())
        }
        Algorithm::EdDsa => {
            let seed = derive(ROOT_A, LABEL_ACCESS_EDDSA.as_bytes(), 32);
            let kp = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
            EncodingKey::from_ed_der(kp.to_pkcs8v1().unwrap().as_ref())
        }
        Algorithm::Rs256 => {
            let secret: serde_json::Value = serde_json::from_str(RSA_A.expose_secret()).unwrap();
            EncodingKey::from_rsa_pem(secret["rsa_private_key_pem"].as_str().unwrap().as_bytes())
                .unwrap()
        }
        Algorithm::Hs256 => {
            EncodingKey::from_secret(&derive(ROOT_A, LABEL_ACCESS_HS256.as_bytes(), 32))
        }
    }
}

fn decoding_key(ks: &KeySet) -> DecodingKey {
    if ks.algorithm() == Algorithm::Hs256 {
        return DecodingKey::from_secret(&derive(ROOT_A, LABEL_ACCESS_HS256.as_bytes(), 32));
    }
    let set: JwkSet = serde_json::from_value(serde_json::to_value(ks.jwks()).unwrap()).unwrap();
    DecodingKey::from_jwk(set.find(ks.current_kid().as_str()).unwrap()).unwrap()
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(jwt_alg(alg));
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = 0;
    v
}

#[test]
fn our_access_tokens_verify_with_jsonwebtoken() {
    for alg in Algorithm::ALL {
        let ks = keyset(alg);
        let (claims, _) = claims_now();
        let token = ks.issue_access(&claims).unwrap();
        let decoded = jsonwebtoken::decode::<AccessClaims>(
            token.expose_secret(),
            &decoding_key(&ks),
            &validation(alg),
        )
        .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(decoded.claims, claims, "{alg}");
        assert_eq!(decoded.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(
            decoded.header.kid.as_deref(),
            Some(ks.current_kid().as_str())
        );
    }
}

#[test]
fn jsonwebtoken_access_tokens_verify_with_ours() {
    for alg in Algorithm::ALL {
        let ks = keyset(alg);
        let (claims, now) = claims_now();
        let mut header = Header::new(jwt_alg(alg));
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(ks.current_kid().as_str().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &encoding_key(alg)).unwrap();
        assert_eq!(
            ks.access_verifier(policy()).verify(&token, now),
            Ok(claims.clone()),
            "{alg}"
        );
        // And through the JWKS alone, for the public-key algorithms.
        if alg != Algorithm::Hs256 {
            let v = tessera_token::AccessVerifier::from_jwks(
                &serde_json::to_string(&ks.jwks()).unwrap(),
                policy(),
            )
            .unwrap();
            assert_eq!(v.verify(&token, now), Ok(claims), "{alg}");
        }
    }
}

#[test]
fn refresh_tokens_interoperate_both_ways() {
    let ks = keyset(Algorithm::Es256);
    let key = derive(ROOT_A, LABEL_REFRESH_HS256.as_bytes(), 32);
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap();
    let claims = RefreshClaims {
        iat: now,
        exp: now + 3600,
        ..refresh_claims()
    };
    let ours = ks.issue_refresh(&claims).unwrap();
    let mut v = Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_issuer(&[ISSUER]);
    v.validate_aud = false;
    let decoded = jsonwebtoken::decode::<RefreshClaims>(
        ours.expose_secret(),
        &DecodingKey::from_secret(&key),
        &v,
    )
    .unwrap();
    assert_eq!(decoded.claims, claims);
    assert_eq!(decoded.header.typ.as_deref(), Some("rt+jwt"));

    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("rt+jwt".to_owned());
    header.kid = Some(ks.current_refresh_kid().as_str().to_owned());
    let theirs = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key)).unwrap();
    assert_eq!(refresh_verifier(&ks).verify(&theirs, now), Ok(claims));
}

#[test]
fn our_kid_is_jsonwebtokens_rfc7638_thumbprint() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let ks = keyset(alg);
        let set: JwkSet = serde_json::from_value(serde_json::to_value(ks.jwks()).unwrap()).unwrap();
        let thumbprint = set.keys[0].thumbprint(ThumbprintHash::SHA256).unwrap();
        assert_eq!(thumbprint, ks.current_kid().as_str(), "{alg}");
    }
}
