//! `POST /auth/login` (docs/API.md): JSON or form in, the token response out; one `invalid_grant`
//! for every bad credential; lockout; size limit; nothing echoed.

use serde_json::json;

use crate::helpers::{Backend, TestUser, assert_not_echoed, assert_token_response, spawn_serve};

both_backends!(
    login_json_body_answers_200_with_the_token_response,
    login_64_concurrent_guesses_get_at_most_threshold_password_checks_for_any_username,
);

sqlite_only!(login_flood_beyond_the_password_check_slots_is_503_with_retry_after,);

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
