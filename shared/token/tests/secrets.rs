//! Secret newtypes: Debug is redacted, the value comes out only through `expose_secret`.
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
use tessera_token::{Algorithm, SecretValue};

#[test]
fn secret_value_debug_is_redacted() {
    let s = SecretValue::new(ROOT_A);
    assert_eq!(format!("{s:?}"), "SecretValue([redacted])");
    assert_eq!(
        format!("{:?}", SecretValue::generate_with_rsa().unwrap()),
        "SecretValue([redacted])"
    );
    assert_eq!(s.expose_secret(), ROOT_A);
}

#[test]
fn access_token_debug_is_redacted() {
    let t = keyset(Algorithm::Es256)
        .issue_access(&access_claims())
        .unwrap();
    assert_eq!(format!("{t:?}"), "AccessToken([redacted])");
    assert_eq!(t.expose_secret().split('.').count(), 3);
}

#[test]
fn refresh_token_debug_is_redacted() {
    let t = keyset(Algorithm::Es256)
        .issue_refresh(&refresh_claims())
        .unwrap();
    assert_eq!(format!("{t:?}"), "RefreshToken([redacted])");
    assert_eq!(t.expose_secret().split('.').count(), 3);
}

#[test]
fn key_set_and_verifiers_debug_show_no_key_material() {
    let ks = keyset(Algorithm::Hs256);
    let debug = format!(
        "{ks:?} {:?} {:?}",
        ks.access_verifier(policy()),
        refresh_verifier(&ks)
    );
    assert!(debug.contains("[redacted]"), "{debug}");
    let hmac_key = derive(
        ROOT_A,
        tessera_token::keys::LABEL_ACCESS_HS256.as_bytes(),
        32,
    );
    let refresh_key = derive(
        ROOT_A,
        tessera_token::keys::LABEL_REFRESH_HS256.as_bytes(),
        32,
    );
    for key in [hmac_key, refresh_key] {
        assert!(!debug.contains(&b64(&key)));
        assert!(!debug.to_lowercase().contains(&hex(&key)));
    }
    assert!(!debug.contains(ROOT_A));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
