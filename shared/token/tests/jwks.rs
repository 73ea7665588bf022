//! Building a verifier from a published JWKS, and refusing what it cannot safely use.
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
use serde_json::json;
use tessera_token::{AccessVerifier, Algorithm, KeyError};

fn es_jwk() -> serde_json::Value {
    serde_json::to_value(&keyset(Algorithm::Es256).jwks().keys[0]).unwrap()
}

fn load(keys: serde_json::Value) -> Result<AccessVerifier, KeyError> {
    AccessVerifier::from_jwks(&json!({ "keys": keys }).to_string(), policy())
}

fn edited(edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> serde_json::Value {
    let mut k = es_jwk();
    edit(k.as_object_mut().unwrap());
    json!([k])
}

#[test]
fn a_mixed_jwks_verifies_tokens_from_each_key() {
    let sets = [
        keyset(Algorithm::Es256),
        keyset(Algorithm::EdDsa),
        keyset(Algorithm::Rs256),
    ];
    let keys: Vec<_> = sets.iter().flat_map(|k| k.jwks().keys).collect();
    let v = load(serde_json::to_value(keys).unwrap()).unwrap();
    for ks in &sets {
        let t = ks.issue_access(&access_claims()).unwrap();
        assert_eq!(v.verify(t.expose_secret(), NOW), Ok(access_claims()));
    }
}

#[test]
fn unknown_kty_alg_crv_or_use_is_refused() {
    let cases = [
        edited(|m| {
            m.insert("kty".into(), json!("oct"));
        }),
        edited(|m| {
            m.insert("alg".into(), json!("ES384"));
        }),
        edited(|m| {
            m.insert("alg".into(), json!("HS256"));
        }),
        edited(|m| {
            m.insert("alg".into(), json!("RS256"));
        }),
        edited(|m| {
            m.insert("crv".into(), json!("P-384"));
        }),
        edited(|m| {
            m.insert("use".into(), json!("enc"));
        }),
    ];
    for keys in cases {
        let err = load(keys.clone()).unwrap_err();
        assert!(
            matches!(err, KeyError::UnsupportedJwk(_)),
            "{keys}: {err:?}"
        );
    }
}

#[test]
fn missing_parameters_are_refused() {
    for name in ["kty", "kid", "alg", "crv", "x", "y"] {
        let err = load(edited(|m| {
            m.remove(name);
        }))
        .unwrap_err();
        assert!(
            matches!(err, KeyError::MissingJwkParam(n) if n == name),
            "{name}: {err:?}"
        );
    }
    let mut rsa = serde_json::to_value(&keyset(Algorithm::Rs256).jwks().keys[0]).unwrap();
    rsa.as_object_mut().unwrap().remove("e");
    assert!(matches!(
        load(json!([rsa])),
        Err(KeyError::MissingJwkParam("e"))
    ));
}

#[test]
fn invalid_parameters_are_refused() {
    // Not base64url, wrong length, not on the curve.
    let err = load(edited(|m| {
        m.insert("x".into(), json!("!!"));
    }))
    .unwrap_err();
    assert!(matches!(err, KeyError::InvalidJwkParam("x")), "{err:?}");
    let err = load(edited(|m| {
        m.insert("y".into(), json!(b64(&[1u8; 31])));
    }))
    .unwrap_err();
    assert!(matches!(err, KeyError::InvalidJwkParam("y")), "{err:?}");
    let err = load(edited(|m| {
        m.insert("y".into(), json!(b64(&[1u8; 32])));
    }))
    .unwrap_err();
    assert!(matches!(err, KeyError::InvalidJwkParam(_)), "{err:?}");
    // An RSA key below 2048 bits.
    let mut rsa = serde_json::to_value(&keyset(Algorithm::Rs256).jwks().keys[0]).unwrap();
    rsa["n"] = json!(b64(&[0xc5u8; 128]));
    assert!(matches!(
        load(json!([rsa])),
        Err(KeyError::InvalidJwkParam("n"))
    ));
}

#[test]
fn private_members_duplicates_empty_and_junk_are_refused() {
    let err = load(edited(|m| {
        m.insert("d".into(), json!(b64(&[7u8; 32])));
    }))
    .unwrap_err();
    assert!(matches!(err, KeyError::PrivateJwk), "{err:?}");
    let k = es_jwk();
    assert!(matches!(
        load(json!([k, k])),
        Err(KeyError::DuplicateKid(_))
    ));
    assert!(matches!(load(json!([])), Err(KeyError::NoKeys)));
    assert!(matches!(
        AccessVerifier::from_jwks("not json", policy()),
        Err(KeyError::JwksJson(_))
    ));
    assert!(matches!(
        AccessVerifier::from_jwks(r#"{"nokeys": []}"#, policy()),
        Err(KeyError::JwksJson(_))
    ));
}

#[test]
fn jwks_round_trips_through_serde() {
    let jwks = keyset(Algorithm::Rs256).jwks();
    let text = serde_json::to_string(&jwks).unwrap();
    let back: tessera_token::Jwks = serde_json::from_str(&text).unwrap();
    assert_eq!(back, jwks);
    assert!(text.contains(r#""use":"sig""#));
}
