//! POST /auth/refresh (docs/API.md): rotation, reuse detection, the grace window.

use serde_json::json;
use tessera_service::jti_hash;
use tessera_store::Store;

use crate::helpers::*;

store_tests!(
    refresh_200_rotates_and_returns_a_new_pair,
    refresh_form_with_grant_type_refresh_token_200,
    refresh_at_the_token_endpoint_is_the_same_refresh,
    refresh_at_the_token_endpoint_refuses_as_refresh_does_and_counts_no_login,
    refresh_never_extends_the_absolute_expiry,
    refresh_replay_within_grace_returns_the_byte_identical_refresh_token,
    refresh_spent_token_400_invalid_grant_and_revokes_the_session,
    refresh_access_token_400_invalid_grant_and_session_untouched,
    refresh_forged_or_malformed_token_400_invalid_grant_and_session_untouched,
    refresh_expired_token_400_invalid_grant,
    refresh_idle_session_400_invalid_grant,
    refresh_revoked_session_400_invalid_grant,
    refresh_token_over_8_kib_400_invalid_grant,
    refresh_missing_field_400_invalid_request,
    refresh_wrong_grant_type_400_unsupported_grant_type,
    refresh_store_unavailable_503_with_retry_after_and_session_untouched,
);

async fn refresh_200_rotates_and_returns_a_new_pair<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "read").await;
    let first = h.login("alice", "pw").await;
    h.advance(60);

    let resp = h.refresh(&first.refresh_token).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.assert_no_store();
    let second = resp.tokens();
    assert_eq!(second.body["token_type"], "Bearer");
    assert_eq!(second.body["scope"], "read");
    assert_eq!(second.body["expires_in"], 900);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);

    let old = h.refresh_claims(&first.refresh_token);
    let new = h.refresh_claims(&second.refresh_token);
    assert_eq!(new.sid, old.sid);
    assert_eq!(new.iat, T0 + 60);
    assert_eq!(new.exp, old.exp, "absolute expiry is kept");
    let access = h.access_claims(&second.access_token);
    assert_eq!(
        (access.sid.as_str(), access.scope.as_str()),
        (old.sid.as_str(), "read")
    );
    assert_eq!(access.exp, T0 + 60 + 900);

    // The session now expects the new token and remembers the spent one.
    let session = h.session(&old.sid).await;
    assert_eq!(session.current_hash, jti_hash(&new.jti));
    assert_eq!(
        session.previous_hash.as_deref(),
        Some(jti_hash(&old.jti).as_str())
    );
    assert_eq!(session.generation, 1);
    assert_eq!(session.last_used_at, T0 + 60);
    assert_eq!(session.idle_expires_at, T0 + 60 + 1_209_600);
    assert!(session.is_live(h.now()));

    // And the new token refreshes in turn.
    h.advance(60);
    assert_eq!(h.refresh(&second.refresh_token).await.status, 200);
}

async fn refresh_form_with_grant_type_refresh_token_200<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let resp = h
        .call(post_form(
            "/auth/refresh",
            &format!("grant_type=refresh_token&refresh_token={}", t.refresh_token),
        ))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.assert_no_store();
}

/// The discovery document's `token_endpoint` is `/auth/login`, where an OAuth client sends
/// `grant_type=refresh_token` (RFC 6749 §6): the same rotation as `/auth/refresh`.
async fn refresh_at_the_token_endpoint_is_the_same_refresh<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let sid = h.session_of(&t.refresh_token).await.sid;

    // Given a form refresh at the token endpoint,
    let resp = h
        .call(post_form(
            "/auth/login",
            &format!("grant_type=refresh_token&refresh_token={}", t.refresh_token),
        ))
        .await;

    // it rotates the session's token as /auth/refresh does,
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.assert_no_store();
    let next = resp.tokens();
    assert_ne!(next.refresh_token, t.refresh_token);
    let session = h.session(&sid).await;
    assert_eq!(session.generation, 1);
    assert_eq!(
        session.current_hash,
        jti_hash(&h.refresh_claims(&next.refresh_token).jti)
    );
    // and JSON works the same way; the successor refreshes at /auth/refresh too.
    let json = h
        .call(post_json(
            "/auth/login",
            json!({"grant_type": "refresh_token", "refresh_token": next.refresh_token}),
        ))
        .await;
    assert_eq!(json.status, 200, "{}", json.text());
    assert_eq!(h.refresh(&json.tokens().refresh_token).await.status, 200);
    assert_eq!(h.session(&sid).await.generation, 3);
}

/// A refresh at the token endpoint is refused exactly as at `/auth/refresh`, and is never
/// taken for a login: no attempt is charged to any username.
async fn refresh_at_the_token_endpoint_refuses_as_refresh_does_and_counts_no_login<S: Store>(
    h: Harness<S>,
) {
    let alice = h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let at_login = |body: serde_json::Value| h.call(post_json("/auth/login", body));

    at_login(json!({"grant_type": "refresh_token"}))
        .await
        .assert_error(400, "invalid_request");
    at_login(json!({"grant_type": "refresh_token", "username": "alice", "password": "pw"}))
        .await
        .assert_error(400, "invalid_request");
    at_login(json!({"grant_type": "refresh_token", "refresh_token": t.access_token}))
        .await
        .assert_error(400, "invalid_grant");
    at_login(json!({"grant_type": "refresh_token", "refresh_token": "x.y.z"}))
        .await
        .assert_error(400, "invalid_grant");

    assert_eq!(h.attempts("alice").await, 0);
    let sessions = h.store().list_user_sessions(&alice.user_id, h.now()).await;
    assert_eq!(sessions.unwrap().len(), 1);
    assert_eq!(h.session_of(&t.refresh_token).await.generation, 0);
}

async fn refresh_never_extends_the_absolute_expiry<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let mut token = h.login("alice", "pw").await.refresh_token;
    let expires_at = h.refresh_claims(&token).exp;
    // Refresh every 10 days: the idle window never closes, the absolute one does.
    for _ in 0..2 {
        h.advance(10 * 86_400);
        let resp = h.refresh(&token).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            resp.json()["refresh_token_expires_in"],
            expires_at - h.now()
        );
        token = resp.tokens().refresh_token;
        assert_eq!(h.refresh_claims(&token).exp, expires_at);
        let session = h.session_of(&token).await;
        assert_eq!(session.expires_at, expires_at);
        assert!(session.idle_expires_at <= expires_at);
    }
    let session = h.session_of(&token).await;
    h.advance(10 * 86_400);
    h.refresh(&token).await.assert_error(400, "invalid_grant");
    assert_eq!(session.generation, h.session(&session.sid).await.generation);
}

async fn refresh_replay_within_grace_returns_the_byte_identical_refresh_token<S: Store>(
    h: Harness<S>,
) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    h.advance(30);
    let first = h.refresh(&t.refresh_token).await;
    assert_eq!(first.status, 200, "{}", first.text());

    // The same token again, within the grace window (a client that sent it twice at once):
    h.advance(GRACE - 1);
    let replay = h.refresh(&t.refresh_token).await;
    assert_eq!(replay.status, 200, "{}", replay.text());
    replay.assert_no_store();
    let (a, b) = (first.tokens(), replay.tokens());
    assert_eq!(
        a.refresh_token, b.refresh_token,
        "the same successor, byte for byte"
    );
    assert_ne!(a.access_token, b.access_token, "a fresh access token");
    assert_eq!(
        b.body["refresh_token_expires_in"],
        h.refresh_claims(&b.refresh_token).exp - h.now()
    );

    // and the session was not rotated again nor revoked: the successor still works.
    let session = h.session_of(&a.refresh_token).await;
    assert_eq!(session.generation, 1);
    assert!(session.is_live(h.now()));
    assert_eq!(h.refresh(&a.refresh_token).await.status, 200);
}

async fn refresh_spent_token_400_invalid_grant_and_revokes_the_session<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let next = h.refresh(&t.refresh_token).await.tokens();

    // The spent token comes back after the grace window: someone else holds it.
    h.advance(GRACE + 1);
    h.refresh(&t.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    let session = h.session_of(&next.refresh_token).await;
    assert!(session.revoked, "reuse revokes the whole session");

    // So the legitimate successor is dead too.
    h.refresh(&next.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
}

async fn refresh_access_token_400_invalid_grant_and_session_untouched<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let before = h.session_of(&t.refresh_token).await;
    h.refresh(&t.access_token)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(h.session(&before.sid).await, before);
}

async fn refresh_forged_or_malformed_token_400_invalid_grant_and_session_untouched<S: Store>(
    h: Harness<S>,
) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let before = h.session_of(&t.refresh_token).await;
    let mut parts: Vec<String> = t.refresh_token.split('.').map(str::to_owned).collect();
    // Another signature: flip the last character of the signature.
    let sig = parts[2].clone();
    let last = if sig.ends_with('A') { 'B' } else { 'A' };
    parts[2] = format!("{}{last}", &sig[..sig.len() - 1]);
    let tampered = parts.join(".");
    // A token signed by another key set (another deployment).
    let other = Harness::new((), None);
    let foreign = other
        .service
        .keys()
        .issue_refresh(&h.refresh_claims(&t.refresh_token))
        .unwrap();
    for bad in [
        tampered.as_str(),
        foreign.expose_secret(),
        "not-a-jwt",
        "a.b.c",
        "e30.e30.",
    ] {
        h.refresh(bad).await.assert_error(400, "invalid_grant");
    }
    assert_eq!(h.session(&before.sid).await, before);
    assert_eq!(
        h.refresh(&t.refresh_token).await.status,
        200,
        "the real token still works"
    );
}

async fn refresh_expired_token_400_invalid_grant<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let before = h.session_of(&t.refresh_token).await;
    h.advance(2_592_000 + 31); // past exp and the 30 s leeway
    h.refresh(&t.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(h.session(&before.sid).await, before);
}

async fn refresh_idle_session_400_invalid_grant<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    h.advance(1_209_600 + 1); // unused for longer than REFRESH_IDLE_TTL; the token itself is valid
    h.refresh(&t.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    let session = h.session_of(&t.refresh_token).await;
    assert_eq!(session.generation, 0);
    assert!(!session.is_live(h.now()));
}

async fn refresh_revoked_session_400_invalid_grant<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let sid = h.refresh_claims(&t.refresh_token).sid;
    assert!(h.store().revoke_session(&sid, h.now()).await.unwrap());
    h.refresh(&t.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    let session = h.session(&sid).await;
    assert!(session.revoked);
    assert_eq!(session.generation, 0);
}

async fn refresh_token_over_8_kib_400_invalid_grant<S: Store>(h: Harness<S>) {
    let resp = h.refresh(&"A".repeat(8 * 1024 + 1)).await;
    resp.assert_error(400, "invalid_grant");
}

async fn refresh_missing_field_400_invalid_request<S: Store>(h: Harness<S>) {
    for body in [
        json!({}),
        json!({"refresh_token": ""}),
        json!({"refresh_token": 7}),
        json!({"token": "x"}),
    ] {
        h.call(post_json("/auth/refresh", body))
            .await
            .assert_error(400, "invalid_request");
    }
    h.call(post_raw("/auth/refresh", "application/json", "nope"))
        .await
        .assert_error(400, "invalid_request");
    h.call(post_raw("/auth/refresh", "text/plain", "x"))
        .await
        .assert_error(400, "invalid_request");
}

async fn refresh_wrong_grant_type_400_unsupported_grant_type<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let before = h.session_of(&t.refresh_token).await;
    let form = format!("grant_type=password&refresh_token={}", t.refresh_token);
    h.call(post_form("/auth/refresh", &form))
        .await
        .assert_error(400, "unsupported_grant_type");
    assert_eq!(h.session(&before.sid).await, before);
}

async fn refresh_store_unavailable_503_with_retry_after_and_session_untouched<S: Store>(
    h: Harness<S>,
) {
    let h = h.faulty();
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let before = h.session_of(&t.refresh_token).await;

    h.fault(Fault::Unavailable);
    let resp = h.refresh(&t.refresh_token).await;
    resp.assert_error(503, "temporarily_unavailable");
    assert_eq!(resp.header("retry-after"), Some("2"));

    // The session is untouched, and the client's retry with the same token succeeds.
    h.fault(Fault::None);
    assert_eq!(h.session(&before.sid).await, before);
    let resp = h.refresh(&t.refresh_token).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}
