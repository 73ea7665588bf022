//! Every way a token is rejected, each asserting the exact `VerifyError`.
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
use tessera_token::{Algorithm, MAX_TOKEN_BYTES, VerifyError, VerifyPolicy};

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

#[test]
fn a_valid_forged_token_verifies_so_the_rejections_below_are_meaningful() {
    let f = Forger::new();
    let claims = f
        .verifier()
        .verify(&f.access(&access_claims_json()), NOW)
        .unwrap();
    assert_eq!(claims, access_claims());
}

#[test]
fn token_over_8_kib_is_too_large_before_parsing() {
    let f = Forger::new();
    let v = f.verifier();
    assert_eq!(
        v.verify(&"a".repeat(MAX_TOKEN_BYTES + 1), NOW),
        Err(VerifyError::TooLarge)
    );
    // A valid token padded past the limit with a huge claim is refused the same way.
    let big = with(access_claims_json(), |m| {
        m.insert("pad".into(), json!("x".repeat(MAX_TOKEN_BYTES)));
    });
    assert_eq!(v.verify(&f.access(&big), NOW), Err(VerifyError::TooLarge));
    // Exactly at the limit it is parsed (and here found malformed).
    assert_eq!(
        v.verify(&"a".repeat(MAX_TOKEN_BYTES), NOW),
        Err(VerifyError::Malformed)
    );
}

#[test]
fn token_without_exactly_three_segments_is_malformed() {
    let f = Forger::new();
    let v = f.verifier();
    let good = f.access(&access_claims_json());
    for bad in ["", "abc", "a.b", "a.b.c.d", "....", &format!("{good}.x")] {
        assert_eq!(v.verify(bad, NOW), Err(VerifyError::Malformed), "{bad}");
    }
}

#[test]
fn a_stray_dot_anywhere_in_the_payload_is_malformed() {
    let f = Forger::new();
    let v = f.verifier();
    let good = f.access(&access_claims_json());
    let (d1, d2) = (good.find('.').unwrap(), good.rfind('.').unwrap());
    for i in d1 + 1..d2 {
        let mut bytes = good.clone().into_bytes();
        bytes[i] = b'.';
        let t = String::from_utf8(bytes).unwrap();
        assert_eq!(v.verify(&t, NOW), Err(VerifyError::Malformed), "dot at {i}");
    }
}

#[test]
fn segments_that_are_not_strict_base64url_are_rejected() {
    let f = Forger::new();
    let v = f.verifier();
    let good = f.access(&access_claims_json());
    let parts: Vec<&str> = good.split('.').collect();
    // Padding, standard-alphabet characters and junk in the header.
    for header in [
        format!("{}=", parts[0]),
        format!("+{}", &parts[0][1..]),
        "*".to_owned(),
    ] {
        let t = format!("{header}.{}.{}", parts[1], parts[2]);
        assert_eq!(v.verify(&t, NOW), Err(VerifyError::Base64), "{t}");
    }
    // Bad signature encoding.
    let t = format!("{}.{}.{}!", parts[0], parts[1], &parts[2][1..]);
    assert_eq!(v.verify(&t, NOW), Err(VerifyError::Base64));
    // Bad payload encoding under a valid signature.
    let input = format!("{}.{}", parts[0], "e30*");
    let t = format!("{input}.{}", b64(&f.sign(input.as_bytes())));
    assert_eq!(v.verify(&t, NOW), Err(VerifyError::Base64));
}

#[test]
fn non_json_header_or_payload_is_rejected() {
    let f = Forger::new();
    let v = f.verifier();
    assert_eq!(
        v.verify(&f.token("not json", "{}"), NOW),
        Err(VerifyError::Json)
    );
    assert_eq!(
        v.verify(&f.token(r#"["ES256","at+jwt"]"#, "{}"), NOW),
        Err(VerifyError::Json)
    );
    // Duplicate members are ambiguous, so refused.
    let dup = format!(r#"{{"alg":"ES256","alg":"ES256","typ":"at+jwt","kid":"{FORGER_KID}"}}"#);
    assert_eq!(v.verify(&f.token(&dup, "{}"), NOW), Err(VerifyError::Json));
    // Signed, but the payload is not a JSON object.
    assert_eq!(
        v.verify(&f.token(&f.header(), "nope"), NOW),
        Err(VerifyError::Json)
    );
    assert_eq!(
        v.verify(&f.token(&f.header(), "[1,2]"), NOW),
        Err(VerifyError::Json)
    );
}

#[test]
fn alg_none_is_rejected_in_any_case() {
    let f = Forger::new();
    let v = f.verifier();
    let payload = b64(access_claims_json().to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{FORGER_KID}"}}"#);
        let t = format!("{}.{payload}.", b64(header.as_bytes()));
        assert_eq!(v.verify(&t, NOW), Err(VerifyError::AlgNone), "{alg}");
    }
}

#[test]
fn unknown_or_missing_alg_is_unsupported() {
    let f = Forger::new();
    let v = f.verifier();
    for header in [
        format!(r#"{{"alg":"ES384","typ":"at+jwt","kid":"{FORGER_KID}"}}"#),
        format!(r#"{{"alg":"es256","typ":"at+jwt","kid":"{FORGER_KID}"}}"#),
        format!(r#"{{"alg":"PS256","typ":"at+jwt","kid":"{FORGER_KID}"}}"#),
        format!(r#"{{"typ":"at+jwt","kid":"{FORGER_KID}"}}"#),
    ] {
        let t = f.token(&header, &access_claims_json().to_string());
        assert_eq!(
            v.verify(&t, NOW),
            Err(VerifyError::UnsupportedAlg),
            "{header}"
        );
    }
}

#[test]
fn alg_that_is_not_the_keys_alg_is_a_mismatch() {
    let f = Forger::new();
    let v = f.verifier();
    let header = format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{FORGER_KID}"}}"#);
    let t = f.token(&header, &access_claims_json().to_string());
    assert_eq!(v.verify(&t, NOW), Err(VerifyError::AlgMismatch));
}

#[test]
fn hs256_token_signed_with_the_public_key_is_an_alg_mismatch() {
    // The classic confusion attack: HMAC keyed with the published public key, in every
    // form an attacker might try (raw key bytes, the JWK, the whole JWKS document).
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let ks = keyset(alg);
        let v = ks.access_verifier(policy());
        let jwk = &ks.jwks().keys[0];
        let raw: Vec<u8> = match alg {
            Algorithm::Es256 => [
                vec![4u8],
                unb64(jwk.x.as_deref().unwrap()),
                unb64(jwk.y.as_deref().unwrap()),
            ]
            .concat(),
            Algorithm::EdDsa => unb64(jwk.x.as_deref().unwrap()),
            _ => unb64(jwk.n.as_deref().unwrap()),
        };
        let header = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#, jwk.kid);
        for key_bytes in [
            raw,
            serde_json::to_vec(&ks.jwks()).unwrap(),
            serde_json::to_vec(jwk).unwrap(),
        ] {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key_bytes);
            let t = assemble(&header, &access_claims_json().to_string(), |m| {
                aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec()
            });
            assert_eq!(v.verify(&t, NOW), Err(VerifyError::AlgMismatch), "{alg}");
        }
    }
}

#[test]
fn a_token_claiming_another_public_key_alg_is_an_alg_mismatch() {
    let ks = keyset(Algorithm::Rs256);
    let v = ks.access_verifier(policy());
    let token = ks.issue_access(&access_claims()).unwrap();
    let (_, rest) = token.expose_secret().split_once('.').unwrap();
    for alg in ["ES256", "EdDSA"] {
        let header = format!(
            r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{}"}}"#,
            ks.current_kid()
        );
        let t = format!("{}.{rest}", b64(header.as_bytes()));
        assert_eq!(v.verify(&t, NOW), Err(VerifyError::AlgMismatch), "{alg}");
    }
}

#[test]
fn missing_kid_and_unknown_kid_are_rejected() {
    let f = Forger::new();
    let v = f.verifier();
    let claims = access_claims_json().to_string();
    let t = f.token(r#"{"alg":"ES256","typ":"at+jwt"}"#, &claims);
    assert_eq!(v.verify(&t, NOW), Err(VerifyError::MissingKid));
    let t = f.token(
        r#"{"alg":"ES256","typ":"at+jwt","kid":"someone-else"}"#,
        &claims,
    );
    assert_eq!(v.verify(&t, NOW), Err(VerifyError::UnknownKid));
    assert!(v.has_kid(FORGER_KID));
    assert!(!v.has_kid("someone-else"));
}

#[test]
fn access_verifier_requires_at_jwt_typ() {
    let f = Forger::new();
    let v = f.verifier();
    let claims = access_claims_json().to_string();
    for typ in [Some("JWT"), Some("rt+jwt"), Some("at+jwt2"), Some(""), None] {
        let header = match typ {
            Some(t) => format!(r#"{{"alg":"ES256","typ":"{t}","kid":"{FORGER_KID}"}}"#),
            None => format!(r#"{{"alg":"ES256","kid":"{FORGER_KID}"}}"#),
        };
        assert_eq!(
            v.verify(&f.token(&header, &claims), NOW),
            Err(VerifyError::WrongType),
            "{typ:?}"
        );
    }
    // RFC 9068: media types compare case-insensitively, the full form is allowed.
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        let header = format!(r#"{{"alg":"ES256","typ":"{typ}","kid":"{FORGER_KID}"}}"#);
        assert!(v.verify(&f.token(&header, &claims), NOW).is_ok(), "{typ}");
    }
}

#[test]
fn crit_header_is_rejected() {
    let f = Forger::new();
    let v = f.verifier();
    for crit in [r#"["exp"]"#, "[]", "null"] {
        let header =
            format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{FORGER_KID}","crit":{crit}}}"#);
        let t = f.token(&header, &access_claims_json().to_string());
        assert_eq!(v.verify(&t, NOW), Err(VerifyError::CritHeader), "{crit}");
    }
}

#[test]
fn wrong_signature_is_rejected() {
    let f = Forger::new();
    let v = f.verifier();
    // Signed by another key under our kid.
    let impostor = Forger::new();
    assert_eq!(
        v.verify(&impostor.access(&access_claims_json()), NOW),
        Err(VerifyError::BadSignature)
    );
    let good = f.access(&access_claims_json());
    let (input, sig) = good.rsplit_once('.').unwrap();
    // A flipped bit in the signature.
    let mut raw = unb64(sig);
    raw[10] ^= 1;
    assert_eq!(
        v.verify(&format!("{input}.{}", b64(&raw)), NOW),
        Err(VerifyError::BadSignature)
    );
    // Wrong length, empty.
    assert_eq!(
        v.verify(&format!("{input}.{}", b64(&raw[..63])), NOW),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        v.verify(&format!("{input}."), NOW),
        Err(VerifyError::BadSignature)
    );
    // Far too long to be any signature.
    assert_eq!(
        v.verify(&format!("{input}.{}", "A".repeat(2000)), NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn signature_is_checked_before_any_claim() {
    let f = Forger::new();
    let expired = with(access_claims_json(), |m| {
        m.insert("exp".into(), json!(NOW - 3600));
        m.insert("iss".into(), json!("evil"));
    });
    let impostor = Forger::new();
    assert_eq!(
        f.verifier().verify(&impostor.access(&expired), NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn expiry_honours_the_explicit_leeway() {
    let f = Forger::new();
    let v = f.verifier(); // default leeway 30 s
    let at = |exp: i64| {
        f.access(&with(access_claims_json(), |m| {
            m.insert("exp".into(), json!(exp));
        }))
    };
    assert_eq!(v.verify(&at(NOW - 31), NOW), Err(VerifyError::Expired));
    assert_eq!(v.verify(&at(NOW - 30), NOW), Err(VerifyError::Expired));
    assert!(v.verify(&at(NOW - 29), NOW).is_ok());

    let strict = tessera_token::AccessVerifier::from_jwks(
        &f.jwks,
        VerifyPolicy {
            leeway_secs: 0,
            ..policy()
        },
    )
    .unwrap();
    assert_eq!(strict.verify(&at(NOW), NOW), Err(VerifyError::Expired));
    assert!(strict.verify(&at(NOW + 1), NOW).is_ok());

    // A huge leeway is clamped to 60 s.
    let lax = tessera_token::AccessVerifier::from_jwks(
        &f.jwks,
        VerifyPolicy {
            leeway_secs: 86_400,
            ..policy()
        },
    )
    .unwrap();
    assert!(lax.verify(&at(NOW - 59), NOW).is_ok());
    assert_eq!(lax.verify(&at(NOW - 60), NOW), Err(VerifyError::Expired));
}

#[test]
fn not_before_honours_the_leeway() {
    let f = Forger::new();
    let v = f.verifier();
    let at = |nbf: i64| {
        f.access(&with(access_claims_json(), |m| {
            m.insert("nbf".into(), json!(nbf));
        }))
    };
    assert_eq!(v.verify(&at(NOW + 31), NOW), Err(VerifyError::NotYetValid));
    assert!(v.verify(&at(NOW + 30), NOW).is_ok());
}

#[test]
fn issued_at_in_the_future_honours_the_leeway() {
    let f = Forger::new();
    let v = f.verifier();
    let at = |iat: i64| {
        f.access(&with(access_claims_json(), |m| {
            m.insert("iat".into(), json!(iat));
        }))
    };
    assert_eq!(
        v.verify(&at(NOW + 31), NOW),
        Err(VerifyError::IssuedInFuture)
    );
    assert!(v.verify(&at(NOW + 30), NOW).is_ok());
}

#[test]
fn refresh_issued_at_in_the_future_honours_the_leeway() {
    let ks = keyset(Algorithm::Es256);
    let v = refresh_verifier(&ks);
    let at = |iat: i64| {
        refresh_forge(
            &ks,
            &with(refresh_claims_json(), |m| {
                m.insert("iat".into(), json!(iat));
            }),
        )
    };
    assert_eq!(
        v.verify(&at(NOW + 31), NOW),
        Err(VerifyError::IssuedInFuture)
    );
    assert!(v.verify(&at(NOW + 30), NOW).is_ok());
}

#[test]
fn issuer_must_match_exactly() {
    let f = Forger::new();
    let v = f.verifier();
    for iss in [format!("{ISSUER}/"), ISSUER.to_uppercase(), String::new()] {
        let t = f.access(&with(access_claims_json(), |m| {
            m.insert("iss".into(), json!(iss));
        }));
        assert_eq!(v.verify(&t, NOW), Err(VerifyError::WrongIssuer), "{iss}");
    }
}

#[test]
fn audience_must_equal_or_be_contained() {
    let f = Forger::new();
    let v = f.verifier();
    let at = |aud: serde_json::Value| {
        f.access(&with(access_claims_json(), |m| {
            m.insert("aud".into(), aud);
        }))
    };
    assert_eq!(
        v.verify(&at(json!("https://other.example.com")), NOW),
        Err(VerifyError::WrongAudience)
    );
    assert_eq!(
        v.verify(&at(json!(["a", "b"])), NOW),
        Err(VerifyError::WrongAudience)
    );
    assert_eq!(
        v.verify(&at(json!([])), NOW),
        Err(VerifyError::WrongAudience)
    );
    let claims = v.verify(&at(json!(["other", AUDIENCE])), NOW).unwrap();
    assert_eq!(claims.aud, AUDIENCE);
}

#[test]
fn every_required_access_claim_must_be_present() {
    let f = Forger::new();
    let v = f.verifier();
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
        let t = f.access(&with(access_claims_json(), |m| {
            m.remove(name);
        }));
        assert_eq!(
            v.verify(&t, NOW),
            Err(VerifyError::MissingClaim(name)),
            "{name}"
        );
    }
}

#[test]
fn claims_of_the_wrong_type_are_invalid() {
    let f = Forger::new();
    let v = f.verifier();
    let cases: [(&str, serde_json::Value); 9] = [
        ("exp", json!("1800000900")),
        ("exp", json!(1_800_000_900.5)),
        ("exp", json!(null)),
        ("iat", json!(true)),
        ("nbf", json!({"t": 1})),
        ("exp", json!(u64::MAX)),
        ("sub", json!(42)),
        ("aud", json!(7)),
        ("scope", json!(["read"])),
    ];
    for (name, value) in cases {
        let t = f.access(&with(access_claims_json(), |m| {
            m.insert(name.into(), value.clone());
        }));
        assert_eq!(
            v.verify(&t, NOW),
            Err(VerifyError::InvalidClaim(name)),
            "{name}={value}"
        );
    }
}

#[test]
fn refresh_token_is_never_an_access_token() {
    for alg in [Algorithm::Es256, Algorithm::Hs256] {
        let ks = keyset(alg);
        let refresh = ks.issue_refresh(&refresh_claims()).unwrap();
        assert_eq!(
            ks.access_verifier(policy())
                .verify(refresh.expose_secret(), NOW),
            Err(VerifyError::WrongType)
        );
    }
}

#[test]
fn access_token_is_never_a_refresh_token() {
    for alg in [Algorithm::Es256, Algorithm::Hs256] {
        let ks = keyset(alg);
        let access = ks.issue_access(&access_claims()).unwrap();
        assert_eq!(
            refresh_verifier(&ks).verify(access.expose_secret(), NOW),
            Err(VerifyError::WrongType)
        );
    }
}

#[test]
fn refresh_typ_on_an_access_key_or_access_typ_on_the_refresh_key_fails() {
    // Even with the typ rewritten, the keys differ: the kid is unknown to the other verifier.
    let ks = keyset(Algorithm::Hs256);
    let access_key = derive(
        ROOT_A,
        tessera_token::keys::LABEL_ACCESS_HS256.as_bytes(),
        32,
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &access_key);
    let header = format!(
        r#"{{"alg":"HS256","typ":"rt+jwt","kid":"{}"}}"#,
        ks.current_kid().as_str()
    );
    let t = assemble(&header, &refresh_claims_json().to_string(), |m| {
        aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec()
    });
    assert_eq!(
        refresh_verifier(&ks).verify(&t, NOW),
        Err(VerifyError::UnknownKid)
    );
}

#[test]
fn refresh_rejections() {
    let ks = keyset(Algorithm::Es256);
    let v = refresh_verifier(&ks);
    assert_eq!(
        v.verify(&refresh_forge(&ks, &refresh_claims_json()), NOW),
        Ok(refresh_claims())
    );
    for name in ["iss", "sub", "sid", "jti", "iat", "exp"] {
        let t = refresh_forge(
            &ks,
            &with(refresh_claims_json(), |m| {
                m.remove(name);
            }),
        );
        assert_eq!(
            v.verify(&t, NOW),
            Err(VerifyError::MissingClaim(name)),
            "{name}"
        );
    }
    let t = refresh_forge(
        &ks,
        &with(refresh_claims_json(), |m| {
            m.insert("exp".into(), json!(NOW - 31));
        }),
    );
    assert_eq!(v.verify(&t, NOW), Err(VerifyError::Expired));
    let t = refresh_forge(
        &ks,
        &with(refresh_claims_json(), |m| {
            m.insert("iat".into(), json!("yesterday"));
        }),
    );
    assert_eq!(v.verify(&t, NOW), Err(VerifyError::InvalidClaim("iat")));
    let t = refresh_forge(
        &ks,
        &with(refresh_claims_json(), |m| {
            m.insert("nbf".into(), json!(NOW + 600));
        }),
    );
    assert_eq!(v.verify(&t, NOW), Err(VerifyError::NotYetValid));
    let t = refresh_forge(
        &ks,
        &with(refresh_claims_json(), |m| {
            m.insert("iss".into(), json!("https://elsewhere"));
        }),
    );
    assert_eq!(v.verify(&t, NOW), Err(VerifyError::WrongIssuer));
    let tampered = {
        let good = ks.issue_refresh(&refresh_claims()).unwrap();
        let (input, sig) = good.expose_secret().rsplit_once('.').unwrap();
        let mut raw = unb64(sig);
        raw[0] ^= 0x80;
        format!("{input}.{}", b64(&raw))
    };
    assert_eq!(v.verify(&tampered, NOW), Err(VerifyError::BadSignature));
    assert_eq!(
        v.verify(&"x".repeat(MAX_TOKEN_BYTES + 1), NOW),
        Err(VerifyError::TooLarge)
    );
}
