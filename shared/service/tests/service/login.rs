//! POST /auth/login (docs/API.md).

use serde_json::json;
use tessera_service::{ServiceError, jti_hash};
use tessera_store::{SessionStore, Store, UserStatus};

use crate::helpers::*;

store_tests!(
    login_json_200_returns_a_token_pair_and_creates_one_session,
    login_form_with_grant_type_password_200,
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
    login_64_concurrent_guesses_reach_the_password_check_at_most_threshold_times,
    login_unknown_username_locks_exactly_like_a_real_one,
    login_one_failure_every_15_minutes_never_locks_the_owner_out,
    login_failures_are_forgotten_after_the_quiet_window,
    login_beyond_the_password_check_slots_503_with_retry_after_and_nothing_counted,
    login_past_the_session_cap_revokes_the_oldest_session,
    login_loop_racing_a_new_password_leaves_no_session_that_refreshes,
    login_loop_racing_disable_leaves_no_session_that_refreshes,
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
    assert_eq!(h.attempts("alice").await, 1);
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
    assert_eq!(h.attempts("mallory").await, 1, "counted like a real name");
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
    assert_eq!(h.attempts("alice").await, 0);
}

async fn login_malformed_body_or_wrong_content_type_400_invalid_request<S: Store>(h: Harness<S>) {
    let alice = h.add_user("alice", "right", "").await;
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
    // Two Content-Type lines, even when one of them fits the body, leave the type a guess.
    for (first, second) in [
        ("application/json", "application/x-www-form-urlencoded"),
        ("application/x-www-form-urlencoded", "application/json"),
        ("application/json", "application/json"),
    ] {
        let two_types = rest_event(
            "POST",
            "/auth/login",
            &[("content-type", first), ("content-type", second)],
            Some(good),
            None,
        );
        let resp = h.call(two_types).await;
        resp.assert_error(400, "invalid_request");
        assert!(resp.text().contains("more than once"), "{}", resp.text());
    }
    assert_eq!(h.attempts("alice").await, 0);
    let sessions = h.store().list_user_sessions(&alice.user_id, h.now()).await;
    assert!(sessions.unwrap().is_empty());
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
        "grant_type=client_credentials&username=alice&password=right",
        "grant_type=authorization_code&username=alice&password=right",
        "grant_type=Password&username=alice&password=right",
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
    assert_eq!(h.attempts("alice").await, 0);
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
    assert_eq!(h.attempts("alice").await, 5);

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
        h.attempts("alice").await,
        5,
        "a locked attempt is not verified or counted"
    );

    // and once the lock has ended, the right password works and clears the counter.
    h.advance(20);
    let resp = h.call(attempt("right")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(h.attempts("alice").await, 0);
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
    assert_eq!(h.attempts("alice").await, 3);
    h.login("alice", "right").await;
    assert_eq!(h.attempts("alice").await, 0);
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
    let req = rest_event(
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
        Some(r#"{"username":"alice","password":"right"}"#),
        None,
    );
    let resp = h.call(with_request_id(req, "req-abc-123")).await;
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

fn guess(username: &str, password: &str) -> Request {
    post_json(
        "/auth/login",
        json!({"username": username, "password": password}),
    )
}

/// 64 wrong-password logins at once for one user: the attempt is charged before the hash, so
/// at most the threshold's (5) ever reach the password check (400); the rest are 429.
async fn login_64_concurrent_guesses_reach_the_password_check_at_most_threshold_times<
    S: Store + 'static,
>(
    h: Harness<S>,
) {
    h.add_user("alice", "right", "").await;
    let h = std::sync::Arc::new(h);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let h = std::sync::Arc::clone(&h);
        tasks.spawn(async move { h.call(guess("alice", &format!("guess-{i}"))).await });
    }
    let answers = tasks.join_all().await;
    let checked = answers.iter().filter(|r| r.status == 400).count();
    let locked = answers.iter().filter(|r| r.status == 429).count();
    assert_eq!((checked, locked), (5, 59), "{answers:?}");
    for r in answers.iter().filter(|r| r.status == 429) {
        r.assert_error(429, "too_many_attempts");
        assert_eq!(r.header("retry-after"), Some("30"));
    }
    assert_eq!(h.attempts("alice").await, 5);
}

/// An unknown username is counted and locked like a real one: the same statuses in the same
/// order, the same bodies, the same Retry-After. Nothing tells an attacker which names exist.
async fn login_unknown_username_locks_exactly_like_a_real_one<S: Store>(h: Harness<S>) {
    h.add_user("alice", "right", "").await;
    let mut real = Vec::new();
    let mut ghost = Vec::new();
    for _ in 0..7 {
        real.push(h.call(guess("alice", "wrong")).await);
        ghost.push(h.call(guess("mallory", "wrong")).await);
    }
    let shape = |answers: &[TestResponse]| -> Vec<(u16, Option<String>, Vec<u8>)> {
        answers
            .iter()
            .map(|r| {
                (
                    r.status,
                    r.header("retry-after").map(str::to_owned),
                    r.body.clone(),
                )
            })
            .collect()
    };
    assert_eq!(shape(&real), shape(&ghost));
    let statuses: Vec<u16> = real.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 400, 400, 400, 400, 429, 429]);
    assert!(
        h.store()
            .get_user_by_username("mallory")
            .await
            .unwrap()
            .is_none()
    );
}

/// One failure every 15 minutes (the default quiet window) never adds up to a lock: the
/// owner can always log in.
async fn login_one_failure_every_15_minutes_never_locks_the_owner_out<S: Store>(h: Harness<S>) {
    h.add_user("alice", "right", "").await;
    for _ in 0..12 {
        h.call(guess("alice", "wrong"))
            .await
            .assert_error(400, "invalid_grant");
        assert_eq!(h.attempts("alice").await, 1);
        h.advance(15 * 60);
    }
    h.login("alice", "right").await;
}

/// Failures stop counting after LOGIN_FAILURE_WINDOW quiet seconds, even after a lock.
async fn login_failures_are_forgotten_after_the_quiet_window<S: Store>(h: Harness<S>) {
    let h = h.with_env(&[("LOGIN_FAILURE_WINDOW", "120")]);
    h.add_user("alice", "right", "").await;
    for _ in 0..5 {
        h.call(guess("alice", "wrong")).await;
    }
    h.call(guess("alice", "right"))
        .await
        .assert_error(429, "too_many_attempts");
    h.advance(119);
    h.call(guess("alice", "wrong"))
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        h.attempts("alice").await,
        6,
        "the lock had ended; the window had not"
    );
    h.advance(120);
    h.call(guess("alice", "wrong"))
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        h.attempts("alice").await,
        1,
        "forgotten, and counting again from one"
    );
}

/// With one password check slot and no queue, a second login at the same moment is answered
/// 503 with Retry-After before anything is counted against its username.
async fn login_beyond_the_password_check_slots_503_with_retry_after_and_nothing_counted<
    S: Store + 'static,
>(
    h: Harness<S>,
) {
    let h = h.with_env(&[("LOGIN_MAX_CONCURRENT", "1"), ("LOGIN_MAX_QUEUED", "0")]);
    h.add_user("alice", "right", "").await;
    h.add_user("bob", "right", "").await;
    let h = std::sync::Arc::new(h);
    let mut tasks = tokio::task::JoinSet::new();
    for username in [
        "alice", "bob", "alice", "bob", "alice", "bob", "alice", "bob",
    ] {
        let h = std::sync::Arc::clone(&h);
        tasks.spawn(async move { (username, h.call(guess(username, "wrong")).await) });
    }
    let answers = tasks.join_all().await;
    let shed: Vec<_> = answers.iter().filter(|(_, r)| r.status == 503).collect();
    assert!(!shed.is_empty(), "eight at once cannot all fit one slot");
    for (_, r) in &shed {
        r.assert_error(503, "temporarily_unavailable");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    for username in ["alice", "bob"] {
        let checked = answers
            .iter()
            .filter(|(u, r)| *u == username && r.status == 400)
            .count();
        assert_eq!(
            usize::try_from(h.attempts(username).await).unwrap(),
            checked,
            "{username}: only the checked attempts are counted"
        );
    }
}

/// Past MAX_SESSIONS_PER_USER, a login revokes the user's oldest session.
async fn login_past_the_session_cap_revokes_the_oldest_session<S: Store>(h: Harness<S>) {
    let h = h.with_env(&[("MAX_SESSIONS_PER_USER", "2")]);
    h.add_user("alice", "right", "").await;
    let first = h.login("alice", "right").await;
    h.advance(1);
    let second = h.login("alice", "right").await;
    h.advance(1);
    let third = h.login("alice", "right").await;

    h.refresh(&first.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    for t in [&second, &third] {
        assert_eq!(h.refresh(&t.refresh_token).await.status, 200);
    }
}

/// Logins with the old password loop against an administrator's new password: once
/// set-password returns, no session of that user can refresh, and the store holds none live.
async fn login_loop_racing_a_new_password_leaves_no_session_that_refreshes<S: Store + 'static>(
    h: Harness<S>,
) {
    login_loop_racing(h, |store, now| {
        Box::pin(async move {
            let hash = tessera_service::hash_password_blocking(tessera_service::Password::new(
                "a brand new password",
            ))
            .await
            .unwrap();
            store.set_password("alice", &hash, now).await.unwrap();
        })
    })
    .await;
}

/// The same loop against `user disable`.
async fn login_loop_racing_disable_leaves_no_session_that_refreshes<S: Store + 'static>(
    h: Harness<S>,
) {
    login_loop_racing(h, |store, now| {
        Box::pin(async move {
            store
                .set_status("alice", UserStatus::Disabled, now)
                .await
                .unwrap();
        })
    })
    .await;
}

type Revocation<S> =
    for<'a> fn(&'a S, i64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

async fn login_loop_racing<S: Store + 'static>(h: Harness<S>, revoke: Revocation<S>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let alice = h.add_user("alice", "right", "").await;
    let h = Arc::new(h);
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (h, stop, attempts) = (Arc::clone(&h), Arc::clone(&stop), Arc::clone(&attempts));
        loops.spawn(async move {
            let mut tokens = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let resp = h.call(guess("alice", "right")).await;
                attempts.fetch_add(1, Ordering::SeqCst);
                if resp.status == 200 {
                    tokens.push(resp.tokens().refresh_token);
                }
            }
            tokens
        });
    }
    // Let the loops log in a few times, then revoke while they keep going.
    while attempts.load(Ordering::SeqCst) < 6 {
        tokio::task::yield_now().await;
    }
    revoke(h.store(), h.now()).await;
    let after = attempts.load(Ordering::SeqCst);
    while attempts.load(Ordering::SeqCst) < after + 6 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::SeqCst);
    let tokens: Vec<String> = loops.join_all().await.into_iter().flatten().collect();
    assert!(
        !tokens.is_empty(),
        "the loops logged in before the revocation"
    );

    h.advance(1);
    for token in &tokens {
        h.refresh(token).await.assert_error(400, "invalid_grant");
    }
    assert!(
        h.store()
            .list_user_sessions(&alice.user_id, h.now())
            .await
            .unwrap()
            .is_empty()
    );
}
