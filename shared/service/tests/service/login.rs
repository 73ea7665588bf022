//! POST /auth/login (API.md).

use serde_json::json;
use tessera_service::{ServiceError, jti_hash};
use tessera_store::{SessionStore, Store, UserStatus};

use crate::helpers::*;

store_tests!(
    login_json_200_returns_a_token_pair_and_creates_one_session,
    login_form_with_grant_type_password_200,
    login_base64_encoded_body_200,
    login_username_is_normalised,
    login_wrong_password_400_invalid_grant_counts_the_failure,
    login_unknown_user_400_same_answer_as_wrong_password,
    login_disabled_user_400_same_answer_and_no_session,
    login_missing_or_empty_fields_400_invalid_request_and_nothing_counted,
    login_malformed_body_or_wrong_content_type_400_invalid_request,
    login_wrong_grant_type_400_unsupported_grant_type,
    login_body_over_16_kib_413,
    login_locked_account_429_with_retry_after_until_the_lock_ends,
    login_success_after_failures_resets_the_counter,
    login_store_unavailable_503_with_retry_after,
    login_store_broken_500_generic_message_with_request_id,
);

async fn login_json_200_returns_a_token_pair_and_creates_one_session<S: Store>(h: Harness<S>) {
    // Given a user, when they log in with JSON,
    let alice = h.add_user("alice", "correct horse", "read write").await;
    let resp = h
        .call(post_json(
            "/auth/login",
            json!({"username": "alice", "password": "correct horse"}),
        ))
        .await;

    // then the answer is the OAuth token response, not cacheable,
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.assert_no_store();
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let body = resp.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        6,
        "access_token token_type expires_in refresh_token refresh_token_expires_in scope: {body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_token_expires_in"], 2_592_000);
    assert_eq!(body["scope"], "read write");

    // the access token names the user by id, never by name,
    let tokens = resp.tokens();
    let access = h.access_claims(&tokens.access_token);
    assert_eq!(access.sub, alice.user_id);
    assert_ne!(access.sub, "alice");
    assert_eq!(access.iss, ISSUER);
    assert_eq!(access.aud, AUDIENCE);
    assert_eq!(access.scope, "read write");
    assert_eq!(access.client_id, "tessera");
    assert_eq!((access.iat, access.nbf, access.exp), (T0, T0, T0 + 900));

    // and one session holds the hash of the refresh token's jti, with the client's details.
    let refresh = h.refresh_claims(&tokens.refresh_token);
    assert_eq!(refresh.sub, alice.user_id);
    assert_eq!(refresh.sid, access.sid);
    assert_eq!(refresh.exp, T0 + 2_592_000);
    assert_ne!(refresh.jti, access.jti);
    let session = h.session(&refresh.sid).await;
    assert_eq!(session.user_id, alice.user_id);
    assert_eq!(session.current_hash, jti_hash(&refresh.jti));
    assert_eq!(session.generation, 0);
    assert_eq!(session.expires_at, T0 + 2_592_000);
    assert_eq!(session.idle_expires_at, T0 + 1_209_600);
    assert_eq!(session.user_agent.as_deref(), Some("test-agent/1.0"));
    assert_eq!(session.source_ip.as_deref(), Some("203.0.113.7"));
    assert!(session.is_live(h.now()));
    assert_eq!(
        h.store()
            .list_user_sessions(&alice.user_id, h.now())
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn login_form_with_grant_type_password_200<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pa ss&word=1", "").await;
    let resp = h
        .call(post_form(
            "/auth/login",
            "grant_type=password&username=alice&password=pa+ss%26word%3D1",
        ))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.assert_no_store();
    assert_eq!(resp.json()["scope"], "");
    // Without grant_type, a form is accepted too.
    let resp = h
        .call(post_form(
            "/auth/login",
            "username=alice&password=pa+ss%26word%3D1",
        ))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

async fn login_base64_encoded_body_200<S: Store>(h: Harness<S>) {
    use base64::Engine as _;
    h.add_user("alice", "secret-pw", "").await;
    let body = json!({"username": "alice", "password": "secret-pw"}).to_string();
    let mut event = rest_event_json(
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
        Some(&base64::engine::general_purpose::STANDARD.encode(body)),
        None,
    );
    event["isBase64Encoded"] = json!(true);
    let resp = h.call(to_request(&event)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

async fn login_username_is_normalised<S: Store>(h: Harness<S>) {
    let alice = h.add_user("alice", "pw-alice", "").await;
    let tokens = h.login("  ALICE ", "pw-alice").await;
    assert_eq!(h.access_claims(&tokens.access_token).sub, alice.user_id);
}

async fn login_wrong_password_400_invalid_grant_counts_the_failure<S: Store>(h: Harness<S>) {
    let alice = h.add_user("alice", "right", "").await;
    let resp = h
        .call(post_json(
            "/auth/login",
            json!({"username": "alice", "password": "wrong"}),
        ))
        .await;
    resp.assert_error(400, "invalid_grant");
    assert_eq!(h.user("alice").await.failed_attempts, 1);
    assert!(
        h.store()
            .list_user_sessions(&alice.user_id, h.now())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn login_unknown_user_400_same_answer_as_wrong_password<S: Store>(h: Harness<S>) {
    h.add_user("alice", "right", "").await;
    let wrong = h
        .call(post_json(
            "/auth/login",
            json!({"username": "alice", "password": "wrong"}),
        ))
        .await;
    let unknown = h
        .call(post_json(
            "/auth/login",
            json!({"username": "mallory", "password": "wrong"}),
        ))
        .await;
    unknown.assert_error(400, "invalid_grant");
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(unknown.body, wrong.body, "byte-identical answers");
    assert!(
        h.store()
            .get_user_by_username("mallory")
            .await
            .unwrap()
            .is_none(),
        "no record created"
    );
}

async fn login_disabled_user_400_same_answer_and_no_session<S: Store>(h: Harness<S>) {
    let bob = h.add_user("bob", "right", "").await;
    h.store()
        .set_status("bob", UserStatus::Disabled, h.now())
        .await
        .unwrap();
    let resp = h
        .call(post_json(
            "/auth/login",
            json!({"username": "bob", "password": "right"}),
        ))
        .await;
    resp.assert_error(400, "invalid_grant");
    let wrong = h
        .call(post_json(
            "/auth/login",
            json!({"username": "nobody", "password": "x"}),
        ))
        .await;
    assert_eq!(resp.body, wrong.body);
    assert!(
        h.store()
            .list_user_sessions(&bob.user_id, h.now())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn login_missing_or_empty_fields_400_invalid_request_and_nothing_counted<S: Store>(
    h: Harness<S>,
) {
    h.add_user("alice", "right", "").await;
    for body in [
        json!({}),
        json!({"username": "alice"}),
        json!({"password": "right"}),
        json!({"username": "", "password": "right"}),
        json!({"username": "alice", "password": ""}),
        json!({"username": "   ", "password": "right"}),
        json!({"username": "alice", "password": 42}),
        json!({"username": ["alice"], "password": "right"}),
        json!({"username": "a\u{0}lice", "password": "right"}),
        json!({"username": "a".repeat(129), "password": "right"}),
    ] {
        let resp = h.call(post_json("/auth/login", body.clone())).await;
        resp.assert_error(400, "invalid_request");
        assert!(!resp.text().contains("right"), "{body} -> {}", resp.text());
    }
    for form in [
        "username=alice",
        "password=right",
        "username=&password=right",
        "username=alice&username=alice&password=right",
    ] {
        h.call(post_form("/auth/login", form))
            .await
            .assert_error(400, "invalid_request");
    }
    assert_eq!(h.user("alice").await.failed_attempts, 0);
}

async fn login_malformed_body_or_wrong_content_type_400_invalid_request<S: Store>(h: Harness<S>) {
    h.add_user("alice", "right", "").await;
    let good = r#"{"username":"alice","password":"right"}"#;
    for (content_type, body) in [
        ("application/json", "{"),
        ("application/json", "[1,2]"),
        ("application/json", ""),
        ("text/plain", good),
        ("application/xml", good),
        ("multipart/form-data; boundary=x", good),
    ] {
        let resp = h.call(post_raw("/auth/login", content_type, body)).await;
        resp.assert_error(400, "invalid_request");
    }
    let no_type = rest_event("POST", "/auth/login", &[], Some(good), None);
    h.call(no_type).await.assert_error(400, "invalid_request");
    // A charset parameter and any case of the media type are fine.
    let resp = h
        .call(post_raw(
            "/auth/login",
            "Application/JSON; charset=utf-8",
            good,
        ))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

async fn login_wrong_grant_type_400_unsupported_grant_type<S: Store>(h: Harness<S>) {
    h.add_user("alice", "right", "").await;
    for form in [
        "grant_type=refresh_token&username=alice&password=right",
        "grant_type=client_credentials&username=alice&password=right",
    ] {
        h.call(post_form("/auth/login", form))
            .await
            .assert_error(400, "unsupported_grant_type");
    }
    let resp = h
        .call(post_json(
            "/auth/login",
            json!({"grant_type": "authorization_code", "username": "alice", "password": "right"}),
        ))
        .await;
    resp.assert_error(400, "unsupported_grant_type");
    assert_eq!(h.user("alice").await.failed_attempts, 0);
}

async fn login_body_over_16_kib_413<S: Store>(h: Harness<S>) {
    h.add_user("alice", "right", "").await;
    let big = json!({"username": "alice", "password": "right", "pad": "x".repeat(16 * 1024)});
    h.call(post_json("/auth/login", big))
        .await
        .assert_error(413, "invalid_request");
    // 413 comes before parsing: a huge body of garbage is refused the same way.
    let resp = h
        .call(post_raw("/auth/login", "text/plain", &"{".repeat(20_000)))
        .await;
    resp.assert_error(413, "invalid_request");
}

async fn login_locked_account_429_with_retry_after_until_the_lock_ends<S: Store>(h: Harness<S>) {
    let alice = h.add_user("alice", "right", "").await;
    let attempt = |password: &'static str| {
        post_json(
            "/auth/login",
            json!({"username": "alice", "password": password}),
        )
    };
    // Given five consecutive failures (the default threshold),
    for _ in 0..5 {
        h.call(attempt("wrong"))
            .await
            .assert_error(400, "invalid_grant");
    }
    let user = h.user("alice").await;
    assert_eq!(user.failed_attempts, 5);
    assert_eq!(user.locked_until, Some(T0 + 30));

    // then even the right password is refused with 429 and Retry-After,
    h.advance(10);
    let resp = h.call(attempt("right")).await;
    resp.assert_error(429, "too_many_attempts");
    assert_eq!(resp.header("retry-after"), Some("20"));
    assert!(
        h.store()
            .list_user_sessions(&alice.user_id, h.now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        h.user("alice").await.failed_attempts,
        5,
        "a locked attempt is not verified or counted"
    );

    // and once the lock has ended, the right password works and clears the counter.
    h.advance(20);
    let resp = h.call(attempt("right")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let user = h.user("alice").await;
    assert_eq!(user.failed_attempts, 0);
    assert_eq!(user.locked_until, None);
}

async fn login_success_after_failures_resets_the_counter<S: Store>(h: Harness<S>) {
    h.add_user("alice", "right", "").await;
    for _ in 0..3 {
        h.call(post_json(
            "/auth/login",
            json!({"username": "alice", "password": "wrong"}),
        ))
        .await;
    }
    assert_eq!(h.user("alice").await.failed_attempts, 3);
    h.login("alice", "right").await;
    assert_eq!(h.user("alice").await.failed_attempts, 0);
}

async fn login_store_unavailable_503_with_retry_after<S: Store>(h: Harness<S>) {
    let h = h.faulty();
    let alice = h.add_user("alice", "right", "").await;
    h.fault(Fault::Unavailable);
    let resp = h
        .call(post_json(
            "/auth/login",
            json!({"username": "alice", "password": "right"}),
        ))
        .await;
    resp.assert_error(503, "temporarily_unavailable");
    assert_eq!(resp.header("retry-after"), Some("2"));
    h.fault(Fault::None);
    assert!(
        h.store()
            .list_user_sessions(&alice.user_id, h.now())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn login_store_broken_500_generic_message_with_request_id<S: Store>(h: Harness<S>) {
    let h = h.faulty();
    h.fault(Fault::Internal);
    let mut event = rest_event_json(
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
        Some(r#"{"username":"alice","password":"right"}"#),
        None,
    );
    event["requestContext"]["requestId"] = json!("req-abc-123");
    let resp = h.call(to_request(&event)).await;
    resp.assert_error(500, "server_error");
    let description = resp.json()["error_description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(description.contains("req-abc-123"), "{description}");
    assert!(
        !description.contains("injected"),
        "the real error stays in the logs: {description}"
    );
    // The use case says the same thing without HTTP.
    let err = h
        .service
        .login(
            &tessera_service::Username::parse("alice").unwrap(),
            &tessera_service::Password::new("right"),
            Default::default(),
            h.now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Internal(_)), "{err:?}");
}
