//! `GET /auth/sessions`, `DELETE /auth/sessions/{sid}`, `DELETE /auth/sessions` (docs/API.md):
//! the caller's own sessions only.

use serde_json::Value;

use crate::helpers::{
    Backend, TestUser, Tokens, assert_oauth_error, assert_token_response, read_reply, spawn_serve,
};

both_backends!(
    sessions_list_shows_only_the_callers_live_sessions_with_current_marked,
    sessions_delete_one_answers_204_and_its_refresh_token_dies,
    sessions_delete_all_answers_204_and_every_refresh_token_dies,
);

fn sids(list: &Value) -> Vec<String> {
    let mut sids: Vec<String> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap().to_owned())
        .collect();
    sids.sort();
    sids
}

/// Gives a user with three sessions (one logged out) and another user with one; lists with
/// the second session's access token; expects 200 with exactly the two live sessions, every
/// docs/API.md field, `current: true` on the caller's own only, and `Cache-Control: no-store`.
async fn sessions_list_shows_only_the_callers_live_sessions_with_current_marked(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let other = TestUser::generate(&server).await;
    let first = user.login(&server).await;
    let caller = Tokens::from_reply(
        &read_reply(
            server
                .http
                .post(server.url("/auth/login"))
                .header("user-agent", "blackbox-test/1.0")
                .json(&serde_json::json!({"username": user.username, "password": user.password}))
                .send()
                .await
                .unwrap(),
        )
        .await,
    );
    let gone = user.login(&server).await;
    let _others = other.login(&server).await;
    assert_eq!(server.logout(&gone.refresh).await.status, 204);

    let reply = server.get("/auth/sessions", Some(&caller.access)).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let list = reply.json();
    let mut expected = vec![first.sid(), caller.sid()];
    expected.sort();
    assert_eq!(sids(&list), expected);
    for session in list["sessions"].as_array().unwrap() {
        let mut keys: Vec<&str> = session
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
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
        let is_caller = session["sid"] == caller.sid().as_str();
        assert_eq!(session["current"], is_caller, "{session}");
        assert_eq!(session["source_ip"], "127.0.0.1");
        if is_caller {
            assert_eq!(session["user_agent"], "blackbox-test/1.0");
        }
        assert!(
            session["created_at"].as_i64().unwrap() <= session["last_used_at"].as_i64().unwrap()
        );
        assert!(session["expires_at"].as_i64().unwrap() > session["created_at"].as_i64().unwrap());
    }
}

/// Gives a user with two sessions; deletes the first by sid with the second's access token;
/// expects 204, the first refresh token refused, the second still good.
async fn sessions_delete_one_answers_204_and_its_refresh_token_dies(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let victim = user.login(&server).await;
    let caller = user.login(&server).await;

    let reply = server
        .delete(
            &format!("/auth/sessions/{}", victim.sid()),
            Some(&caller.access),
        )
        .await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_oauth_error(&server.refresh(&victim.refresh).await, 400, "invalid_grant");
    assert_token_response(&server.refresh(&caller.refresh).await);
    assert_eq!(
        server.session_list(&user.username).await,
        vec![caller.sid()]
    );
}

/// Gives a user with three sessions and another user with one; deletes all with one of the
/// first user's access tokens; expects 204, all three refresh tokens refused, the other
/// user's session untouched.
async fn sessions_delete_all_answers_204_and_every_refresh_token_dies(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let other = TestUser::generate(&server).await;
    let mine = [
        user.login(&server).await,
        user.login(&server).await,
        user.login(&server).await,
    ];
    let theirs = other.login(&server).await;

    let reply = server.delete("/auth/sessions", Some(&mine[1].access)).await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    for tokens in &mine {
        assert_oauth_error(&server.refresh(&tokens.refresh).await, 400, "invalid_grant");
    }
    assert!(server.session_list(&user.username).await.is_empty());
    assert_token_response(&server.refresh(&theirs.refresh).await);
}
