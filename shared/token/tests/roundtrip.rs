//! Issue then verify, per algorithm; the JWKS; rotation; refresh determinism.
// Tests may unwrap: a panic here is a failed assertion (see clippy.toml), and helpers
// outside #[test] functions are not covered by that setting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use tessera_token::{
    AccessVerifier, Algorithm, Jti, KeyError, KeySet, SecretValue, VerifyError, random_id,
};

#[test]
fn access_token_round_trips_for_every_algorithm() {
    for alg in Algorithm::ALL {
        let ks = keyset(alg);
        assert_eq!(ks.algorithm(), alg);
        let token = ks.issue_access(&access_claims()).unwrap();
        let claims = ks
            .access_verifier(policy())
            .verify(token.expose_secret(), NOW);
        assert_eq!(claims, Ok(access_claims()), "{alg}");

        // The header is exactly what RFC 9068 asks for.
        let header: serde_json::Value =
            serde_json::from_slice(&unb64(token.expose_secret().split('.').next().unwrap()))
                .unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": ks.current_kid().as_str()})
        );
    }
}

#[test]
fn refresh_token_round_trips_and_is_hs256_rt_jwt() {
    for alg in Algorithm::ALL {
        let ks = keyset(alg);
        let token = ks.issue_refresh(&refresh_claims()).unwrap();
        assert_eq!(
            refresh_verifier(&ks).verify(token.expose_secret(), NOW),
            Ok(refresh_claims())
        );
        let header: serde_json::Value =
            serde_json::from_slice(&unb64(token.expose_secret().split('.').next().unwrap()))
                .unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "HS256", "typ": "rt+jwt", "kid": ks.current_refresh_kid().as_str()})
        );
    }
}

#[test]
fn refresh_tokens_are_deterministic() {
    let ks = keyset(Algorithm::Es256);
    let a = ks.issue_refresh(&refresh_claims()).unwrap();
    let b = ks.issue_refresh(&refresh_claims()).unwrap();
    assert_eq!(a.expose_secret(), b.expose_secret());
    // And across a reload of the same secret.
    let again = keyset(Algorithm::Es256)
        .issue_refresh(&refresh_claims())
        .unwrap();
    assert_eq!(a.expose_secret(), again.expose_secret());
}

#[test]
fn successor_jti_is_deterministic_128_bit_and_keyed() {
    let ks = keyset(Algorithm::Es256);
    let token = ks.issue_refresh(&refresh_claims()).unwrap();
    let token = token.expose_secret();
    let next = ks.successor_jti(token, "jti-1");
    assert_eq!(next, ks.successor_jti(token, "jti-1"));
    assert_ne!(next, ks.successor_jti(token, "jti-2"));
    assert_eq!(unb64(next.as_str()).len(), 16);
    // As specified: HMAC-SHA256(refresh key, "next" || jti), first 128 bits.
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        &derive(
            ROOT_A,
            tessera_token::keys::LABEL_REFRESH_HS256.as_bytes(),
            32,
        ),
    );
    let tag = aws_lc_rs::hmac::sign(&key, b"nextjti-1");
    assert_eq!(next.as_str(), b64(&tag.as_ref()[..16]));
    // A different root secret gives a different successor.
    let other = KeySet::from_secrets(Algorithm::Es256, &SecretValue::new(ROOT_B), &[]).unwrap();
    let other_token = other.issue_refresh(&refresh_claims()).unwrap();
    assert_ne!(
        next,
        other.successor_jti(other_token.expose_secret(), "jti-1")
    );
}

#[test]
fn the_successor_survives_a_key_rotation_because_the_signing_key_derives_it() {
    // Given a refresh token signed before a rotation, and a process that loaded the rotated
    // key set (new current, the old one kept as previous)
    let before = KeySet::from_secrets(Algorithm::Es256, &SecretValue::new(ROOT_A), &[]).unwrap();
    let token = before.issue_refresh(&refresh_claims()).unwrap();
    let after = KeySet::from_secrets(
        Algorithm::Es256,
        &SecretValue::new(ROOT_B),
        &[SecretValue::new(ROOT_A)],
    )
    .unwrap();

    // Then both derive the same successor for it: a grace-window replay served by either
    // process continues the one chain.
    assert_eq!(
        before.successor_jti(token.expose_secret(), "jti-1"),
        after.successor_jti(token.expose_secret(), "jti-1")
    );
}

#[test]
fn random_ids_are_128_bit_base64url_and_distinct() {
    let a = random_id();
    assert_eq!(a.len(), 22);
    assert_eq!(unb64(&a).len(), 16);
    assert_ne!(a, random_id());
    let j = Jti::random();
    assert_eq!(unb64(j.as_str()).len(), 16);
    assert_ne!(j, Jti::random());
}

#[test]
fn access_tokens_verify_with_the_jwks_alone() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let ks = keyset(alg);
        let jwks = serde_json::to_string(&ks.jwks()).unwrap();
        let v = AccessVerifier::from_jwks(&jwks, policy()).unwrap();
        let token = ks.issue_access(&access_claims()).unwrap();
        assert_eq!(
            v.verify(token.expose_secret(), NOW),
            Ok(access_claims()),
            "{alg}"
        );
        assert!(v.has_kid(ks.current_kid().as_str()));
    }
}

#[test]
fn jwks_holds_public_access_keys_only() {
    let expected = [
        (
            Algorithm::Es256,
            "EC",
            vec!["crv", "kid", "kty", "alg", "use", "x", "y"],
        ),
        (
            Algorithm::EdDsa,
            "OKP",
            vec!["crv", "kid", "kty", "alg", "use", "x"],
        ),
        (
            Algorithm::Rs256,
            "RSA",
            vec!["e", "kid", "kty", "alg", "use", "n"],
        ),
    ];
    for (alg, kty, members) in expected {
        let ks = keyset(alg);
        let jwks = serde_json::to_value(ks.jwks()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{alg}");
        let key = keys[0].as_object().unwrap();
        let mut got: Vec<&str> = key.keys().map(String::as_str).collect();
        let mut want = members.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{alg}: no private or extra members");
        assert_eq!(key["kty"], kty);
        assert_eq!(key["alg"], alg.as_str());
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], ks.current_kid().as_str());
        assert_ne!(key["kid"], ks.current_refresh_kid().as_str());
    }
    // HS256 publishes nothing: the key is symmetric.
    assert!(keyset(Algorithm::Hs256).jwks().keys.is_empty());
}

#[test]
fn kid_is_the_rfc7638_thumbprint() {
    let ks = keyset(Algorithm::Es256);
    let jwk = &ks.jwks().keys[0];
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk.x.as_deref().unwrap(),
        jwk.y.as_deref().unwrap()
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    assert_eq!(ks.current_kid().as_str(), b64(digest.as_ref()));
}

#[test]
fn hs256_kid_reveals_nothing_about_the_key() {
    let ks = keyset(Algorithm::Hs256);
    let key = derive(
        ROOT_A,
        tessera_token::keys::LABEL_ACCESS_HS256.as_bytes(),
        32,
    );
    let kid = ks.current_kid().as_str();
    // The kid is a hash of an independently derived id, not of the key.
    let id = derive(
        ROOT_A,
        tessera_token::keys::LABEL_ACCESS_HS256_KID.as_bytes(),
        32,
    );
    let canonical = format!(r#"{{"k":"{}","kty":"oct"}}"#, b64(&id));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    assert_eq!(kid, b64(digest.as_ref()));
    let of_key = format!(r#"{{"k":"{}","kty":"oct"}}"#, b64(&key));
    let key_digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, of_key.as_bytes());
    assert_ne!(kid, b64(key_digest.as_ref()));
    assert!(!kid.contains(&b64(&key)[..8]));
}

#[test]
fn derivation_is_deterministic_and_labels_are_distinct() {
    for alg in Algorithm::ALL {
        let a = keyset(alg);
        let b = keyset(alg);
        assert_eq!(a.current_kid(), b.current_kid(), "{alg}");
        assert_ne!(a.current_kid(), a.current_refresh_kid(), "{alg}");
    }
    let es = keyset(Algorithm::Es256);
    let hs = keyset(Algorithm::Hs256);
    // Same root, same refresh key whatever the access algorithm.
    assert_eq!(es.current_refresh_kid(), hs.current_refresh_kid());
    assert_ne!(es.current_kid(), hs.current_kid());
}

#[test]
fn rotation_previous_key_still_verifies_and_current_signs() {
    for alg in Algorithm::ALL {
        let old = KeySet::from_secrets(alg, &secret(alg, false), &[]).unwrap();
        let old_access = old.issue_access(&access_claims()).unwrap();
        let old_refresh = old.issue_refresh(&refresh_claims()).unwrap();

        let rotated = KeySet::from_secrets(alg, &secret(alg, true), &[secret(alg, false)]).unwrap();
        assert_ne!(rotated.current_kid(), old.current_kid(), "{alg}");
        let v = rotated.access_verifier(policy());
        assert_eq!(
            v.verify(old_access.expose_secret(), NOW),
            Ok(access_claims()),
            "{alg}"
        );
        assert_eq!(
            refresh_verifier(&rotated).verify(old_refresh.expose_secret(), NOW),
            Ok(refresh_claims())
        );
        let new_access = rotated.issue_access(&access_claims()).unwrap();
        assert!(v.has_kid(rotated.current_kid().as_str()));
        assert!(v.has_kid(old.current_kid().as_str()));

        // The JWKS lists both, current first.
        if alg != Algorithm::Hs256 {
            let kids: Vec<String> = rotated.jwks().keys.into_iter().map(|k| k.kid).collect();
            assert_eq!(
                kids,
                [
                    rotated.current_kid().to_string(),
                    old.current_kid().to_string()
                ]
            );
        }

        // Once the old version is gone, its tokens are an unknown kid; new ones need the
        // new key, which the old set does not know.
        let only_new = KeySet::from_secrets(alg, &secret(alg, true), &[]).unwrap();
        assert_eq!(
            only_new
                .access_verifier(policy())
                .verify(old_access.expose_secret(), NOW),
            Err(VerifyError::UnknownKid)
        );
        assert_eq!(
            old.access_verifier(policy())
                .verify(new_access.expose_secret(), NOW),
            Err(VerifyError::UnknownKid)
        );
        assert_eq!(
            refresh_verifier(&only_new).verify(old_refresh.expose_secret(), NOW),
            Err(VerifyError::UnknownKid)
        );
    }
}

#[test]
fn a_previous_version_equal_to_the_current_is_not_listed_twice() {
    let ks = KeySet::from_secrets(
        Algorithm::Es256,
        &SecretValue::new(ROOT_A),
        &[SecretValue::new(ROOT_A)],
    )
    .unwrap();
    assert_eq!(ks.jwks().keys.len(), 1);
}

#[test]
fn root_secret_shorter_than_32_bytes_is_refused() {
    let short = SecretValue::new("x".repeat(31));
    let err = KeySet::from_secrets(Algorithm::Es256, &short, &[]).unwrap_err();
    assert!(
        matches!(err, KeyError::RootTooShort { len: 31, min: 32 }),
        "{err:?}"
    );
    // Also for a previous version.
    let err =
        KeySet::from_secrets(Algorithm::Es256, &SecretValue::new(ROOT_A), &[short]).unwrap_err();
    assert!(matches!(err, KeyError::RootTooShort { .. }));
    assert!(KeySet::from_secrets(Algorithm::Es256, &SecretValue::new("x".repeat(32)), &[]).is_ok());
}

#[test]
fn rs256_needs_an_rsa_key_in_the_secret() {
    let err = KeySet::from_secrets(Algorithm::Rs256, &SecretValue::new(ROOT_A), &[]).unwrap_err();
    assert!(matches!(err, KeyError::MissingRsaKey), "{err:?}");
    // A previous version without one cannot have signed RS256 tokens: skipped.
    let ks = KeySet::from_secrets(Algorithm::Rs256, &RSA_A, &[SecretValue::new(ROOT_B)]).unwrap();
    assert_eq!(ks.jwks().keys.len(), 1);
    // A broken PEM is an error.
    let bad = SecretValue::new(
        serde_json::json!({"root": ROOT_A, "rsa_private_key_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"})
            .to_string(),
    );
    assert!(matches!(
        KeySet::from_secrets(Algorithm::Rs256, &bad, &[]),
        Err(KeyError::InvalidRsaKey(_))
    ));
    let not_pem = SecretValue::new(
        serde_json::json!({"root": ROOT_A, "rsa_private_key_pem": "hello"}).to_string(),
    );
    assert!(matches!(
        KeySet::from_secrets(Algorithm::Rs256, &not_pem, &[]),
        Err(KeyError::Pem(_))
    ));
}

#[test]
fn secret_value_json_form_and_plain_form_derive_the_same_keys() {
    let json = SecretValue::new(serde_json::json!({"root": ROOT_A}).to_string());
    let a = KeySet::from_secrets(Algorithm::Es256, &json, &[]).unwrap();
    let b = keyset(Algorithm::Es256);
    assert_eq!(a.current_kid(), b.current_kid());
    // JSON without a root is a mistake, reported as such.
    let wrong = SecretValue::new(r#"{"rsa_private_key_pem": "x"}"#);
    assert!(matches!(
        KeySet::from_secrets(Algorithm::Es256, &wrong, &[]),
        Err(KeyError::SecretJson(_))
    ));
    // A plain secret that merely starts with `{` is still a plain secret.
    let brace = SecretValue::new("{not json at all, just a long random secret}");
    assert!(KeySet::from_secrets(Algorithm::Es256, &brace, &[]).is_ok());
}

#[test]
fn generated_secrets_are_fresh_and_usable() {
    let a = SecretValue::generate();
    assert_eq!(a.expose_secret().len(), 43);
    assert_ne!(a.expose_secret(), SecretValue::generate().expose_secret());
    let ks = KeySet::from_secrets(Algorithm::EdDsa, &a, &[]).unwrap();
    let t = ks.issue_access(&access_claims()).unwrap();
    assert!(
        ks.access_verifier(policy())
            .verify(t.expose_secret(), NOW)
            .is_ok()
    );

    let rsa: serde_json::Value = serde_json::from_str(RSA_A.expose_secret()).unwrap();
    assert_eq!(rsa["root"].as_str().unwrap().len(), 43);
    assert!(
        rsa["rsa_private_key_pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    let n = unb64(
        keyset(Algorithm::Rs256).jwks().keys[0]
            .n
            .as_deref()
            .unwrap(),
    );
    assert_eq!(n.len() * 8, 2048);
}

#[test]
fn algorithm_names_parse_and_print() {
    for alg in Algorithm::ALL {
        assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
        assert_eq!(alg.to_string(), alg.as_str());
    }
    assert_eq!("es256".parse::<Algorithm>(), Ok(Algorithm::Es256));
    assert!("none".parse::<Algorithm>().is_err());
    assert!("ES384".parse::<Algorithm>().is_err());
    assert_eq!(Algorithm::default(), Algorithm::Es256);
}

#[test]
fn verifiers_are_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>(_: &T) {}
    let ks = keyset(Algorithm::Es256);
    let v = ks.access_verifier(policy());
    assert_traits(&v);
    assert_traits(&refresh_verifier(&ks));
    // A clone verifies the same token.
    let t = ks.issue_access(&access_claims()).unwrap();
    assert_eq!(
        v.clone().verify(t.expose_secret(), NOW),
        Ok(access_claims())
    );
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    assert_send_sync(&ks);
}

#[test]
fn a_token_that_would_exceed_8_kib_is_not_issued() {
    let ks = keyset(Algorithm::Es256);
    let huge = tessera_token::AccessClaims {
        scope: "s ".repeat(tessera_token::MAX_TOKEN_BYTES),
        ..access_claims()
    };
    assert!(matches!(
        ks.issue_access(&huge),
        Err(tessera_token::TokenError::TooLarge)
    ));
    // Just under the limit is fine, and verifies.
    let mut fits = access_claims();
    let base = ks.issue_access(&fits).unwrap().expose_secret().len();
    fits.scope
        .push_str(&"x".repeat((tessera_token::MAX_TOKEN_BYTES - base) * 3 / 4 - 4));
    let t = ks.issue_access(&fits).unwrap();
    assert!(t.expose_secret().len() <= tessera_token::MAX_TOKEN_BYTES);
    assert_eq!(
        ks.access_verifier(policy()).verify(t.expose_secret(), NOW),
        Ok(fits)
    );
}
