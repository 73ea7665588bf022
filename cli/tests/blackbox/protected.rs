//! Protected routes (`GET /me`, `/auth/sessions`) behind the gateway and the real authorizer
//! (docs/API.md): 200 with the context for a good token; the gateway's 401 `{"message":
//! "Unauthorized"}` with `WWW-Authenticate: Bearer error="invalid_token"` for a bad one; 403
//! for a missing scope. Which tokens are bad, one by one, is the authorizer's own contract,
//! proven in-process by `shared/authorizer`'s tests; here the gateway's answers to them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::helpers::{
    Backend, Server, TestUser, Tokens, assert_unauthorized, decode, eventually, spawn_serve,
    tamper_signature,
};

both_backends!(me_with_a_valid_token_answers_the_authorizer_context,);

sqlite_only!(
    protected_missing_authorization_is_401,
    protected_wrong_scheme_is_401,
    protected_garbage_or_tampered_token_is_401,
    protected_token_over_8_kib_is_401,
    protected_scope_rule_is_403_without_the_scope_and_200_with_it,
    protected_access_token_expires_after_access_token_ttl,
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
