//! `POST /auth/login` (docs/API.md): JSON or form in, the token response out; one `invalid_grant`
//! for every bad credential; lockout; size limit; nothing echoed.

use serde_json::json;

use crate::helpers::{
    Backend, TestUser, assert_not_echoed, assert_oauth_error, assert_token_response, form_encode,
    spawn_serve,
};

both_backends!(
    login_json_body_answers_200_with_the_token_response,
    login_form_body_answers_200_with_the_token_response,
    login_malformed_body_is_invalid_request,
    login_missing_or_empty_fields_are_invalid_request,
    login_wrong_content_type_is_invalid_request,
    login_wrong_grant_type_is_unsupported_grant_type,
    login_unknown_user_wrong_password_and_disabled_user_get_one_invalid_grant,
    login_repeated_failures_lock_the_account_with_429_and_retry_after,
    login_body_over_16_kib_is_413_before_parsing,
    login_success_resets_the_failure_count,
    login_64_concurrent_guesses_get_at_most_threshold_password_checks_for_any_username,
    login_flood_beyond_the_password_check_slots_is_503_with_retry_after,
);

/// Sends `count` logins for `username` at once over separate connections; returns the
/// statuses and Retry-After values.
async fn at_once(
    server: &crate::helpers::Server,
    username: &str,
    count: usize,
) -> Vec<(u16, Option<String>)> {
    let client = reqwest::Client::new();
    let url = server.url("/auth/login");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let (client, url) = (client.clone(), url.clone());
        let body = json!({"username": username, "password": format!("guess number {i}")});
        tasks.spawn(async move {
            let reply = client.post(url).json(&body).send().await.unwrap();
            let retry_after = reply
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (reply.status().as_u16(), retry_after)
        });
    }
    tasks.join_all().await
}

/// Gives a user and a name nobody has; sends 64 wrong-password logins for each at once over
/// HTTP; expects exactly five (the threshold) checked (400) and 59 locked out (429, with a
/// Retry-After of at most the first lock's 30 s) for either name alike, and no session created.
async fn login_64_concurrent_guesses_get_at_most_threshold_password_checks_for_any_username(
    backend: Backend,
) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;

    for username in [user.username.as_str(), "nobody-by-this-name"] {
        let answers = at_once(&server, username, 64).await;

        let checked = answers.iter().filter(|(s, _)| *s == 400).count();
        let locked: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
        assert_eq!((checked, locked.len()), (5, 59), "{username}: {answers:?}");
        // The server's clock may tick between the lock and a refusal: 30 s or a little less.
        assert!(
            locked.iter().all(|(_, r)| {
                r.as_deref()
                    .and_then(|r| r.parse::<u64>().ok())
                    .is_some_and(|r| (28..=30).contains(&r))
            }),
            "{answers:?}"
        );
    }
    assert!(server.session_list(&user.username).await.is_empty());
}

/// Gives one password check slot and no queue (LOGIN_MAX_CONCURRENT=1, LOGIN_MAX_QUEUED=0);
/// sends 16 logins at once for different names; expects some answered 503
/// temporarily_unavailable with Retry-After: 1 at once, the others 400, never a 500.
async fn login_flood_beyond_the_password_check_slots_is_503_with_retry_after(backend: Backend) {
    let server = spawn_serve(
        backend,
        &[("LOGIN_MAX_CONCURRENT", "1"), ("LOGIN_MAX_QUEUED", "0")],
    )
    .await;
    let client = reqwest::Client::new();
    let url = server.url("/auth/login");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let body = json!({"username": format!("flood-{i}"), "password": "not a password"});
            let reply = client.post(url).json(&body).send().await.unwrap();
            let retry_after = reply
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = reply.status().as_u16();
            let body: serde_json::Value = reply.json().await.unwrap();
            (status, retry_after, body)
        });
    }
    let answers = tasks.join_all().await;

    let shed: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 503).collect();
    assert!(
        !shed.is_empty(),
        "16 at once cannot fit one slot: {answers:?}"
    );
    for (_, retry_after, body) in &shed {
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    assert!(
        answers.iter().all(|(s, _, _)| *s == 503 || *s == 400),
        "{answers:?}"
    );
}

/// Gives a user; does a JSON login; expects 200 with exactly the six fields of docs/API.md, the
/// configured lifetimes, the user's scope, and `Cache-Control: no-store`.
async fn login_json_body_answers_200_with_the_token_response(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;

    let reply = server.login(&user.username, &user.password).await;

    let body = assert_token_response(&reply);
    assert_eq!(body["expires_in"], 900, "ACCESS_TOKEN_TTL default");
    assert_eq!(
        body["refresh_token_expires_in"], 2_592_000,
        "REFRESH_TOKEN_TTL default"
    );
    assert_eq!(body["scope"], user.scope.as_str());
    assert_not_echoed(&reply, &user.password);
}

/// Gives a user; does a form login (`grant_type=password`) with a username typed in another
/// case and padded; expects the same 200 token response (usernames are normalised).
async fn login_form_body_answers_200_with_the_token_response(backend: Backend) {
    let server = spawn_serve(backend, &[("ACCESS_TOKEN_TTL", "120")]).await;
    let user = TestUser::generate_with_scope(&server, "profile admin").await;
    let typed = format!(" {} ", user.username.to_uppercase());

    let reply = server
        .post_form(
            "/auth/login",
            &format!(
                "grant_type=password&username={}&password={}",
                form_encode(&typed),
                form_encode(&user.password)
            ),
        )
        .await;

    let body = assert_token_response(&reply);
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["scope"], user.scope.as_str());
    assert_not_echoed(&reply, &user.password);
}

/// Gives malformed JSON, a JSON array, a JSON field of the wrong type and a form with a
/// repeated parameter; expects 400 `invalid_request` for each, never echoing the password.
async fn login_malformed_body_is_invalid_request(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let pw = &user.password;

    let cases: Vec<(&str, String)> = vec![
        (
            "application/json",
            format!(
                "{{\"username\": \"{}\", \"password\": \"{pw}\"",
                user.username
            ),
        ),
        (
            "application/json",
            format!("[\"{}\", \"{pw}\"]", user.username),
        ),
        (
            "application/json",
            format!(
                "{{\"username\": [\"{}\"], \"password\": \"{pw}\"}}",
                user.username
            ),
        ),
        (
            "application/json",
            format!(
                "{{\"username\": \"{}\", \"password\": 12345678}}",
                user.username
            ),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("username={0}&username={0}&password={pw}", user.username),
        ),
    ];
    for (content_type, body) in cases {
        let reply = server
            .post_raw("/auth/login", Some(content_type), body.clone().into_bytes())
            .await;
        assert_oauth_error(&reply, 400, "invalid_request");
        assert_not_echoed(&reply, pw);
    }
}

/// Gives bodies without a username or password, or with empty ones, in JSON and form;
/// expects 400 `invalid_request` for each.
async fn login_missing_or_empty_fields_are_invalid_request(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;

    for body in [
        json!({"username": user.username}),
        json!({"password": user.password}),
        json!({"username": "", "password": user.password}),
        json!({"username": user.username, "password": ""}),
        json!({"username": "   ", "password": user.password}),
        json!({"username": null, "password": user.password}),
        json!({}),
    ] {
        let reply = server.post_json("/auth/login", &body).await;
        assert_oauth_error(&reply, 400, "invalid_request");
        assert_not_echoed(&reply, &user.password);
    }
    for form in [
        format!("grant_type=password&username={}", user.username),
        format!(
            "grant_type=password&password={}",
            form_encode(&user.password)
        ),
        format!(
            "grant_type=password&username=&password={}",
            form_encode(&user.password)
        ),
        String::new(),
    ] {
        let reply = server.post_form("/auth/login", &form).await;
        assert_oauth_error(&reply, 400, "invalid_request");
    }
}

/// Gives a well-formed JSON login sent as text/plain, and one with no content type; expects
/// 400 `invalid_request` (the body is not parsed as anything else).
async fn login_wrong_content_type_is_invalid_request(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let body = json!({"username": user.username, "password": user.password}).to_string();

    for content_type in [Some("text/plain"), Some("multipart/form-data"), None] {
        let reply = server
            .post_raw("/auth/login", content_type, body.clone().into_bytes())
            .await;
        assert_oauth_error(&reply, 400, "invalid_request");
        assert_not_echoed(&reply, &user.password);
    }
}

/// Gives a form login with `grant_type=client_credentials` and one with
/// `grant_type=refresh_token`, right credentials otherwise; expects 400
/// `unsupported_grant_type` (RFC 6749 §5.2) and no token.
async fn login_wrong_grant_type_is_unsupported_grant_type(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;

    for grant in ["client_credentials", "refresh_token", "PASSWORD"] {
        let reply = server
            .post_form(
                "/auth/login",
                &format!(
                    "grant_type={grant}&username={}&password={}",
                    user.username,
                    form_encode(&user.password)
                ),
            )
            .await;
        assert_oauth_error(&reply, 400, "unsupported_grant_type");
        assert_not_echoed(&reply, &user.password);
    }
}

/// Gives an unknown username, a wrong password, and a disabled user with the right password;
/// expects 400 `invalid_grant` with the byte-identical body for all three.
async fn login_unknown_user_wrong_password_and_disabled_user_get_one_invalid_grant(
    backend: Backend,
) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let disabled = TestUser::generate(&server).await;
    server
        .admin(&["user", "disable", &disabled.username], None)
        .await
        .assert_success();

    let unknown = server.login("nobody-at-all", &user.password).await;
    let wrong = server
        .login(&user.username, "not the password at all")
        .await;
    let off = server.login(&disabled.username, &disabled.password).await;

    for reply in [&unknown, &wrong, &off] {
        assert_oauth_error(reply, 400, "invalid_grant");
        assert_not_echoed(reply, &user.password);
        assert_not_echoed(reply, &disabled.password);
    }
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(wrong.body, off.body);
}

/// Gives LOGIN_LOCKOUT_THRESHOLD=3; does three logins with a wrong password, then one with the
/// right password; expects `invalid_grant` three times, then 429 `too_many_attempts` with a
/// positive `Retry-After`, even for the right password.
async fn login_repeated_failures_lock_the_account_with_429_and_retry_after(backend: Backend) {
    let server = spawn_serve(backend, &[("LOGIN_LOCKOUT_THRESHOLD", "3")]).await;
    let user = TestUser::generate(&server).await;

    for _ in 0..3 {
        let reply = server.login(&user.username, "wrong password here").await;
        assert_oauth_error(&reply, 400, "invalid_grant");
    }
    let locked = server.login(&user.username, &user.password).await;

    assert_oauth_error(&locked, 429, "too_many_attempts");
    let retry_after: u64 = locked
        .header("retry-after")
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry_after > 0);
    assert_not_echoed(&locked, &user.password);
}

/// Gives a 17 KiB body that is not even valid JSON (and the same as a form) to login, and
/// to refresh and logout too; expects 413 with the OAuth error body: the size is refused
/// before any parsing.
async fn login_body_over_16_kib_is_413_before_parsing(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let big = vec![b'{'; 17 * 1024];

    for path in ["/auth/login", "/auth/refresh", "/auth/logout"] {
        for content_type in [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
        ] {
            let reply = server.post_raw(path, Some(content_type), big.clone()).await;
            assert_oauth_error(&reply, 413, "invalid_request");
        }
    }
}

/// Gives LOGIN_LOCKOUT_THRESHOLD=3; does two failures, a success, then two more failures;
/// expects the account not locked (only consecutive failures count): the next good login
/// answers 200.
async fn login_success_resets_the_failure_count(backend: Backend) {
    let server = spawn_serve(backend, &[("LOGIN_LOCKOUT_THRESHOLD", "3")]).await;
    let user = TestUser::generate(&server).await;

    for _ in 0..2 {
        assert_oauth_error(
            &server.login(&user.username, "wrong password!").await,
            400,
            "invalid_grant",
        );
    }
    user.login(&server).await;
    for _ in 0..2 {
        assert_oauth_error(
            &server.login(&user.username, "wrong password!").await,
            400,
            "invalid_grant",
        );
    }

    assert_token_response(&server.login(&user.username, &user.password).await);
}
