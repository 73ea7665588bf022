//! `POST /auth/logout` (docs/API.md): revokes the session; idempotent and silent (RFC 7009 §2.2).

use serde_json::json;
use tessera_token::RefreshClaims;

use crate::helpers::{
    Backend, TestUser, assert_oauth_error, assert_token_response, decode, form_encode, spawn_serve,
    unix_now,
};

both_backends!(
    logout_answers_204_and_the_refresh_token_then_fails,
    logout_form_body_answers_204_and_revokes,
    logout_already_revoked_garbage_expired_or_unknown_token_is_still_204,
    logout_missing_or_malformed_body_is_invalid_request,
);

/// Gives a logged-in user with two sessions; logs one out; expects 204 with no body, that
/// session's refresh token refused with `invalid_grant`, the other session untouched.
async fn logout_answers_204_and_the_refresh_token_then_fails(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let leaving = user.login(&server).await;
    let staying = user.login(&server).await;

    let reply = server.logout(&leaving.refresh).await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(reply.body.is_empty());
    assert_oauth_error(
        &server.refresh(&leaving.refresh).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        server.session_list(&user.username).await,
        vec![staying.sid()]
    );
    assert_token_response(&server.refresh(&staying.refresh).await);
}

/// Gives a refresh token sent as a form, once as `refresh_token` and once as RFC 7009's
/// `token`; expects 204 and the session revoked.
async fn logout_form_body_answers_204_and_revokes(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let a = user.login(&server).await;
    let b = user.login(&server).await;

    let by_name = server
        .post_form(
            "/auth/logout",
            &format!("refresh_token={}", form_encode(&a.refresh)),
        )
        .await;
    let by_rfc_name = server
        .post_form(
            "/auth/logout",
            &format!("token={}", form_encode(&b.refresh)),
        )
        .await;

    assert_eq!(by_name.status, 204, "{}", by_name.body);
    assert_eq!(by_rfc_name.status, 204, "{}", by_rfc_name.body);
    assert_oauth_error(&server.refresh(&a.refresh).await, 400, "invalid_grant");
    assert_oauth_error(&server.refresh(&b.refresh).await, 400, "invalid_grant");
    assert!(server.session_list(&user.username).await.is_empty());
}

/// Gives a token already logged out, garbage, an oversized token, a signed token for a
/// session that never existed and a signed token that expired; expects 204 for each.
async fn logout_already_revoked_garbage_expired_or_unknown_token_is_still_204(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;
    assert_eq!(server.logout(&tokens.refresh).await.status, 204);
    let minter = server.minter();
    let (_, claims) = decode(&tokens.refresh);
    let claims: RefreshClaims = serde_json::from_value(claims).unwrap();
    let unknown = minter.refresh(&RefreshClaims {
        sid: "no-such-session".to_owned(),
        ..claims.clone()
    });
    let expired = minter.refresh(&RefreshClaims {
        iat: unix_now() - 7200,
        exp: unix_now() - 3600,
        ..claims
    });

    for token in [
        tokens.refresh.clone(),
        "garbage".to_owned(),
        "A".repeat(9000),
        unknown,
        expired,
        tokens.access.clone(),
    ] {
        let reply = server.logout(&token).await;
        assert_eq!(reply.status, 204, "{}", reply.body);
        assert!(reply.body.is_empty());
    }
}

/// Gives logout requests with no token field, an empty one, malformed JSON, a wrong content
/// type and an empty body; expects 400 `invalid_request`.
async fn logout_missing_or_malformed_body_is_invalid_request(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;

    for body in [
        json!({}),
        json!({"refresh_token": ""}),
        json!({"refresh_token": 7}),
    ] {
        let reply = server.post_json("/auth/logout", &body).await;
        assert_oauth_error(&reply, 400, "invalid_request");
    }
    for (content_type, body) in [
        (Some("application/json"), b"{\"refresh_token\"".to_vec()),
        (Some("application/json"), Vec::new()),
        (Some("text/plain"), b"refresh_token=x".to_vec()),
        (None, b"{\"refresh_token\": \"x\"}".to_vec()),
    ] {
        let reply = server.post_raw("/auth/logout", content_type, body).await;
        assert_oauth_error(&reply, 400, "invalid_request");
    }
}
