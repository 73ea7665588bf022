//! The jsonwebtoken path the bench measures (`benches/support/jsonwebtoken_path.rs`) is a
//! complete verifier: on every rejection of `rejections.rs` for access tokens it returns
//! the same `VerifyError` as `AccessVerifier`, and it accepts what ours accepts. Without
//! this, its numbers would flatter it.
// Tests may unwrap: a panic here is a failed assertion (see clippy.toml), and helpers
// outside #[test] functions are not covered by that setting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../benches/support/jsonwebtoken_path.rs"]
mod jsonwebtoken_path;

use common::*;
use jsonwebtoken_path::JwtAccessVerifier;
use serde_json::json;
use tessera_token::{AccessClaims, Algorithm, MAX_TOKEN_BYTES, VerifyError, VerifyPolicy};

type Expected = Result<AccessClaims, VerifyError>;

fn with(
    claims: serde_json::Value,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> serde_json::Value {
    let mut c = claims;
    if let Some(map) = c.as_object_mut() {
        edit(map);
    }
    c
}

fn header(alg: &str, typ: Option<&str>, kid: Option<&str>) -> String {
    let mut h = json!({ "alg": alg });
    if let Some(t) = typ {
        h["typ"] = json!(t);
    }
    if let Some(k) = kid {
        h["kid"] = json!(k);
    }
    h.to_string()
}

/// Every access-token row of `rejections.rs` that a JWKS verifier can meet, as
/// (what, token, expected answer).
fn forged_cases(f: &Forger) -> Vec<(String, String, Expected)> {
    let ok = || Ok(access_claims());
    let claims = access_claims_json();
    let claims_text = claims.to_string();
    let good = f.access(&claims);
    let parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let (input, sig) = good.rsplit_once('.').unwrap();
    let mut cases: Vec<(String, String, Expected)> = vec![("valid".into(), good.clone(), ok())];
    let mut add = |what: &str, token: String, expected: Expected| {
        cases.push((what.to_owned(), token, expected));
    };

    add(
        "over 8 KiB",
        "a".repeat(MAX_TOKEN_BYTES + 1),
        Err(VerifyError::TooLarge),
    );
    let big = with(claims.clone(), |m| {
        m.insert("pad".into(), json!("x".repeat(MAX_TOKEN_BYTES)));
    });
    add(
        "padded over 8 KiB",
        f.access(&big),
        Err(VerifyError::TooLarge),
    );
    add(
        "exactly 8 KiB",
        "a".repeat(MAX_TOKEN_BYTES),
        Err(VerifyError::Malformed),
    );
    for bad in ["", "abc", "a.b", "a.b.c.d", "...."] {
        add(bad, bad.to_owned(), Err(VerifyError::Malformed));
    }
    add(
        "four segments",
        format!("{good}.x"),
        Err(VerifyError::Malformed),
    );
    let (d1, d2) = (good.find('.').unwrap(), good.rfind('.').unwrap());
    for i in [d1 + 1, (d1 + d2) / 2, d2 - 1] {
        let mut bytes = good.clone().into_bytes();
        bytes[i] = b'.';
        add(
            "stray dot",
            String::from_utf8(bytes).unwrap(),
            Err(VerifyError::Malformed),
        );
    }

    for h in [
        format!("{}=", parts[0]),
        format!("+{}", &parts[0][1..]),
        "*".to_owned(),
    ] {
        add(
            "header base64",
            format!("{h}.{}.{}", parts[1], parts[2]),
            Err(VerifyError::Base64),
        );
    }
    add(
        "signature base64",
        format!("{}.{}.{}!", parts[0], parts[1], &parts[2][1..]),
        Err(VerifyError::Base64),
    );
    let bad_payload = format!("{}.e30*", parts[0]);
    add(
        "payload base64 under a valid signature",
        format!("{bad_payload}.{}", b64(&f.sign(bad_payload.as_bytes()))),
        Err(VerifyError::Base64),
    );

    add(
        "header not json",
        f.token("not json", "{}"),
        Err(VerifyError::Json),
    );
    add(
        "header an array",
        f.token(r#"["ES256","at+jwt"]"#, "{}"),
        Err(VerifyError::Json),
    );
    let dup = format!(r#"{{"alg":"ES256","alg":"ES256","typ":"at+jwt","kid":"{FORGER_KID}"}}"#);
    add("duplicate alg", f.token(&dup, "{}"), Err(VerifyError::Json));
    add(
        "payload not json",
        f.token(&f.header(), "nope"),
        Err(VerifyError::Json),
    );
    add(
        "payload an array",
        f.token(&f.header(), "[1,2]"),
        Err(VerifyError::Json),
    );

    let payload = b64(claims_text.as_bytes());
    for alg in ["none", "None", "NONE"] {
        let h = header(alg, Some("at+jwt"), Some(FORGER_KID));
        add(
            "alg none",
            format!("{}.{payload}.", b64(h.as_bytes())),
            Err(VerifyError::AlgNone),
        );
    }
    for alg in ["ES384", "es256", "PS256"] {
        let h = header(alg, Some("at+jwt"), Some(FORGER_KID));
        add(
            "unsupported alg",
            f.token(&h, &claims_text),
            Err(VerifyError::UnsupportedAlg),
        );
    }
    let no_alg = format!(r#"{{"typ":"at+jwt","kid":"{FORGER_KID}"}}"#);
    add(
        "missing alg",
        f.token(&no_alg, &claims_text),
        Err(VerifyError::UnsupportedAlg),
    );
    let eddsa = header("EdDSA", Some("at+jwt"), Some(FORGER_KID));
    add(
        "alg not the key's",
        f.token(&eddsa, &claims_text),
        Err(VerifyError::AlgMismatch),
    );
    add(
        "missing kid",
        f.token(&header("ES256", Some("at+jwt"), None), &claims_text),
        Err(VerifyError::MissingKid),
    );
    add(
        "unknown kid",
        f.token(
            &header("ES256", Some("at+jwt"), Some("someone-else")),
            &claims_text,
        ),
        Err(VerifyError::UnknownKid),
    );
    for typ in [Some("JWT"), Some("rt+jwt"), Some("at+jwt2"), Some(""), None] {
        add(
            "wrong typ",
            f.token(&header("ES256", typ, Some(FORGER_KID)), &claims_text),
            Err(VerifyError::WrongType),
        );
    }
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        add(
            "accepted typ",
            f.token(&header("ES256", Some(typ), Some(FORGER_KID)), &claims_text),
            ok(),
        );
    }
    for crit in [r#"["exp"]"#, "[]", "null"] {
        let h = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{FORGER_KID}","crit":{crit}}}"#);
        add(
            "crit",
            f.token(&h, &claims_text),
            Err(VerifyError::CritHeader),
        );
    }

    let impostor = Forger::new();
    add(
        "signed by another key",
        impostor.access(&claims),
        Err(VerifyError::BadSignature),
    );
    let mut raw = unb64(sig);
    raw[10] ^= 1;
    add(
        "flipped signature bit",
        format!("{input}.{}", b64(&raw)),
        Err(VerifyError::BadSignature),
    );
    add(
        "short signature",
        format!("{input}.{}", b64(&raw[..63])),
        Err(VerifyError::BadSignature),
    );
    add(
        "empty signature",
        format!("{input}."),
        Err(VerifyError::BadSignature),
    );
    add(
        "long signature",
        format!("{input}.{}", "A".repeat(2000)),
        Err(VerifyError::BadSignature),
    );
    let expired_evil = with(claims.clone(), |m| {
        m.insert("exp".into(), json!(NOW - 3600));
        m.insert("iss".into(), json!("evil"));
    });
    add(
        "signature before claims",
        impostor.access(&expired_evil),
        Err(VerifyError::BadSignature),
    );

    let at = |name: &str, value: serde_json::Value| {
        f.access(&with(claims.clone(), |m| {
            m.insert(name.into(), value);
        }))
    };
    add(
        "exp - 31",
        at("exp", json!(NOW - 31)),
        Err(VerifyError::Expired),
    );
    add(
        "exp - 30",
        at("exp", json!(NOW - 30)),
        Err(VerifyError::Expired),
    );
    let mut later = access_claims();
    later.exp = NOW - 29;
    add("exp - 29", at("exp", json!(NOW - 29)), Ok(later));
    add(
        "nbf + 31",
        at("nbf", json!(NOW + 31)),
        Err(VerifyError::NotYetValid),
    );
    add(
        "iat + 31",
        at("iat", json!(NOW + 31)),
        Err(VerifyError::IssuedInFuture),
    );
    for iss in [format!("{ISSUER}/"), ISSUER.to_uppercase(), String::new()] {
        add(
            "issuer",
            at("iss", json!(iss)),
            Err(VerifyError::WrongIssuer),
        );
    }
    for aud in [
        json!("https://other.example.com"),
        json!(["a", "b"]),
        json!([]),
    ] {
        add("audience", at("aud", aud), Err(VerifyError::WrongAudience));
    }
    add(
        "audience in a list",
        at("aud", json!(["other", AUDIENCE])),
        ok(),
    );
    for name in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "client_id",
        "sid",
        "scope",
    ] {
        let t = f.access(&with(claims.clone(), |m| {
            m.remove(name);
        }));
        add("missing claim", t, Err(VerifyError::MissingClaim(name)));
    }
    // The last two are not rows of `rejections.rs`: they are the values that derail
    // jsonwebtoken's own claims pass (see the path's module docs).
    let wrong_types: [(&'static str, serde_json::Value); 11] = [
        ("exp", json!("1800000900")),
        ("exp", json!(1_800_000_900.5)),
        ("exp", json!(null)),
        ("iat", json!(true)),
        ("nbf", json!({"t": 1})),
        ("exp", json!(u64::MAX)),
        ("sub", json!(42)),
        ("aud", json!(7)),
        ("scope", json!(["read"])),
        ("exp", json!([NOW + 900])),
        ("sub", json!({"id": "user-7f3a"})),
    ];
    for (name, value) in wrong_types {
        add(
            "claim of the wrong type",
            at(name, value),
            Err(VerifyError::InvalidClaim(name)),
        );
    }
    cases
}

#[test]
fn the_jsonwebtoken_path_answers_every_forged_case_as_ours_does() {
    let f = Forger::new();
    let ours = f.verifier();
    let theirs = JwtAccessVerifier::from_jwks(&f.jwks, &policy());
    for (what, token, expected) in forged_cases(&f) {
        assert_eq!(ours.verify(&token, NOW), expected, "ours: {what}");
        assert_eq!(theirs.verify(&token, NOW), expected, "jsonwebtoken: {what}");
    }
}

#[test]
fn the_jsonwebtoken_path_clamps_the_leeway_as_ours_does() {
    let f = Forger::new();
    let at = |exp: i64| {
        f.access(&with(access_claims_json(), |m| {
            m.insert("exp".into(), json!(exp));
        }))
    };
    for (leeway, accepted, refused) in [(0, NOW + 1, NOW), (86_400, NOW - 59, NOW - 60)] {
        let policy = VerifyPolicy {
            leeway_secs: leeway,
            ..policy()
        };
        let ours = tessera_token::AccessVerifier::from_jwks(&f.jwks, policy.clone()).unwrap();
        let theirs = JwtAccessVerifier::from_jwks(&f.jwks, &policy);
        for (token, expected) in [
            (at(accepted), Ok(())),
            (at(refused), Err(VerifyError::Expired)),
        ] {
            let ours = ours.verify(&token, NOW).map(|_| ());
            let theirs = theirs.verify(&token, NOW).map(|_| ());
            assert_eq!(ours, expected, "ours, leeway {leeway}");
            assert_eq!(theirs, expected, "jsonwebtoken, leeway {leeway}");
        }
    }
}

#[test]
fn the_jsonwebtoken_path_refuses_hs256_signed_with_the_public_key_as_ours_does() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let ks = keyset(alg);
        let jwks = serde_json::to_string(&ks.jwks()).unwrap();
        let ours = ks.access_verifier(policy());
        let theirs = JwtAccessVerifier::from_jwks(&jwks, &policy());
        let jwk = &ks.jwks().keys[0];
        let h = header("HS256", Some("at+jwt"), Some(&jwk.kid));
        let key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &serde_json::to_vec(jwk).unwrap(),
        );
        let forged = assemble(&h, &access_claims_json().to_string(), |m| {
            aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec()
        });
        let issued = ks.issue_access(&access_claims()).unwrap();
        for (token, expected) in [
            (forged.as_str(), Err(VerifyError::AlgMismatch)),
            (issued.expose_secret(), Ok(access_claims())),
        ] {
            assert_eq!(ours.verify(token, NOW), expected, "ours: {alg}");
            assert_eq!(theirs.verify(token, NOW), expected, "jsonwebtoken: {alg}");
        }
    }
}
