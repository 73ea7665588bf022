//! Request bodies (docs/API.md): a member named twice at the top level of a JSON body is refused
//! like a repeated form parameter (RFC 6749 §3.2), before anything reaches the store, so no
//! endpoint acts on a value that something in front of it may not have seen.

use serde_json::json;
use tessera_store::Store;

use crate::helpers::*;

store_tests!(
    login_json_with_a_repeated_member_400_invalid_request_and_nothing_changes,
    refresh_json_with_a_repeated_member_400_invalid_request_and_the_token_is_not_spent,
    logout_json_with_a_repeated_member_400_invalid_request_and_nothing_is_revoked,
);

/// `{"name": value, ...}` with members in this order, repeats included, which `json!` (a
/// map) cannot express.
fn object(members: &[(&str, &str)]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(name, value)| format!("{}:{}", json!(name), json!(value)))
        .collect();
    format!("{{{}}}", members.join(","))
}

async fn login_json_with_a_repeated_member_400_invalid_request_and_nothing_changes<S: Store>(
    h: Harness<S>,
) {
    // Given a user,
    let alice = h.add_user("alice", "right", "").await;
    let before = h.user("alice").await;
    let bodies = [
        // the same member twice with the same value, which would log in as it stands,
        object(&[
            ("username", "alice"),
            ("username", "alice"),
            ("password", "right"),
        ]),
        // a second username that a filter looking at the first would not have seen,
        object(&[
            ("username", "mallory"),
            ("username", "alice"),
            ("password", "right"),
        ]),
        object(&[
            ("username", "alice"),
            ("password", "wrong"),
            ("password", "right"),
        ]),
        // a repeat spelled with an escape is the same name once read,
        r#"{"username":"alice","pass\u0077ord":"wrong","password":"right"}"#.to_owned(),
        object(&[
            ("grant_type", "password"),
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "right"),
        ]),
        // and a member the endpoint does not even read.
        object(&[
            ("username", "alice"),
            ("password", "right"),
            ("extra", "1"),
            ("extra", "2"),
        ]),
    ];
    for body in &bodies {
        // When it arrives as a JSON body,
        let resp = h
            .call(post_raw("/auth/login", "application/json", body))
            .await;
        // then the answer is the OAuth error, without the password,
        resp.assert_error(400, "invalid_request");
        assert!(!resp.text().contains("right"), "{body} -> {}", resp.text());
    }
    // and nothing changed: the user record, no session, no failed attempt counted
    assert_eq!(h.user("alice").await, before);
    assert!(
        h.store()
            .list_user_sessions(&alice.user_id, h.now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(h.store().get_login_attempts("alice").await.unwrap(), None);
    // (the form encoding answers the same,)
    h.call(post_form(
        "/auth/login",
        "username=mallory&username=alice&password=right",
    ))
    .await
    .assert_error(400, "invalid_request");
    // and the same credentials, each named once, log in.
    h.login("alice", "right").await;
}

async fn refresh_json_with_a_repeated_member_400_invalid_request_and_the_token_is_not_spent<
    S: Store,
>(
    h: Harness<S>,
) {
    // Given a session and its current refresh token,
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let before = h.session_of(&t.refresh_token).await;
    let token = t.refresh_token.as_str();
    for body in [
        object(&[("refresh_token", "not-a-token"), ("refresh_token", token)]),
        object(&[("refresh_token", token), ("refresh_token", token)]),
        object(&[
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
        ]),
    ] {
        // when it is presented in a JSON body naming a member twice,
        let resp = h
            .call(post_raw("/auth/refresh", "application/json", &body))
            .await;
        // then the answer is 400 invalid_request, without the token,
        resp.assert_error(400, "invalid_request");
        assert!(!resp.text().contains(token), "{}", resp.text());
    }
    // (the form encoding answers the same,)
    h.call(post_form(
        "/auth/refresh",
        &format!("refresh_token=x&refresh_token={token}"),
    ))
    .await
    .assert_error(400, "invalid_request");
    // the session is exactly as it was: not rotated, not revoked,
    assert_eq!(h.session_of(token).await, before);
    // and the token is still the current one.
    assert_eq!(h.refresh(token).await.status, 200);
}

async fn logout_json_with_a_repeated_member_400_invalid_request_and_nothing_is_revoked<S: Store>(
    h: Harness<S>,
) {
    // Given a live session,
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let before = h.session_of(&t.refresh_token).await;
    let token = t.refresh_token.as_str();
    for body in [
        object(&[("refresh_token", "not-a-token"), ("refresh_token", token)]),
        object(&[("refresh_token", token), ("refresh_token", token)]),
        object(&[("token", token), ("token", token)]),
    ] {
        // when its token is presented for logout in a JSON body naming a member twice,
        let resp = h
            .call(post_raw("/auth/logout", "application/json", &body))
            .await;
        // then the answer is 400 invalid_request, not the 204 of a logout,
        resp.assert_error(400, "invalid_request");
        assert!(!resp.text().contains(token), "{}", resp.text());
    }
    // (the form encoding answers the same,)
    h.call(post_form("/auth/logout", &format!("token=x&token={token}")))
        .await
        .assert_error(400, "invalid_request");
    // and the session is untouched.
    let after = h.session_of(token).await;
    assert!(!after.revoked);
    assert_eq!(after, before);
}
