//! Reading a token without verifying it: what the CLI's `token inspect`, the gateway's
//! answer cache and logout need, shaped as strictly as verification shapes it.
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
use tessera_token::dangerous::{self, DecodeError};
use tessera_token::{Algorithm, MAX_TOKEN_BYTES};

/// A token with these raw header and payload texts and a signature nobody made.
fn unsigned(header: &str, payload: &str) -> String {
    assemble(header, payload, |_| b"not a signature".to_vec())
}

#[test]
fn decode_returns_the_header_and_claims_of_an_issued_token() {
    let ks = keyset(Algorithm::Es256);
    let token = ks.issue_access(&access_claims()).unwrap();
    let decoded = dangerous::decode(token.expose_secret()).unwrap();
    assert_eq!(
        serde_json::Value::Object(decoded.header.clone()),
        json!({"alg": "ES256", "typ": "at+jwt", "kid": ks.current_kid().as_str()})
    );
    assert_eq!(
        serde_json::Value::Object(decoded.claims.clone()),
        access_claims_json()
    );
    assert_eq!(dangerous::header(token.expose_secret()), Ok(decoded.header));
    assert_eq!(dangerous::claims(token.expose_secret()), Ok(decoded.claims));
}

#[test]
fn nothing_is_verified_a_forged_signature_still_decodes() {
    let token = unsigned(
        r#"{"alg":"none"}"#,
        r#"{"iat":1700000000,"exp":1700000900}"#,
    );
    assert_eq!(dangerous::iat(&token), Ok(1_700_000_000));
    assert_eq!(dangerous::exp(&token), Ok(1_700_000_900));
    assert_eq!(dangerous::header(&token).unwrap()["alg"], json!("none"));
}

#[test]
fn iat_and_exp_are_the_values_the_verifier_checked() {
    for alg in Algorithm::ALL {
        let ks = keyset(alg);
        let token = ks.issue_access(&access_claims()).unwrap();
        let verified = ks
            .access_verifier(policy())
            .verify(token.expose_secret(), NOW)
            .unwrap();
        assert_eq!(dangerous::iat(token.expose_secret()), Ok(verified.iat));
        assert_eq!(dangerous::exp(token.expose_secret()), Ok(verified.exp));
    }
    let ks = keyset(Algorithm::Hs256);
    let refresh = ks.issue_refresh(&refresh_claims()).unwrap();
    assert_eq!(
        dangerous::iat(refresh.expose_secret()),
        Ok(refresh_claims().iat)
    );
}

#[test]
fn a_claim_named_twice_is_refused_so_no_reader_sees_another_value() {
    let token = unsigned("{}", r#"{"exp":1000,"exp":9999}"#);
    assert_eq!(dangerous::exp(&token), Err(DecodeError::Json));
    assert_eq!(dangerous::claims(&token), Err(DecodeError::Json));
    let token = unsigned(r#"{"alg":"ES256","alg":"none"}"#, "{}");
    assert_eq!(dangerous::header(&token), Err(DecodeError::Json));
}

#[test]
fn a_missing_or_non_integer_claim_is_named() {
    let token = unsigned("{}", r#"{"sub":"u"}"#);
    assert_eq!(
        dangerous::exp(&token),
        Err(DecodeError::MissingClaim("exp"))
    );
    assert_eq!(
        dangerous::iat(&token),
        Err(DecodeError::MissingClaim("iat"))
    );
    for value in [
        json!("1000"),
        json!(1000.5),
        json!(null),
        json!(u64::MAX),
        json!([1000]),
    ] {
        let token = unsigned("{}", &json!({ "exp": value }).to_string());
        assert_eq!(
            dangerous::exp(&token),
            Err(DecodeError::InvalidClaim("exp")),
            "{value}"
        );
    }
}

#[test]
fn the_shape_is_checked_as_verification_checks_it() {
    let good = unsigned("{}", r#"{"exp":1000}"#);
    assert_eq!(dangerous::exp(&good), Ok(1000));
    let (input, sig) = good.rsplit_once('.').unwrap();
    let cases = [
        ("a".repeat(MAX_TOKEN_BYTES + 1), DecodeError::TooLarge),
        ("a.b".to_owned(), DecodeError::Malformed),
        (format!("{good}.x"), DecodeError::Malformed),
        (format!("{good} "), DecodeError::Base64),
        (format!("{input}.{sig}="), DecodeError::Base64),
        (format!("{input}.+{}", &sig[1..]), DecodeError::Base64),
        (
            format!("e30=.{}", &good[good.find('.').unwrap() + 1..]),
            DecodeError::Base64,
        ),
        (unsigned("{}", "not json"), DecodeError::Json),
        (unsigned("{}", "[1,2]"), DecodeError::Json),
        (unsigned("[]", r#"{"exp":1000}"#), DecodeError::Json),
    ];
    for (token, expected) in cases {
        assert_eq!(
            dangerous::decode(&token).map(|_| ()),
            Err(expected),
            "{token}"
        );
        if expected != DecodeError::Json {
            assert_eq!(dangerous::exp(&token), Err(expected), "{token}");
        }
    }
}
