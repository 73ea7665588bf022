//! Protected routes (`GET /me`, `/auth/sessions`) behind the real authorizer (docs/API.md): 200
//! with the context for a good token; 401 `{"message": "Unauthorized"}` with
//! `WWW-Authenticate: Bearer error="invalid_token"` for every kind of bad one; 403 for a
//! missing scope.
//!
//! Bad tokens that need a signature are minted with the server's own key file, so the only
//! fault in each is the one the test names; a positive control minted the same way passes.

use aws_lc_rs::{hkdf, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Server, TestUser, Tokens, assert_token_response, assert_unauthorized, compact, decode,
    eventually, spawn_serve, tamper_signature, unix_now,
};

both_backends!(
    me_with_a_valid_token_answers_the_authorizer_context,
    protected_missing_authorization_is_401,
    protected_wrong_scheme_is_401,
    protected_garbage_or_tampered_token_is_401,
    protected_expired_or_not_yet_valid_token_is_401,
    protected_access_token_expires_after_access_token_ttl,
    protected_wrong_issuer_or_audience_is_401,
    protected_refresh_token_used_as_access_token_is_401,
    protected_alg_none_and_hs256_signed_with_the_public_key_are_401,
    protected_wrong_typ_with_a_valid_signature_is_401,
    protected_token_over_8_kib_is_401,
    protected_scope_rule_is_403_without_the_scope_and_200_with_it,
);

const PROTECTED: [(&str, &str); 2] = [("GET", "/me"), ("GET", "/auth/sessions")];

/// Asserts every protected route answers 401 to `authorization`.
async fn assert_refused(server: &Server, authorization: Option<String>) {
    for (method, path) in PROTECTED {
        let reply = server
            .call_with_authorization(method, path, authorization.clone())
            .await;
        assert_unauthorized(&reply);
    }
}

/// Asserts every protected route answers 200 to `token` (positive controls).
async fn assert_accepted(server: &Server, token: &str) {
    for (method, path) in PROTECTED {
        let reply = server.call(method, path, Some(token)).await;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.body);
    }
}

async fn logged_in(server: &Server) -> Tokens {
    TestUser::generate(server).await.login(server).await
}

/// Gives a fresh access token; calls GET /me (with the scheme in lower case too); expects 200
/// with exactly `sub`, `sid`, `scope` and `jti`, equal to the token's claims.
async fn me_with_a_valid_token_answers_the_authorizer_context(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = logged_in(&server).await;
    let (_, claims) = decode(&tokens.access);

    let reply = server.get("/me", Some(&tokens.access)).await;
    let lower = server
        .call_with_authorization("GET", "/me", Some(format!("bearer {}", tokens.access)))
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({
            "sub": claims["sub"],
            "sid": claims["sid"],
            "scope": "profile",
            "jti": claims["jti"],
        })
    );
    assert_eq!(lower.status, 200, "{}", lower.body);
}

/// Gives no Authorization header, and an empty one; expects 401 on every protected route.
async fn protected_missing_authorization_is_401(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;

    assert_refused(&server, None).await;
    assert_refused(&server, Some(String::new())).await;
    assert_refused(&server, Some("   ".to_owned())).await;
}

/// Gives a valid access token under the wrong scheme (`Token`, `Basic`, none at all), and
/// `Bearer` with no token or two; expects 401 each time.
async fn protected_wrong_scheme_is_401(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = logged_in(&server).await;
    let t = &tokens.access;

    for authorization in [
        format!("Token {t}"),
        format!("Basic {t}"),
        "Basic dXNlcjpwYXNzd29yZA==".to_owned(),
        t.clone(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Bearer {t} {t}"),
        format!("Bearer,{t}"),
    ] {
        assert_refused(&server, Some(authorization)).await;
    }
    assert_accepted(&server, t).await;
}

/// Gives garbage, a three-dot string, a token with a flipped signature character, one whose
/// claims were edited (scope raised, signature kept) and a well-formed token signed by a
/// stranger's key; expects 401.
async fn protected_garbage_or_tampered_token_is_401(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = logged_in(&server).await;
    let parts: Vec<&str> = tokens.access.split('.').collect();
    let flipped = tamper_signature(&tokens.access);
    let (_, mut claims) = decode(&tokens.access);
    claims["scope"] = json!("profile admin");
    let raised = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );

    // Well-formed and signed, but by a key that is not the server's.
    let stranger = tessera_token::KeySet::from_secrets(
        tessera_token::Algorithm::Es256,
        &tessera_token::SecretValue::generate(),
        &[],
    )
    .unwrap();
    let claims_now = server
        .minter()
        .access_claims(&tokens.sub(), &tokens.sid(), "profile");
    let foreign = stranger
        .issue_access(&claims_now)
        .unwrap()
        .expose_secret()
        .to_owned();

    for token in [
        "garbage",
        "a.b.c",
        "....",
        &flipped,
        &raised,
        "eyJ.eyJ.sig",
        &foreign,
    ] {
        assert_refused(&server, Some(format!("Bearer {token}"))).await;
    }
}

/// Gives access tokens signed with the server's key but expired an hour ago, or not valid
/// for another hour; expects 401; a token minted the same way and valid now passes.
async fn protected_expired_or_not_yet_valid_token_is_401(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = logged_in(&server).await;
    let minter = server.minter();
    let valid = minter.access_claims(&tokens.sub(), &tokens.sid(), "profile");
    let now = unix_now();

    let mut expired = valid.clone();
    expired.iat = now - 7200;
    expired.nbf = now - 7200;
    expired.exp = now - 3600;
    let mut future = valid.clone();
    future.iat = now + 3600;
    future.nbf = now + 3600;
    future.exp = now + 7200;

    assert_refused(&server, Some(format!("Bearer {}", minter.access(&expired)))).await;
    assert_refused(&server, Some(format!("Bearer {}", minter.access(&future)))).await;
    assert_accepted(&server, &minter.access(&valid)).await;
}

/// Gives ACCESS_TOKEN_TTL=5 and TOKEN_LEEWAY=0; calls /me at once, then polls (bounded) until
/// the token has expired; expects 200 first, then the 401 of docs/API.md, and a refresh giving a
/// working access token again.
async fn protected_access_token_expires_after_access_token_ttl(backend: Backend) {
    let server = spawn_serve(backend, &[("ACCESS_TOKEN_TTL", "5"), ("TOKEN_LEEWAY", "0")]).await;
    let tokens = logged_in(&server).await;
    assert_eq!(server.get("/me", Some(&tokens.access)).await.status, 200);

    let expired = eventually("the access token expires", || async {
        let reply = server.get("/me", Some(&tokens.access)).await;
        (reply.status != 200).then_some(reply)
    })
    .await;

    assert_unauthorized(&expired);
    let fresh = Tokens::from_reply(&server.refresh(&tokens.refresh).await);
    assert_eq!(server.get("/me", Some(&fresh.access)).await.status, 200);
}

/// Gives access tokens signed with the server's key but naming another issuer, or another
/// audience; expects 401.
async fn protected_wrong_issuer_or_audience_is_401(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = logged_in(&server).await;
    let minter = server.minter();
    let valid = minter.access_claims(&tokens.sub(), &tokens.sid(), "profile");

    let mut wrong_iss = valid.clone();
    wrong_iss.iss = "https://evil.example.test".to_owned();
    let mut wrong_aud = valid.clone();
    wrong_aud.aud = "some-other-api".to_owned();

    assert_refused(
        &server,
        Some(format!("Bearer {}", minter.access(&wrong_iss))),
    )
    .await;
    assert_refused(
        &server,
        Some(format!("Bearer {}", minter.access(&wrong_aud))),
    )
    .await;
    assert_accepted(&server, &minter.access(&valid)).await;
}

/// Gives a valid refresh token in `Authorization: Bearer`; expects 401, and the refresh token
/// itself still good at /auth/refresh.
async fn protected_refresh_token_used_as_access_token_is_401(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = logged_in(&server).await;

    assert_refused(&server, Some(format!("Bearer {}", tokens.refresh))).await;
    assert_token_response(&server.refresh(&tokens.refresh).await);
}

fn hs256(key: &[u8], header: &Value, claims: &Value) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        signing_input.as_bytes(),
    );
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Gives a token with `alg: none` (empty and non-empty signature), and HS256 tokens keyed with
/// the server's public ES256 key (as JWK JSON, as the raw point, as the JWKS document) under
/// its kid — the classic algorithm confusion; expects 401 for each.
async fn protected_alg_none_and_hs256_signed_with_the_public_key_are_401(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = logged_in(&server).await;
    let (header, claims) = decode(&tokens.access);
    let kid = header["kid"].clone();
    let jwks = server.get("/.well-known/jwks.json", None).await;
    let jwk = jwks.json()["keys"][0].clone();
    let point = [
        vec![4u8],
        URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap(),
        URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap(),
    ]
    .concat();

    let mut forged = Vec::new();
    for alg in ["none", "None", "NONE"] {
        let none = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        forged.push(compact(&none, &claims, b""));
        forged.push(compact(&none, &claims, b"sig"));
    }
    let hs = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
    for key in [
        jwk.to_string().into_bytes(),
        point,
        jwks.body.clone().into_bytes(),
    ] {
        forged.push(hs256(&key, &hs, &claims));
    }

    for token in forged {
        assert_refused(&server, Some(format!("Bearer {token}"))).await;
    }
}

/// Gives an HS256 server (whose access key the test derives from the key file, as the token
/// crate documents); signs the claims of a real token with that key under `typ: JWT`, `typ`
/// missing, and `typ: rt+jwt`; expects 401 for each, while the same signing with
/// `typ: at+jwt` passes (so the type is the only fault).
async fn protected_wrong_typ_with_a_valid_signature_is_401(backend: Backend) {
    let server = spawn_serve(backend, &[("ACCESS_TOKEN_ALG", "HS256")]).await;
    let tokens = logged_in(&server).await;
    let (header, claims) = decode(&tokens.access);
    let key_file: Value = serde_json::from_str(
        &std::fs::read_to_string(server.store.data.join("keys.json")).unwrap(),
    )
    .unwrap();
    let root = key_file["current"].as_str().unwrap();
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(root.as_bytes());
    let info: [&[u8]; 1] = [b"tessera access HS256"];
    let key = hmac::Key::from(prk.expand(&info, hmac::HMAC_SHA256).unwrap());
    let sign = |header: &Value| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let tag = hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let kid = header["kid"].clone();

    let control = sign(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}));
    assert_accepted(&server, &control).await;
    for typ in [json!("JWT"), json!("rt+jwt"), json!(null)] {
        let mut h = json!({"alg": "HS256", "kid": kid});
        if !typ.is_null() {
            h["typ"] = typ;
        }
        assert_refused(&server, Some(format!("Bearer {}", sign(&h)))).await;
    }
}

/// Gives a token of 9000 bytes (a real token padded); expects 401 without any verification
/// being needed.
async fn protected_token_over_8_kib_is_401(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = logged_in(&server).await;
    let padded = format!("{}{}", tokens.access, "A".repeat(9000));

    assert_refused(&server, Some(format!("Bearer {padded}"))).await;
    assert_refused(&server, Some(format!("Bearer {}", "A".repeat(9000)))).await;
    assert_accepted(&server, &tokens.access).await;
}

/// Gives AUTHORIZER_SCOPE_RULES="GET /me=admin", a user with scope `profile` and one with
/// `profile admin`; calls GET /me; expects 403 `{"message": ...}` for the first (not 401: the
/// token is good), 200 for the second, and routes without a rule open to both.
async fn protected_scope_rule_is_403_without_the_scope_and_200_with_it(backend: Backend) {
    let server = spawn_serve(backend, &[("AUTHORIZER_SCOPE_RULES", "GET /me=admin")]).await;
    let plain = TestUser::generate(&server).await.login(&server).await;
    let admin = TestUser::generate_with_scope(&server, "profile admin")
        .await
        .login(&server)
        .await;

    let denied = server.get("/me", Some(&plain.access)).await;
    let allowed = server.get("/me", Some(&admin.access)).await;

    assert_eq!(denied.status, 403, "{}", denied.body);
    let body = denied.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.json()["scope"], "profile admin");
    let sessions = server.get("/auth/sessions", Some(&plain.access)).await;
    assert_eq!(sessions.status, 200, "{}", sessions.body);
}
