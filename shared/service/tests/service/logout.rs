//! POST /auth/logout (docs/API.md, RFC 7009).

use serde_json::json;
use tessera_store::Store;

use crate::helpers::*;

store_tests!(
    logout_204_revokes_the_session,
    logout_204_again_for_an_already_revoked_token,
    logout_204_for_an_expired_token_and_still_revokes,
    logout_204_for_unknown_forged_or_malformed_tokens_and_nothing_changes,
    logout_form_field_token_or_refresh_token_204,
    logout_missing_or_malformed_body_400_invalid_request,
);

async fn logout_204_revokes_the_session<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let other = h.login("alice", "pw").await;
    let resp = h
        .call(post_json(
            "/auth/logout",
            json!({"refresh_token": t.refresh_token}),
        ))
        .await;
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    resp.assert_no_store();
    assert!(h.session_of(&t.refresh_token).await.revoked);
    assert!(
        !h.session_of(&other.refresh_token).await.revoked,
        "only that session"
    );
    h.refresh(&t.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
}

async fn logout_204_again_for_an_already_revoked_token<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    for _ in 0..2 {
        let resp = h
            .call(post_json(
                "/auth/logout",
                json!({"refresh_token": t.refresh_token}),
            ))
            .await;
        assert_eq!(resp.status, 204);
    }
    assert!(h.session_of(&t.refresh_token).await.revoked);
}

async fn logout_204_for_an_expired_token_and_still_revokes<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let sid = h.refresh_claims(&t.refresh_token).sid;
    h.advance(2_592_000 + 3600); // the refresh token expired an hour ago
    let resp = h
        .call(post_json(
            "/auth/logout",
            json!({"refresh_token": t.refresh_token}),
        ))
        .await;
    assert_eq!(resp.status, 204);
    assert!(
        h.session(&sid).await.revoked,
        "a validly signed expired token still revokes"
    );
}

async fn logout_204_for_unknown_forged_or_malformed_tokens_and_nothing_changes<S: Store>(
    h: Harness<S>,
) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let before = h.session_of(&t.refresh_token).await;
    // A token of the same session signed by another deployment's keys.
    let other = Harness::new((), None);
    let forged = other
        .service
        .keys()
        .issue_refresh(&h.refresh_claims(&t.refresh_token))
        .unwrap();
    let tampered = format!("{}x", t.refresh_token);
    let huge = "A".repeat(9000);
    for token in [
        forged.expose_secret(),
        tampered.as_str(),
        t.access_token.as_str(),
        "garbage",
        "a.b.c",
        huge.as_str(),
    ] {
        let resp = h
            .call(post_json("/auth/logout", json!({"refresh_token": token})))
            .await;
        assert_eq!(resp.status, 204, "{}", resp.text());
        resp.assert_no_store();
    }
    assert_eq!(h.session(&before.sid).await, before, "nothing changed");
}

async fn logout_form_field_token_or_refresh_token_204<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let a = h.login("alice", "pw").await;
    let b = h.login("alice", "pw").await;
    let resp = h
        .call(post_form(
            "/auth/logout",
            &format!("token={}&token_type_hint=refresh_token", a.refresh_token),
        ))
        .await;
    assert_eq!(resp.status, 204);
    let resp = h
        .call(post_form(
            "/auth/logout",
            &format!("refresh_token={}", b.refresh_token),
        ))
        .await;
    assert_eq!(resp.status, 204);
    assert!(h.session_of(&a.refresh_token).await.revoked);
    assert!(h.session_of(&b.refresh_token).await.revoked);
}

async fn logout_missing_or_malformed_body_400_invalid_request<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    h.call(post_json("/auth/logout", json!({})))
        .await
        .assert_error(400, "invalid_request");
    h.call(post_json("/auth/logout", json!({"refresh_token": ""})))
        .await
        .assert_error(400, "invalid_request");
    h.call(post_raw("/auth/logout", "application/json", "{oops"))
        .await
        .assert_error(400, "invalid_request");
    h.call(post_raw("/auth/logout", "text/plain", &t.refresh_token))
        .await
        .assert_error(400, "invalid_request");
    let empty = rest_event(
        "POST",
        "/auth/logout",
        &[("content-type", "application/json")],
        None,
        None,
    );
    h.call(empty).await.assert_error(400, "invalid_request");
    assert!(!h.session_of(&t.refresh_token).await.revoked);
}
