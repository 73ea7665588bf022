//! The HTTP contract (docs/API.md), route by route, through the real binaries: login, `/me` behind
//! the authorizer, refresh with rotation and reuse detection, logout, the sessions routes and
//! the public key documents.

use serde_json::json;
use tessera_e2e::events::{self, Encoding};
use tessera_e2e::stack::{AUDIENCE, ISSUER, now};
use tessera_token::{AccessVerifier, VerifyPolicy};

use crate::helpers::{Deployment, Tokens, call, oauth_error};

fn verifier(d: &Deployment) -> AccessVerifier {
    d.stack
        .key_set()
        .unwrap()
        .access_verifier(VerifyPolicy::new(ISSUER, AUDIENCE))
}

fn assert_token_response(d: &Deployment, tokens: &Tokens, user_id: &str) {
    let body = &tokens.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    // The session's absolute lifetime (30 days) from login; a refresh never extends it, so
    // after one it is what remains.
    let refresh_expires_in = body["refresh_token_expires_in"].as_i64().unwrap();
    assert!(
        (2_592_000 - 60..=2_592_000).contains(&refresh_expires_in),
        "{refresh_expires_in}"
    );
    assert_eq!(body["scope"], "profile");
    assert_ne!(tokens.access, tokens.refresh);
    let claims = verifier(d).verify(&tokens.access, now()).unwrap();
    assert_eq!(
        claims.sub, user_id,
        "sub is the stable user id, never the username"
    );
    assert_eq!(claims.scope, "profile");
}

#[tokio::test]
async fn post_auth_login_with_a_json_body_answers_200_with_a_token_pair() {
    // Given a user
    let d = Deployment::start().await;
    let (user, user_id) = d.user().await;

    // When they log in with events/rest-login.json
    let event = events::login(Encoding::Json, &user.username, &user.password).unwrap();
    let response = call(&d.login, &event).await;

    // Then 200, the token pair, never cached
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let tokens = Tokens::from_response(&response);
    assert_token_response(&d, &tokens, &user_id);
}

#[tokio::test]
async fn post_auth_login_with_a_form_body_answers_200_with_a_token_pair() {
    // Given a user
    let d = Deployment::start().await;
    let (user, user_id) = d.user().await;

    // When they log in with events/rest-login-form.json (grant_type=password)
    let tokens = d.log_in(&user, Encoding::Form).await;

    // Then the same token response as with JSON
    assert_token_response(&d, &tokens, &user_id);
}

#[tokio::test]
async fn post_auth_login_with_a_wrong_password_or_unknown_user_answers_400_invalid_grant() {
    // Given a user
    let d = Deployment::start().await;
    let (user, _) = d.user().await;

    // When someone logs in with a wrong password, or as a user who does not exist
    let wrong_password = events::login(Encoding::Json, &user.username, "not-the-password").unwrap();
    let unknown_user = events::login(Encoding::Json, "nobody-here", &user.password).unwrap();

    // Then one answer for both: 400 invalid_grant
    for event in [wrong_password, unknown_user] {
        let response = call(&d.login, &event).await;
        assert_eq!(response.status, 400, "{response:?}");
        assert_eq!(oauth_error(&response), "invalid_grant");
    }
}

#[tokio::test]
async fn post_auth_login_with_a_malformed_body_answers_400_invalid_request() {
    // Given the login function
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let valid = events::login(Encoding::Json, &user.username, &user.password).unwrap();

    for (case, body, content_type) in [
        ("malformed JSON", "{\"username\": ", "application/json"),
        ("not an object", "[]", "application/json"),
        (
            "missing password",
            "{\"username\": \"someone\"}",
            "application/json",
        ),
        (
            "empty username",
            "grant_type=password&username=&password=x",
            "application/x-www-form-urlencoded",
        ),
        ("wrong content type", "username=a&password=b", "text/plain"),
    ] {
        // When the body is not a login request
        let mut event = valid.clone();
        event["body"] = json!(body);
        event["headers"]["Content-Type"] = json!(content_type);
        event["multiValueHeaders"]["Content-Type"] = json!([content_type]);
        let response = call(&d.login, &event).await;

        // Then 400 invalid_request
        assert_eq!(response.status, 400, "{case}: {response:?}");
        assert_eq!(oauth_error(&response), "invalid_request", "{case}");
    }
}

#[tokio::test]
async fn post_auth_login_with_a_body_over_16_kib_answers_413() {
    // Given a login request whose body is over 16 KiB
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let mut event = events::login(Encoding::Json, &user.username, &user.password).unwrap();
    event["body"] = json!(format!(
        "{{\"username\": \"{}\", \"password\": \"{}\", \"padding\": \"{}\"}}",
        user.username,
        user.password,
        "x".repeat(16 * 1024)
    ));

    // When it arrives
    let response = call(&d.login, &event).await;

    // Then it is refused before any parsing
    assert_eq!(response.status, 413, "{response:?}");
}

#[tokio::test]
async fn post_auth_login_after_repeated_failures_answers_429_with_retry_after() {
    // Given a user whose password was mistyped LOGIN_LOCKOUT_THRESHOLD (5) times
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let wrong = events::login(Encoding::Json, &user.username, "not-the-password").unwrap();
    for _ in 0..5 {
        call(&d.login, &wrong).await;
    }

    // When they now log in, even with the right password
    let right = events::login(Encoding::Json, &user.username, &user.password).unwrap();
    let response = call(&d.login, &right).await;

    // Then 429 too_many_attempts, with Retry-After seconds
    assert_eq!(response.status, 429, "{response:?}");
    assert_eq!(oauth_error(&response), "too_many_attempts");
    let retry_after: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 0);
}

#[tokio::test]
async fn get_me_behind_the_authorizer_answers_200_with_sub_sid_scope_jti() {
    // Given a logged-in user
    let d = Deployment::start().await;
    let (user, user_id) = d.user().await;
    let tokens = d.log_in(&user, Encoding::Json).await;

    // When API Gateway asks the REST TOKEN authorizer, then calls /me with its context
    let context = d.authorize(&tokens.access).await;
    let response = call(&d.me, &context.me(&tokens.access).unwrap()).await;

    // Then /me answers with the token's own claims
    assert_eq!(response.status, 200, "{response:?}");
    let claims = verifier(&d).verify(&tokens.access, now()).unwrap();
    assert_eq!(context.get("principalId"), Some(user_id.as_str()));
    assert_eq!(
        response.json().unwrap(),
        json!({ "sub": user_id, "sid": claims.sid, "scope": "profile", "jti": claims.jti })
    );
}

#[tokio::test]
async fn get_me_without_an_authorizer_context_fails_closed() {
    // Given /me called without the context API Gateway adds after an Allow
    let d = Deployment::start().await;
    let mut event = events::parse_sample(events::REST_ME).unwrap();
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");

    // When it runs
    let response = call(&d.me, &event).await;

    // Then it answers nothing about anyone
    assert_eq!(response.status, 401, "{response:?}");
}

#[tokio::test]
async fn post_auth_refresh_answers_200_with_a_new_pair() {
    // Given a logged-in user
    let d = Deployment::start().await;
    let (user, user_id) = d.user().await;
    let first = d.log_in(&user, Encoding::Json).await;

    // When they refresh, with JSON and then with a form
    let second = d.refreshed(&first.refresh).await;
    let form = events::refresh(Encoding::Form, &second.refresh).unwrap();
    let third = call(&d.refresh, &form).await;

    // Then each answer is a new pair for the same session
    assert_token_response(&d, &second, &user_id);
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(third.status, 200, "{third:?}");
    assert_eq!(third.header("cache-control"), Some("no-store"));
    let third = third.json().unwrap();
    assert_ne!(third["refresh_token"], json!(second.refresh));
    let verifier = verifier(&d);
    let sid = |access: &str| verifier.verify(access, now()).unwrap().sid;
    assert_eq!(sid(&first.access), sid(&second.access));
    assert_eq!(
        sid(&first.access),
        sid(third["access_token"].as_str().unwrap())
    );
}

#[tokio::test]
async fn post_auth_refresh_with_a_spent_token_answers_400_invalid_grant_and_revokes_the_session() {
    // Given a session whose first refresh token was spent (REFRESH_REUSE_GRACE=0)
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let first = d.log_in(&user, Encoding::Json).await;
    let second = d.refreshed(&first.refresh).await;

    // When the spent token is presented again
    let replay = d.try_refresh(&first.refresh).await;

    // Then 400 invalid_grant, and the session is revoked: the new token dies too
    assert_eq!(replay.status, 400, "{replay:?}");
    assert_eq!(oauth_error(&replay), "invalid_grant");
    let after = d.try_refresh(&second.refresh).await;
    assert_eq!(after.status, 400, "{after:?}");
    assert_eq!(oauth_error(&after), "invalid_grant");
}

#[tokio::test]
async fn post_auth_refresh_replayed_within_the_grace_window_answers_the_same_successor() {
    // Given REFRESH_REUSE_GRACE=300 and a session whose first refresh token was just spent
    let stack = tessera_e2e::stack::Stack::with_config(&[("REFRESH_REUSE_GRACE", "300")])
        .await
        .unwrap();
    let d = Deployment::over(stack).await;
    let (user, _) = d.user().await;
    let first = d.log_in(&user, Encoding::Json).await;
    let second = d.refreshed(&first.refresh).await;

    // When the client sends the spent token again (a retry after a lost answer)
    let replay = d.refreshed(&first.refresh).await;

    // Then it gets the same successor refresh token, and the session lives on
    assert_eq!(replay.refresh, second.refresh);
    d.refreshed(&second.refresh).await;
}

#[tokio::test]
async fn post_auth_refresh_with_an_access_token_or_garbage_answers_400_invalid_grant() {
    // Given a logged-in user
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let tokens = d.log_in(&user, Encoding::Json).await;

    // When the refresh endpoint gets an access token, garbage, or an oversized token
    let oversized = "a".repeat(9000);
    for token in [tokens.access.as_str(), "not.a.token", oversized.as_str()] {
        let response = d.try_refresh(token).await;
        // Then each is an invalid grant
        assert_eq!(response.status, 400, "{response:?}");
        assert_eq!(oauth_error(&response), "invalid_grant");
    }
    // And the session is untouched
    d.refreshed(&tokens.refresh).await;
}

#[tokio::test]
async fn post_auth_logout_answers_204_and_the_session_is_revoked() {
    // Given a logged-in user
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let tokens = d.log_in(&user, Encoding::Json).await;

    // When they log out
    let response = call(&d.logout, &events::logout(&tokens.refresh).unwrap()).await;

    // Then 204, and the refresh token no longer refreshes
    assert_eq!(response.status, 204, "{response:?}");
    let refresh = d.try_refresh(&tokens.refresh).await;
    assert_eq!(refresh.status, 400, "{refresh:?}");
    assert_eq!(oauth_error(&refresh), "invalid_grant");

    // And logging out again, or with a token that is not one, is still 204 (RFC 7009)
    for token in [tokens.refresh.as_str(), "not.a.token"] {
        let again = call(&d.logout, &events::logout(token).unwrap()).await;
        assert_eq!(again.status, 204, "{again:?}");
    }
}

#[tokio::test]
async fn get_auth_sessions_lists_the_callers_live_sessions_and_marks_the_current_one() {
    // Given a user logged in twice, and another user
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let here = d.log_in(&user, Encoding::Json).await;
    let there = d.log_in(&user, Encoding::Form).await;
    let (stranger, _) = d.user().await;
    d.log_in(&stranger, Encoding::Json).await;

    // When the first session lists the user's sessions through the authorizer
    let context = d.authorize(&here.access).await;
    let response = call(&d.sessions, &context.sessions_list(&here.access).unwrap()).await;

    // Then both of the user's sessions, and only theirs, with this one marked current
    assert_eq!(response.status, 200, "{response:?}");
    let body = response.json().unwrap();
    let sessions = body["sessions"].as_array().unwrap();
    let verifier = verifier(&d);
    let sid_here = verifier.verify(&here.access, now()).unwrap().sid;
    let sid_there = verifier.verify(&there.access, now()).unwrap().sid;
    let mut listed: Vec<(&str, bool)> = sessions
        .iter()
        .map(|s| (s["sid"].as_str().unwrap(), s["current"].as_bool().unwrap()))
        .collect();
    listed.sort();
    let mut expected = vec![(sid_here.as_str(), true), (sid_there.as_str(), false)];
    expected.sort();
    assert_eq!(listed, expected);
    for session in sessions {
        for field in ["created_at", "last_used_at", "expires_at"] {
            assert!(session[field].is_i64(), "{field} in {session}");
        }
        assert_eq!(session["user_agent"], "curl/8.5.0");
        assert_eq!(session["source_ip"], "203.0.113.7");
    }
}

#[tokio::test]
async fn delete_auth_sessions_sid_revokes_that_session_only() {
    // Given a user logged in twice
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let here = d.log_in(&user, Encoding::Json).await;
    let there = d.log_in(&user, Encoding::Json).await;
    let sid_there = verifier(&d).verify(&there.access, now()).unwrap().sid;

    // When the first session revokes the second
    let context = d.authorize(&here.access).await;
    let event = context.sessions_revoke(&here.access, &sid_there).unwrap();
    let response = call(&d.sessions, &event).await;

    // Then 204; the second session's refresh token is dead, the first one's lives
    assert_eq!(response.status, 204, "{response:?}");
    assert_eq!(d.try_refresh(&there.refresh).await.status, 400);
    d.refreshed(&here.refresh).await;
}

#[tokio::test]
async fn delete_auth_sessions_sid_of_another_user_answers_404_and_touches_nothing() {
    // Given two users, each logged in
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let (stranger, _) = d.user().await;
    let mine = d.log_in(&user, Encoding::Json).await;
    let theirs = d.log_in(&stranger, Encoding::Json).await;
    let their_sid = verifier(&d).verify(&theirs.access, now()).unwrap().sid;

    // When the first user tries to revoke the other's session, or one that does not exist
    let context = d.authorize(&mine.access).await;
    for sid in [their_sid.as_str(), "no-such-session"] {
        let event = context.sessions_revoke(&mine.access, sid).unwrap();
        let response = call(&d.sessions, &event).await;
        // Then 404
        assert_eq!(response.status, 404, "{sid}: {response:?}");
    }
    // And the other user's session still refreshes
    d.refreshed(&theirs.refresh).await;
}

#[tokio::test]
async fn delete_auth_sessions_revokes_all_the_callers_sessions() {
    // Given a user logged in twice, and another user
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let here = d.log_in(&user, Encoding::Json).await;
    let there = d.log_in(&user, Encoding::Json).await;
    let (stranger, _) = d.user().await;
    let theirs = d.log_in(&stranger, Encoding::Json).await;

    // When the user logs out everywhere
    let context = d.authorize(&here.access).await;
    let response = call(
        &d.sessions,
        &context.sessions_revoke_all(&here.access).unwrap(),
    )
    .await;

    // Then 204, both of their sessions are dead, the other user's lives
    assert_eq!(response.status, 204, "{response:?}");
    assert_eq!(d.try_refresh(&here.refresh).await.status, 400);
    assert_eq!(d.try_refresh(&there.refresh).await.status, 400);
    d.refreshed(&theirs.refresh).await;
    // And the list is empty
    let list = call(&d.sessions, &context.sessions_list(&here.access).unwrap()).await;
    assert_eq!(list.json().unwrap(), json!({ "sessions": [] }));
}

#[tokio::test]
async fn get_jwks_serves_the_public_key_that_verifies_access_tokens() {
    // Given a logged-in user's access token
    let d = Deployment::start().await;
    let (user, user_id) = d.user().await;
    let tokens = d.log_in(&user, Encoding::Json).await;

    // When anyone fetches the JWKS
    let response = call(&d.jwks, &events::jwks().unwrap()).await;

    // Then it holds public keys only, and they verify the access token
    assert_eq!(response.status, 200, "{response:?}");
    let jwks = response.json().unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "ES256");
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["crv"], "P-256");
        assert!(key.get("d").is_none(), "no private part: {key}");
        assert!(key.get("k").is_none(), "no symmetric key: {key}");
    }
    let verifier =
        AccessVerifier::from_jwks(&response.body, VerifyPolicy::new(ISSUER, AUDIENCE)).unwrap();
    assert_eq!(verifier.verify(&tokens.access, now()).unwrap().sub, user_id);
    // And the refresh token, signed with the refresh key, does not verify with it
    assert!(verifier.verify(&tokens.refresh, now()).is_err());
}

#[tokio::test]
async fn get_openid_configuration_names_the_issuer_and_the_jwks_uri() {
    // Given the jwks function
    let d = Deployment::start().await;

    // When anyone fetches the discovery document
    let response = call(&d.jwks, &events::openid_configuration().unwrap()).await;

    // Then it names the issuer, the JWKS and the endpoints
    assert_eq!(response.status, 200, "{response:?}");
    let doc = response.json().unwrap();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(
        doc["jwks_uri"],
        format!("{ISSUER}/.well-known/jwks.json").as_str()
    );
    assert_eq!(
        doc["token_endpoint"],
        format!("{ISSUER}/auth/login").as_str()
    );
    assert_eq!(
        doc["access_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
}
