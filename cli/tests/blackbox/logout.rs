//! `POST /auth/logout` (docs/API.md): revokes the session; idempotent and silent (RFC 7009 §2.2).

use serde_json::json;

use crate::helpers::{
    Backend, Reply, TestUser, assert_oauth_error, assert_token_response, read_reply, spawn_serve,
};

both_backends!(
    logout_answers_204_and_the_refresh_token_then_fails,
    logout_racing_refreshes_of_the_same_token_leaves_no_live_session,
);

/// Gives a logged-in user with two sessions; logs one out; expects 204 with no body, that
/// session's refresh token refused with `invalid_grant`, the other session untouched.
async fn logout_answers_204_and_the_refresh_token_then_fails(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let leaving = user.login(&server).await;
    let staying = user.login(&server).await;

    let reply = server.logout(&leaving.refresh).await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(reply.body.is_empty());
    assert_oauth_error(
        &server.refresh(&leaving.refresh).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        server.session_list(&user.username).await,
        vec![staying.sid()]
    );
    assert_token_response(&server.refresh(&staying.refresh).await);
}

/// Gives one session; sends its refresh token 32 times to logout and 32 times to refresh, all
/// at once; expects every logout 204, every refresh either 200 with the one successor or 400
/// `invalid_grant`, and afterwards no live session: the successor, if any was answered, is
/// refused too.
async fn logout_racing_refreshes_of_the_same_token_leaves_no_live_session(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    let mut set = tokio::task::JoinSet::new();
    for i in 0..64 {
        let path = if i % 2 == 0 {
            "/auth/logout"
        } else {
            "/auth/refresh"
        };
        let request = server
            .http
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(json!({ "refresh_token": tokens.refresh }).to_string());
        set.spawn(async move { (path, read_reply(request.send().await.unwrap()).await) });
    }
    let replies: Vec<(&str, Reply)> = set.join_all().await;

    let mut successors = Vec::new();
    for (path, reply) in &replies {
        match (*path, reply.status) {
            ("/auth/logout", 204) => {}
            ("/auth/refresh", 200) => {
                assert_token_response(reply);
                successors.push(reply.json()["refresh_token"].as_str().unwrap().to_owned());
            }
            ("/auth/refresh", 400) => assert_oauth_error(reply, 400, "invalid_grant"),
            _ => panic!("{path} answered {}: {}", reply.status, reply.body),
        }
    }
    successors.sort();
    successors.dedup();
    assert!(successors.len() <= 1, "{successors:?}");
    assert_eq!(
        server.session_list(&user.username).await,
        Vec::<String>::new()
    );
    for successor in &successors {
        assert_oauth_error(&server.refresh(successor).await, 400, "invalid_grant");
    }
}
