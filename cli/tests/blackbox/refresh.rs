//! `POST /auth/refresh` (docs/API.md): rotation, reuse detection, the grace window, and every
//! reason for `invalid_grant`.

use serde_json::json;

use crate::helpers::{
    Backend, Outage, ServeOptions, TestUser, Tokens, assert_not_echoed, assert_oauth_error,
    assert_token_response, spawn_serve,
};

both_backends!(
    refresh_answers_200_with_a_new_refresh_token,
    refresh_same_token_sent_concurrently_within_grace_gets_one_successor,
    refresh_store_unavailable_is_503_and_the_same_token_works_after,
);

/// Gives a logged-in user; refreshes; expects 200 with the token response shape, a refresh
/// token different from the old one, the same session, and a working new access token.
async fn refresh_answers_200_with_a_new_refresh_token(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let first = user.login(&server).await;

    let reply = server.refresh(&first.refresh).await;

    let body = assert_token_response(&reply);
    assert_eq!(body["scope"], "profile");
    let next = Tokens::from_reply(&reply);
    assert_ne!(next.refresh, first.refresh);
    assert_ne!(next.access, first.access);
    assert_eq!(next.sid(), first.sid());
    assert_not_echoed(&reply, &first.refresh);
    let me = server.get("/me", Some(&next.access)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(server.session_list(&user.username).await, vec![first.sid()]);
}

/// Gives a store that cannot answer — on SQLite another process holding the write lock past
/// the busy timeout, on DynamoDB the network to it cut; refreshes; expects 503
/// `temporarily_unavailable` with `Retry-After`, then, with the store back, the very same
/// token refreshes (the session was untouched).
async fn refresh_store_unavailable_is_503_and_the_same_token_works_after(backend: Backend) {
    let outage = match backend {
        Backend::Sqlite => None,
        Backend::Dynamo => Some(Outage::start().await),
    };
    let mut options = ServeOptions::new(backend);
    if let Some(outage) = &outage {
        options = options.dynamodb_endpoint(&outage.endpoint);
    }
    let server = options.spawn().await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    let reply = match &outage {
        None => {
            let db = server.store.data.join("tessera.db");
            let blocker = rusqlite::Connection::open(&db).unwrap();
            blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
            let reply = server.refresh(&tokens.refresh).await;
            blocker.execute_batch("ROLLBACK").unwrap();
            reply
        }
        Some(outage) => {
            outage.set_cut(true);
            let reply = server.refresh(&tokens.refresh).await;
            outage.set_cut(false);
            reply
        }
    };

    assert_oauth_error(&reply, 503, "temporarily_unavailable");
    let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 0);
    assert_token_response(&server.refresh(&tokens.refresh).await);
}

/// Gives the default grace window and one refresh token sent 64 times at once (a client
/// racing itself, or many tabs); expects 64 200s carrying the one identical successor, which
/// then refreshes, and the one session alive.
async fn refresh_same_token_sent_concurrently_within_grace_gets_one_successor(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let r0 = user.login(&server).await;

    let replies = refresh_concurrently(&server, &r0.refresh, 64).await;

    let successors: Vec<String> = replies
        .iter()
        .map(|reply| {
            assert_token_response(reply);
            Tokens::from_reply(reply).refresh
        })
        .collect();
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "{successors:?}"
    );
    assert_token_response(&server.refresh(&successors[0]).await);
    assert_eq!(server.session_list(&user.username).await, vec![r0.sid()]);
}

/// Sends the same refresh request `n` times concurrently.
async fn refresh_concurrently(
    server: &crate::helpers::Server,
    token: &str,
    n: usize,
) -> Vec<crate::helpers::Reply> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let http = server.http.clone();
        let url = server.url("/auth/refresh");
        let body = json!({ "refresh_token": token }).to_string();
        set.spawn(async move {
            let request = http
                .post(url)
                .header("content-type", "application/json")
                .body(body);
            crate::helpers::read_reply(request.send().await.unwrap()).await
        });
    }
    set.join_all().await
}
