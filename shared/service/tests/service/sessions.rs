//! GET/DELETE /auth/sessions and GET /me, behind the authorizer (docs/API.md).

use tessera_store::Store;

use crate::helpers::*;

store_tests!(
    sessions_get_200_lists_the_callers_live_sessions_only,
    sessions_delete_one_204_revokes_it,
    sessions_delete_another_users_sid_404_and_leaves_it_live,
    sessions_delete_unknown_sid_404,
    sessions_delete_all_204_revokes_only_the_callers_sessions,
    protected_routes_without_authorizer_context_401,
    me_200_echoes_the_authorizer_context,
);

async fn sessions_get_200_lists_the_callers_live_sessions_only<S: Store>(h: Harness<S>) {
    let alice = h.add_user("alice", "pw", "").await;
    h.add_user("bob", "pw", "").await;
    let first = h.login("alice", "pw").await;
    h.advance(5);
    let second = h.login("alice", "pw").await;
    h.advance(5);
    let revoked = h.login("alice", "pw").await;
    h.store()
        .revoke_session(&h.refresh_claims(&revoked.refresh_token).sid, h.now())
        .await
        .unwrap();
    h.login("bob", "pw").await;

    let caller = h.access_claims(&second.access_token);
    let resp = h.call(protected("GET", "/auth/sessions", &caller)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.assert_no_store();
    let body = resp.json();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "alice's two live sessions: {body}");
    let sid_first = h.refresh_claims(&first.refresh_token).sid;
    // Newest first; the caller's own session is marked.
    assert_eq!(sessions[0]["sid"], caller.sid.as_str());
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["sid"], sid_first.as_str());
    assert_eq!(sessions[1]["current"], false);
    for s in sessions {
        let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "created_at",
                "current",
                "expires_at",
                "last_used_at",
                "sid",
                "source_ip",
                "user_agent"
            ]
        );
        assert_eq!(s["source_ip"], "203.0.113.7");
        assert_eq!(s["user_agent"], "test-agent/1.0");
    }
    assert_eq!(sessions[1]["created_at"], T0);
    assert_eq!(sessions[1]["expires_at"], T0 + 2_592_000);
    assert!(
        !resp
            .text()
            .contains(&h.session(&sid_first).await.current_hash),
        "no hashes"
    );
    assert_eq!(
        h.store()
            .list_user_sessions(&alice.user_id, h.now())
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn sessions_delete_one_204_revokes_it<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let laptop = h.login("alice", "pw").await;
    let phone = h.login("alice", "pw").await;
    let caller = h.access_claims(&laptop.access_token);
    let phone_sid = h.refresh_claims(&phone.refresh_token).sid;

    let resp = h.call(delete_session(&phone_sid, &caller)).await;
    assert_eq!(resp.status, 204, "{}", resp.text());
    resp.assert_no_store();
    assert!(h.session(&phone_sid).await.revoked);
    assert!(!h.session(&caller.sid).await.revoked);
    h.refresh(&phone.refresh_token)
        .await
        .assert_error(400, "invalid_grant");

    // Without API Gateway's path parameter (tessera serve), the path alone names the session.
    let resp = h
        .call(protected(
            "DELETE",
            &format!("/auth/sessions/{}", caller.sid),
            &caller,
        ))
        .await;
    assert_eq!(resp.status, 204);
    assert!(h.session(&caller.sid).await.revoked);
}

async fn sessions_delete_another_users_sid_404_and_leaves_it_live<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    h.add_user("bob", "pw", "").await;
    let alice = h.login("alice", "pw").await;
    let bob = h.login("bob", "pw").await;
    let bob_session = h.session_of(&bob.refresh_token).await;
    let caller = h.access_claims(&alice.access_token);

    h.call(delete_session(&bob_session.sid, &caller))
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        h.session(&bob_session.sid).await,
        bob_session,
        "bob's session untouched"
    );
    assert_eq!(h.refresh(&bob.refresh_token).await.status, 200);
}

async fn sessions_delete_unknown_sid_404<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let alice = h.login("alice", "pw").await;
    let caller = h.access_claims(&alice.access_token);
    h.call(delete_session("no-such-session", &caller))
        .await
        .assert_error(404, "not_found");
    assert!(!h.session(&caller.sid).await.revoked);
}

async fn sessions_delete_all_204_revokes_only_the_callers_sessions<S: Store>(h: Harness<S>) {
    let alice = h.add_user("alice", "pw", "").await;
    h.add_user("bob", "pw", "").await;
    let a1 = h.login("alice", "pw").await;
    let a2 = h.login("alice", "pw").await;
    let bob = h.login("bob", "pw").await;
    let caller = h.access_claims(&a1.access_token);

    let resp = h.call(protected("DELETE", "/auth/sessions", &caller)).await;
    assert_eq!(resp.status, 204, "{}", resp.text());
    resp.assert_no_store();
    let sid = |t: &Tokens| h.refresh_claims(&t.refresh_token).sid;
    assert!(!h.alive(&sid(&a1)).await);
    assert!(!h.alive(&sid(&a2)).await);
    assert!(h.alive(&sid(&bob)).await);
    for t in [&a1, &a2] {
        h.refresh(&t.refresh_token)
            .await
            .assert_error(400, "invalid_grant");
    }
    assert!(
        h.store()
            .list_user_sessions(&alice.user_id, h.now())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn protected_routes_without_authorizer_context_401<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let sid = h.refresh_claims(&t.refresh_token).sid;
    for (method, path) in [
        ("GET", "/auth/sessions".to_owned()),
        ("DELETE", "/auth/sessions".to_owned()),
        ("DELETE", format!("/auth/sessions/{sid}")),
        ("GET", "/me".to_owned()),
    ] {
        let bearer = format!("Bearer {}", t.access_token);
        let req = rest_event(
            method,
            &path,
            &[("authorization", bearer.as_str())],
            None,
            None,
        );
        let resp = h.call(req).await;
        assert_eq!(resp.status, 401, "{method} {path}");
        assert_eq!(resp.json(), serde_json::json!({"message": "Unauthorized"}));
        assert_eq!(
            resp.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    }
    // A context without a subject is no context.
    let req = rest_event(
        "GET",
        "/me",
        &[],
        None,
        Some(serde_json::json!({"principalId": "x", "sub": ""})),
    );
    assert_eq!(h.call(req).await.status, 401);
    assert!(!h.session(&sid).await.revoked, "nothing was revoked");
}

async fn me_200_echoes_the_authorizer_context<S: Store>(h: Harness<S>) {
    let alice = h.add_user("alice", "pw", "read write").await;
    let t = h.login("alice", "pw").await;
    let claims = h.access_claims(&t.access_token);
    let resp = h.call(protected("GET", "/me", &claims)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json(),
        serde_json::json!({"sub": alice.user_id, "sid": claims.sid, "scope": "read write", "jti": claims.jti})
    );
}
